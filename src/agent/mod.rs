//! Agents: their components, sensing (the observation within the vision
//! radius) and acting (moves, with conflicts resolved in agent-id order).

use bevy::prelude::*;

use crate::comm::Dialect;
use crate::metrics::EpisodeStats;
use crate::scene::ResourceKind;
use crate::world::{Grid, Items, Occupancy};
use crate::{SimSet, SimStep};

/// Items an observation keeps (the nearest ones).
pub const MAX_VISIBLE: usize = 8;
/// Cells an agent remembers having stood on (its recent trail).
pub const TRAIL: usize = 8;

/// Adds the Sense and Act systems.
pub fn plugin(app: &mut App) {
    app.add_systems(SimStep, sense_surroundings.in_set(SimSet::Sense));
    app.add_systems(SimStep, apply_actions.in_set(SimSet::Act));
}

/// Who an agent is.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agent {
    /// Stable id, 0.. in spawn order; conflicts resolve in this order.
    pub id: u32,
    /// Team index in the scene.
    pub team: u16,
    /// The dialect it speaks.
    pub dialect: Dialect,
}

/// A cell of the grid: `x` column, `y` row (0 at the top).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GridPos {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
}

impl GridPos {
    /// The cell (x, y).
    pub fn new(x: i32, y: i32) -> Self {
        Self { x, y }
    }

    /// The neighbour one step in `action`'s direction (itself for Stay).
    pub fn step(self, action: Action) -> Self {
        let (dx, dy) = action.delta();
        Self { x: self.x + dx, y: self.y + dy }
    }

    /// Manhattan distance.
    pub fn manhattan(self, o: Self) -> i32 {
        (self.x - o.x).abs() + (self.y - o.y).abs()
    }
}

/// How far an agent sees, in cells (a square of side 2r+1).
#[derive(Component, Debug, Clone, Copy)]
pub struct Vision {
    /// Chebyshev radius.
    pub radius: u32,
}

/// The five actions.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Action {
    /// Stay put (work a site, wait by a heavy item).
    #[default]
    Stay = 0,
    /// y - 1.
    North = 1,
    /// x + 1.
    East = 2,
    /// y + 1.
    South = 3,
    /// x - 1.
    West = 4,
}

impl Action {
    /// Number of actions.
    pub const COUNT: usize = 5;
    /// All actions by index.
    pub const ALL: [Action; 5] = [Action::Stay, Action::North, Action::East, Action::South, Action::West];
    /// Their names, by index.
    pub const NAMES: [&'static str; 5] = ["stay", "north", "east", "south", "west"];

    /// The action with this index (Stay when out of range).
    pub fn from_index(i: usize) -> Self {
        Self::ALL.get(i).copied().unwrap_or(Action::Stay)
    }

    /// Column and row change.
    pub fn delta(self) -> (i32, i32) {
        match self {
            Action::Stay => (0, 0),
            Action::North => (0, -1),
            Action::East => (1, 0),
            Action::South => (0, 1),
            Action::West => (-1, 0),
        }
    }
}

/// One item an agent sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Visible {
    /// What it is.
    pub kind: ResourceKind,
    /// Absolute column.
    pub x: i32,
    /// Absolute row.
    pub y: i32,
    /// Column relative to the agent.
    pub dx: i32,
    /// Row relative to the agent.
    pub dy: i32,
    /// For task sites: the agent id serving it at the last step.
    pub served_by: Option<u32>,
}

/// What an agent perceives this step: the nearest items in its vision
/// square (nearest first) and which neighbouring cells are walls.
#[derive(Component, Debug, Clone)]
pub struct Observation {
    items: [Visible; MAX_VISIBLE],
    len: u8,
    /// Bit d-1 set when the neighbour in direction d (N, E, S, W) cannot be
    /// entered: a wall, the border, another agent or prey.
    pub blocked: u8,
    /// Bit d-1 set when the neighbour in direction d (N, E, S, W) can be
    /// entered and is not on the agent's recent trail: where exploring pays.
    pub fresh: u8,
    /// The vision radius used.
    pub radius: u32,
}

impl Default for Observation {
    fn default() -> Self {
        let none = Visible { kind: ResourceKind::Food, x: 0, y: 0, dx: 0, dy: 0, served_by: None };
        Self { items: [none; MAX_VISIBLE], len: 0, blocked: 0, fresh: 0, radius: 0 }
    }
}

impl Observation {
    /// The visible items, nearest (Manhattan) first.
    pub fn visible(&self) -> &[Visible] {
        &self.items[..self.len as usize]
    }

    /// Whether the cell at offset (dx, dy) lies in the vision square.
    pub fn sees_offset(&self, dx: i32, dy: i32) -> bool {
        dx.abs().max(dy.abs()) <= self.radius as i32
    }

    fn clear(&mut self, radius: u32) {
        self.len = 0;
        self.blocked = 0;
        self.fresh = 0;
        self.radius = radius;
    }

    /// Inserts keeping nearest first; beyond capacity the farthest is lost.
    fn insert(&mut self, v: Visible) {
        let d = v.dx.abs() + v.dy.abs();
        let len = self.len as usize;
        let mut at = len;
        while at > 0 {
            let p = &self.items[at - 1];
            if p.dx.abs() + p.dy.abs() <= d {
                break;
            }
            at -= 1;
        }
        if at >= MAX_VISIBLE {
            return;
        }
        let end = len.min(MAX_VISIBLE - 1);
        let mut i = end;
        while i > at {
            self.items[i] = self.items[i - 1];
            i -= 1;
        }
        self.items[at] = v;
        self.len = (len + 1).min(MAX_VISIBLE) as u8;
    }
}

/// Movement memory and this step's outcome.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct Body {
    /// Direction of this step's move (0 when the agent did not move; 1..=4 N, E, S, W).
    pub heading: u8,
    /// Moved this step.
    pub moved: bool,
    /// Tried to move into something this step.
    pub bumped: bool,
    trail: [GridPos; TRAIL],
    trail_len: u8,
    trail_next: u8,
}

impl Body {
    /// Adds a cell to the recent trail (the oldest is forgotten).
    pub fn remember(&mut self, p: GridPos) {
        self.trail[self.trail_next as usize] = p;
        self.trail_next = ((self.trail_next as usize + 1) % TRAIL) as u8;
        self.trail_len = (self.trail_len + 1).min(TRAIL as u8);
    }

    /// Whether `p` is on the recent trail.
    pub fn visited_recently(&self, p: GridPos) -> bool {
        self.trail[..self.trail_len as usize].contains(&p)
    }
}

/// Reward earned: `pending` is what the last step paid (consumed by the Q
/// update), `episode` the running total.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct Reward {
    /// Reward of the last step, not yet learned from.
    pub pending: f32,
    /// Sum over the episode so far.
    pub episode: f32,
}

/// Sense: fills each agent's observation from the grid within its vision.
pub fn sense_surroundings(
    grid: Res<Grid>,
    items: Res<Items>,
    occupancy: Res<Occupancy>,
    mut agents: Query<(&GridPos, &Vision, &Body, &mut Observation)>,
) {
    for (pos, vision, body, mut obs) in &mut agents {
        let r = vision.radius as i32;
        obs.clear(vision.radius);
        for (bit, action) in [Action::North, Action::East, Action::South, Action::West].into_iter().enumerate() {
            let to = pos.step(action);
            let prey = items.at(&grid, to).is_some_and(|i| i.kind == ResourceKind::Prey);
            if !grid.is_floor(to) || occupancy.is_taken(&grid, to) || prey {
                obs.blocked |= 1 << bit;
            } else if !body.visited_recently(to) {
                obs.fresh |= 1 << bit;
            }
        }
        let (x0, x1) = ((pos.x - r).max(0), (pos.x + r).min(grid.width as i32 - 1));
        let (y0, y1) = ((pos.y - r).max(0), (pos.y + r).min(grid.height as i32 - 1));
        for y in y0..=y1 {
            for x in x0..=x1 {
                if let Some(item) = items.at(&grid, GridPos::new(x, y)) {
                    obs.insert(Visible { kind: item.kind, x, y, dx: x - pos.x, dy: y - pos.y, served_by: item.worker });
                }
            }
        }
    }
}

/// Act: agents move in id order; a move into a wall, the border, prey or an
/// occupied cell fails (a bump). Earlier ids win contested cells.
pub fn apply_actions(
    grid: Res<Grid>,
    items: Res<Items>,
    order: Res<crate::world::AgentOrder>,
    mut occupancy: ResMut<Occupancy>,
    mut stats: ResMut<EpisodeStats>,
    mut agents: Query<(&Agent, &Action, &mut GridPos, &mut Body)>,
) {
    for &e in &order.0 {
        let Ok((agent, action, mut pos, mut body)) = agents.get_mut(e) else { continue };
        body.moved = false;
        body.bumped = false;
        // Heading is the direction of this step's move; standing still clears it.
        body.heading = 0;
        body.remember(*pos);
        if *action == Action::Stay {
            continue;
        }
        let to = pos.step(*action);
        let blocked = !grid.is_floor(to)
            || occupancy.is_taken(&grid, to)
            || items.at(&grid, to).is_some_and(|i| i.kind == ResourceKind::Prey);
        if blocked {
            body.bumped = true;
            stats.bumps += 1;
            continue;
        }
        occupancy.leave(&grid, *pos);
        occupancy.put(&grid, to, agent.id);
        *pos = to;
        body.moved = true;
        body.heading = *action as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_keeps_nearest_first_and_caps() {
        let mut o = Observation::default();
        o.clear(3);
        for (i, d) in [3, 1, 2, 5, 0, 4, 6, 7, 2, 1].iter().enumerate() {
            o.insert(Visible { kind: ResourceKind::Food, x: i as i32, y: 0, dx: *d, dy: 0, served_by: None });
        }
        let ds: Vec<i32> = o.visible().iter().map(|v| v.dx).collect();
        assert_eq!(ds, vec![0, 1, 1, 2, 2, 3, 4, 5]);
    }
}

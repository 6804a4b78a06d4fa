//! Learning: dense Q-tables, epsilon-greedy choice, the tabular Q update,
//! the hyperparameters, and policy files (safetensors).
//!
//! The whole algorithm, top to bottom, is [`decide_actions`] (update the last
//! transition, then choose) plus [`learn_at_episode_end`] (the terminal update).

mod hyper;
mod policy_file;
mod state;

use bevy::prelude::*;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

pub use hyper::{FieldInfo, HyperOverrides, Hyperparameters};
pub use policy_file::{
    PolicyFile, PolicyFileError, PolicyMeta, load_policy, save_policy, write_atomic as write_atomic_file,
};
pub use state::{
    BLOCKED_CODES, DIR_NAMES, FRESH_CODES, INBOX_CODES, NUM_STATES, QState, STATE_LAYOUT, TARGET_CODES, dir_code,
};

use crate::agent::{Action, Agent, GridPos, Observation, Reward};
use crate::comm::Inbox;
use crate::world::{AgentOrder, Episode, RunConfig, SimRng};
use crate::{SimSet, SimStep};

/// Adds the Decide system and the terminal update.
pub fn plugin(app: &mut App) {
    app.init_resource::<Hyperparameters>();
    app.add_systems(SimStep, decide_actions.in_set(SimSet::Decide));
    app.add_systems(SimStep, learn_at_episode_end.in_set(SimSet::Reward).after(crate::world::resolve_interactions));
}

/// How agents choose actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum PolicyMode {
    /// Epsilon-greedy with Q updates.
    #[default]
    Learn,
    /// Greedy (epsilon 0), no updates.
    Greedy,
    /// Uniformly random actions (the baseline).
    Random,
}

impl PolicyMode {
    /// The exploration rate this mode acts with in a given episode.
    pub fn epsilon(self, hyper: &Hyperparameters, episode: u64) -> f32 {
        match self {
            PolicyMode::Learn => hyper.epsilon_at(episode),
            PolicyMode::Greedy => 0.0,
            PolicyMode::Random => 1.0,
        }
    }
}

/// A dense Q-table `[states x actions]` with visit counts.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct QTable {
    /// Name in policy files: `team/<team>` or `agent/<team>/<k>`.
    pub name: String,
    /// Team index.
    pub team: u16,
    /// Number of states.
    pub states: usize,
    /// Number of actions.
    pub actions: usize,
    /// Q-values, row-major by state.
    pub q: Vec<f32>,
    /// Updates per entry since the counts were last reset.
    pub visits: Vec<u32>,
}

impl QTable {
    /// A zero table.
    pub fn new(states: usize, actions: usize, name: String, team: u16) -> Self {
        Self { name, team, states, actions, q: vec![0.0; states * actions], visits: vec![0; states * actions] }
    }

    /// The Q-values of one state.
    pub fn row(&self, s: usize) -> &[f32] {
        &self.q[s * self.actions..(s + 1) * self.actions]
    }

    /// `max_a Q(s, a)`.
    pub fn max(&self, s: usize) -> f32 {
        self.row(s).iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }

    /// One Q-learning step:
    /// `Q(s,a) <- Q(s,a) + alpha * (r + gamma * max_a' Q(s',a') - Q(s,a))`,
    /// with no bootstrap term when `next` is `None` (episode end).
    pub fn update(&mut self, s: usize, a: usize, r: f32, next: Option<usize>, alpha: f32, gamma: f32) {
        let target = r + next.map_or(0.0, |n| gamma * self.max(n));
        let i = s * self.actions + a;
        self.q[i] += alpha * (target - self.q[i]);
        self.visits[i] = self.visits[i].saturating_add(1);
    }

    /// The best action of `s`; ties broken uniformly at random.
    pub fn greedy(&self, s: usize, rng: &mut ChaCha8Rng) -> usize {
        let row = self.row(s);
        let mut best = 0;
        let mut ties = 0u32;
        for (a, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = a;
                ties = 1;
            } else if v == row[best] {
                ties += 1;
                if ties > 1 && rng.random_range(0..ties) == 0 {
                    best = a;
                }
            }
        }
        best
    }
}

/// An agent's memory for learning: the last state and action, waiting for
/// their reward and successor state.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct Learner {
    /// State and action of the previous step.
    pub prev: Option<(u32, u8)>,
    /// The state of the current step (for inspection).
    pub state: u32,
}

impl Learner {
    /// Drops the pending transition (episode reset).
    pub fn forget_transition(&mut self) {
        self.prev = None;
    }
}

/// The agent uses the Q-table on this policy entity.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
#[relationship(relationship_target = PolicyUsers)]
pub struct UsesPolicy(pub Entity);

/// The agents that use this policy entity.
#[derive(Component, Debug, Clone, Default)]
#[relationship_target(relationship = UsesPolicy)]
pub struct PolicyUsers(Vec<Entity>);

impl PolicyUsers {
    /// The agents.
    pub fn agents(&self) -> &[Entity] {
        &self.0
    }
}

/// Decide: for each agent in id order, read its Q-state, learn from the last
/// transition, then choose an action (epsilon-greedy, greedy or random).
pub fn decide_actions(
    hyper: Res<Hyperparameters>,
    run: Res<RunConfig>,
    episode: Res<Episode>,
    order: Res<AgentOrder>,
    mut rng: ResMut<SimRng>,
    mut agents: Query<(&Agent, &GridPos, &Observation, &Inbox, &Reward, &UsesPolicy, &mut Learner, &mut Action)>,
    mut tables: Query<&mut QTable>,
) {
    let epsilon = run.mode.epsilon(&hyper, episode.index);
    let rng = &mut rng.0;
    for &e in &order.0 {
        let Ok((agent, pos, obs, inbox, reward, policy, mut learner, mut action)) = agents.get_mut(e) else {
            continue;
        };
        let Ok(mut table) = tables.get_mut(policy.0) else { continue };
        let s = QState::observe(agent, *pos, obs, inbox).encode();
        if run.mode == PolicyMode::Learn
            && let Some((ps, pa)) = learner.prev
        {
            table.update(ps as usize, pa as usize, reward.pending, Some(s), hyper.alpha, hyper.gamma);
        }
        let a = if epsilon > 0.0 && rng.random::<f32>() < epsilon {
            rng.random_range(0..Action::COUNT)
        } else {
            table.greedy(s, rng)
        };
        learner.prev = Some((s as u32, a as u8));
        learner.state = s as u32;
        *action = Action::from_index(a);
    }
}

/// Reward (on an episode's last step): the terminal update of every agent's
/// last transition, with no bootstrap.
pub fn learn_at_episode_end(
    hyper: Res<Hyperparameters>,
    run: Res<RunConfig>,
    episode: Res<Episode>,
    order: Res<AgentOrder>,
    mut agents: Query<(&Reward, &UsesPolicy, &mut Learner)>,
    mut tables: Query<&mut QTable>,
) {
    if !episode.ending() {
        return;
    }
    for &e in &order.0 {
        let Ok((reward, policy, mut learner)) = agents.get_mut(e) else { continue };
        if run.mode == PolicyMode::Learn
            && let Some((ps, pa)) = learner.prev
            && let Ok(mut table) = tables.get_mut(policy.0)
        {
            table.update(ps as usize, pa as usize, reward.pending, None, hyper.alpha, hyper.gamma);
        }
        learner.forget_transition();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn q_update_matches_hand_computed_values() {
        let mut t = QTable::new(3, 2, "t".into(), 0);
        // Q(1,·) = [2.0, 5.0]; Q(0,1) = 1.0.
        t.q[2] = 2.0;
        t.q[3] = 5.0;
        t.q[1] = 1.0;
        // 1.0 + 0.5 * (0.5 + 0.9 * 5.0 - 1.0) = 1.0 + 0.5 * 4.0 = 3.0
        t.update(0, 1, 0.5, Some(1), 0.5, 0.9);
        assert!((t.q[1] - 3.0).abs() < 1e-6);
        assert_eq!(t.visits[1], 1);
        // Terminal: 3.0 + 0.25 * (-1.0 - 3.0) = 2.0
        t.update(0, 1, -1.0, None, 0.25, 0.9);
        assert!((t.q[1] - 2.0).abs() < 1e-6);
        // Untouched entries stay.
        assert_eq!(t.q[0], 0.0);
        assert_eq!(t.q[3], 5.0);
    }

    #[test]
    fn greedy_picks_the_max_and_breaks_ties_at_random() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut t = QTable::new(2, 5, "t".into(), 0);
        t.q[3] = 1.0;
        assert!((0..50).all(|_| t.greedy(0, &mut rng) == 3));
        let mut seen = [0; 5];
        for _ in 0..500 {
            seen[t.greedy(1, &mut rng)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "ties should spread: {seen:?}");
    }
}

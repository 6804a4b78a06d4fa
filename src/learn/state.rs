//! The discrete Q-state: what an agent's observation and inbox are reduced to,
//! and its dense encoding.
//!
//! A state is four parts:
//! - `target` (10 codes): direction to the nearest visible item that no one
//!   else has claimed (0 none, 1 here, 2..=5 adjacent N/E/S/W, 6..=9 farther
//!   N/E/S/W by dominant axis);
//! - `inbox` (10 codes, same coding): direction to the nearest cell reported
//!   in the inbox (food, help, prey, or a site someone else claimed) that is
//!   not visibly gone;
//! - `blocked` (16 codes): bit mask of blocked neighbours N/E/S/W (wall,
//!   border, another agent or prey);
//! - `fresh` (16 codes): bit mask of open neighbours N/E/S/W that are not on
//!   the agent's recent trail (where exploring finds new ground; it lets a
//!   greedy policy sweep instead of pacing).
//!
//! `index = ((target * 10 + inbox) * 16 + blocked) * 16 + fresh`, so there
//! are `NUM_STATES = 25600` states.

use crate::agent::{Agent, GridPos, Observation};
use crate::comm::{Inbox, IntentKind};

/// Codes of the `target` part.
pub const TARGET_CODES: usize = 10;
/// Codes of the `inbox` part.
pub const INBOX_CODES: usize = 10;
/// Codes of the `blocked` part.
pub const BLOCKED_CODES: usize = 16;
/// Codes of the `fresh` part.
pub const FRESH_CODES: usize = 16;
/// Number of distinct states.
pub const NUM_STATES: usize = TARGET_CODES * INBOX_CODES * BLOCKED_CODES * FRESH_CODES;
/// The layout as written into policy files.
pub const STATE_LAYOUT: &str =
    "target:10,inbox:10,blocked:16,fresh:16 (index = ((target*10+inbox)*16+blocked)*16+fresh)";

/// Names of the direction codes.
pub const DIR_NAMES: [&str; 10] =
    ["none", "here", "adj-N", "adj-E", "adj-S", "adj-W", "far-N", "far-E", "far-S", "far-W"];

/// A decoded Q-state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QState {
    /// Direction code of the visible target.
    pub target: u8,
    /// Direction code of the reported target.
    pub inbox: u8,
    /// Wall bits N, E, S, W.
    pub blocked: u8,
    /// Open, not recently visited neighbours N, E, S, W.
    pub fresh: u8,
}

impl QState {
    /// Dense index in `0..NUM_STATES`.
    pub fn encode(self) -> usize {
        ((self.target as usize * INBOX_CODES + self.inbox as usize) * BLOCKED_CODES + self.blocked as usize)
            * FRESH_CODES
            + self.fresh as usize
    }

    /// Inverse of [`QState::encode`].
    pub fn decode(index: usize) -> Self {
        let fresh = index % FRESH_CODES;
        let rest = index / FRESH_CODES;
        let blocked = rest % BLOCKED_CODES;
        let rest = rest / BLOCKED_CODES;
        let inbox = rest % INBOX_CODES;
        let target = rest / INBOX_CODES;
        Self { target: target as u8, inbox: inbox as u8, blocked: blocked as u8, fresh: fresh as u8 }
    }

    /// Reads the state of an agent.
    pub fn observe(agent: &Agent, pos: GridPos, obs: &Observation, inbox: &Inbox) -> Self {
        let claimed_by_other = |x: i32, y: i32| {
            inbox.iter().any(|r| {
                r.intent.kind == IntentKind::Claim && r.intent.x == x && r.intent.y == y && r.sender != agent.id
            })
        };
        // A site I serve stays my target even if an older claim by someone
        // else still sits in my inbox.
        let target = obs
            .visible()
            .iter()
            .find(|v| v.served_by == Some(agent.id) || !claimed_by_other(v.x, v.y))
            .map_or(0, |v| dir_code(v.dx, v.dy));
        let mut best: Option<(i32, i32, i32)> = None;
        for r in inbox.iter() {
            let (dx, dy) = (r.intent.x - pos.x, r.intent.y - pos.y);
            // Within sight but not there any more: stale news.
            if obs.sees_offset(dx, dy) && !obs.visible().iter().any(|v| v.dx == dx && v.dy == dy) {
                continue;
            }
            let d = dx.abs() + dy.abs();
            if best.is_none_or(|b| d < b.0) {
                best = Some((d, dx, dy));
            }
        }
        let inbox = best.map_or(0, |(_, dx, dy)| dir_code(dx, dy));
        Self { target, inbox, blocked: obs.blocked & 0xF, fresh: obs.fresh & 0xF }
    }

    /// A readable description, e.g. `target=adj-N inbox=far-E blocked=N.W. fresh=.E..`.
    pub fn describe(self) -> String {
        let bits = |m: u8| -> String {
            ["N", "E", "S", "W"].iter().enumerate().map(|(i, n)| if m & (1 << i) != 0 { *n } else { "." }).collect()
        };
        let (walls, fresh) = (bits(self.blocked), bits(self.fresh));
        format!(
            "target={} inbox={} blocked={walls} fresh={fresh}",
            DIR_NAMES[self.target as usize % 10],
            DIR_NAMES[self.inbox as usize % 10]
        )
    }
}

/// Direction code of an offset: 0 is never returned (that means "none").
pub fn dir_code(dx: i32, dy: i32) -> u8 {
    if dx == 0 && dy == 0 {
        return 1;
    }
    let dir = if dx.abs() >= dy.abs() {
        if dx > 0 { 1 } else { 3 }
    } else if dy < 0 {
        0
    } else {
        2
    };
    if dx.abs() + dy.abs() == 1 { 2 + dir } else { 6 + dir }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_over_every_state() {
        for i in 0..NUM_STATES {
            let s = QState::decode(i);
            assert!((s.target as usize) < TARGET_CODES && (s.inbox as usize) < INBOX_CODES);
            assert_eq!(s.encode(), i);
        }
        let s = QState { target: 9, inbox: 9, blocked: 15, fresh: 15 };
        assert_eq!(s.encode(), NUM_STATES - 1);
        assert_eq!(QState { target: 1, inbox: 2, blocked: 3, fresh: 4 }.encode(), ((10 + 2) * 16 + 3) * 16 + 4);
        assert_eq!(QState::decode(((10 + 2) * 16 + 3) * 16 + 4), QState { target: 1, inbox: 2, blocked: 3, fresh: 4 });
    }

    #[test]
    fn direction_codes() {
        assert_eq!(dir_code(0, 0), 1);
        assert_eq!(dir_code(0, -1), 2);
        assert_eq!(dir_code(1, 0), 3);
        assert_eq!(dir_code(0, 1), 4);
        assert_eq!(dir_code(-1, 0), 5);
        assert_eq!(dir_code(0, -3), 6);
        assert_eq!(dir_code(3, 1), 7);
        assert_eq!(dir_code(-2, 2), 9);
    }
}

//! Metrics: per-step accumulators, one row per episode with fixed names, and
//! the CSV, JSON and learning-curve PNG writers.

mod plot;

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

pub use plot::plot_learning_curve;

use crate::learn::Hyperparameters;
use crate::world::{Episode, RunConfig};
use crate::{SimSet, SimStep};

/// Adds the episode recorder.
pub fn plugin(app: &mut App) {
    app.init_resource::<EpisodeStats>().init_resource::<EpisodeLog>();
    app.add_systems(SimStep, record_episode.in_set(SimSet::Reward).after(crate::learn::learn_at_episode_end));
}

/// Running figures of the current episode (every folder adds to them).
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct EpisodeStats {
    /// Sum of all agents' rewards.
    pub reward: f64,
    /// Items eaten, lifted, caught, task sites completed.
    pub completions: u64,
    /// Items placed in the world (start + respawns).
    pub items_spawned: u64,
    /// Agent-steps taken.
    pub agent_steps: u64,
    /// Agent-steps with no move and no contribution.
    pub idle_agent_steps: u64,
    /// Agent-steps spent crowding a site someone else serves.
    pub wasted_agent_steps: u64,
    /// Task-site steps (sites alive x steps).
    pub site_steps: u64,
    /// Task-site steps with a worker.
    pub site_steps_served: u64,
    /// Moves into walls, borders, prey or other agents.
    pub bumps: u64,
    /// Messages senders produced.
    pub messages_sent: u64,
    /// Receptions (one message to three agents counts three).
    pub messages_delivered: u64,
    /// Messages over the bandwidth budget.
    pub messages_dropped: u64,
    /// Messages that did not parse back into an intent.
    pub messages_invalid: u64,
    /// Messages translated into a receiver's dialect.
    pub messages_translated: u64,
}

impl EpisodeStats {
    /// Zeroes every figure.
    pub fn begin_episode(&mut self) {
        *self = Self::default();
    }
}

/// One episode's figures: the columns of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRow {
    /// Global episode index.
    pub episode: u64,
    /// Steps played.
    pub steps: u32,
    /// Total reward of all agents.
    pub reward: f64,
    /// Total reward per step.
    pub reward_per_step: f64,
    /// Items eaten, lifted, caught, or task sites completed.
    pub completions: u64,
    /// Task efficiency: completions per step.
    pub efficiency: f64,
    /// Resource utilisation: served share of task-site time when the scene
    /// has task sites, else the share of placed items that were consumed.
    pub utilisation: f64,
    /// Share of agent-steps with no move and no contribution.
    pub idle_share: f64,
    /// Share of agent-steps crowding a site someone else serves.
    pub wasted_share: f64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Message receptions.
    pub messages_delivered: u64,
    /// Messages dropped by the bandwidth budget.
    pub messages_dropped: u64,
    /// Messages that did not parse.
    pub messages_invalid: u64,
    /// Messages translated into a receiver's dialect.
    pub messages_translated: u64,
    /// Exploration rate used.
    pub epsilon: f64,
}

impl EpisodeRow {
    /// The CSV header line.
    pub const CSV_HEADER: &'static str = "episode,steps,reward,reward_per_step,completions,efficiency,utilisation,idle_share,wasted_share,messages_sent,messages_delivered,messages_dropped,messages_invalid,messages_translated,epsilon";

    /// Computes the row from an episode's stats.
    pub fn from_stats(episode: u64, steps: u32, epsilon: f32, s: &EpisodeStats) -> Self {
        let per = |n: f64, d: u64| if d == 0 { 0.0 } else { n / d as f64 };
        let utilisation = if s.site_steps > 0 {
            per(s.site_steps_served as f64, s.site_steps)
        } else {
            per(s.completions as f64, s.items_spawned)
        };
        Self {
            episode,
            steps,
            reward: s.reward,
            reward_per_step: per(s.reward, steps as u64),
            completions: s.completions,
            efficiency: per(s.completions as f64, steps as u64),
            utilisation,
            idle_share: per(s.idle_agent_steps as f64, s.agent_steps),
            wasted_share: per(s.wasted_agent_steps as f64, s.agent_steps),
            messages_sent: s.messages_sent,
            messages_delivered: s.messages_delivered,
            messages_dropped: s.messages_dropped,
            messages_invalid: s.messages_invalid,
            messages_translated: s.messages_translated,
            epsilon: epsilon as f64,
        }
    }

    /// One CSV line (fixed precision, so runs compare byte for byte).
    pub fn csv_line(&self) -> String {
        format!(
            "{},{},{:.6},{:.6},{},{:.6},{:.6},{:.6},{:.6},{},{},{},{},{},{:.6}",
            self.episode,
            self.steps,
            self.reward,
            self.reward_per_step,
            self.completions,
            self.efficiency,
            self.utilisation,
            self.idle_share,
            self.wasted_share,
            self.messages_sent,
            self.messages_delivered,
            self.messages_dropped,
            self.messages_invalid,
            self.messages_translated,
            self.epsilon
        )
    }
}

/// Rows of the episodes this App finished, oldest first.
#[derive(Resource, Debug, Clone, Default)]
pub struct EpisodeLog {
    /// Finished episodes.
    pub rows: Vec<EpisodeRow>,
}

/// Reward (on an episode's last step): closes the episode's row.
pub fn record_episode(
    episode: Res<Episode>,
    hyper: Res<Hyperparameters>,
    run: Res<RunConfig>,
    stats: Res<EpisodeStats>,
    mut log: ResMut<EpisodeLog>,
) {
    if !episode.ending() {
        return;
    }
    let epsilon = run.mode.epsilon(&hyper, episode.index);
    log.rows.push(EpisodeRow::from_stats(episode.index, episode.step, epsilon, &stats));
}

/// The whole CSV text of some rows.
pub fn rows_to_csv(rows: &[EpisodeRow]) -> String {
    let mut out = String::with_capacity(rows.len() * 96 + 200);
    out.push_str(EpisodeRow::CSV_HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&r.csv_line());
        out.push('\n');
    }
    out
}

/// Means of the main figures over some rows (eval summaries, run summaries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Aggregate {
    /// Episodes averaged.
    pub episodes: usize,
    /// Mean total reward per episode.
    pub reward: f64,
    /// Mean reward per step.
    pub reward_per_step: f64,
    /// Mean completions per episode.
    pub completions: f64,
    /// Mean completions per step.
    pub efficiency: f64,
    /// Mean utilisation.
    pub utilisation: f64,
    /// Mean idle share.
    pub idle_share: f64,
    /// Mean wasted share.
    pub wasted_share: f64,
    /// Mean messages sent per episode.
    pub messages_sent: f64,
    /// Mean receptions per episode.
    pub messages_delivered: f64,
    /// Mean dropped messages per episode.
    pub messages_dropped: f64,
    /// Mean invalid messages per episode.
    pub messages_invalid: f64,
    /// Mean translated messages per episode.
    pub messages_translated: f64,
}

impl Aggregate {
    /// Averages rows (all zero when empty).
    pub fn of(rows: &[EpisodeRow]) -> Self {
        let n = rows.len();
        if n == 0 {
            return Self::default();
        }
        let m = |f: &dyn Fn(&EpisodeRow) -> f64| rows.iter().map(f).sum::<f64>() / n as f64;
        Self {
            episodes: n,
            reward: m(&|r| r.reward),
            reward_per_step: m(&|r| r.reward_per_step),
            completions: m(&|r| r.completions as f64),
            efficiency: m(&|r| r.efficiency),
            utilisation: m(&|r| r.utilisation),
            idle_share: m(&|r| r.idle_share),
            wasted_share: m(&|r| r.wasted_share),
            messages_sent: m(&|r| r.messages_sent as f64),
            messages_delivered: m(&|r| r.messages_delivered as f64),
            messages_dropped: m(&|r| r.messages_dropped as f64),
            messages_invalid: m(&|r| r.messages_invalid as f64),
            messages_translated: m(&|r| r.messages_translated as f64),
        }
    }
}

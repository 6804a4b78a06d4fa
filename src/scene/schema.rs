//! The scene file format (RON): every field a user can write, with defaults.

use serde::{Deserialize, Serialize};

use crate::comm::{ChannelSettings, CommMode, Dialect};
use crate::learn::Hyperparameters;

/// A whole scene: the grid, who lives in it, what there is to get, how agents
/// talk and how they learn. See the README for every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Short name, used in logs and file metadata.
    pub name: String,
    /// What the scene is about (free text).
    #[serde(default)]
    pub description: String,
    /// Base seed of the scene; `--seed` replaces it.
    #[serde(default)]
    pub seed: u64,
    /// Steps per episode.
    #[serde(default = "default_episode_steps")]
    pub episode_steps: u32,
    /// The grid, one string per row: `#` wall, `.` floor, a digit `0`-`9`
    /// floor where agents of that team (by index) start.
    pub layout: Vec<String>,
    /// How far agents see, in cells (Chebyshev distance: a square).
    #[serde(default = "default_vision")]
    pub vision_radius: u32,
    /// The teams of agents.
    pub teams: Vec<TeamSpec>,
    /// The things to find, lift, catch or serve.
    pub resources: Vec<ResourceSpec>,
    /// How agents talk: `Off` or `Symbolic`; `--comm` replaces it.
    #[serde(default)]
    pub comm: CommMode,
    /// The message channel: range, bandwidth, message lifetime.
    #[serde(default)]
    pub channel: ChannelSettings,
    /// Learning and reward hyperparameters.
    #[serde(default)]
    pub hyperparameters: Hyperparameters,
    /// Defaults of `colony train` for this scene.
    #[serde(default)]
    pub train: TrainDefaults,
}

fn default_episode_steps() -> u32 {
    200
}

fn default_vision() -> u32 {
    2
}

/// One team of agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSpec {
    /// Team name.
    pub name: String,
    /// Number of agents.
    pub agents: u32,
    /// The dialect its agents speak.
    #[serde(default)]
    pub dialect: Dialect,
    /// One Q-table for the team (`Shared`) or one per agent (`Independent`).
    #[serde(default)]
    pub learning: Learning,
    /// Fixed start cells `(x, y)` for the first agents; the rest start on
    /// the team's digit cells of the layout, or anywhere free.
    #[serde(default)]
    pub start: Vec<(u32, u32)>,
}

/// Who owns a Q-table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Learning {
    /// One table per team, on a policy entity all its agents point to.
    #[default]
    Shared,
    /// One table per agent.
    Independent,
}

/// What a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    /// Eaten by the agent that steps on it.
    Food,
    /// Lifted when `needs` agents stand on or next to it at once.
    Heavy,
    /// Scripted, flees from agents; caught when `needs` agents are next to it.
    Prey,
    /// A site that needs one worker on or next to it for `work_steps` steps.
    Task,
}

/// A group of resources of one kind. Consumed ones respawn elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// What they are.
    pub kind: ResourceKind,
    /// How many clusters of them exist at any time.
    pub count: u32,
    /// Items per cluster, placed around a random centre (food patches).
    #[serde(default = "one")]
    pub cluster: u32,
    /// How far cluster items lie from their centre, in cells.
    #[serde(default = "one")]
    pub cluster_radius: u32,
    /// Agents needed at once (Heavy, Prey); must be 1 for Food and Task.
    #[serde(default = "one")]
    pub needs: u32,
    /// Steps of work a task site needs (Task only).
    #[serde(default = "default_work_steps")]
    pub work_steps: u32,
    /// Chance per step that prey flees when it sees an agent (Prey only).
    #[serde(default = "default_flee")]
    pub flee: f32,
    /// How far prey sees agents coming, in cells (Prey only).
    #[serde(default = "default_prey_vision")]
    pub prey_vision: u32,
}

fn one() -> u32 {
    1
}
fn default_work_steps() -> u32 {
    5
}
fn default_flee() -> f32 {
    0.7
}
fn default_prey_vision() -> u32 {
    2
}

/// Defaults of `colony train` for this scene; CLI flags replace them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainDefaults {
    /// Episodes to train.
    pub episodes: u64,
    /// Parallel environments.
    pub envs: u32,
    /// Write a checkpoint every this many episodes.
    pub checkpoint_every: u64,
    /// Episodes `colony eval` runs.
    pub eval_episodes: u64,
}

impl Default for TrainDefaults {
    fn default() -> Self {
        Self { episodes: 1000, envs: 2, checkpoint_every: 200, eval_episodes: 100 }
    }
}

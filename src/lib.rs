//! colony: talking, learning agents in a 2D grid world built on the Bevy ECS.
//!
//! [`SimPlugin`] holds everything but presentation; the headless App is
//! `MinimalPlugins + SimPlugin`, the windowed one adds the GUI plugin. One
//! simulation step is one run of the [`SimStep`] schedule, whose systems are
//! ordered by [`SimSet`].

pub mod agent;
pub mod comm;
#[cfg(feature = "gui")]
pub mod gui;
pub mod headless;
pub mod learn;
pub mod lm;
pub mod metrics;
pub mod scene;
pub mod world;

use bevy::ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use bevy::prelude::*;

/// The phases of one simulation step, run in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimSet {
    /// Each agent's `Observation` from the grid within its vision radius.
    Sense,
    /// What an agent saw becomes an outgoing intent in its `Outbox`.
    Speak,
    /// The channel (range, bandwidth) moves messages into `Inbox`es.
    Deliver,
    /// Q-state from observation + inbox; Q update; epsilon-greedy action.
    Decide,
    /// Moves, conflicts resolved in agent-id order; scripted prey moves.
    Act,
    /// Pick-ups, lifts, captures, task work; metrics; reset at episode end.
    Reward,
}

/// The schedule that runs one simulation step.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimStep;

/// How many simulation steps run per `app.update()` (the GUI changes it; the
/// headless runner keeps 1).
#[derive(Resource, Debug, Clone, Copy)]
pub struct StepsPerUpdate {
    /// Steps to run on the next update; 0 pauses the simulation.
    pub steps: u32,
}

impl Default for StepsPerUpdate {
    fn default() -> Self {
        Self { steps: 1 }
    }
}

/// Everything but presentation: world, agents, communication, learning, metrics.
///
/// Insert a [`scene::ActiveScene`] before or after adding it; the world is
/// built from it on the next update (or at once with [`world::build_world`]).
pub struct SimPlugin;

impl Plugin for SimPlugin {
    fn build(&self, app: &mut App) {
        let mut schedule = Schedule::new(SimStep);
        // Systems are tiny and strictly ordered: a single thread is both the
        // fastest and trivially deterministic.
        schedule.set_executor(SingleThreadedExecutor::new());
        app.add_schedule(schedule);
        app.configure_sets(
            SimStep,
            (SimSet::Sense, SimSet::Speak, SimSet::Deliver, SimSet::Decide, SimSet::Act, SimSet::Reward).chain(),
        );
        app.init_resource::<StepsPerUpdate>();
        app.add_plugins((
            scene::plugin,
            world::plugin,
            agent::plugin,
            comm::plugin,
            learn::plugin,
            metrics::plugin,
            lm::plugin,
        ));
        app.add_systems(Update, run_simulation_steps);
    }
}

/// Runs the [`SimStep`] schedule as often as [`StepsPerUpdate`] says, after
/// (re)building the world if the active scene changed.
pub fn run_simulation_steps(world: &mut World) {
    world::rebuild_if_scene_changed(world);
    if !world.contains_resource::<world::Grid>() {
        return;
    }
    let steps = world.resource::<StepsPerUpdate>().steps;
    for _ in 0..steps {
        world.run_schedule(SimStep);
    }
}

/// Builds the headless App used by training, evaluation, the benchmark and the
/// tests: `MinimalPlugins + SimPlugin` with the given scene, world built.
pub fn headless_app(active: scene::ActiveScene, run: world::RunConfig, lm: lm::LmSettings) -> App {
    let mut app = App::new();
    app.add_plugins(MinimalPlugins).add_plugins(SimPlugin);
    app.insert_resource(run);
    app.insert_resource(lm);
    app.insert_resource(active);
    app.finish();
    app.cleanup();
    // Headless worlds run one per thread; bevy's multi-threaded executor
    // (on when the gui feature is) would only add scheduling overhead to
    // every update. One thread per App is faster and just as deterministic.
    let mut schedules = app.world_mut().resource_mut::<Schedules>();
    for (_, schedule) in schedules.iter_mut() {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
    world::rebuild_if_scene_changed(app.world_mut());
    lm::ensure_language_model(app.world_mut());
    app
}

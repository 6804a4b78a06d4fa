//! `colony bench`: agent-steps per second of the headless core (a
//! foraging-like world with symbolic messages and learning on) at one thread
//! and at all threads.

use std::sync::Barrier;
use std::time::Instant;

use serde::Serialize;

use super::Env;
use crate::comm::{ChannelSettings, CommMode, Dialect};
use crate::learn::{Hyperparameters, PolicyMode};
use crate::scene::{Learning, ResourceKind, ResourceSpec, Scene, TeamSpec, TrainDefaults};

/// Throughput at one thread count.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Worker threads (one env each).
    pub threads: usize,
    /// Agent-steps per second over all threads.
    pub agent_steps_per_sec: f64,
    /// Simulation steps per second per env.
    pub steps_per_sec_per_env: f64,
}

/// The benchmark's JSON.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Agents per world.
    pub agents: u32,
    /// Grid side.
    pub grid: usize,
    /// Steps each env ran.
    pub steps: u64,
    /// One thread.
    pub single_thread: Throughput,
    /// All threads.
    pub all_threads: Throughput,
}

/// The benchmark world: 48x48, 192 agents, food patches, symbolic messages.
pub fn bench_scene() -> Scene {
    let side = 48;
    let mut layout = Vec::with_capacity(side);
    for y in 0..side {
        let row: String = (0..side)
            .map(|x| {
                let border = x == 0 || y == 0 || x == side - 1 || y == side - 1;
                let pillar = x % 8 == 4 && y % 8 == 4;
                if border || pillar { '#' } else { '.' }
            })
            .collect();
        layout.push(row);
    }
    Scene {
        name: "bench".into(),
        description: "throughput benchmark".into(),
        seed: 1,
        episode_steps: 500,
        layout,
        vision_radius: 2,
        teams: vec![TeamSpec {
            name: "bench".into(),
            agents: 192,
            dialect: Dialect::En,
            learning: Learning::Shared,
            start: vec![],
        }],
        resources: vec![ResourceSpec {
            kind: ResourceKind::Food,
            count: 24,
            cluster: 4,
            cluster_radius: 1,
            needs: 1,
            work_steps: 1,
            flee: 0.0,
            prey_vision: 0,
        }],
        comm: CommMode::Symbolic,
        channel: ChannelSettings { range: 8, bandwidth: 32, ttl: 8, inbox: 4, ..Default::default() },
        hyperparameters: Hyperparameters::default(),
        train: TrainDefaults::default(),
    }
}

fn measure(scene: &Scene, threads: usize, steps: u64) -> Throughput {
    let barrier = Barrier::new(threads + 1);
    let agents: u32 = scene.teams.iter().map(|t| t.agents).sum();
    let elapsed = std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                let mut env =
                    Env::new(scene, 7, t as u64, threads as u64, PolicyMode::Learn, &crate::lm::LmSettings::default());
                env.run_steps(20);
                barrier.wait();
                env.run_steps(steps);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed().as_secs_f64()
    });
    let per_env = steps as f64 / elapsed.max(1e-9);
    Throughput {
        threads,
        agent_steps_per_sec: per_env * agents as f64 * threads as f64,
        steps_per_sec_per_env: per_env,
    }
}

/// Runs the benchmark at one thread and at `all` threads.
pub fn bench_core(all: usize, steps: u64) -> BenchReport {
    let scene = bench_scene();
    let single_thread = measure(&scene, 1, steps);
    let all_threads = measure(&scene, all.max(1), steps);
    BenchReport {
        agents: scene.teams.iter().map(|t| t.agents).sum(),
        grid: scene.layout.len(),
        steps,
        single_thread,
        all_threads,
    }
}

/// Steps per second of one headless foraging world, symbolic against
/// language-model messages, both measured after a warm-up (the model's memo
/// cache filled by the same world).
#[derive(Debug, Clone, Serialize)]
pub struct CommSpeed {
    /// Scene measured.
    pub scene: String,
    /// Warm-up steps per mode before measuring (fills the model's memo).
    pub warmup: u64,
    /// Steps measured per mode.
    pub steps: u64,
    /// Steps per second with `comm: Symbolic`.
    pub symbolic_steps_per_sec: f64,
    /// Steps per second with `comm: Llm`, cache warm.
    pub llm_steps_per_sec: f64,
    /// `llm / symbolic` (target: at least 0.2).
    pub llm_over_symbolic: f64,
}

/// Measures [`CommSpeed`] on a scene.
pub fn bench_comm_speed(scene: &Scene, warmup: u64, steps: u64) -> CommSpeed {
    let run = |mode: CommMode| {
        let mut s = scene.clone();
        s.comm = mode;
        let mut env = Env::new(&s, 3, 0, 1, PolicyMode::Learn, &crate::lm::LmSettings::default());
        env.run_steps(warmup);
        let start = Instant::now();
        env.run_steps(steps);
        steps as f64 / start.elapsed().as_secs_f64().max(1e-9)
    };
    let symbolic = run(CommMode::Symbolic);
    let llm = run(CommMode::Llm);
    CommSpeed {
        scene: scene.name.clone(),
        warmup,
        steps,
        symbolic_steps_per_sec: symbolic,
        llm_steps_per_sec: llm,
        llm_over_symbolic: llm / symbolic.max(1e-9),
    }
}

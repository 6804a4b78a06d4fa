//! One environment (a headless Bevy App) and a pool of them on worker
//! threads. Results come back in env order, whatever the thread count.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use bevy::prelude::*;

use super::HeadlessError;
use crate::learn::{PolicyMode, QTable};
use crate::lm::{LmSettings, LmStatus};
use crate::metrics::{EpisodeLog, EpisodeRow};
use crate::scene::{ActiveScene, Scene};
use crate::world::{PolicyOrder, RunConfig};

/// One finished episode of one env, with that env's learner copies.
#[derive(Debug, Clone)]
pub struct EpisodeResult {
    /// Env index.
    pub env: usize,
    /// The episode's figures.
    pub row: EpisodeRow,
    /// Q-values per table after the episode.
    pub q: Vec<Vec<f32>>,
    /// Updates per entry during the episode.
    pub visits: Vec<Vec<u32>>,
}

/// A headless world: `MinimalPlugins + SimPlugin`, one step per update.
pub struct Env {
    /// The Bevy App.
    pub app: App,
}

impl Env {
    /// Env playing episodes `first`, `first + stride`, ... of a run.
    pub fn new(scene: &Scene, seed: u64, first: u64, stride: u64, mode: PolicyMode, lm: &LmSettings) -> Self {
        let run = RunConfig { seed, first_episode: first, stride, mode };
        Self { app: crate::headless_app(ActiveScene::new(scene.clone(), None), run, lm.clone()) }
    }

    /// Copies of the env's Q-tables, in policy order.
    pub fn tables(&self) -> Vec<QTable> {
        let world = self.app.world();
        let order = &world.resource::<PolicyOrder>().0;
        order.iter().filter_map(|e| world.get::<QTable>(*e).cloned()).collect()
    }

    /// Loads Q-values (in policy order) and zeroes the visit counts.
    pub fn set_tables(&mut self, tables: &[QTable]) {
        let world = self.app.world_mut();
        let order = world.resource::<PolicyOrder>().0.clone();
        for (e, src) in order.iter().zip(tables) {
            if let Some(mut t) = world.get_mut::<QTable>(*e) {
                t.q.copy_from_slice(&src.q);
                t.visits.fill(0);
            }
        }
    }

    /// Runs updates until the current episode ends; returns its row.
    pub fn run_episode(&mut self) -> EpisodeRow {
        let before = self.app.world().resource::<EpisodeLog>().rows.len();
        loop {
            self.app.update();
            let log = &self.app.world().resource::<EpisodeLog>().rows;
            if log.len() > before
                && let Some(row) = log.last()
            {
                return row.clone();
            }
        }
    }

    /// Runs `n` steps (benchmarks).
    pub fn run_steps(&mut self, n: u64) {
        for _ in 0..n {
            self.app.update();
        }
    }
}

enum Job {
    Round { global: Arc<Vec<QTable>>, active: usize },
}

type Reply = Result<Vec<EpisodeResult>, String>;

struct Worker {
    jobs: Sender<Job>,
    replies: Receiver<Reply>,
    handle: Option<JoinHandle<()>>,
}

/// `envs` environments spread over up to `threads` worker threads; env k
/// plays episodes `first + k`, `first + k + envs`, ...
pub struct EnvPool {
    workers: Vec<Worker>,
    template: Vec<QTable>,
}

impl EnvPool {
    /// Starts the workers and builds every env on its worker.
    pub fn new(
        scene: &Scene,
        seed: u64,
        envs: usize,
        threads: usize,
        first: u64,
        mode: PolicyMode,
        lm: &LmSettings,
    ) -> Result<Self, HeadlessError> {
        let envs = envs.max(1);
        let threads = threads.clamp(1, envs);
        let mut workers = Vec::with_capacity(threads);
        let mut template = None;
        for w in 0..threads {
            let (jobs, job_rx) = channel::<Job>();
            let (reply_tx, replies) = channel::<Reply>();
            let (ready_tx, ready_rx) = channel::<Result<Vec<QTable>, String>>();
            let scene = scene.clone();
            let lm = lm.clone();
            let handle = std::thread::Builder::new()
                .name(format!("colony-env-{w}"))
                .spawn(move || {
                    let mut mine: Vec<(usize, Env)> = (w..envs)
                        .step_by(threads)
                        .map(|k| (k, Env::new(&scene, seed, first + k as u64, envs as u64, mode, &lm)))
                        .collect();
                    let lm_error = mine.first().and_then(|(_, e)| e.app.world().resource::<LmStatus>().error.clone());
                    let ready = match lm_error {
                        Some(e) => Err(format!("cannot load the language model: {e}")),
                        None => Ok(mine.first().map(|(_, e)| e.tables()).unwrap_or_default()),
                    };
                    let failed = ready.is_err();
                    let _ = ready_tx.send(ready);
                    if failed {
                        return;
                    }
                    while let Ok(Job::Round { global, active }) = job_rx.recv() {
                        let mut out = Vec::new();
                        for (k, env) in mine.iter_mut().filter(|(k, _)| *k < active) {
                            env.set_tables(&global);
                            let row = env.run_episode();
                            let tables = env.tables();
                            out.push(EpisodeResult {
                                env: *k,
                                row,
                                q: tables.iter().map(|t| t.q.clone()).collect(),
                                visits: tables.into_iter().map(|t| t.visits).collect(),
                            });
                        }
                        if reply_tx.send(Ok(out)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| HeadlessError::Other(format!("cannot start a worker thread: {e}")))?;
            let tables = ready_rx
                .recv()
                .map_err(|_| HeadlessError::Other("a worker thread failed while building its worlds".into()))?
                .map_err(HeadlessError::Other)?;
            if template.is_none() {
                template = Some(tables);
            }
            workers.push(Worker { jobs, replies, handle: Some(handle) });
        }
        Ok(Self { workers, template: template.unwrap_or_default() })
    }

    /// Fresh (zero) tables with the layout every env uses.
    pub fn initial_tables(&self) -> Vec<QTable> {
        self.template.clone()
    }

    /// Runs one episode on each of the first `active` envs, starting from
    /// `global`; results sorted by env index.
    pub fn run_round(&mut self, global: &[QTable], active: usize) -> Result<Vec<EpisodeResult>, HeadlessError> {
        let global = Arc::new(global.to_vec());
        for w in &self.workers {
            w.jobs
                .send(Job::Round { global: Arc::clone(&global), active })
                .map_err(|_| HeadlessError::Other("a worker thread stopped".into()))?;
        }
        let mut all = Vec::with_capacity(active);
        for w in &self.workers {
            let reply = w.replies.recv().map_err(|_| HeadlessError::Other("a worker thread stopped".into()))?;
            all.extend(reply.map_err(HeadlessError::Other)?);
        }
        all.sort_by_key(|r| r.env);
        Ok(all)
    }
}

impl Drop for EnvPool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            // Closing the job channel ends the worker's loop.
            let (dead, _) = channel();
            w.jobs = dead;
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

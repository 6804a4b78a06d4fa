//! Headless batch running: parallel environments (one Bevy App each, on
//! worker threads), deterministic merging of their learning, checkpoints and
//! resume, evaluation, and the throughput benchmark.

mod bench;
mod env;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use bench::{BenchReport, CommSpeed, bench_comm_speed, bench_core, bench_scene};
pub use env::{Env, EnvPool, EpisodeResult};

use crate::comm::CommMode;
use crate::learn::QTable;
use crate::learn::{Hyperparameters, PolicyFileError, PolicyMeta, PolicyMode, load_policy, save_policy};
use crate::metrics::{Aggregate, EpisodeRow, plot_learning_curve, rows_to_csv};
use crate::scene::{Scene, SceneError};

/// Why a headless run failed.
#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    /// The scene is bad.
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// A policy file is bad.
    #[error(transparent)]
    Policy(#[from] PolicyFileError),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Anything else, as a sentence.
    #[error("{0}")]
    Other(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HeadlessError + '_ {
    move |source| HeadlessError::Io { path: path.display().to_string(), source }
}

/// What `colony train` was asked to do.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The scene file (for the record).
    pub scene_file: PathBuf,
    /// The scene with CLI overrides applied.
    pub scene: Scene,
    /// Total episodes to reach (a resumed run continues up to this).
    pub episodes: u64,
    /// Parallel environments.
    pub envs: u32,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
    /// Run seed.
    pub seed: u64,
    /// Output folder.
    pub out: PathBuf,
    /// Checkpoint period in episodes.
    pub checkpoint_every: u64,
    /// Continue from the checkpoint in `out`.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Greedy and random evaluation episodes run at the end (0: none).
    pub eval_episodes: u64,
    /// The language model (used when the scene's comm is `Llm`).
    pub lm: crate::lm::LmSettings,
}

/// What a checkpoint stores besides the policy: everything needed to continue
/// exactly where the run stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version.
    pub version: u32,
    /// Scene file the run started from.
    pub scene_file: PathBuf,
    /// The exact scene used (overrides applied).
    pub scene: Scene,
    /// Run seed.
    pub seed: u64,
    /// Parallel environments.
    pub envs: u32,
    /// Episodes finished.
    pub episodes_done: u64,
    /// Every finished episode's row.
    pub rows: Vec<EpisodeRow>,
}

/// The end-of-run summary written to summary.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Scene name.
    pub scene: String,
    /// Scene file.
    pub scene_file: PathBuf,
    /// Run seed.
    pub seed: u64,
    /// Parallel environments.
    pub envs: u32,
    /// Episodes trained.
    pub episodes: u64,
    /// Communication mode.
    pub comm: CommMode,
    /// Hyperparameters used.
    pub hyperparameters: Hyperparameters,
    /// Means over the first tenth of training.
    pub first: Aggregate,
    /// Means over the last tenth of training.
    pub last: Aggregate,
    /// Greedy evaluation of the final policy (fixed evaluation seeds).
    pub eval_greedy: Option<Aggregate>,
    /// The random-policy baseline on the same seeds.
    pub eval_random: Option<Aggregate>,
    /// Whether the run was interrupted before reaching its episode count.
    pub interrupted: bool,
}

/// Seeds of evaluation episodes live apart from training seeds.
pub const EVAL_SEED_SALT: u64 = 0x5EED_E7A1_0000_0001;

/// Trains: rounds of `envs` episodes in parallel, learner copies merged in env
/// order after each round, checkpoints every `checkpoint_every` episodes, a
/// final checkpoint on `stop` (Ctrl-C). Same options, same bytes out.
pub fn train(opts: &TrainOptions, stop: &AtomicBool) -> Result<TrainSummary, HeadlessError> {
    std::fs::create_dir_all(&opts.out).map_err(io_err(&opts.out))?;
    let ckpt_path = opts.out.join("checkpoint.json");
    let policy_path = opts.out.join("policy.safetensors");
    let (mut ckpt, resumed_tables) = if opts.resume {
        let text = std::fs::read_to_string(&ckpt_path).map_err(io_err(&ckpt_path))?;
        let ckpt: Checkpoint = serde_json::from_str(&text)
            .map_err(|e| HeadlessError::Other(format!("{}: not a colony checkpoint: {e}", ckpt_path.display())))?;
        let policy = load_policy(&policy_path)?;
        if policy.meta.episodes != ckpt.episodes_done {
            return Err(HeadlessError::Other(format!(
                "{} holds {} episodes but {} says {}; the checkpoint is inconsistent",
                policy_path.display(),
                policy.meta.episodes,
                ckpt_path.display(),
                ckpt.episodes_done
            )));
        }
        (ckpt, Some(policy))
    } else {
        let ckpt = Checkpoint {
            version: 1,
            scene_file: opts.scene_file.clone(),
            scene: opts.scene.clone(),
            seed: opts.seed,
            envs: opts.envs.max(1),
            episodes_done: 0,
            rows: Vec::new(),
        };
        (ckpt, None)
    };
    let envs = ckpt.envs.max(1) as usize;
    let scene = ckpt.scene.clone();
    let mut pool =
        EnvPool::new(&scene, ckpt.seed, envs, opts.threads, ckpt.episodes_done, PolicyMode::Learn, &opts.lm)?;
    let mut global: Vec<QTable> = pool.initial_tables();
    if let Some(policy) = resumed_tables {
        policy.apply_to(global.iter_mut(), &policy_path.display().to_string())?;
    }

    let total = opts.episodes.max(ckpt.episodes_done);
    let bar = progress_bar(opts.progress, total, ckpt.episodes_done);
    let started = Instant::now();
    let mut steps_done = 0u64;
    let mut since_ckpt = 0u64;
    let mut interrupted = false;
    while ckpt.episodes_done < total {
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let n = envs.min((total - ckpt.episodes_done) as usize);
        let results = pool.run_round(&global, n)?;
        merge_round(&mut global, &results);
        for r in &results {
            steps_done += r.row.steps as u64 * scene_agents(&scene) as u64;
            ckpt.rows.push(r.row.clone());
        }
        ckpt.episodes_done += n as u64;
        since_ckpt += n as u64;
        if let Some(bar) = &bar {
            let recent = &ckpt.rows[ckpt.rows.len().saturating_sub(50)..];
            let agg = Aggregate::of(recent);
            let rate = steps_done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_position(ckpt.episodes_done);
            bar.set_message(format!(
                "reward {:.2} | eff {:.3} | eps {:.3} | {:.0} agent-steps/s",
                agg.reward,
                agg.efficiency,
                ckpt.rows.last().map_or(0.0, |r| r.epsilon),
                rate
            ));
        }
        if since_ckpt >= opts.checkpoint_every.max(1) && ckpt.episodes_done < total {
            write_checkpoint(&opts.out, &ckpt, &global)?;
            since_ckpt = 0;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    write_checkpoint(&opts.out, &ckpt, &global)?;
    let elapsed = started.elapsed().as_secs_f64();

    let (eval_greedy, eval_random) = if opts.eval_episodes > 0 && !interrupted {
        let g = evaluate(
            &scene,
            ckpt.seed,
            Some(&global),
            PolicyMode::Greedy,
            opts.eval_episodes,
            envs,
            opts.threads,
            &opts.lm,
        )?;
        let r =
            evaluate(&scene, ckpt.seed, None, PolicyMode::Random, opts.eval_episodes, envs, opts.threads, &opts.lm)?;
        (Some(g), Some(r))
    } else {
        (None, None)
    };
    let tenth = (ckpt.rows.len() / 10).max(1).min(ckpt.rows.len());
    let summary = TrainSummary {
        scene: scene.name.clone(),
        scene_file: ckpt.scene_file.clone(),
        seed: ckpt.seed,
        envs: ckpt.envs,
        episodes: ckpt.episodes_done,
        comm: scene.comm,
        hyperparameters: scene.hyperparameters,
        first: Aggregate::of(&ckpt.rows[..tenth]),
        last: Aggregate::of(&ckpt.rows[ckpt.rows.len() - tenth..]),
        eval_greedy,
        eval_random,
        interrupted,
    };
    let json = serde_json::to_string_pretty(&summary).map_err(|e| HeadlessError::Other(e.to_string()))?;
    let summary_path = opts.out.join("summary.json");
    crate::learn::write_atomic_file(&summary_path, json.as_bytes()).map_err(io_err(&summary_path))?;
    let png = opts.out.join("learning_curve.png");
    if !ckpt.rows.is_empty() {
        plot_learning_curve(&png, &scene.name, &ckpt.rows)
            .map_err(|e| HeadlessError::Other(format!("{}: {e}", png.display())))?;
    }
    if opts.progress || std::env::var_os("COLONY_TIMING").is_some() {
        eprintln!(
            "trained {} episodes in {:.1}s ({:.0} agent-steps/s)",
            ckpt.episodes_done,
            elapsed,
            steps_done as f64 / elapsed.max(1e-9)
        );
    }
    Ok(summary)
}

fn scene_agents(scene: &Scene) -> u32 {
    scene.teams.iter().map(|t| t.agents).sum()
}

fn progress_bar(on: bool, total: u64, done: u64) -> Option<indicatif::ProgressBar> {
    if !on {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} episodes | {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_position(done);
    Some(bar)
}

/// Merges a round's learner copies into the global tables, in env order:
/// each entry becomes the visit-weighted mean of the copies that updated it
/// (untouched entries keep their value). With one env this is plain
/// Q-learning.
pub fn merge_round(global: &mut [QTable], results: &[EpisodeResult]) {
    for (t, table) in global.iter_mut().enumerate() {
        for j in 0..table.q.len() {
            let mut n = 0u64;
            let mut sum = 0.0f64;
            for r in results {
                let v = r.visits[t][j] as u64;
                if v > 0 {
                    n += v;
                    sum += v as f64 * r.q[t][j] as f64;
                }
            }
            if n > 0 {
                table.q[j] = (sum / n as f64) as f32;
            }
        }
    }
}

fn write_checkpoint(out: &Path, ckpt: &Checkpoint, tables: &[QTable]) -> Result<(), HeadlessError> {
    let meta = PolicyMeta {
        scene: ckpt.scene.name.clone(),
        episodes: ckpt.episodes_done,
        hyperparameters: ckpt.scene.hyperparameters,
    };
    let refs: Vec<&QTable> = tables.iter().collect();
    save_policy(&out.join("policy.safetensors"), &refs, &meta)?;
    let csv_path = out.join("metrics.csv");
    crate::learn::write_atomic_file(&csv_path, rows_to_csv(&ckpt.rows).as_bytes()).map_err(io_err(&csv_path))?;
    let json = serde_json::to_vec(ckpt).map_err(|e| HeadlessError::Other(e.to_string()))?;
    let path = out.join("checkpoint.json");
    crate::learn::write_atomic_file(&path, &json).map_err(io_err(&path))
}

/// Plays `episodes` evaluation episodes (greedy with `tables`, or random) on
/// the evaluation seeds and averages their rows.
pub fn evaluate(
    scene: &Scene,
    seed: u64,
    tables: Option<&[QTable]>,
    mode: PolicyMode,
    episodes: u64,
    envs: usize,
    threads: usize,
    lm: &crate::lm::LmSettings,
) -> Result<Aggregate, HeadlessError> {
    Ok(Aggregate::of(&evaluate_rows(scene, seed, tables, mode, episodes, envs, threads, lm)?))
}

/// Like [`evaluate`], returning every episode's row.
pub fn evaluate_rows(
    scene: &Scene,
    seed: u64,
    tables: Option<&[QTable]>,
    mode: PolicyMode,
    episodes: u64,
    envs: usize,
    threads: usize,
    lm: &crate::lm::LmSettings,
) -> Result<Vec<EpisodeRow>, HeadlessError> {
    let envs = envs.clamp(1, episodes.max(1) as usize);
    let mut pool = EnvPool::new(scene, seed ^ EVAL_SEED_SALT, envs, threads, 0, mode, lm)?;
    let global = match tables {
        Some(t) => t.to_vec(),
        None => pool.initial_tables(),
    };
    let mut rows = Vec::new();
    let mut done = 0u64;
    while done < episodes {
        let n = envs.min((episodes - done) as usize);
        for r in pool.run_round(&global, n)? {
            rows.push(r.row);
        }
        done += n as u64;
    }
    Ok(rows)
}

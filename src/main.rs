//! The `colony` command line: train, eval, check, bench, run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use colony::comm::CommMode;
use colony::headless::{self, TrainOptions};
use colony::learn::{HyperOverrides, PolicyMode, load_policy};
use colony::scene::{Scene, load_scene_file};

/// Talking, learning agents in a 2D world.
#[derive(Parser, Debug)]
#[command(name = "colony", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train Q-learning agents headless on a scene.
    Train(TrainArgs),
    /// Evaluate a saved policy (greedy) or the random baseline; prints JSON.
    Eval(EvalArgs),
    /// Validate a scene file; exits 1 with file:line:column on errors.
    Check {
        /// The scene file.
        scene: PathBuf,
    },
    /// Measure headless throughput; prints JSON.
    Bench(BenchArgs),
    /// The agents' language model: train, eval, say, read, translate, bench.
    Lm {
        #[command(subcommand)]
        command: colony::lm::cli::LmCommand,
    },
    /// Open the visual simulator on a scene.
    #[cfg(feature = "gui")]
    Run(colony::gui::RunArgs),
}

/// Scene-level overrides shared by train and eval.
#[derive(Args, Debug, Clone, Default)]
struct SceneOverrides {
    /// Communication mode (replaces the scene's `comm`).
    #[arg(long, value_enum)]
    comm: Option<CommMode>,
    /// Message range in cells.
    #[arg(long)]
    range: Option<u32>,
    /// Messages per step the channel carries.
    #[arg(long)]
    bandwidth: Option<u32>,
    /// Steps per episode.
    #[arg(long)]
    episode_steps: Option<u32>,
    /// A local Hugging Face model directory (Llama or Qwen2) to talk with
    /// instead of the shipped model (`--comm llm`).
    #[arg(long)]
    llm: Option<PathBuf>,
    /// Messages in a dialect the receiver does not speak.
    #[arg(long, value_enum)]
    foreign: Option<colony::comm::Foreign>,
    /// Chance per utterance of a dropped or swapped character (`--comm llm`).
    #[arg(long)]
    noise: Option<f32>,
    /// Language-model sampling temperature (0: greedy, the default).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
}

impl SceneOverrides {
    fn lm(&self, seed: u64) -> colony::lm::LmSettings {
        colony::lm::LmSettings { model_dir: self.llm.clone(), temperature: self.temperature, top_p: 1.0, seed }
    }

    fn apply(&self, scene: &mut Scene) {
        if let Some(c) = self.comm {
            scene.comm = c;
        }
        if let Some(r) = self.range {
            scene.channel.range = r;
        }
        if let Some(b) = self.bandwidth {
            scene.channel.bandwidth = b;
        }
        if let Some(f) = self.foreign {
            scene.channel.foreign = f;
        }
        if let Some(n) = self.noise {
            scene.channel.noise = n.clamp(0.0, 1.0);
        }
        if let Some(s) = self.episode_steps {
            scene.episode_steps = s.max(1);
        }
    }
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// The scene file.
    scene: PathBuf,
    /// Total episodes (a resumed run continues up to this many).
    #[arg(long)]
    episodes: Option<u64>,
    /// Parallel environments (results depend on it, not on --threads).
    #[arg(long)]
    envs: Option<u32>,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Run seed (default: the scene's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Output folder (default: runs/<scene name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this folder where it stopped.
    #[arg(long, conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// Write a checkpoint every this many episodes.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Evaluation episodes (greedy and random) at the end; 0 skips.
    #[arg(long)]
    eval_episodes: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    scene_overrides: SceneOverrides,
    #[command(flatten)]
    hyper: HyperOverrides,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// The scene file.
    scene: PathBuf,
    /// A policy.safetensors from `train`, or `random`.
    #[arg(long)]
    policy: String,
    /// Episodes to play.
    #[arg(long)]
    episodes: Option<u64>,
    /// Run seed (default: the scene's `seed`); evaluation seeds derive from it.
    #[arg(long)]
    seed: Option<u64>,
    /// Parallel environments.
    #[arg(long, default_value_t = 2)]
    envs: u32,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    scene_overrides: SceneOverrides,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Print JSON (the only format; kept for scripts).
    #[arg(long)]
    json: bool,
    /// Steps per env.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Threads for the "all threads" figure (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Skip the language-model section.
    #[arg(long)]
    no_lm: bool,
    /// Scene of the symbolic-vs-LLM steps/s comparison.
    #[arg(long, default_value = "scenes/foraging.ron")]
    lm_scene: PathBuf,
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load_scene(path: &Path) -> Result<Scene> {
    Ok(load_scene_file(path)?)
}

fn train(args: TrainArgs) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // Ctrl-C: finish the round, write a final checkpoint, exit cleanly.
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)).context("cannot install the Ctrl-C handler")?;
    }
    let mut scene = load_scene(&args.scene)?;
    args.scene_overrides.apply(&mut scene);
    args.hyper.apply(&mut scene.hyperparameters);
    if let Some((_, why)) = scene.hyperparameters.out_of_range() {
        bail!("bad hyperparameter override: {why}");
    }
    let resume = args.resume.is_some();
    let out = args.resume.clone().or(args.out.clone()).unwrap_or_else(|| PathBuf::from("runs").join(&scene.name));
    let opts = TrainOptions {
        scene_file: args.scene.clone(),
        episodes: args.episodes.unwrap_or(scene.train.episodes),
        envs: args.envs.unwrap_or(scene.train.envs).max(1),
        threads: args.threads.unwrap_or_else(cpus).max(1),
        seed: args.seed.unwrap_or(scene.seed),
        out: out.clone(),
        checkpoint_every: args.checkpoint_every.unwrap_or(scene.train.checkpoint_every),
        resume,
        progress: !args.quiet,
        eval_episodes: args.eval_episodes.unwrap_or(scene.train.eval_episodes),
        lm: args.scene_overrides.lm(args.seed.unwrap_or(scene.seed)),
        scene,
    };
    if resume {
        println!("resuming {} up to {} episodes", out.display(), opts.episodes);
    } else {
        println!(
            "training `{}` ({}): {} episodes, {} envs, seed {}, comm {:?}",
            opts.scene.name,
            args.scene.display(),
            opts.episodes,
            opts.envs,
            opts.seed,
            opts.scene.comm
        );
        println!("hyperparameters: {}", serde_json::to_string(&opts.scene.hyperparameters)?);
    }
    let s = headless::train(&opts, &stop)?;
    if s.interrupted {
        println!(
            "interrupted after {} episodes; checkpoint written. Continue with: colony train {} --resume {}",
            s.episodes,
            args.scene.display(),
            out.display()
        );
    }
    println!(
        "episodes {} | reward first {:.2} -> last {:.2} | efficiency {:.4} -> {:.4}",
        s.episodes, s.first.reward, s.last.reward, s.first.efficiency, s.last.efficiency
    );
    if let (Some(g), Some(r)) = (&s.eval_greedy, &s.eval_random) {
        let ratio = if r.efficiency > 0.0 { g.efficiency / r.efficiency } else { f64::INFINITY };
        println!(
            "eval ({} episodes): greedy efficiency {:.4}, reward {:.2} | random efficiency {:.4}, reward {:.2} | {:.2}x random",
            g.episodes, g.efficiency, g.reward, r.efficiency, r.reward, ratio
        );
    }
    println!("wrote {0}/policy.safetensors, {0}/metrics.csv, {0}/summary.json, {0}/learning_curve.png", out.display());
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    let mut scene = load_scene(&args.scene)?;
    args.scene_overrides.apply(&mut scene);
    let episodes = args.episodes.unwrap_or(scene.train.eval_episodes).max(1);
    let seed = args.seed.unwrap_or(scene.seed);
    let threads = args.threads.unwrap_or_else(cpus);
    let (mode, tables) = if args.policy == "random" {
        (PolicyMode::Random, None)
    } else {
        let path = PathBuf::from(&args.policy);
        let file = load_policy(&path)?;
        let mut scratch = scene.clone();
        scratch.comm = CommMode::Off;
        let lm = colony::lm::LmSettings::default();
        let mut tables = colony::headless::Env::new(&scratch, seed, 0, 1, PolicyMode::Greedy, &lm).tables();
        file.apply_to(tables.iter_mut(), &args.policy)?;
        (PolicyMode::Greedy, Some(tables))
    };
    let lm = args.scene_overrides.lm(seed);
    let agg = headless::evaluate(&scene, seed, tables.as_deref(), mode, episodes, args.envs as usize, threads, &lm)?;
    let report = serde_json::json!({
        "scene": scene.name,
        "policy": args.policy,
        "mode": mode,
        "comm": scene.comm,
        "seed": seed,
        "episodes": episodes,
        "mean": agg,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn check(path: &Path) -> Result<()> {
    let scene = load_scene(path)?;
    let agents: u32 = scene.teams.iter().map(|t| t.agents).sum();
    println!(
        "{}: ok: `{}`, {}x{} grid, {} agents in {} team(s), {} resource group(s), comm {:?}",
        path.display(),
        scene.name,
        scene.layout.first().map_or(0, |r| r.chars().count()),
        scene.layout.len(),
        agents,
        scene.teams.len(),
        scene.resources.len(),
        scene.comm
    );
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    let _ = args.json;
    let report = headless::bench_core(args.threads.unwrap_or_else(cpus), args.steps);
    let mut out = serde_json::json!({ "core": report });
    if !args.no_lm {
        let model = colony::lm::bench(&colony::lm::default_model_dir())?;
        let scene = load_scene(&args.lm_scene)?;
        let sim = headless::bench_comm_speed(&scene, 10_000, args.steps);
        out["lm"] = serde_json::json!({ "model": model, "simulation": sim });
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn main() -> ExitCode {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // The language model is tiny: candle's thread pool costs more than it
        // gains (1.4x-7x slower measured on 2 cores). Set before any thread starts.
        // SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", "1")
        };
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Check { scene } => check(&scene),
        Command::Bench(a) => bench(a),
        Command::Lm { command } => colony::lm::cli::run(command).map_err(anyhow::Error::from),
        #[cfg(feature = "gui")]
        Command::Run(a) => colony::gui::run(a).map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `colony lm ...` subcommands (clap) and their runner.

use std::path::PathBuf;

use super::intent::{CanonicalIntent, Dialect};
use super::train::{TrainOptions, train};
use super::{LmEngine, LmError, bench, default_model_dir, eval};

/// The `colony lm ...` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LmCommand {
    /// Train the colony LM from scratch and save it as an HF style model directory.
    Train {
        /// Output model directory.
        #[arg(long, default_value = super::DEFAULT_MODEL_SUBDIR)]
        out: PathBuf,
        /// Number of optimizer steps.
        #[arg(long, default_value_t = TrainOptions::default().steps)]
        steps: usize,
        /// Seed of the weight init and the training corpus.
        #[arg(long, default_value_t = TrainOptions::default().seed)]
        seed: u64,
        /// Examples per training step.
        #[arg(long, default_value_t = TrainOptions::default().batch_size)]
        batch_size: usize,
        /// Peak learning rate (after warmup).
        #[arg(long, default_value_t = TrainOptions::default().lr)]
        lr: f64,
        /// Hidden size (model width).
        #[arg(long, default_value_t = TrainOptions::default().hidden_size)]
        hidden: usize,
        /// MLP intermediate size.
        #[arg(long, default_value_t = TrainOptions::default().intermediate_size)]
        ffn: usize,
        /// Number of transformer layers.
        #[arg(long, default_value_t = TrainOptions::default().layers)]
        layers: usize,
        /// Number of attention heads.
        #[arg(long, default_value_t = TrainOptions::default().heads)]
        heads: usize,
    },
    /// Held-out accuracy per task; prints JSON.
    Eval {
        /// Model directory (default: the shipped model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Held-out items per task.
        #[arg(long, default_value_t = 500)]
        n: usize,
        /// Kept for symmetry: output is always JSON.
        #[arg(long, default_value_t = true)]
        json: bool,
    },
    /// Canonical intent (e.g. "FOOD 12 7") -> utterance.
    Say {
        /// Canonical intent `KIND X Y`.
        intent: String,
        /// Dialect of the utterance (en or zh).
        #[arg(long, default_value = "en")]
        dialect: Dialect,
        /// Model directory (default: the shipped model).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Utterance -> canonical intent.
    Read {
        /// Utterance to read.
        utterance: String,
        /// Model directory (default: the shipped model).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Utterance -> utterance in another dialect.
    Translate {
        /// Utterance to translate.
        utterance: String,
        /// Target dialect (en or zh).
        #[arg(long)]
        to: Dialect,
        /// Model directory (default: the shipped model).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Throughput benchmark; prints JSON.
    Bench {
        /// Model directory (default: the shipped model).
        #[arg(long)]
        model: Option<PathBuf>,
    },
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, LmError> {
    serde_json::to_string_pretty(v).map_err(|e| LmError::Format(e.to_string()))
}

fn one<T>(mut v: Vec<Result<T, LmError>>) -> Result<T, LmError> {
    v.pop().unwrap_or_else(|| Err(LmError::Generation("no output".into())))
}

/// Run one `lm` subcommand.
pub fn run(cmd: LmCommand) -> Result<(), LmError> {
    match cmd {
        LmCommand::Train { out, steps, seed, batch_size, lr, hidden, ffn, layers, heads } => {
            let opts = TrainOptions {
                out,
                steps,
                seed,
                batch_size,
                lr,
                hidden_size: hidden,
                intermediate_size: ffn,
                layers,
                heads,
                ..TrainOptions::default()
            };
            let r = train(&opts)?;
            println!("{}", to_json(&r)?);
        }
        LmCommand::Eval { model, n, json: _ } => {
            let r = eval(&model.unwrap_or_else(default_model_dir), n)?;
            println!("{}", to_json(&r)?);
        }
        LmCommand::Say { intent, dialect, model } => {
            let i = CanonicalIntent::parse_canonical(&intent)
                .ok_or_else(|| LmError::Invalid(format!("not a canonical intent: {intent:?}")))?;
            let mut e = LmEngine::load(&model.unwrap_or_else(default_model_dir))?;
            println!("{}", one(e.say(&[(i, dialect)]))?);
        }
        LmCommand::Read { utterance, model } => {
            let mut e = LmEngine::load(&model.unwrap_or_else(default_model_dir))?;
            println!("{}", one(e.read(&[utterance.as_str()]))?);
        }
        LmCommand::Translate { utterance, to, model } => {
            let mut e = LmEngine::load(&model.unwrap_or_else(default_model_dir))?;
            println!("{}", one(e.translate(&[(utterance.as_str(), to)]))?);
        }
        LmCommand::Bench { model } => {
            let r = bench(&model.unwrap_or_else(default_model_dir))?;
            println!("{}", to_json(&r)?);
        }
    }
    Ok(())
}

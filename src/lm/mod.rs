//! Colony language model: the intent language, its corpus, a tiny in-process Llama (candle), training,
//! evaluation, batched generation, and a second backend for bigger local HF Llama / Qwen2 models.
//!
//! Entry points for the simulation: [`CanonicalIntent`], [`Dialect`], [`LmEngine`] (the shipped
//! model), [`HfEngine`] (a bigger local model, few-shot prompted), both behind [`LanguageBackend`] /
//! [`Backend`]; plus [`train`], [`eval`], [`bench`] and the `colony lm ...` CLI in [`cli`].
//!
//! Performance note: the shipped model is tiny, so candle's multi-threaded kernels cost more than they
//! gain on a busy 2-core machine. candle reads `RAYON_NUM_THREADS` at every matmul; setting it to `1`
//! (before any thread starts) measured 1.4x (batched) to 7x (unbatched) faster generation here.

pub mod backend;
pub mod bench;
pub mod cli;
pub mod corpus;
pub mod engine;
pub mod eval;
pub mod hf;
pub mod intent;
pub mod model;
pub mod sim;
pub mod tokenizer;
pub mod train;

use std::path::{Path, PathBuf};

pub use backend::{Backend, LanguageBackend};
pub use bench::{BenchReport, bench};
pub use engine::{LmEngine, SamplerConfig};
pub use eval::{EvalReport, eval};
pub use hf::HfEngine;
pub use intent::{CanonicalIntent, Dialect, IntentKind};
pub use sim::{LmLanguage, LmSettings, LmStatus, ensure_language_model, plugin};
pub use train::{TrainOptions, TrainReport, train};

/// Errors of the LM module.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// Reading or writing a file or directory failed.
    #[error("i/o error at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A candle tensor operation or weight load failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The `tokenizers` crate failed (message of its error).
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Model files (config, weights, JSON) are malformed or inconsistent.
    #[error("bad model files: {0}")]
    Format(String),
    /// A required special token (named) is not in the tokenizer.
    #[error("special token {0:?} missing from the tokenizer")]
    MissingToken(String),
    /// The model's output text (included) is not a valid answer.
    #[error("model output does not parse: {0:?}")]
    Unparseable(String),
    /// Generation failed, e.g. no end-of-sequence token within the token budget.
    #[error("generation failed: {0}")]
    Generation(String),
    /// The caller's input is invalid (e.g. an empty or over-long prompt).
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl LmError {
    /// An [`LmError::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        LmError::Io { path: path.to_path_buf(), source }
    }
}

/// Result alias of the LM module.
pub type LmResult<T> = Result<T, LmError>;

/// Relative location of the shipped model directory.
pub const DEFAULT_MODEL_SUBDIR: &str = "assets/models/colony-lm";

/// The shipped model directory: `./assets/models/colony-lm` if it exists, else
/// `$CARGO_MANIFEST_DIR/assets/models/colony-lm`.
pub fn default_model_dir() -> PathBuf {
    let local = PathBuf::from(DEFAULT_MODEL_SUBDIR);
    if local.join("config.json").exists() {
        return local;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL_SUBDIR);
    if manifest.join("config.json").exists() {
        return manifest;
    }
    // lmdev scratch crate: the module is mounted from /work/main/src/lm, the assets live beside it.
    let beside = Path::new(file!()).parent().and_then(|p| p.parent()).and_then(|p| p.parent());
    if let Some(root) = beside {
        let p = root.join(DEFAULT_MODEL_SUBDIR);
        if p.is_absolute() && p.join("config.json").exists() {
            return p;
        }
    }
    local
}

//! One interface over both language backends (the shipped colony model and a local HF model), so the
//! simulation can call either.

use std::path::Path;

use super::engine::{GenStats, LmEngine};
use super::hf::HfEngine;
use super::intent::{CanonicalIntent, Dialect};
use super::{LmError, LmResult};

/// What the simulation needs from a language backend. All methods are batched over the slice and
/// return one result per item; a bad item is an `Err`, never a panic.
pub trait LanguageBackend {
    /// Short backend name: `colony-lm`, or the HF model family (e.g. `llama`, `qwen2`).
    fn name(&self) -> &str;
    /// say: (canonical intent, target dialect) -> an utterance in that dialect.
    fn say(&mut self, items: &[(CanonicalIntent, Dialect)]) -> Vec<LmResult<String>>;
    /// read: utterance (any dialect) -> canonical intent.
    fn read(&mut self, utterances: &[&str]) -> Vec<LmResult<CanonicalIntent>>;
    /// translate: (utterance, target dialect) -> the utterance in the target dialect.
    fn translate(&mut self, items: &[(&str, Dialect)]) -> Vec<LmResult<String>>;
    /// Generation counters accumulated so far.
    fn stats(&self) -> GenStats;
}

impl LanguageBackend for LmEngine {
    fn name(&self) -> &str {
        "colony-lm"
    }
    fn say(&mut self, items: &[(CanonicalIntent, Dialect)]) -> Vec<LmResult<String>> {
        LmEngine::say(self, items)
    }
    fn read(&mut self, utterances: &[&str]) -> Vec<LmResult<CanonicalIntent>> {
        LmEngine::read(self, utterances)
    }
    fn translate(&mut self, items: &[(&str, Dialect)]) -> Vec<LmResult<String>> {
        LmEngine::translate(self, items)
    }
    fn stats(&self) -> GenStats {
        LmEngine::stats(self)
    }
}

impl LanguageBackend for HfEngine {
    fn name(&self) -> &str {
        &self.family
    }
    fn say(&mut self, items: &[(CanonicalIntent, Dialect)]) -> Vec<LmResult<String>> {
        HfEngine::say(self, items)
    }
    fn read(&mut self, utterances: &[&str]) -> Vec<LmResult<CanonicalIntent>> {
        HfEngine::read(self, utterances)
    }
    fn translate(&mut self, items: &[(&str, Dialect)]) -> Vec<LmResult<String>> {
        HfEngine::translate(self, items)
    }
    fn stats(&self) -> GenStats {
        HfEngine::stats(self)
    }
}

/// Either backend, chosen at run time.
pub enum Backend {
    /// The shipped colony model.
    Colony(LmEngine),
    /// A bigger local HF Llama / Qwen2 model, few-shot prompted.
    Hf(HfEngine),
}

impl Backend {
    /// Load a directory: the colony model if its tokenizer has the colony task tokens, otherwise a
    /// Llama / Qwen2 HF model driven by few-shot prompts.
    pub fn load(dir: &Path) -> LmResult<Self> {
        match LmEngine::load(dir) {
            Ok(e) => Ok(Backend::Colony(e)),
            Err(LmError::MissingToken(_)) => Ok(Backend::Hf(HfEngine::load(dir)?)),
            Err(e) => Err(e),
        }
    }

    fn inner(&mut self) -> &mut dyn LanguageBackend {
        match self {
            Backend::Colony(e) => e,
            Backend::Hf(e) => e,
        }
    }
}

impl LanguageBackend for Backend {
    fn name(&self) -> &str {
        match self {
            Backend::Colony(e) => LanguageBackend::name(e),
            Backend::Hf(e) => LanguageBackend::name(e),
        }
    }
    fn say(&mut self, items: &[(CanonicalIntent, Dialect)]) -> Vec<LmResult<String>> {
        self.inner().say(items)
    }
    fn read(&mut self, utterances: &[&str]) -> Vec<LmResult<CanonicalIntent>> {
        self.inner().read(utterances)
    }
    fn translate(&mut self, items: &[(&str, Dialect)]) -> Vec<LmResult<String>> {
        self.inner().translate(items)
    }
    fn stats(&self) -> GenStats {
        match self {
            Backend::Colony(e) => e.stats(),
            Backend::Hf(e) => e.stats(),
        }
    }
}

//! The language model inside the simulation: implements the channel's
//! [`Language`] seam with a loaded backend, and loads it when a world's
//! `comm` is `Llm`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use bevy::prelude::*;

use super::{Backend, CanonicalIntent, Dialect as LmDialect, LanguageBackend, SamplerConfig};
use crate::comm::{CommMode, CommSettings, Dialect, Intent, Language, LanguageModel};

/// Which model a world uses and how it samples (the GUI edits this).
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct LmSettings {
    /// Model directory (`--llm DIR`); `None` is the shipped model.
    pub model_dir: Option<PathBuf>,
    /// Sampling temperature; 0 is greedy (the default, reproducible).
    pub temperature: f64,
    /// Nucleus sampling mass.
    pub top_p: f64,
    /// Seed of sampled runs.
    pub seed: u64,
}

impl Default for LmSettings {
    fn default() -> Self {
        Self { model_dir: None, temperature: 0.0, top_p: 1.0, seed: 0 }
    }
}

/// Why the model could not be loaded, for the window and the CLI.
#[derive(Resource, Debug, Clone, Default)]
pub struct LmStatus {
    /// The load error, if any.
    pub error: Option<String>,
    /// Settings the loaded model runs with.
    pub loaded: Option<LmSettings>,
}

/// Adds the settings and the loader.
pub fn plugin(app: &mut App) {
    app.init_resource::<LmSettings>().init_resource::<LmStatus>();
    app.add_systems(Update, ensure_language_model.before(crate::run_simulation_steps));
}

/// A backend as the channel's [`Language`], with a memo in front of it.
///
/// Under greedy decoding the same input always gives the same output, so
/// answers are remembered by intent or text: a warm world skips even the
/// tokenizer. Sampled runs (temperature > 0) always ask the model.
pub struct LmLanguage {
    backend: Backend,
    greedy: bool,
    said: HashMap<(Intent, Dialect), Option<String>>,
    translated: HashMap<(String, Dialect), Option<String>>,
    heard: HashMap<String, Option<Intent>>,
}

/// Entries each memo keeps before it starts over.
const MEMO_CAPACITY: usize = 200_000;

/// Answers `items` from `memo`, asking `ask` (batched) for the misses only.
fn memoised<K: Clone + Eq + std::hash::Hash, V: Clone + Default>(
    memo: &mut HashMap<K, V>,
    use_memo: bool,
    keys: Vec<K>,
    ask: impl FnOnce(&[K]) -> Vec<V>,
) -> Vec<V> {
    if !use_memo {
        return ask(&keys);
    }
    // Misses in first-seen order: the model sees the same batches every run.
    let mut seen = HashSet::new();
    let misses: Vec<K> = keys.iter().filter(|k| !memo.contains_key(*k) && seen.insert((*k).clone())).cloned().collect();
    if !misses.is_empty() {
        if memo.len() + misses.len() > MEMO_CAPACITY {
            memo.clear();
        }
        let answers = ask(&misses);
        memo.extend(misses.into_iter().zip(answers));
    }
    keys.iter().map(|k| memo.get(k).cloned().unwrap_or_default()).collect()
}

fn to_lm(i: Intent) -> Option<CanonicalIntent> {
    CanonicalIntent::new(i.kind, u8::try_from(i.x).ok()?, u8::try_from(i.y).ok()?)
}

fn from_lm(c: CanonicalIntent) -> Option<Intent> {
    c.to_canonical().parse().ok()
}

fn dialect(d: Dialect) -> LmDialect {
    match d {
        Dialect::En => LmDialect::En,
        Dialect::Zh => LmDialect::Zh,
    }
}

impl LmLanguage {
    /// Loads the model directory (or the shipped one) with the given sampling.
    pub fn load(settings: &LmSettings) -> Result<Self, super::LmError> {
        let dir = settings.model_dir.clone().unwrap_or_else(super::default_model_dir);
        let mut backend = Backend::load(&dir)?;
        if let Backend::Colony(engine) = &mut backend {
            let mut s: SamplerConfig = engine.sampler();
            s.temperature = settings.temperature;
            s.top_p = settings.top_p;
            s.seed = settings.seed;
            engine.set_sampler(s);
        }
        Ok(Self {
            backend,
            greedy: settings.temperature <= 0.0,
            said: HashMap::new(),
            translated: HashMap::new(),
            heard: HashMap::new(),
        })
    }

    /// Generation counters of the backend.
    pub fn stats(&self) -> super::engine::GenStats {
        self.backend.stats()
    }
}

impl Language for LmLanguage {
    fn name(&self) -> &str {
        self.backend.name()
    }

    fn say(&mut self, items: &[(Intent, Dialect)], out: &mut Vec<Option<String>>) {
        let backend = &mut self.backend;
        let got = memoised(&mut self.said, self.greedy, items.to_vec(), |keys| {
            let mut answers = vec![None; keys.len()];
            let ok: Vec<(usize, (CanonicalIntent, LmDialect))> =
                keys.iter().enumerate().filter_map(|(i, (it, d))| to_lm(*it).map(|c| (i, (c, dialect(*d))))).collect();
            let batch: Vec<(CanonicalIntent, LmDialect)> = ok.iter().map(|(_, b)| *b).collect();
            for ((i, _), r) in ok.iter().zip(backend.say(&batch)) {
                answers[*i] = r.ok();
            }
            answers
        });
        out.clear();
        out.extend(got);
    }

    fn translate(&mut self, items: &[(&str, Dialect)], out: &mut Vec<Option<String>>) {
        let backend = &mut self.backend;
        let keys = items.iter().map(|(t, d)| (t.to_string(), *d)).collect();
        let got = memoised(&mut self.translated, self.greedy, keys, |keys| {
            let batch: Vec<(&str, LmDialect)> = keys.iter().map(|(t, d)| (t.as_str(), dialect(*d))).collect();
            backend.translate(&batch).into_iter().map(Result::ok).collect()
        });
        out.clear();
        out.extend(got);
    }

    fn read(&mut self, items: &[&str], out: &mut Vec<Option<Intent>>) {
        let backend = &mut self.backend;
        let keys = items.iter().map(|t| t.to_string()).collect();
        let got = memoised(&mut self.heard, self.greedy, keys, |keys| {
            let batch: Vec<&str> = keys.iter().map(String::as_str).collect();
            backend.read(&batch).into_iter().map(|r| r.ok().and_then(from_lm)).collect()
        });
        out.clear();
        out.extend(got);
    }
}

/// Loads the model when the world talks through it and none is loaded (or
/// the settings changed); a failure is kept in [`LmStatus`] and messages
/// then count as invalid.
pub fn ensure_language_model(world: &mut World) {
    let wants = world.get_resource::<CommSettings>().is_some_and(|c| c.mode == CommMode::Llm);
    if !wants {
        return;
    }
    let settings = world.resource::<LmSettings>().clone();
    let status = world.resource::<LmStatus>();
    let current = world.contains_resource::<LanguageModel>() && status.loaded.as_ref() == Some(&settings);
    if current || (status.error.is_some() && status.loaded.as_ref() == Some(&settings)) {
        return;
    }
    match LmLanguage::load(&settings) {
        Ok(lang) => {
            world.insert_resource(LanguageModel(Box::new(lang)));
            *world.resource_mut::<LmStatus>() = LmStatus { error: None, loaded: Some(settings) };
        }
        Err(e) => {
            world.remove_resource::<LanguageModel>();
            *world.resource_mut::<LmStatus>() = LmStatus { error: Some(e.to_string()), loaded: Some(settings) };
        }
    }
}

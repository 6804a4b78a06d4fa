//! Held-out evaluation: exact-match accuracy per task (read, say, translate), with the model itself
//! as the reader that checks say / translate outputs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::LmResult;
use super::corpus::{CorpusGen, Split, Task};
use super::engine::LmEngine;
use super::intent::{CanonicalIntent, Dialect};

/// Accuracy on one task.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TaskScore {
    /// Items evaluated.
    pub n: usize,
    /// Items judged correct.
    pub correct: usize,
    /// `correct / n` (0 when `n` is 0).
    pub accuracy: f64,
}

impl TaskScore {
    fn finish(n: usize, correct: usize) -> Self {
        Self { n, correct, accuracy: if n == 0 { 0.0 } else { correct as f64 / n as f64 } }
    }
}

/// Result of [`eval`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    /// Evaluated model directory (empty when produced by [`eval_engine`] directly).
    pub model_dir: PathBuf,
    /// Seed of the held-out sample.
    pub seed: u64,
    /// Channel-noise probability of the read / translate inputs.
    pub noise_prob: f64,
    /// read: the output is exactly the intent.
    pub read: TaskScore,
    /// say: the output is in the requested dialect and the model reads it back as the intent.
    pub say: TaskScore,
    /// translate: the output is in the target dialect and the model reads it back as the intent.
    pub translate: TaskScore,
    /// Fraction of translate outputs in the right dialect (part of the translate criterion).
    pub translate_dialect_ok: f64,
    /// Wall-clock seconds of the whole evaluation.
    pub seconds: f64,
    /// Generation throughput during the evaluation, tokens per second of generation time.
    pub generated_tokens_per_sec: f64,
    /// A few failures, for inspection.
    pub failures: Vec<String>,
}

/// Fixed seed of the evaluation sample.
pub const EVAL_SEED: u64 = 20_240_601;

/// Evaluate the model directory on `n` held-out items per task.
pub fn eval(model_dir: &Path, n: usize) -> LmResult<EvalReport> {
    let mut engine = LmEngine::load(model_dir)?;
    engine.set_memo(false);
    let mut r = eval_engine(&mut engine, n, EVAL_SEED);
    r.model_dir = model_dir.to_path_buf();
    Ok(r)
}

/// Evaluate a loaded engine (greedy) on `n` held-out items per task drawn with `seed`.
pub fn eval_engine(engine: &mut LmEngine, n: usize, seed: u64) -> EvalReport {
    let start = Instant::now();
    let before = engine.stats();
    let mut failures = Vec::new();
    let note = |s: String, f: &mut Vec<String>| {
        if f.len() < 12 {
            f.push(s)
        }
    };
    let mut g = CorpusGen::new(seed, Split::HeldOut);
    let noise_prob = g.noise_prob;

    // read
    let items: Vec<_> = (0..n).map(|_| g.sample(Task::Read)).collect();
    let utts: Vec<&str> = items.iter().map(|e| e.input.as_str()).collect();
    let got = engine.read(&utts);
    let mut ok = 0;
    for (e, r) in items.iter().zip(&got) {
        match r {
            Ok(i) if *i == e.intent => ok += 1,
            other => note(
                format!("read {:?} -> {:?} (want {})", e.input, other.as_ref().map(|i| i.to_canonical()), e.intent),
                &mut failures,
            ),
        }
    }
    let read = TaskScore::finish(n, ok);

    // say
    let items: Vec<_> = (0..n).map(|_| g.sample(Task::Say)).collect();
    let req: Vec<(CanonicalIntent, Dialect)> = items.iter().map(|e| (e.intent, e.dialect)).collect();
    let said = engine.say(&req);
    let texts: Vec<String> = said.iter().map(|r| r.as_ref().cloned().unwrap_or_default()).collect();
    let back = engine.read(&texts.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    let mut ok = 0;
    for ((e, s), b) in items.iter().zip(&said).zip(&back) {
        let good = matches!((s, b), (Ok(t), Ok(i)) if *i == e.intent && Dialect::detect(t) == e.dialect);
        if good {
            ok += 1;
        } else {
            note(
                format!(
                    "say {} {} -> {:?} -> {:?}",
                    e.intent,
                    e.dialect,
                    s.as_ref().ok(),
                    b.as_ref().ok().map(|i| i.to_canonical())
                ),
                &mut failures,
            );
        }
    }
    let say = TaskScore::finish(n, ok);

    // translate
    let items: Vec<_> = (0..n).map(|_| g.sample(Task::Translate)).collect();
    let req: Vec<(&str, Dialect)> = items.iter().map(|e| (e.input.as_str(), e.dialect)).collect();
    let tr = engine.translate(&req);
    let texts: Vec<String> = tr.iter().map(|r| r.as_ref().cloned().unwrap_or_default()).collect();
    let back = engine.read(&texts.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    let (mut ok, mut dial_ok) = (0, 0);
    for ((e, t), b) in items.iter().zip(&tr).zip(&back) {
        let d_ok = matches!(t, Ok(s) if Dialect::detect(s) == e.dialect);
        if d_ok {
            dial_ok += 1;
        }
        if d_ok && matches!(b, Ok(i) if *i == e.intent) {
            ok += 1;
        } else {
            note(
                format!(
                    "translate {:?} -> {} : {:?} -> {:?} (want {})",
                    e.input,
                    e.dialect,
                    t.as_ref().ok(),
                    b.as_ref().ok().map(|i| i.to_canonical()),
                    e.intent
                ),
                &mut failures,
            );
        }
    }
    let translate = TaskScore::finish(n, ok);
    let after = engine.stats();
    let toks = (after.generated_tokens - before.generated_tokens) as f64;
    let secs = after.gen_seconds - before.gen_seconds;
    EvalReport {
        model_dir: PathBuf::new(),
        seed,
        noise_prob,
        read,
        say,
        translate,
        translate_dialect_ok: if n == 0 { 0.0 } else { dial_ok as f64 / n as f64 },
        seconds: start.elapsed().as_secs_f64(),
        generated_tokens_per_sec: if secs > 0.0 { toks / secs } else { 0.0 },
        failures,
    }
}

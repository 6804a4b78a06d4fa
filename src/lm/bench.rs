//! Throughput benchmark of the shipped model: generated tokens/s batched vs unbatched, and
//! messages/s with and without the memo cache.

use std::path::Path;
use std::time::Instant;

use super::LmResult;
use super::corpus::{CorpusGen, Split, Task};
use super::engine::LmEngine;

/// Result of [`bench`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Largest number of prompts per forward batch (the engine's `max_batch`).
    pub batch_size: usize,
    /// Number of prompts in the batched workload.
    pub messages: usize,
    /// Generated tokens per second of generation time, whole workload batched, memo disabled.
    pub tokens_per_sec_batched: f64,
    /// Generated tokens per second of generation time, 48 prompts run one at a time, memo disabled.
    pub tokens_per_sec_unbatched: f64,
    /// read+say+translate messages per second, batched, memo disabled.
    pub messages_per_sec_no_memo: f64,
    /// The same workload run a second time with the memo cache warm (realistic repeated chatter).
    pub messages_per_sec_memo: f64,
    /// Memo cache hits over the memo runs (the cold fill pass plus the timed pass).
    pub memo_hits: u64,
    /// Memo cache misses over the memo runs (the cold fill pass plus the timed pass).
    pub memo_misses: u64,
}

/// Benchmark the model directory.
pub fn bench(model_dir: &Path) -> LmResult<BenchReport> {
    let mut eng = LmEngine::load(model_dir)?;
    let batch = 64;
    eng.max_batch = batch;
    let mut g = CorpusGen::new(77, Split::Train);
    let n = 256;
    let items: Vec<_> = (0..n).map(|i| g.sample([Task::Read, Task::Say, Task::Translate][i % 3])).collect();
    let prompts: Vec<Vec<u32>> =
        items.iter().map(|e| eng.tokenizer().prompt_ids(e.task, e.dialect, &e.input)).collect::<LmResult<_>>()?;

    // batched, no memo
    eng.set_memo(false);
    eng.generate_ids(&prompts[..8]); // warm-up
    eng.reset_stats();
    let t0 = Instant::now();
    let _ = eng.generate_ids(&prompts);
    let wall = t0.elapsed().as_secs_f64();
    let tps_b = eng.stats().tokens_per_sec();
    let mps_nomemo = n as f64 / wall;

    // unbatched
    eng.reset_stats();
    for p in prompts.iter().take(48) {
        let _ = eng.generate_ids(std::slice::from_ref(p));
    }
    let tps_u = eng.stats().tokens_per_sec();

    // memo: one cold pass fills the cache, the timed pass mixes 3/4 repeats and 1/4 new messages.
    eng.set_memo(true);
    eng.reset_stats();
    let _ = eng.generate_ids(&prompts);
    let fresh: Vec<Vec<u32>> = (0..n / 4)
        .map(|i| {
            let e = g.sample([Task::Read, Task::Say, Task::Translate][i % 3]);
            eng.tokenizer().prompt_ids(e.task, e.dialect, &e.input)
        })
        .collect::<LmResult<_>>()?;
    let mut mixed: Vec<Vec<u32>> = prompts[..n * 3 / 4].to_vec();
    mixed.extend(fresh);
    let t0 = Instant::now();
    let _ = eng.generate_ids(&mixed);
    let mps_memo = mixed.len() as f64 / t0.elapsed().as_secs_f64();
    let st = eng.stats();
    Ok(BenchReport {
        batch_size: batch,
        messages: n,
        tokens_per_sec_batched: tps_b,
        tokens_per_sec_unbatched: tps_u,
        messages_per_sec_no_memo: mps_nomemo,
        messages_per_sec_memo: mps_memo,
        memo_hits: st.memo_hits,
        memo_misses: st.memo_misses,
    })
}

//! `LmEngine`: the generation loop over the shipped model (batched with left padding + KV cache,
//! greedy or temperature/top-p sampling, memo cache, throughput counters) and the say/read/translate API.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{D, Device, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::corpus::Task;
use super::intent::{CanonicalIntent, Dialect};
use super::model::ColonyLm;
use super::tokenizer::LmTokenizer;
use super::{LmError, LmResult};

/// Sampler settings. `temperature <= 0` means greedy decoding (the default).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SamplerConfig {
    /// Softmax temperature; `<= 0` means greedy (argmax) decoding.
    pub temperature: f64,
    /// Nucleus sampling: keep the most likely tokens up to this cumulative probability (0..=1; 1 keeps all).
    pub top_p: f64,
    /// Seed of the sampling RNG.
    pub seed: u64,
    /// Most tokens generated per prompt (the `<eos>` included).
    pub max_new_tokens: usize,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self { temperature: 0.0, top_p: 1.0, seed: 0, max_new_tokens: 48 }
    }
}

impl SamplerConfig {
    /// Whether decoding is greedy (`temperature <= 0`).
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

/// Counters of an engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct GenStats {
    /// Tokens generated (each `<eos>` included).
    pub generated_tokens: u64,
    /// Wall-clock seconds spent generating.
    pub gen_seconds: f64,
    /// Prompts answered from the memo cache.
    pub memo_hits: u64,
    /// Prompts looked up in the memo cache and not found.
    pub memo_misses: u64,
    /// Model forward passes (one prefill plus one per decode step per batch; not counted by `HfEngine`).
    pub forward_calls: u64,
}

impl GenStats {
    /// Generation throughput: `generated_tokens / gen_seconds` in tokens per second (0 if no time was spent).
    pub fn tokens_per_sec(&self) -> f64 {
        if self.gen_seconds > 0.0 { self.generated_tokens as f64 / self.gen_seconds } else { 0.0 }
    }
}

/// Pick the next token from a logits row with temperature + nucleus (top-p) sampling.
pub fn sample_row(logits: &[f32], temperature: f64, top_p: f64, rng: &mut ChaCha8Rng) -> u32 {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f64)> =
        logits.iter().enumerate().map(|(i, &l)| (i as u32, (((l - max) as f64) / temperature).exp())).collect();
    let z: f64 = probs.iter().map(|p| p.1).sum();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep = Vec::new();
    let mut acc = 0.0;
    for (i, p) in probs {
        let p = p / z;
        keep.push((i, p));
        acc += p;
        if acc >= top_p {
            break;
        }
    }
    let total: f64 = keep.iter().map(|p| p.1).sum();
    let mut r = rng.random::<f64>() * total;
    for &(i, p) in &keep {
        if r < p {
            return i;
        }
        r -= p;
    }
    keep.last().map(|p| p.0).unwrap_or(0)
}

/// Generation engine over the shipped colony model.
pub struct LmEngine {
    model: ColonyLm,
    tok: LmTokenizer,
    sampler: SamplerConfig,
    rng: ChaCha8Rng,
    memo: HashMap<Vec<u32>, Vec<u32>>,
    memo_enabled: bool,
    /// Largest number of rows per forward batch.
    pub max_batch: usize,
    /// Memo entries kept at most; when full the memo is cleared (bounded memory in long runs).
    pub memo_capacity: usize,
    stats: GenStats,
}

impl LmEngine {
    /// Load `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn load(dir: &Path) -> LmResult<Self> {
        let device = Device::Cpu;
        let tok = LmTokenizer::from_file(&dir.join("tokenizer.json"))?;
        let model = ColonyLm::load_dir(dir, &device)?;
        if model.cfg.vocab_size < tok.vocab_size() {
            return Err(LmError::Format(format!(
                "tokenizer has {} tokens but the model only {}",
                tok.vocab_size(),
                model.cfg.vocab_size
            )));
        }
        if model.cfg.eos_token_id != tok.eos {
            return Err(LmError::Format("config eos_token_id does not match tokenizer <eos>".into()));
        }
        Ok(Self::from_parts(model, tok))
    }

    /// Build an engine from a loaded model and tokenizer (no consistency checks, unlike [`Self::load`]):
    /// default sampler, memo enabled, `max_batch` 64, `memo_capacity` 100 000.
    pub fn from_parts(model: ColonyLm, tok: LmTokenizer) -> Self {
        let sampler = SamplerConfig::default();
        Self {
            model,
            tok,
            rng: ChaCha8Rng::seed_from_u64(sampler.seed),
            sampler,
            memo: HashMap::new(),
            memo_enabled: true,
            max_batch: 64,
            memo_capacity: 100_000,
            stats: GenStats::default(),
        }
    }

    /// Load the shipped model from [`super::default_model_dir`].
    pub fn load_default() -> LmResult<Self> {
        Self::load(&super::default_model_dir())
    }

    /// The engine's tokenizer.
    pub fn tokenizer(&self) -> &LmTokenizer {
        &self.tok
    }
    /// The engine's network.
    pub fn model(&self) -> &ColonyLm {
        &self.model
    }
    /// Current sampler settings.
    pub fn sampler(&self) -> SamplerConfig {
        self.sampler
    }
    /// Change sampler settings; reseeds the sampling RNG from `s.seed` and clears the memo cache
    /// (its entries depend on the settings).
    pub fn set_sampler(&mut self, s: SamplerConfig) {
        self.sampler = s;
        self.memo.clear();
        self.rng = ChaCha8Rng::seed_from_u64(s.seed);
    }
    /// Enable / disable the memo cache (only used under greedy decoding). Disabling clears it.
    pub fn set_memo(&mut self, enabled: bool) {
        self.memo_enabled = enabled;
        if !enabled {
            self.memo.clear();
        }
    }
    /// Drop all memo cache entries.
    pub fn clear_memo(&mut self) {
        self.memo.clear();
    }
    /// Number of prompts currently in the memo cache.
    pub fn memo_len(&self) -> usize {
        self.memo.len()
    }
    /// Generation counters since the engine was built or last reset.
    pub fn stats(&self) -> GenStats {
        self.stats
    }
    /// Zero the generation counters.
    pub fn reset_stats(&mut self) {
        self.stats = GenStats::default();
    }

    /// Generate continuations (without `<eos>`) for token prompts. Per item: `Err` when no `<eos>`
    /// was produced within `max_new_tokens`.
    pub fn generate_ids(&mut self, prompts: &[Vec<u32>]) -> Vec<LmResult<Vec<u32>>> {
        let use_memo = self.memo_enabled && self.sampler.is_greedy();
        let mut out: Vec<Option<LmResult<Vec<u32>>>> = (0..prompts.len()).map(|_| None).collect();
        // unique misses, in first-seen order
        let mut todo: Vec<usize> = Vec::new();
        let mut first_of: HashMap<&[u32], usize> = HashMap::new();
        let mut dup_of: Vec<Option<usize>> = vec![None; prompts.len()];
        let limit = self.model.cfg.max_position_embeddings;
        for (i, p) in prompts.iter().enumerate() {
            // a bad item is an Err of its own and never poisons the batch it would have joined
            if p.is_empty() || p.len() + 1 >= limit {
                out[i] = Some(Err(LmError::Invalid(format!("prompt of {} tokens (model limit {limit})", p.len()))));
                continue;
            }
            if use_memo {
                if let Some(hit) = self.memo.get(p) {
                    self.stats.memo_hits += 1;
                    out[i] = Some(Ok(hit.clone()));
                    continue;
                }
                self.stats.memo_misses += 1;
                if let Some(&j) = first_of.get(p.as_slice()) {
                    dup_of[i] = Some(j);
                    continue;
                }
                first_of.insert(p.as_slice(), i);
            }
            todo.push(i);
        }
        // group similar lengths to limit padding (results do not depend on batch composition)
        todo.sort_by_key(|&i| prompts[i].len());
        let chunk = self.max_batch.max(1);
        for group in todo.chunks(chunk) {
            let batch: Vec<&[u32]> = group.iter().map(|&i| prompts[i].as_slice()).collect();
            match self.generate_batch(&batch) {
                Ok(res) => {
                    for (&i, r) in group.iter().zip(res) {
                        if let (true, Ok(ids)) = (use_memo, &r) {
                            if self.memo.len() >= self.memo_capacity {
                                self.memo.clear();
                            }
                            self.memo.insert(prompts[i].clone(), ids.clone());
                        }
                        out[i] = Some(r);
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for &i in group {
                        out[i] = Some(Err(LmError::Generation(msg.clone())));
                    }
                }
            }
        }
        for i in 0..prompts.len() {
            if let Some(j) = dup_of[i] {
                out[i] = Some(match &out[j] {
                    Some(Ok(v)) => Ok(v.clone()),
                    Some(Err(e)) => Err(LmError::Generation(e.to_string())),
                    None => Err(LmError::Generation("internal: missing result".into())),
                });
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(LmError::Generation("internal: missing result".into()))))
            .collect()
    }

    /// One left-padded batch through prefill + KV-cached decoding.
    fn generate_batch(&mut self, prompts: &[&[u32]]) -> LmResult<Vec<LmResult<Vec<u32>>>> {
        let start = Instant::now();
        let b = prompts.len();
        let dev = self.model.device().clone();
        let max_len = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
        if max_len == 0 {
            return Err(LmError::Invalid("empty prompt".into()));
        }
        let limit = self.model.cfg.max_position_embeddings;
        if max_len >= limit {
            return Err(LmError::Invalid(format!("prompt of {max_len} tokens exceeds the model's {limit}")));
        }
        let max_new = self.sampler.max_new_tokens.min(limit - max_len);
        let mut ids = Vec::with_capacity(b * max_len);
        let mut valid = Vec::with_capacity(b);
        for p in prompts {
            let pad = max_len - p.len();
            ids.extend(std::iter::repeat_n(self.tok.pad, pad));
            ids.extend_from_slice(p);
            valid.push((0..max_len).map(|j| j >= pad).collect::<Vec<bool>>());
        }
        let mut cache = self.model.new_cache(b);
        let mut logits = self.model.forward_step(&Tensor::from_vec(ids, (b, max_len), &dev)?, &valid, &mut cache)?;
        self.stats.forward_calls += 1;
        let mut outs: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut done = vec![false; b];
        let mut generated = 0u64;
        for step in 0..max_new {
            let next: Vec<u32> = if self.sampler.is_greedy() {
                logits.argmax(D::Minus1)?.to_vec1::<u32>()?
            } else {
                let rows = logits.to_vec2::<f32>()?;
                rows.iter()
                    .map(|r| sample_row(r, self.sampler.temperature, self.sampler.top_p, &mut self.rng))
                    .collect()
            };
            let mut feed = Vec::with_capacity(b);
            let mut fvalid = Vec::with_capacity(b);
            for r in 0..b {
                if done[r] {
                    feed.push(self.tok.pad);
                    fvalid.push(vec![false]);
                    continue;
                }
                generated += 1;
                if next[r] == self.tok.eos {
                    done[r] = true;
                    feed.push(self.tok.pad);
                    fvalid.push(vec![false]);
                } else {
                    outs[r].push(next[r]);
                    feed.push(next[r]);
                    fvalid.push(vec![true]);
                }
            }
            if done.iter().all(|&d| d) || step + 1 == max_new {
                break;
            }
            logits = self.model.forward_step(&Tensor::from_vec(feed, (b, 1), &dev)?, &fvalid, &mut cache)?;
            self.stats.forward_calls += 1;
        }
        self.stats.generated_tokens += generated;
        self.stats.gen_seconds += start.elapsed().as_secs_f64();
        Ok(outs
            .into_iter()
            .zip(done)
            .map(
                |(o, d)| {
                    if d { Ok(o) } else { Err(LmError::Generation(format!("no <eos> within {max_new} new tokens"))) }
                },
            )
            .collect())
    }

    fn run_text(&mut self, prompts: Vec<LmResult<Vec<u32>>>) -> Vec<LmResult<String>> {
        let ok: Vec<Vec<u32>> = prompts.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
        let mut gen_ = self.generate_ids(&ok).into_iter();
        prompts
            .into_iter()
            .map(|p| match p {
                Err(e) => Err(e),
                Ok(_) => match gen_.next() {
                    Some(Ok(ids)) => self.tok.decode(&ids),
                    Some(Err(e)) => Err(e),
                    None => Err(LmError::Generation("internal: missing output".into())),
                },
            })
            .collect()
    }

    /// Raw text generation for a task (the decoded continuation).
    pub fn generate_text(&mut self, items: &[(Task, Dialect, &str)]) -> Vec<LmResult<String>> {
        let prompts = items.iter().map(|(t, d, s)| self.tok.prompt_ids(*t, *d, s)).collect();
        self.run_text(prompts)
    }

    /// say: canonical intent + dialect -> an utterance in that dialect.
    pub fn say(&mut self, items: &[(CanonicalIntent, Dialect)]) -> Vec<LmResult<String>> {
        let canon: Vec<String> = items.iter().map(|(i, _)| i.to_canonical()).collect();
        let req: Vec<(Task, Dialect, &str)> =
            items.iter().zip(&canon).map(|((_, d), c)| (Task::Say, *d, c.as_str())).collect();
        self.generate_text(&req)
            .into_iter()
            .map(|r| r.and_then(|s| if s.trim().is_empty() { Err(LmError::Unparseable(s)) } else { Ok(s) }))
            .collect()
    }

    /// read: any utterance -> canonical intent (unparseable output is an `Err` item).
    pub fn read(&mut self, utterances: &[&str]) -> Vec<LmResult<CanonicalIntent>> {
        let req: Vec<(Task, Dialect, &str)> = utterances.iter().map(|u| (Task::Read, Dialect::En, *u)).collect();
        self.generate_text(&req)
            .into_iter()
            .map(|r| r.and_then(|s| CanonicalIntent::parse_canonical(&s).ok_or(LmError::Unparseable(s))))
            .collect()
    }

    /// translate: utterance + target dialect -> utterance in the target dialect.
    pub fn translate(&mut self, items: &[(&str, Dialect)]) -> Vec<LmResult<String>> {
        let req: Vec<(Task, Dialect, &str)> = items.iter().map(|(u, d)| (Task::Translate, *d, *u)).collect();
        self.generate_text(&req)
            .into_iter()
            .map(|r| r.and_then(|s| if s.trim().is_empty() { Err(LmError::Unparseable(s)) } else { Ok(s) }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::corpus::{CorpusGen, Split};
    use crate::lm::eval::{EVAL_SEED, eval_engine};
    use crate::lm::intent::IntentKind;

    fn shipped() -> LmEngine {
        let dir = crate::lm::default_model_dir();
        LmEngine::load(&dir).unwrap_or_else(|e| panic!("shipped model at {}: {e}", dir.display()))
    }

    #[test]
    fn shipped_model_meets_targets_on_held_out_sample() {
        let mut e = shipped();
        e.set_memo(false);
        let r = eval_engine(&mut e, 200, EVAL_SEED);
        eprintln!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        assert!(r.read.accuracy >= 0.98, "read {}", r.read.accuracy);
        assert!(r.translate.accuracy >= 0.95, "translate {}", r.translate.accuracy);
        assert!(r.say.accuracy >= 0.99, "say {}", r.say.accuracy);
    }

    #[test]
    fn batched_equals_unbatched_token_for_token() {
        let mut e = shipped();
        e.set_memo(false);
        let mut g = CorpusGen::new(11, Split::HeldOut);
        let prompts: Vec<Vec<u32>> = (0..24)
            .map(|i| {
                let ex = g.sample([Task::Read, Task::Say, Task::Translate][i % 3]);
                e.tokenizer().prompt_ids(ex.task, ex.dialect, &ex.input).expect("prompt")
            })
            .collect();
        let lens: std::collections::HashSet<usize> = prompts.iter().map(|p| p.len()).collect();
        assert!(lens.len() > 3, "want prompts of mixed lengths");
        let batched = e.generate_ids(&prompts);
        for (p, b) in prompts.iter().zip(&batched) {
            let single = e.generate_ids(std::slice::from_ref(p));
            assert_eq!(single[0].as_ref().ok(), b.as_ref().ok(), "prompt {p:?}");
            assert!(b.is_ok());
        }
    }

    #[test]
    fn memo_cache_counts_and_can_be_disabled() {
        let mut e = shipped();
        let i = CanonicalIntent { kind: IntentKind::Prey, x: 5, y: 33 };
        let a = e.say(&[(i, Dialect::En), (i, Dialect::En)]);
        let b = e.say(&[(i, Dialect::En)]);
        assert_eq!(a[0].as_ref().ok(), b[0].as_ref().ok());
        let s = e.stats();
        assert_eq!((s.memo_hits, s.memo_misses), (1, 2));
        e.set_memo(false);
        let _ = e.say(&[(i, Dialect::En)]);
        assert_eq!(e.stats().memo_hits, 1);
        assert_eq!(e.memo_len(), 0);
        assert!(e.stats().tokens_per_sec() > 0.0);
    }

    #[test]
    fn engines_can_live_in_shared_state() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LmEngine>();
        assert_send_sync::<crate::lm::HfEngine>();
        assert_send_sync::<crate::lm::Backend>();
    }

    #[test]
    fn garbage_input_is_survived() {
        let mut e = shipped();
        let long = "x".repeat(500);
        let r = e.read(&["", "zzzz qqqq", "<eos><sep>", "🙂🙂🙂 ??", long.as_str(), "food at 12 7"]);
        assert_eq!(r.len(), 6);
        assert!(r[4].is_err(), "over-long prompt must be an Err");
        assert_eq!(r[5].as_ref().ok(), CanonicalIntent::parse_canonical("FOOD 12 7").as_ref());
        // a tiny generation budget yields Err items (no <eos>), not panics
        e.set_sampler(SamplerConfig { max_new_tokens: 2, ..SamplerConfig::default() });
        let r = e.read(&["food at 12 7"]);
        assert!(r[0].is_err());
    }

    #[test]
    fn sampling_is_reproducible_with_a_seed() {
        let mut e = shipped();
        let items = [(CanonicalIntent { kind: IntentKind::Help, x: 1, y: 60 }, Dialect::Zh); 6];
        e.set_sampler(SamplerConfig { temperature: 1.0, top_p: 0.95, seed: 3, max_new_tokens: 48 });
        let a: Vec<_> = e.say(&items).into_iter().map(|r| r.ok()).collect();
        e.set_sampler(SamplerConfig { temperature: 1.0, top_p: 0.95, seed: 3, max_new_tokens: 48 });
        let b: Vec<_> = e.say(&items).into_iter().map(|r| r.ok()).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn shipped_dir_is_a_valid_hf_llama() {
        // The same directory through candle-transformers' HF Llama gives the same greedy answer.
        let dir = crate::lm::default_model_dir();
        let mut hf = crate::lm::hf::HfEngine::load(&dir).expect("hf load");
        let mut e = shipped();
        for u in ["i see food over at 12,7", "我在 3,40 发现了猎物"] {
            let ours = e.generate_text(&[(Task::Read, Dialect::En, u)]).remove(0).expect("ours");
            let theirs = hf.complete(&format!("<bos><read>{u}<sep>")).expect("theirs");
            assert_eq!(ours, theirs);
        }
    }
}

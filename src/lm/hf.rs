//! Second backend: a bigger local Hugging Face model directory (Llama or Qwen2 family: config.json +
//! model.safetensors + tokenizer.json) run with candle-transformers and few-shot prompted in the
//! colony language. Output that does not parse is an `Err` item (for the caller to count), never fatal.

use std::collections::HashSet;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{llama, qwen2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokenizers::Tokenizer;

use super::corpus::render;
use super::engine::{GenStats, SamplerConfig, sample_row};
use super::intent::{CanonicalIntent, Dialect, IntentKind};
use super::{LmError, LmResult};

enum Net {
    Llama { model: llama::Llama, cfg: llama::Config },
    Qwen2 { model: qwen2::ModelForCausalLM },
}

/// Few-shot prompted HF Llama / Qwen2 model.
pub struct HfEngine {
    net: Net,
    tok: Tokenizer,
    eos_ids: HashSet<u32>,
    device: Device,
    dtype: DType,
    sampler: SamplerConfig,
    rng: ChaCha8Rng,
    stats: GenStats,
    /// Lower-case model family from `config.json` (`model_type`, else the first architecture),
    /// e.g. `llama` or `qwen2`; also the backend name.
    pub family: String,
}

fn tk_err(e: impl std::fmt::Display) -> LmError {
    LmError::Tokenizer(e.to_string())
}

#[derive(serde::Deserialize)]
struct Probe {
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    eos_token_id: Option<serde_json::Value>,
}

/// Check that every tensor `Llama::load` will ask for exists with the right shape (it unwraps per
/// layer internally, so a bad file would otherwise panic).
fn check_llama_tensors(path: &Path, cfg: &llama::Config) -> LmResult<()> {
    let bytes = std::fs::read(path).map_err(|e| LmError::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| LmError::Format(format!("{}: {e}", path.display())))?;
    let (h, f, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    if cfg.num_attention_heads == 0 || cfg.num_key_value_heads == 0 || h % cfg.num_attention_heads != 0 {
        return Err(LmError::Format("bad head counts in config.json".into()));
    }
    let hd = h / cfg.num_attention_heads;
    let (q, kv) = (hd * cfg.num_attention_heads, hd * cfg.num_key_value_heads);
    let mut need: Vec<(String, Vec<usize>)> =
        vec![("model.embed_tokens.weight".into(), vec![v, h]), ("model.norm.weight".into(), vec![h])];
    if !cfg.tie_word_embeddings {
        need.push(("lm_head.weight".into(), vec![v, h]));
    }
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        need.push((format!("{p}.self_attn.q_proj.weight"), vec![q, h]));
        need.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h]));
        need.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h]));
        need.push((format!("{p}.self_attn.o_proj.weight"), vec![h, q]));
        need.push((format!("{p}.mlp.gate_proj.weight"), vec![f, h]));
        need.push((format!("{p}.mlp.up_proj.weight"), vec![f, h]));
        need.push((format!("{p}.mlp.down_proj.weight"), vec![h, f]));
        need.push((format!("{p}.input_layernorm.weight"), vec![h]));
        need.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
    }
    for (n, shape) in need {
        match st.tensor(&n) {
            Ok(t) if t.shape() == shape.as_slice() => {}
            Ok(t) => return Err(LmError::Format(format!("{n}: shape {:?}, expected {shape:?}", t.shape()))),
            Err(_) => return Err(LmError::Format(format!("{} lacks tensor {n}", path.display()))),
        }
    }
    Ok(())
}

impl HfEngine {
    /// Load an HF directory whose `config.json` says `llama` / `qwen2` (model_type or architectures).
    pub fn load(dir: &Path) -> LmResult<Self> {
        let device = Device::Cpu;
        let dtype = DType::F32;
        let cpath = dir.join("config.json");
        let ctext = std::fs::read_to_string(&cpath).map_err(|e| LmError::io(&cpath, e))?;
        let probe: Probe =
            serde_json::from_str(&ctext).map_err(|e| LmError::Format(format!("{}: {e}", cpath.display())))?;
        let family = probe
            .model_type
            .clone()
            .or_else(|| probe.architectures.first().map(|a| a.to_ascii_lowercase()))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let tpath = dir.join("tokenizer.json");
        if !tpath.exists() {
            return Err(LmError::io(
                &tpath,
                std::io::Error::new(std::io::ErrorKind::NotFound, "missing tokenizer.json"),
            ));
        }
        let tok = Tokenizer::from_file(&tpath).map_err(tk_err)?;
        let wpath = dir.join("model.safetensors");
        if !wpath.exists() {
            return Err(LmError::io(
                &wpath,
                std::io::Error::new(std::io::ErrorKind::NotFound, "missing model.safetensors"),
            ));
        }
        let bad = |e: serde_json::Error| LmError::Format(format!("{}: {e}", cpath.display()));
        // Read, not mapped: no unsafe code, at the price of one copy in memory.
        let weights = std::fs::read(&wpath).map_err(|e| LmError::io(&wpath, e))?;
        let vb = || VarBuilder::from_buffered_safetensors(weights.clone(), dtype, &device);
        let net = if family.contains("qwen2") {
            let cfg: qwen2::Config = serde_json::from_str(&ctext).map_err(bad)?;
            Net::Qwen2 { model: qwen2::ModelForCausalLM::new(&cfg, vb()?)? }
        } else if family.contains("llama") {
            let lc: llama::LlamaConfig = serde_json::from_str(&ctext).map_err(bad)?;
            let cfg = lc.into_config(false);
            check_llama_tensors(&wpath, &cfg)?;
            Net::Llama { model: llama::Llama::load(vb()?, &cfg)?, cfg }
        } else {
            return Err(LmError::Format(format!("unsupported model family {family:?} (want llama or qwen2)")));
        };
        // explicit end-of-sequence lookup: config ids, else well-known eos strings of the tokenizer.
        let mut eos_ids = HashSet::new();
        match &probe.eos_token_id {
            Some(serde_json::Value::Number(n)) => {
                if let Some(v) = n.as_u64() {
                    eos_ids.insert(v as u32);
                }
            }
            Some(serde_json::Value::Array(a)) => eos_ids.extend(a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32)),
            _ => {}
        }
        for s in ["</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<eos>"] {
            if let Some(id) = tok.token_to_id(s) {
                eos_ids.insert(id);
            }
        }
        if eos_ids.is_empty() {
            return Err(LmError::MissingToken("end-of-sequence (none in config.json or tokenizer)".into()));
        }
        Ok(Self {
            net,
            tok,
            eos_ids,
            device,
            dtype,
            sampler: SamplerConfig { max_new_tokens: 32, ..SamplerConfig::default() },
            rng: ChaCha8Rng::seed_from_u64(0),
            stats: GenStats::default(),
            family,
        })
    }

    /// Change sampler settings and reseed the sampling RNG from `s.seed`.
    pub fn set_sampler(&mut self, s: SamplerConfig) {
        self.sampler = s;
        self.rng = ChaCha8Rng::seed_from_u64(s.seed);
    }
    /// Generation counters accumulated so far.
    pub fn stats(&self) -> GenStats {
        self.stats
    }

    /// Complete `prompt` (raw text, special-token strings are honoured) until an end-of-sequence
    /// token, a newline, or `max_new_tokens`. Returns the completion text (first line only).
    pub fn complete(&mut self, prompt: &str) -> LmResult<String> {
        let start = std::time::Instant::now();
        let enc = self.tok.encode(prompt, true).map_err(tk_err)?;
        let ids = enc.get_ids().to_vec();
        if ids.is_empty() {
            return Err(LmError::Invalid("empty prompt".into()));
        }
        let mut out: Vec<u32> = Vec::new();
        let mut llama_cache = match &self.net {
            Net::Llama { cfg, .. } => Some(llama::Cache::new(true, self.dtype, cfg, &self.device)?),
            Net::Qwen2 { .. } => None,
        };
        if let Net::Qwen2 { model } = &mut self.net {
            model.clear_kv_cache();
        }
        let mut input = ids.clone();
        let mut pos = 0usize;
        let mut text = String::new();
        for _ in 0..self.sampler.max_new_tokens {
            let x = Tensor::new(input.as_slice(), &self.device)?.unsqueeze(0)?;
            let logits = match (&mut self.net, llama_cache.as_mut()) {
                (Net::Llama { model, .. }, Some(c)) => model.forward(&x, pos, c)?,
                (Net::Qwen2 { model }, _) => model.forward(&x, pos)?,
                _ => return Err(LmError::Generation("internal: missing cache".into())),
            };
            let logits = logits.flatten_all()?.to_dtype(DType::F32)?;
            pos += input.len();
            let next = if self.sampler.is_greedy() {
                logits.argmax(D::Minus1)?.to_scalar::<u32>()?
            } else {
                sample_row(&logits.to_vec1::<f32>()?, self.sampler.temperature, self.sampler.top_p, &mut self.rng)
            };
            self.stats.generated_tokens += 1;
            if self.eos_ids.contains(&next) {
                break;
            }
            out.push(next);
            text = self.tok.decode(&out, true).map_err(tk_err)?;
            if text.contains('\n') {
                break;
            }
            input = vec![next];
        }
        self.stats.gen_seconds += start.elapsed().as_secs_f64();
        Ok(text.lines().next().unwrap_or("").trim().to_string())
    }

    fn shots() -> Vec<(CanonicalIntent, usize, usize)> {
        let k = |kind, x, y| CanonicalIntent { kind, x, y };
        vec![
            (k(IntentKind::Food, 12, 7), 0, 1),
            (k(IntentKind::Help, 3, 40), 1, 2),
            (k(IntentKind::Claim, 25, 9), 2, 3),
            (k(IntentKind::Prey, 60, 18), 3, 4),
        ]
    }

    const HEADER: &'static str = "Colony messages. An intent is KIND X Y with KIND one of FOOD (food seen), HELP (help needed), CLAIM (I claim the site), PREY (prey seen) and X Y grid coordinates 0-63. Dialects: en (English), zh (Chinese).\n";

    /// Few-shot prompt for reading an utterance.
    pub fn read_prompt(utterance: &str) -> String {
        let mut p = String::from(Self::HEADER);
        for (i, (intent, te, tz)) in Self::shots().into_iter().enumerate() {
            let (d, t) = if i % 2 == 0 { (Dialect::En, te) } else { (Dialect::Zh, tz) };
            p += &format!("message: {}\nintent: {}\n", render(&intent, d, t), intent);
        }
        p += &format!("message: {}\nintent:", utterance.replace('\n', " "));
        p
    }

    /// Few-shot prompt for saying an intent in a dialect.
    pub fn say_prompt(intent: &CanonicalIntent, dialect: Dialect) -> String {
        let mut p = String::from(Self::HEADER);
        for (i, (shot, te, tz)) in Self::shots().into_iter().enumerate() {
            let (d, t) = if i % 2 == 0 { (Dialect::En, te) } else { (Dialect::Zh, tz) };
            p += &format!("intent: {shot}\n{}: {}\n", d.code(), render(&shot, d, t));
        }
        p += &format!("intent: {intent}\n{}:", dialect.code());
        p
    }

    /// Few-shot prompt for translating an utterance.
    pub fn translate_prompt(utterance: &str, to: Dialect) -> String {
        let mut p = String::from(Self::HEADER);
        for (i, (shot, te, tz)) in Self::shots().into_iter().enumerate() {
            let (a, b) = if i % 2 == 0 {
                (render(&shot, Dialect::En, te), (Dialect::Zh, render(&shot, Dialect::Zh, tz)))
            } else {
                (render(&shot, Dialect::Zh, tz), (Dialect::En, render(&shot, Dialect::En, te)))
            };
            p += &format!("message: {a}\n{}: {}\n", b.0.code(), b.1);
        }
        p += &format!("message: {}\n{}:", utterance.replace('\n', " "), to.code());
        p
    }

    /// Output check for say / translate: non-empty, in the target dialect, and (if it carries two
    /// coordinates) plausibly an utterance.
    fn check_utterance(s: String, to: Dialect) -> LmResult<String> {
        if s.is_empty() || Dialect::detect(&s) != to || !s.chars().any(|c| c.is_ascii_digit()) {
            Err(LmError::Unparseable(s))
        } else {
            Ok(s)
        }
    }

    /// say: intent + dialect -> utterance, one few-shot completion per item; output that is empty,
    /// in the wrong dialect or without digits is an `Unparseable` item.
    pub fn say(&mut self, items: &[(CanonicalIntent, Dialect)]) -> Vec<LmResult<String>> {
        items
            .iter()
            .map(|(i, d)| self.complete(&Self::say_prompt(i, *d)).and_then(|s| Self::check_utterance(s, *d)))
            .collect()
    }

    /// read: utterance -> canonical intent, one few-shot completion per item; output that is not a
    /// canonical intent is an `Unparseable` item.
    pub fn read(&mut self, utterances: &[&str]) -> Vec<LmResult<CanonicalIntent>> {
        utterances
            .iter()
            .map(|u| {
                self.complete(&Self::read_prompt(u))
                    .and_then(|s| CanonicalIntent::parse_canonical(&s).ok_or(LmError::Unparseable(s)))
            })
            .collect()
    }

    /// translate: utterance + target dialect -> utterance, one few-shot completion per item; output
    /// that is empty, in the wrong dialect or without digits is an `Unparseable` item.
    pub fn translate(&mut self, items: &[(&str, Dialect)]) -> Vec<LmResult<String>> {
        items
            .iter()
            .map(|(u, d)| self.complete(&Self::translate_prompt(u, *d)).and_then(|s| Self::check_utterance(s, *d)))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::lm::tokenizer::LmTokenizer;

    /// Write a tiny randomly initialised HF model directory of `family` ("llama" or "qwen2").
    pub(crate) fn write_random_dir(dir: &Path, family: &str) -> LmResult<()> {
        std::fs::create_dir_all(dir).map_err(|e| LmError::io(dir, e))?;
        let tok = LmTokenizer::train_on_corpus()?;
        tok.save(&dir.join("tokenizer.json"))?;
        let (v, h, f, l) = (tok.vocab_size(), 32usize, 64usize, 2usize);
        let dev = Device::Cpu;
        let mut ts: HashMap<String, Tensor> = HashMap::new();
        let mut put = |n: String, shape: &[usize]| -> LmResult<()> {
            ts.insert(n, Tensor::randn(0f32, 0.5, shape, &dev)?);
            Ok(())
        };
        put("model.embed_tokens.weight".into(), &[v, h])?;
        put("lm_head.weight".into(), &[v, h])?;
        put("model.norm.weight".into(), &[h])?;
        for i in 0..l {
            let p = format!("model.layers.{i}");
            let kv = h / 2; // 4 heads of 8, 2 kv heads
            put(format!("{p}.self_attn.q_proj.weight"), &[h, h])?;
            put(format!("{p}.self_attn.k_proj.weight"), &[kv, h])?;
            put(format!("{p}.self_attn.v_proj.weight"), &[kv, h])?;
            put(format!("{p}.self_attn.o_proj.weight"), &[h, h])?;
            if family == "qwen2" {
                put(format!("{p}.self_attn.q_proj.bias"), &[h])?;
                put(format!("{p}.self_attn.k_proj.bias"), &[kv])?;
                put(format!("{p}.self_attn.v_proj.bias"), &[kv])?;
            }
            put(format!("{p}.mlp.gate_proj.weight"), &[f, h])?;
            put(format!("{p}.mlp.up_proj.weight"), &[f, h])?;
            put(format!("{p}.mlp.down_proj.weight"), &[h, f])?;
            put(format!("{p}.input_layernorm.weight"), &[h])?;
            put(format!("{p}.post_attention_layernorm.weight"), &[h])?;
        }
        candle_core::safetensors::save(&ts, dir.join("model.safetensors"))?;
        let arch = if family == "qwen2" { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" };
        let cfg = serde_json::json!({
            "architectures": [arch], "model_type": family,
            "hidden_size": h, "intermediate_size": f, "num_hidden_layers": l,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": v,
            "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
            "bos_token_id": tok.bos, "eos_token_id": tok.eos, "tie_word_embeddings": false,
            "hidden_act": "silu", "sliding_window": 4096, "max_window_layers": l, "use_sliding_window": false
        });
        let p = dir.join("config.json");
        std::fs::write(&p, cfg.to_string()).map_err(|e| LmError::io(&p, e))?;
        Ok(())
    }

    #[test]
    fn random_hf_dirs_load_prompt_and_fail_softly() {
        for family in ["llama", "qwen2"] {
            let dir = std::env::temp_dir().join(format!("lm-hf-{family}-{}", std::process::id()));
            write_random_dir(&dir, family).expect("write dir");
            let mut e = HfEngine::load(&dir).expect("load");
            assert_eq!(e.family, family);
            e.sampler.max_new_tokens = 6;
            let reads = e.read(&["food at 12 7", "猎物在 3 4"]);
            assert_eq!(reads.len(), 2);
            for r in &reads {
                // random weights: garbage, reported as Err (not a panic)
                assert!(matches!(r, Err(LmError::Unparseable(_)) | Ok(_)), "{r:?}");
            }
            let says = e.say(&[(CanonicalIntent { kind: IntentKind::Food, x: 1, y: 2 }, Dialect::Zh)]);
            assert_eq!(says.len(), 1);
            let trs = e.translate(&[("food at 1 2", Dialect::En)]);
            assert_eq!(trs.len(), 1);
            assert!(e.stats().generated_tokens > 0);
            // sampling with a seed is reproducible
            e.set_sampler(SamplerConfig { temperature: 1.0, top_p: 0.9, seed: 7, max_new_tokens: 6 });
            let a = e.complete("food at");
            e.set_sampler(SamplerConfig { temperature: 1.0, top_p: 0.9, seed: 7, max_new_tokens: 6 });
            let b = e.complete("food at");
            assert_eq!(a.expect("a"), b.expect("b"));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn broken_dirs_are_errors() {
        let dir = std::env::temp_dir().join(format!("lm-hf-broken-{}", std::process::id()));
        write_random_dir(&dir, "llama").expect("write dir");
        // drop a layer tensor: must be an Err, not the panic inside Llama::load
        let st = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("load st");
        let mut st: HashMap<String, Tensor> = st;
        let good = st.clone();
        st.remove("model.layers.1.mlp.up_proj.weight");
        candle_core::safetensors::save(&st, dir.join("model.safetensors")).expect("save");
        assert!(HfEngine::load(&dir).is_err());
        let mut st = good;
        st.insert(
            "model.layers.0.self_attn.k_proj.weight".into(),
            Tensor::zeros((3, 32), DType::F32, &Device::Cpu).expect("z"),
        );
        candle_core::safetensors::save(&st, dir.join("model.safetensors")).expect("save");
        assert!(HfEngine::load(&dir).is_err());
        std::fs::write(dir.join("config.json"), "{\"model_type\": \"gpt2\"}").expect("w");
        assert!(HfEngine::load(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parsing_of_model_text() {
        assert!(HfEngine::check_utterance("food at 1 2".into(), Dialect::En).is_ok());
        assert!(HfEngine::check_utterance("食物 1 2".into(), Dialect::En).is_err());
        assert!(HfEngine::check_utterance("".into(), Dialect::Zh).is_err());
        assert!(HfEngine::read_prompt("x").ends_with("message: x\nintent:"));
    }
}

//! Training of the shipped model from scratch: corpus batches, masked cross-entropy on answer tokens,
//! AdamW with warmup + cosine decay, deterministic init, and saving an HF style model directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::LmError;
use super::corpus::{CorpusGen, Split};
use super::model::{ColonyLm, LmConfig};
use super::tokenizer::LmTokenizer;

/// Options of [`train`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    /// Directory the trained model is saved to.
    pub out: PathBuf,
    /// Number of optimizer steps.
    pub steps: usize,
    /// Seed of the weight init and the training corpus.
    pub seed: u64,
    /// Examples per step.
    pub batch_size: usize,
    /// Peak AdamW learning rate, reached after warmup, then cosine-decayed to 5% of it.
    pub lr: f64,
    /// Steps of linear learning-rate warmup.
    pub warmup: usize,
    /// Hidden size (model width).
    pub hidden_size: usize,
    /// MLP intermediate size.
    pub intermediate_size: usize,
    /// Number of transformer layers.
    pub layers: usize,
    /// Number of attention heads (query and key / value alike).
    pub heads: usize,
    /// Print progress every this many steps (0 = silent).
    pub log_every: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from(super::DEFAULT_MODEL_SUBDIR),
            steps: 2500,
            seed: 42,
            batch_size: 64,
            lr: 3e-3,
            warmup: 100,
            hidden_size: 64,
            intermediate_size: 192,
            layers: 3,
            heads: 4,
            log_every: 50,
        }
    }
}

/// Result of [`train`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    /// Directory the model was saved to.
    pub out: PathBuf,
    /// Optimizer steps run.
    pub steps: usize,
    /// Wall-clock seconds of the training loop (saving excluded).
    pub seconds: f64,
    /// Number of trainable parameters (scalar weights).
    pub params: usize,
    /// Loss of the first step (masked mean cross-entropy, nats per answer token).
    pub first_loss: f32,
    /// Mean loss of the last (up to) 50 steps.
    pub final_loss: f32,
    /// (step, loss) every `log_every` steps.
    pub curve: Vec<(usize, f32)>,
}

/// Build one right-padded training batch: (input ids, target ids, loss mask), each (b, t).
pub fn make_batch(
    gen_: &mut CorpusGen,
    tok: &LmTokenizer,
    b: usize,
    device: &Device,
) -> Result<(Tensor, Tensor, Tensor), LmError> {
    let mut seqs = Vec::with_capacity(b);
    for _ in 0..b {
        let e = gen_.sample_mixed();
        let mut ids = tok.prompt_ids(e.task, e.dialect, &e.input)?;
        let plen = ids.len();
        ids.extend(tok.encode_text(&e.answer)?);
        ids.push(tok.eos);
        seqs.push((ids, plen));
    }
    let t = seqs.iter().map(|(s, _)| s.len() - 1).max().unwrap_or(1);
    let mut inp = Vec::with_capacity(b * t);
    let mut tgt = Vec::with_capacity(b * t);
    let mut mask = Vec::with_capacity(b * t);
    for (s, plen) in &seqs {
        for j in 0..t {
            inp.push(if j < s.len() - 1 { s[j] } else { tok.pad });
            let has = j + 1 < s.len();
            tgt.push(if has { s[j + 1] } else { tok.pad });
            // position j predicts token j+1; answer tokens start at index plen.
            mask.push(if has && j + 1 >= *plen { 1f32 } else { 0f32 });
        }
    }
    Ok((
        Tensor::from_vec(inp, (b, t), device)?,
        Tensor::from_vec(tgt, (b, t), device)?,
        Tensor::from_vec(mask, (b, t), device)?,
    ))
}

/// Masked mean cross-entropy over answer tokens.
pub fn masked_ce(logits: &Tensor, tgt: &Tensor, mask: &Tensor) -> Result<Tensor, LmError> {
    let (b, t, v) = logits.dims3()?;
    let logits = logits.reshape((b * t, v))?;
    let lsm = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let nll = lsm.gather(&tgt.reshape((b * t, 1))?, 1)?.reshape(b * t)?.neg()?;
    let mask = mask.reshape(b * t)?;
    let n = mask.sum_all()?.to_scalar::<f32>()?.max(1.0);
    Ok(((nll * mask)?.sum_all()? / n as f64)?)
}

fn deterministic_init(varmap: &VarMap, cfg: &LmConfig, seed: u64, device: &Device) -> Result<usize, LmError> {
    use rand::RngExt;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_1417);
    let data = varmap.data().lock().map_err(|_| LmError::Generation("varmap lock poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut params = 0;
    for name in names {
        let var = &data[name];
        let shape = var.shape().clone();
        let n = shape.elem_count();
        params += n;
        let vals: Vec<f32> = if name.ends_with("norm.weight") {
            vec![1.0; n]
        } else {
            let std = if name.contains("o_proj") || name.contains("down_proj") {
                0.02 / (2.0 * cfg.num_hidden_layers as f32).sqrt()
            } else {
                0.02
            };
            (0..n)
                .map(|_| {
                    // Box-Muller
                    let u1: f32 = rng.random::<f32>().max(1e-7);
                    let u2: f32 = rng.random::<f32>();
                    std * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
                })
                .collect()
        };
        var.set(&Tensor::from_vec(vals, shape, device)?)?;
    }
    Ok(params)
}

/// Save an HF style model directory (config.json, model.safetensors, tokenizer.json).
pub fn save_model_dir(dir: &Path, cfg: &LmConfig, varmap: &VarMap, tok: &LmTokenizer) -> Result<(), LmError> {
    std::fs::create_dir_all(dir).map_err(|e| LmError::io(dir, e))?;
    let cj = serde_json::to_string_pretty(cfg).map_err(|e| LmError::Format(e.to_string()))?;
    let p = dir.join("config.json");
    std::fs::write(&p, cj).map_err(|e| LmError::io(&p, e))?;
    varmap.save(dir.join("model.safetensors"))?;
    tok.save(&dir.join("tokenizer.json"))?;
    Ok(())
}

/// Train the colony LM from scratch and save it to `opts.out`.
pub fn train(opts: &TrainOptions) -> Result<TrainReport, LmError> {
    let device = Device::Cpu;
    let tok = LmTokenizer::train_on_corpus()?;
    let mut cfg = LmConfig::tiny(tok.vocab_size(), tok.bos, tok.eos, tok.pad);
    cfg.hidden_size = opts.hidden_size;
    cfg.intermediate_size = opts.intermediate_size;
    cfg.num_hidden_layers = opts.layers;
    cfg.num_attention_heads = opts.heads;
    cfg.num_key_value_heads = opts.heads;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let model = ColonyLm::new(&cfg, vb)?;
    let params = deterministic_init(&varmap, &cfg, opts.seed, &device)?;
    if opts.log_every > 0 {
        println!(
            "train: vocab {} hidden {} layers {} heads {} ffn {} params {} steps {} batch {} lr {}",
            cfg.vocab_size,
            cfg.hidden_size,
            cfg.num_hidden_layers,
            cfg.num_attention_heads,
            cfg.intermediate_size,
            params,
            opts.steps,
            opts.batch_size,
            opts.lr
        );
    }
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        ParamsAdamW { lr: opts.lr, beta1: 0.9, beta2: 0.98, eps: 1e-8, weight_decay: 0.01 },
    )?;
    let mut data = CorpusGen::new(opts.seed, Split::Train);
    let start = Instant::now();
    let mut curve = Vec::new();
    let mut recent: Vec<f32> = Vec::new();
    let mut first_loss = f32::NAN;
    for step in 0..opts.steps {
        let lr = if step < opts.warmup {
            opts.lr * (step + 1) as f64 / opts.warmup as f64
        } else {
            let p = (step - opts.warmup) as f64 / (opts.steps - opts.warmup).max(1) as f64;
            opts.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
        };
        opt.set_learning_rate(lr);
        let (inp, tgt, mask) = make_batch(&mut data, &tok, opts.batch_size, &device)?;
        let logits = model.forward_train(&inp)?;
        let loss = masked_ce(&logits, &tgt, &mask)?;
        opt.backward_step(&loss)?;
        let l = loss.to_scalar::<f32>()?;
        if step == 0 {
            first_loss = l;
        }
        recent.push(l);
        if recent.len() > 50 {
            recent.remove(0);
        }
        if opts.log_every > 0 && (step % opts.log_every == 0 || step + 1 == opts.steps) {
            let avg = recent.iter().sum::<f32>() / recent.len() as f32;
            curve.push((step, avg));
            println!("step {step:5} loss {l:.4} avg50 {avg:.4} lr {lr:.2e} {:.1}s", start.elapsed().as_secs_f64());
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    save_model_dir(&opts.out, &cfg, &varmap, &tok)?;
    let final_loss = recent.iter().sum::<f32>() / recent.len().max(1) as f32;
    Ok(TrainReport { out: opts.out.clone(), steps: opts.steps, seconds, params, first_loss, final_loss, curve })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_training_reduces_loss() {
        let dir = std::env::temp_dir().join(format!("lm-train-smoke-{}", std::process::id()));
        let opts = TrainOptions {
            out: dir.clone(),
            steps: 30,
            batch_size: 16,
            hidden_size: 32,
            intermediate_size: 64,
            layers: 1,
            heads: 2,
            warmup: 5,
            lr: 5e-3,
            log_every: 0,
            ..TrainOptions::default()
        };
        let r = train(&opts).expect("train");
        assert!(r.final_loss < r.first_loss * 0.8, "{} -> {}", r.first_loss, r.final_loss);
        // deterministic for a seed
        let w1 = std::fs::read(dir.join("model.safetensors")).expect("weights");
        let r2 = train(&opts).expect("train again");
        assert_eq!(r.final_loss, r2.final_loss);
        assert_eq!(w1, std::fs::read(dir.join("model.safetensors")).expect("weights"));
        assert!(dir.join("config.json").exists() && dir.join("model.safetensors").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

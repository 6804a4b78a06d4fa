//! The colony LM network: a tiny Llama (HF `LlamaForCausalLM` layout and semantics) with a training
//! forward pass and a batched, left-padded, KV-cached inference forward pass.
//!
//! Weights use the standard Hugging Face names (`model.embed_tokens.weight`, `model.layers.N.*`,
//! `model.norm.weight`, `lm_head.weight`) and HF rotary convention (rotate-half), so the saved directory
//! loads unchanged with `candle_transformers::models::llama` (checked by a test in `engine.rs`).
//!
//! Training uses only differentiable ops (candle-nn's fused `rms_norm`, `softmax_last_dim` and `rope`
//! have no backward pass); inference uses the fused kernels.

use std::path::Path;

use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use super::LmError;

/// Hugging Face style `config.json` of a Llama causal LM.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmConfig {
    /// HF architecture names, `["LlamaForCausalLM"]`.
    pub architectures: Vec<String>,
    /// HF model type, `llama`.
    pub model_type: String,
    /// Width of the residual stream (embedding size).
    pub hidden_size: usize,
    /// Hidden width of the gated SiLU MLP.
    pub intermediate_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key / value heads (fewer than query heads means grouped-query attention).
    pub num_key_value_heads: usize,
    /// Number of token ids (rows of the embedding and of `lm_head`).
    pub vocab_size: usize,
    /// Longest sequence in tokens (size of the rotary tables).
    pub max_position_embeddings: usize,
    /// Epsilon of the RMS norms.
    pub rms_norm_eps: f64,
    /// Base of the rotary position frequencies.
    pub rope_theta: f32,
    /// Id of the `<bos>` token.
    pub bos_token_id: u32,
    /// Id of the `<eos>` token.
    pub eos_token_id: u32,
    /// Id of the `<pad>` token.
    pub pad_token_id: u32,
    /// Whether `lm_head` reuses the embedding matrix.
    pub tie_word_embeddings: bool,
    /// MLP activation name for HF loaders (`silu`; this network always uses SiLU).
    pub hidden_act: String,
    /// Weight dtype name for HF loaders (`float32`).
    pub torch_dtype: String,
    /// HF flag for attention projection biases (absent = `false`; this network has none).
    #[serde(default)]
    pub attention_bias: bool,
}

impl LmConfig {
    /// The default small Llama for a vocabulary of `vocab_size` with the given special token ids:
    /// hidden 128, MLP 384, 4 layers, 4 heads, 128 positions.
    pub fn tiny(vocab_size: usize, bos: u32, eos: u32, pad: u32) -> Self {
        Self {
            architectures: vec!["LlamaForCausalLM".into()],
            model_type: "llama".into(),
            hidden_size: 128,
            intermediate_size: 384,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: 4,
            vocab_size,
            max_position_embeddings: 128,
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            bos_token_id: bos,
            eos_token_id: eos,
            pad_token_id: pad,
            tie_word_embeddings: false,
            hidden_act: "silu".into(),
            torch_dtype: "float32".into(),
            attention_bias: false,
        }
    }

    /// Size of one attention head: `hidden_size / num_attention_heads`.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Read and parse a `config.json`.
    pub fn load(path: &Path) -> Result<Self, LmError> {
        let s = std::fs::read_to_string(path).map_err(|e| LmError::io(path, e))?;
        serde_json::from_str(&s).map_err(|e| LmError::Format(format!("{}: {e}", path.display())))
    }

    /// Check the head sizes: non-zero head counts, `hidden_size` divisible by the query heads, query
    /// heads divisible by the key / value heads, and an even head size.
    pub fn validate(&self) -> Result<(), LmError> {
        if self.num_attention_heads == 0
            || self.num_key_value_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
            || !self.num_attention_heads.is_multiple_of(self.num_key_value_heads)
            || !self.head_dim().is_multiple_of(2)
        {
            return Err(LmError::Format(format!("inconsistent head sizes in config: {self:?}")));
        }
        Ok(())
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    n_head: usize,
    n_kv: usize,
    hd: usize,
}

struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

struct Layer {
    ln1: candle_nn::RmsNorm,
    attn: Attention,
    ln2: candle_nn::RmsNorm,
    mlp: Mlp,
}

/// Per-sequence inference state: KV cache per layer plus the key padding mask and next positions.
pub struct KvCache {
    kvs: Vec<Option<(Tensor, Tensor)>>,
    /// Per row, whether each cached position holds a real (non-padding) token.
    key_valid: Vec<Vec<bool>>,
    /// Position id of the next token of each row.
    pub next_pos: Vec<u32>,
}

impl KvCache {
    /// Number of cached positions per row (padding included); 0 before the first forward step.
    pub fn len(&self) -> usize {
        self.kvs.first().and_then(|x| x.as_ref()).map(|(k, _)| k.dim(2).unwrap_or(0)).unwrap_or(0)
    }
    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The network.
pub struct ColonyLm {
    embed: Embedding,
    layers: Vec<Layer>,
    norm: candle_nn::RmsNorm,
    lm_head: Linear,
    /// (max_pos, head_dim/2)
    cos: Tensor,
    sin: Tensor,
    /// The configuration the network was built from.
    pub cfg: LmConfig,
    device: Device,
}

fn linear(i: usize, o: usize, vb: VarBuilder) -> candle_core::Result<Linear> {
    candle_nn::linear_no_bias(i, o, vb)
}

impl ColonyLm {
    /// Build from a VarBuilder (a VarMap for training, safetensors for inference).
    pub fn new(cfg: &LmConfig, vb: VarBuilder) -> Result<Self, LmError> {
        cfg.validate()?;
        let h = cfg.hidden_size;
        let hd = cfg.head_dim();
        let embed = candle_nn::embedding(cfg.vocab_size, h, vb.pp("model.embed_tokens"))?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let lv = vb.pp(format!("model.layers.{i}"));
            let av = lv.pp("self_attn");
            let mv = lv.pp("mlp");
            layers.push(Layer {
                ln1: candle_nn::rms_norm(h, cfg.rms_norm_eps, lv.pp("input_layernorm"))?,
                attn: Attention {
                    q: linear(h, cfg.num_attention_heads * hd, av.pp("q_proj"))?,
                    k: linear(h, cfg.num_key_value_heads * hd, av.pp("k_proj"))?,
                    v: linear(h, cfg.num_key_value_heads * hd, av.pp("v_proj"))?,
                    o: linear(cfg.num_attention_heads * hd, h, av.pp("o_proj"))?,
                    n_head: cfg.num_attention_heads,
                    n_kv: cfg.num_key_value_heads,
                    hd,
                },
                ln2: candle_nn::rms_norm(h, cfg.rms_norm_eps, lv.pp("post_attention_layernorm"))?,
                mlp: Mlp {
                    gate: linear(h, cfg.intermediate_size, mv.pp("gate_proj"))?,
                    up: linear(h, cfg.intermediate_size, mv.pp("up_proj"))?,
                    down: linear(cfg.intermediate_size, h, mv.pp("down_proj"))?,
                },
            });
        }
        let norm = candle_nn::rms_norm(h, cfg.rms_norm_eps, vb.pp("model.norm"))?;
        let lm_head = if cfg.tie_word_embeddings {
            Linear::new(embed.embeddings().clone(), None)
        } else {
            linear(h, cfg.vocab_size, vb.pp("lm_head"))?
        };
        // Rotary tables are computed, never taken from (or registered in) the VarBuilder.
        let device = vb.device().clone();
        let inv: Vec<f32> = (0..hd).step_by(2).map(|i| 1f32 / cfg.rope_theta.powf(i as f32 / hd as f32)).collect();
        let inv = Tensor::new(inv.as_slice(), &device)?;
        let pos = Tensor::arange(0u32, cfg.max_position_embeddings as u32, &device)?
            .to_dtype(DType::F32)?
            .reshape((cfg.max_position_embeddings, 1))?;
        let freqs = pos.matmul(&inv.reshape((1, hd / 2))?)?;
        Ok(Self { embed, layers, norm, lm_head, cos: freqs.cos()?, sin: freqs.sin()?, cfg: cfg.clone(), device })
    }

    /// Load `config.json` + `model.safetensors` from an HF style directory.
    pub fn load_dir(dir: &Path, device: &Device) -> Result<Self, LmError> {
        let cfg = LmConfig::load(&dir.join("config.json"))?;
        let wpath = dir.join("model.safetensors");
        if !wpath.exists() {
            return Err(LmError::io(&wpath, std::io::Error::new(std::io::ErrorKind::NotFound, "missing")));
        }
        let weights = std::fs::read(&wpath).map_err(|e| LmError::io(&wpath, e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, device)?;
        Self::new(&cfg, vb)
    }

    /// Device holding the weights.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Training forward: ids (b, t), positions 0..t, causal mask; returns logits (b, t, vocab).
    /// Uses only ops with a backward pass.
    pub fn forward_train(&self, ids: &Tensor) -> Result<Tensor, LmError> {
        let (_b, t) = ids.dims2()?;
        let cos = self.cos.narrow(0, 0, t)?;
        let sin = self.sin.narrow(0, 0, t)?;
        let cos = Tensor::cat(&[&cos, &cos], D::Minus1)?.unsqueeze(0)?.unsqueeze(0)?; // (1,1,t,hd)
        let sin = Tensor::cat(&[&sin, &sin], D::Minus1)?.unsqueeze(0)?.unsqueeze(0)?;
        let mask: Vec<f32> =
            (0..t).flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY })).collect();
        let mask = Tensor::from_vec(mask, (1, 1, t, t), &self.device)?;
        let mut x = self.embed.forward(ids)?;
        for layer in &self.layers {
            let h = candle_nn::ops::rms_norm_slow(&x, layer.ln1.weight(), self.cfg.rms_norm_eps as f32)?;
            let a = &layer.attn;
            let (b, t, _) = h.dims3()?;
            let q = a.q.forward(&h)?.reshape((b, t, a.n_head, a.hd))?.transpose(1, 2)?;
            let k = a.k.forward(&h)?.reshape((b, t, a.n_kv, a.hd))?.transpose(1, 2)?;
            let v = a.v.forward(&h)?.reshape((b, t, a.n_kv, a.hd))?.transpose(1, 2)?;
            let q = rope_slow(&q, &cos, &sin)?;
            let k = rope_slow(&k, &cos, &sin)?;
            let k = repeat_kv(k, a.n_head / a.n_kv)?.contiguous()?;
            let v = repeat_kv(v, a.n_head / a.n_kv)?.contiguous()?;
            let att = (q.contiguous()?.matmul(&k.t()?)? / (a.hd as f64).sqrt())?;
            let att = att.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, a.n_head * a.hd))?;
            x = (x + a.o.forward(&y)?)?;
            let h = candle_nn::ops::rms_norm_slow(&x, layer.ln2.weight(), self.cfg.rms_norm_eps as f32)?;
            let m = &layer.mlp;
            let g = candle_nn::ops::silu(&m.gate.forward(&h)?)?;
            x = (x + m.down.forward(&(g * m.up.forward(&h)?)?)?)?;
        }
        let x = candle_nn::ops::rms_norm_slow(&x, self.norm.weight(), self.cfg.rms_norm_eps as f32)?;
        Ok(self.lm_head.forward(&x)?)
    }

    /// Start an inference cache for `b` rows.
    pub fn new_cache(&self, b: usize) -> KvCache {
        KvCache {
            kvs: (0..self.layers.len()).map(|_| None).collect(),
            key_valid: vec![Vec::new(); b],
            next_pos: vec![0; b],
        }
    }

    /// Inference forward over `ids` (b, t) appended to `cache`. `valid[r][j]` says whether token j of
    /// row r is real (false = left padding, which gets no position and is never attended to by real
    /// tokens). Real tokens of each row get consecutive positions starting at that row's
    /// `cache.next_pos`. Returns the logits of the last column, (b, vocab).
    pub fn forward_step(&self, ids: &Tensor, valid: &[Vec<bool>], cache: &mut KvCache) -> Result<Tensor, LmError> {
        let (b, t) = ids.dims2()?;
        let past = cache.len();
        // positions per row
        let mut pos = Vec::with_capacity(b * t);
        if valid.len() != b || valid.iter().any(|v| v.len() != t) || cache.next_pos.len() != b {
            return Err(LmError::Generation(format!("validity mask does not match ids of shape ({b}, {t})")));
        }
        for (row, next) in valid.iter().zip(cache.next_pos.iter_mut()) {
            for &ok in row {
                pos.push((*next).min(self.cfg.max_position_embeddings as u32 - 1));
                if ok {
                    *next += 1;
                }
            }
        }
        if cache.next_pos.iter().any(|&p| p as usize > self.cfg.max_position_embeddings) {
            return Err(LmError::Generation("sequence longer than max_position_embeddings".into()));
        }
        let pos_t = Tensor::from_vec(pos, b * t, &self.device)?;
        let cos = self.cos.index_select(&pos_t, 0)?.reshape((b, t, self.cfg.head_dim() / 2))?;
        let sin = self.sin.index_select(&pos_t, 0)?.reshape((b, t, self.cfg.head_dim() / 2))?;
        for (kv, row) in cache.key_valid.iter_mut().zip(valid) {
            kv.extend_from_slice(row);
        }
        let kv_len = past + t;
        // mask (b, 1, t, kv_len): key j visible to query i iff j <= past+i and (key j is real or j == past+i;
        // the diagonal keeps padded queries finite).
        let mut mask = vec![0f32; b * t * kv_len];
        for r in 0..b {
            for i in 0..t {
                for j in 0..kv_len {
                    let visible = j <= past + i && (cache.key_valid[r][j] || j == past + i);
                    if !visible {
                        mask[(r * t + i) * kv_len + j] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(mask, (b, 1, t, kv_len), &self.device)?;

        let mut x = self.embed.forward(ids)?;
        for (li, layer) in self.layers.iter().enumerate() {
            let h = layer.ln1.forward(&x)?;
            let a = &layer.attn;
            let q = a.q.forward(&h)?.reshape((b, t, a.n_head, a.hd))?.transpose(1, 2)?.contiguous()?;
            let k = a.k.forward(&h)?.reshape((b, t, a.n_kv, a.hd))?.transpose(1, 2)?.contiguous()?;
            let v = a.v.forward(&h)?.reshape((b, t, a.n_kv, a.hd))?.transpose(1, 2)?.contiguous()?;
            let q = candle_nn::rotary_emb::rope(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope(&k, &cos, &sin)?;
            let (k, v) = match &cache.kvs[li] {
                Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
                None => (k, v),
            };
            cache.kvs[li] = Some((k.clone(), v.clone()));
            let k = repeat_kv(k, a.n_head / a.n_kv)?;
            let v = repeat_kv(v, a.n_head / a.n_kv)?;
            let att = (q.matmul(&k.t()?)? / (a.hd as f64).sqrt())?;
            let att = att.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&v.contiguous()?)?.transpose(1, 2)?.reshape((b, t, a.n_head * a.hd))?;
            x = (x + a.o.forward(&y)?)?;
            let h = layer.ln2.forward(&x)?;
            let m = &layer.mlp;
            let g = candle_nn::ops::silu(&m.gate.forward(&h)?)?;
            x = (x + m.down.forward(&(g * m.up.forward(&h)?)?)?)?;
        }
        let x = x.i((.., t - 1, ..))?.contiguous()?;
        let x = self.norm.forward(&x)?;
        Ok(self.lm_head.forward(&x)?)
    }
}

fn rotate_half(x: &Tensor) -> candle_core::Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d - d / 2)?;
    Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)
}

fn rope_slow(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_mul(cos)? + rotate_half(x)?.broadcast_mul(sin)?
}

fn repeat_kv(x: Tensor, n_rep: usize) -> candle_core::Result<Tensor> {
    if n_rep == 1 {
        return Ok(x);
    }
    let (b, n_kv, t, hd) = x.dims4()?;
    Tensor::cat(&vec![&x; n_rep], 2)?.reshape((b, n_kv * n_rep, t, hd))
}

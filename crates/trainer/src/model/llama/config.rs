//! The Llama architecture's hyper-parameters, as Hugging Face's `config.json` spells them
//! (`model_type: llama`); a GGUF file's `llama.*` metadata is mapped onto the same struct.

use serde::{Deserialize, Serialize};

/// `rope_scaling` of a Llama 3.x `config.json` (`rope_type: llama3`): the rotary frequencies
/// are rescaled by wavelength (see [`LlamaConfig::inv_freq`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// `llama3` (the only type supported; others are refused at load).
    #[serde(alias = "type")]
    pub rope_type: String,
    /// Scaling factor of the long wavelengths.
    pub factor: f64,
    /// Low-frequency factor (default 1).
    #[serde(default = "one")]
    pub low_freq_factor: f64,
    /// High-frequency factor (default 4).
    #[serde(default = "four")]
    pub high_freq_factor: f64,
    /// The context length the model was pre-trained with (default 8192).
    #[serde(default = "eight_k")]
    pub original_max_position_embeddings: usize,
}

fn one() -> f64 {
    1.0
}
fn four() -> f64 {
    4.0
}
fn eight_k() -> usize {
    8192
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_eps() -> f64 {
    1e-6
}
fn default_ctx() -> usize {
    2048
}

/// One token id or several (`eos_token_id` may be a list in `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(i) => vec![*i],
            TokenIds::Many(v) => v.clone(),
        }
    }
}

/// A Llama-family model's shape (Hugging Face `LlamaConfig` field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); default: `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; default `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Rotary base θ.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Rotary scaling (Llama 3.x).
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// Longest context.
    #[serde(default = "default_ctx")]
    pub max_position_embeddings: usize,
    /// Whether the output projection is the input embedding (no `lm_head.weight`).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence id(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Bias in the attention projections (false for Llama).
    #[serde(default)]
    pub attention_bias: bool,
    /// Bias in the MLP projections (false for Llama).
    #[serde(default)]
    pub mlp_bias: bool,
    /// The MLP activation (`silu`).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// `llama` (checked at load).
    #[serde(default = "default_model_type")]
    pub model_type: String,
}

fn default_act() -> String {
    "silu".to_owned()
}
fn default_model_type() -> String {
    "llama".to_owned()
}

impl LlamaConfig {
    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }
}

impl LlamaConfig {
    /// What this implementation cannot run, if anything (`model_type`, `hidden_act`, a
    /// `rope_scaling` type other than `llama3`, inconsistent head counts).
    pub fn unsupported(&self) -> Option<String> {
        if self.model_type != "llama" {
            return Some(format!("model_type `{}` (only `llama` is supported)", self.model_type));
        }
        if self.hidden_act != "silu" {
            return Some(format!("hidden_act `{}` (only `silu` is supported)", self.hidden_act));
        }
        if let Some(s) = self.rope_scaling.as_ref().filter(|s| s.rope_type != "llama3") {
            return Some(format!("rope_scaling type `{}` (only `llama3` is supported)", s.rope_type));
        }
        let (heads, kv) = (self.num_attention_heads, self.kv_heads());
        if heads == 0 || kv == 0 || heads % kv != 0 {
            return Some(format!("num_attention_heads {heads} is not a positive multiple of num_key_value_heads {kv}"));
        }
        if self.head_dim() == 0 || !self.head_dim().is_multiple_of(2) {
            return Some(format!("head_dim {} must be even and positive (rotary embeddings)", self.head_dim()));
        }
        if self.vocab_size == 0 || self.hidden_size == 0 || self.intermediate_size == 0 {
            return Some("vocab_size, hidden_size and intermediate_size must be positive".to_owned());
        }
        None
    }

    /// The rotary inverse frequencies `θ^(−2i/d)`, `i < d/2` (`d` = head width), rescaled by
    /// wavelength under `rope_scaling: llama3` as transformers' `_compute_llama3_parameters`:
    /// long wavelengths (beyond `original_max_position_embeddings / low_freq_factor`) are
    /// divided by `factor`, short ones (below `… / high_freq_factor`) kept, those between
    /// interpolated.
    pub fn inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim();
        let base: Vec<f64> = (0..d / 2).map(|i| 1.0 / self.rope_theta.powf((2 * i) as f64 / d as f64)).collect();
        let Some(s) = &self.rope_scaling else { return base };
        let old = s.original_max_position_embeddings as f64;
        let (low_wavelen, high_wavelen) = (old / s.low_freq_factor, old / s.high_freq_factor);
        base.into_iter()
            .map(|f| {
                let wavelen = 2.0 * std::f64::consts::PI / f;
                if wavelen < high_wavelen {
                    f
                } else if wavelen > low_wavelen {
                    f / s.factor
                } else {
                    let smooth = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                    (1.0 - smooth) * f / s.factor + smooth * f
                }
            })
            .collect()
    }

    /// The end-of-sequence ids (empty when the config names none).
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_token_id.as_ref().map(TokenIds::to_vec).unwrap_or_default()
    }
}

//! Llama-architecture weights and tokenizer from a GGUF file (llama.cpp's format): the
//! `llama.*` metadata mapped onto [`LlamaConfig`], every tensor dequantized to f32 and renamed
//! to Hugging Face's names and layout (the Q/K rows permuted from GGUF's interleaved rotary
//! layout to HF's half-split one), and the tokenizer rebuilt from `tokenizer.ggml.*`.

mod meta;
mod scan;
mod tokenizer;

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Tensor};

use super::ModelError;
use super::llama::{LlamaConfig, TokenIds};
use crate::lm_tokenizer::LmTokenizer;
use meta::Meta;

pub use scan::{SUPPORTED_TYPES, type_name};
pub use tokenizer::{SUPPORTED_MODELS as SUPPORTED_TOKENIZERS, SUPPORTED_PRE};

/// `general.architecture` values that are supported.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

/// A GGUF model, loaded: its config, its tensors (f32, Hugging Face names and layout) and its
/// tokenizer.
pub struct GgufModel {
    /// The model's shape, from the `llama.*` metadata.
    pub config: LlamaConfig,
    /// Every tensor (or those of the first blocks: see [`load`]), under Hugging Face names.
    pub tensors: HashMap<String, Tensor>,
    /// The tokenizer rebuilt from `tokenizer.ggml.*`.
    pub tokenizer: LmTokenizer,
}

/// Reads the GGUF file at `path`: config, tokenizer, and every tensor dequantized to f32 on
/// `device`; with `max_layers: Some(n)` only the tensors of blocks `0..n` (and the embeddings,
/// final norm and output) are dequantized (the config still describes the whole file).
pub fn load(path: &Path, device: &Device, max_layers: Option<usize>) -> Result<GgufModel, ModelError> {
    let file = GgufFile::open(path)?;
    let config = file.config()?;
    let tokenizer = file.tokenizer()?;
    let tensors = file.tensors(device, max_layers)?;
    Ok(GgufModel { config, tensors, tokenizer })
}

/// An open GGUF file of the llama architecture: its header and metadata, read; its tensors read
/// on demand ([`GgufFile::tensors`]).
pub struct GgufFile {
    path: PathBuf,
    content: Content,
}

impl GgufFile {
    /// Reads the header and metadata of `path`. A file candle cannot parse, a tensor type it
    /// cannot read (named, with the supported types), or an architecture other than
    /// [`SUPPORTED_ARCHITECTURES`] is a [`ModelError::File`].
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let error = |message: String| ModelError::File { path: path.to_owned(), message };
        let f = File::open(path).map_err(|e| error(format!("cannot read: {e}")))?;
        let content = Content::read(&mut BufReader::new(f)).map_err(|e| {
            if let Some((name, t)) = scan::unreadable_tensor(path) {
                return error(format!(
                    "tensor `{name}` has GGML type {} ({t}), which cannot be dequantized; supported types: {}",
                    type_name(t),
                    SUPPORTED_TYPES.join(", ")
                ));
            }
            error(format!("not a GGUF file candle can read ({})", crate::device::first_line(&e)))
        })?;
        let file = Self { path: path.to_owned(), content };
        let arch = file.meta().str("general.architecture")?;
        if !SUPPORTED_ARCHITECTURES.contains(&arch) {
            return Err(error(format!(
                "architecture `{arch}` (general.architecture) is not supported; supported: {}",
                SUPPORTED_ARCHITECTURES.join(", ")
            )));
        }
        Ok(file)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn meta(&self) -> Meta<'_> {
        Meta { path: &self.path, values: &self.content.metadata }
    }

    /// The model's shape, from the `llama.*` metadata (vocabulary size from `token_embd`, tied
    /// embeddings when there is no `output.weight`).
    pub fn config(&self) -> Result<LlamaConfig, ModelError> {
        let m = self.meta();
        let heads = m.usize("llama.attention.head_count")?;
        let hidden = m.usize("llama.embedding_length")?;
        let head_dim = m.opt_usize("llama.attention.key_length")?;
        let rotary = m.opt_usize("llama.rope.dimension_count")?;
        let per_head = head_dim.unwrap_or(hidden / heads.max(1));
        if let Some(r) = rotary.filter(|&r| r != per_head) {
            return Err(m.error(format!(
                "llama.rope.dimension_count is {r} but the heads are {per_head} wide: partial rotary embeddings are not supported"
            )));
        }
        let embd = self
            .content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| m.error("has no tensor `token_embd.weight` (the token embeddings)"))?;
        let eos = m.opt_id("tokenizer.ggml.eos_token_id")?;
        Ok(LlamaConfig {
            vocab_size: embd.shape.dims().first().copied().unwrap_or(0),
            hidden_size: hidden,
            intermediate_size: m.usize("llama.feed_forward_length")?,
            num_hidden_layers: m.usize("llama.block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: Some(m.opt_usize("llama.attention.head_count_kv")?.unwrap_or(heads)),
            head_dim,
            rms_norm_eps: m.opt_f64("llama.attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5),
            rope_theta: m.opt_f64("llama.rope.freq_base")?.unwrap_or(10_000.0),
            rope_scaling: None,
            max_position_embeddings: m.opt_usize("llama.context_length")?.unwrap_or(2048),
            tie_word_embeddings: !self.content.tensor_infos.contains_key("output.weight"),
            bos_token_id: m.opt_id("tokenizer.ggml.bos_token_id")?,
            eos_token_id: eos.map(TokenIds::One),
            attention_bias: self.content.tensor_infos.contains_key("blk.0.attn_q.bias"),
            mlp_bias: false,
            hidden_act: "silu".to_owned(),
            model_type: "llama".to_owned(),
        })
    }

    /// The tokenizer rebuilt from `tokenizer.ggml.*` (byte-level BPE; `tokenizer.ggml.model` in
    /// [`SUPPORTED_TOKENIZERS`], `tokenizer.ggml.pre` in [`SUPPORTED_PRE`]) with its special
    /// tokens and `tokenizer.chat_template`.
    pub fn tokenizer(&self) -> Result<LmTokenizer, ModelError> {
        tokenizer::build(&self.meta())
    }

    /// Every tensor (only blocks `0..n` with `max_layers: Some(n)`), dequantized to f32 on
    /// `device`, under its Hugging Face name and in Hugging Face's layout. An unknown tensor
    /// name is a [`ModelError::File`].
    pub fn tensors(&self, device: &Device, max_layers: Option<usize>) -> Result<HashMap<String, Tensor>, ModelError> {
        let m = self.meta();
        let heads = m.usize("llama.attention.head_count")?;
        let kv_heads = m.opt_usize("llama.attention.head_count_kv")?.unwrap_or(heads);
        let mut names: Vec<&String> = self.content.tensor_infos.keys().collect();
        names.sort();
        let mut wanted = Vec::with_capacity(names.len());
        for name in names {
            let (hf, block) = hf_name(name).ok_or_else(|| m.error(unknown_tensor(name)))?;
            if block.is_none_or(|b| max_layers.is_none_or(|n| b < n)) {
                wanted.push((name.as_str(), hf));
            }
        }
        let f = File::open(&self.path).map_err(|e| m.error(format!("cannot read: {e}")))?;
        let mut reader = BufReader::new(f);
        let mut out = HashMap::with_capacity(wanted.len());
        for (name, hf) in wanted {
            let failed = |e: candle_core::Error| {
                m.error(format!("tensor `{name}`: cannot dequantize it ({})", crate::device::first_line(&e)))
            };
            let q = self.content.tensor(&mut reader, name, &Device::Cpu).map_err(failed)?;
            let mut t = q.dequantize(&Device::Cpu).map_err(failed)?;
            let qk_heads = if hf.contains(".q_proj.") {
                Some(heads)
            } else if hf.contains(".k_proj.") {
                Some(kv_heads)
            } else {
                None
            };
            if let Some(h) = qk_heads {
                t = unpermute_qk(&t, h).map_err(|e| m.error(format!("tensor `{name}`: {e}")))?;
            }
            out.insert(hf, t.to_device(device)?);
        }
        Ok(out)
    }
}

fn unknown_tensor(name: &str) -> String {
    let hint = if name.starts_with("rope_freqs") {
        " (Llama 3.1-style rope scaling factors are not supported yet)"
    } else {
        ""
    };
    format!(
        "tensor `{name}` is not a llama tensor{hint}; the known ones are token_embd, output_norm, output and \
         blk.N.{{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}}"
    )
}

/// The Hugging Face name of GGUF tensor `name`, and its block index if it is in a block;
/// `None` for a name that is not a llama tensor.
pub fn hf_name(name: &str) -> Option<(String, Option<usize>)> {
    let top = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(t) = top {
        return Some((t.to_owned(), None));
    }
    let (block, rest) = name.strip_prefix("blk.")?.split_once('.')?;
    let block: usize = block.parse().ok()?;
    let (part, kind) = rest.rsplit_once('.')?;
    let module = match part {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    let ok = kind == "weight" || (kind == "bias" && !module.ends_with("layernorm"));
    ok.then(|| (format!("model.layers.{block}.{module}.{kind}"), Some(block)))
}

/// GGUF's Q or K projection rows (`heads` heads; the interleaved rotary layout llama.cpp's
/// converter writes) in Hugging Face's half-split layout: the inverse of the converter's
/// `w.reshape(heads, 2, rows / heads / 2, cols).swapaxes(1, 2)`. A bias (1-D) is permuted alike.
pub fn unpermute_qk(w: &Tensor, heads: usize) -> Result<Tensor, String> {
    let dims = w.dims().to_vec();
    let rows = dims.first().copied().unwrap_or(0);
    let cols: usize = dims.iter().skip(1).product();
    if heads == 0 || rows % (2 * heads) != 0 {
        return Err(format!("its {rows} rows do not split into {heads} heads of pairs of rotary rows"));
    }
    let permuted = w
        .reshape((heads, rows / heads / 2, 2, cols))
        .and_then(|t| t.transpose(1, 2))
        .and_then(|t| t.contiguous())
        .and_then(|t| t.reshape(dims.as_slice()));
    permuted.map_err(|e| crate::device::first_line(&e))
}

#[cfg(test)]
mod tests;

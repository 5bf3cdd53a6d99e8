//! [`Llama`]: embeddings, decoder blocks, final norm and output projection, with a full
//! (training) forward pass and a KV-cached one for generation.

use candle_core::{Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::LlamaConfig;
use super::block::Block;
use super::cache::KvCache;
use super::ops::{RmsNorm, attention_bias, cut_graph};
use super::rope::Rope;
use crate::data::Inputs;
use crate::model::lora::{LoraBuilder, LoraConfig, is_adapter_param};
use crate::model::{Model, ModelError};
use crate::rng::Rng;

/// The linear modules of a Llama block, by their last name component (what LoRA may target).
pub const LINEAR_MODULES: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// LoRA's default targets on Llama (PEFT's default for `llama`).
pub const DEFAULT_TARGETS: [&str; 2] = ["q_proj", "v_proj"];

/// A Llama decoder in f32, differentiable end to end.
pub struct Llama {
    pub(super) cfg: LlamaConfig,
    pub(super) embed: Tensor,
    pub(super) blocks: Vec<Block>,
    pub(super) norm: RmsNorm,
    /// `None`: tied to the embeddings.
    pub(super) lm_head: Option<Tensor>,
    rope: Rope,
    lora: bool,
    device: Device,
}

fn weights_error(e: &candle_core::Error) -> ModelError {
    ModelError::Tensor(format!("loading the Llama weights: {}", crate::device::first_line(e)))
}

impl Llama {
    /// Builds the model from `vb` under Hugging Face names (`model.embed_tokens.weight`,
    /// `model.layers.{i}.…`, `model.norm.weight`, `lm_head.weight` when untied), with
    /// `cfg.num_hidden_layers` blocks (set it lower to keep the first blocks only) on
    /// `vb.device()`. With `lora`, every base weight is held detached (frozen) and the targeted
    /// modules get adapters, created in `varmap` from `rng` (see [`LoraBuilder`]).
    pub fn load(
        cfg: &LlamaConfig,
        vb: VarBuilder,
        lora: Option<&LoraConfig>,
        varmap: &VarMap,
        rng: &mut Rng,
    ) -> Result<Self, ModelError> {
        if let Some(what) = cfg.unsupported() {
            return Err(ModelError::config("model", format!("unsupported Llama variant: {what}")));
        }
        let mut builder =
            lora.map(|c| LoraBuilder::new(c, &LINEAR_MODULES, &DEFAULT_TARGETS, varmap, rng)).transpose()?;
        let frozen = lora.is_some();
        let hold = |t: Tensor| if frozen { t.detach() } else { t };
        let (v, h) = (cfg.vocab_size, cfg.hidden_size);
        let embed = hold(vb.get((v, h), "model.embed_tokens.weight").map_err(|e| weights_error(&e))?);
        let blocks = (0..cfg.num_hidden_layers)
            .map(|i| Block::load(cfg, vb.pp(format!("model.layers.{i}")), builder.as_mut(), frozen))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(|e| weights_error(&e))?;
        let norm = RmsNorm::load(h, cfg.rms_norm_eps, vb.pp("model.norm"), frozen).map_err(|e| weights_error(&e))?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(hold(vb.get((v, h), "lm_head.weight").map_err(|e| weights_error(&e))?))
        };
        Ok(Self {
            cfg: cfg.clone(),
            embed,
            blocks,
            norm,
            lm_head,
            rope: Rope::new(cfg),
            lora: frozen,
            device: vb.device().clone(),
        })
    }

    /// The model's config (`num_hidden_layers` = blocks kept).
    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether parameter `name` trains: with LoRA only the adapters; otherwise every one.
    pub fn is_trainable(&self, name: &str) -> bool {
        !self.lora || is_adapter_param(name)
    }

    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        self.embed.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, self.cfg.hidden_size))
    }

    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let w = self.lm_head.as_ref().unwrap_or(&self.embed);
        // As one [b·t, h] × [h, vocab] product: a broadcast weight would make backprop build
        // (and sum) a [b, h, vocab] gradient of the output projection.
        let (b, t, h) = x.dims3()?;
        let x = self.norm.forward(x)?.reshape((b * t, h))?;
        x.matmul(&w.t()?)?.reshape((b, t, w.dim(0)?))
    }

    /// Logits `[b, t, vocab]` of `ids` (u32 `[b, t]`) at positions `0..t`. `mask` (u32
    /// `[b, t]`, 1 = token, 0 = padding) keeps padded keys out of attention; `train` applies
    /// the adapters' dropout (masks from `rng`) and keeps the backprop graph (outside
    /// training it is cut after every block).
    pub fn forward(
        &self,
        ids: &Tensor,
        mask: Option<&Tensor>,
        train: bool,
        rng: &mut Rng,
    ) -> candle_core::Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let mut x = self.embed_tokens(ids)?;
        let angles = self.rope.angles(0, t, &self.device)?;
        let bias = if t > 1 || mask.is_some() { Some(attention_bias(t, 0, mask, &self.device)?) } else { None };
        for block in &self.blocks {
            x = cut_graph(block.forward(&x, &angles, bias.as_ref(), None, train, rng)?.0, train);
        }
        self.logits(&x)
    }

    /// Logits `[b, t, vocab]` of the new tokens `ids` (u32 `[b, t]`, no padding) at positions
    /// `cache.len()..cache.len() + t`, attending to the cached positions; their keys and
    /// values join `cache`. No graph is kept (inference only).
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache) -> candle_core::Result<Tensor> {
        let (_, t) = ids.dims2()?;
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![None; self.blocks.len()];
            cache.len = 0;
        }
        let offset = cache.len;
        let mut x = self.embed_tokens(ids)?.detach();
        let angles = self.rope.angles(offset, t, &self.device)?;
        let bias = if t > 1 { Some(attention_bias(t, offset, None, &self.device)?) } else { None };
        let mut rng = Rng::new(0); // unused: no dropout outside training
        for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            let (y, (k, v)) = block.forward(&x, &angles, bias.as_ref(), slot.as_ref(), false, &mut rng)?;
            *slot = Some((k.detach(), v.detach()));
            x = y.detach();
        }
        cache.len += t;
        Ok(self.logits(&x)?.detach())
    }
}

impl Model for Llama {
    fn forward(&self, inputs: &Inputs, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor> {
        let Inputs::Causal { ids, mask, .. } = inputs else {
            return Err(candle_core::Error::Msg(
                "model.kind = causal_lm needs causal token data (data.kind = text or instruction)".into(),
            ));
        };
        Llama::forward(self, ids, Some(mask), train, rng)
    }

    fn is_trainable(&self, name: &str) -> bool {
        Llama::is_trainable(self, name)
    }
}

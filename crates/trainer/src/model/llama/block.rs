//! A decoder block: `x + attn(norm₁(x))`, then `h + mlp(norm₂(h))`, with the SwiGLU MLP
//! `down(silu(gate(x)) · up(x))`.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::LlamaConfig;
use super::attention::Attention;
use super::ops::RmsNorm;
use super::rope::Angles;
use crate::model::lora::{LoraBuilder, LoraLinear};
use crate::rng::Rng;

/// The SwiGLU feed-forward layer (`mlp`).
pub(crate) struct Mlp {
    pub(super) gate: LoraLinear,
    pub(super) up: LoraLinear,
    pub(super) down: LoraLinear,
}

impl Mlp {
    fn load(cfg: &LlamaConfig, vb: VarBuilder, mut lora: Option<&mut LoraBuilder>) -> candle_core::Result<Self> {
        let (h, i, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Ok(Self {
            gate: LoraLinear::load(vb.pp("gate_proj"), h, i, bias, lora.as_deref_mut())?,
            up: LoraLinear::load(vb.pp("up_proj"), h, i, bias, lora.as_deref_mut())?,
            down: LoraLinear::load(vb.pp("down_proj"), i, h, bias, lora)?,
        })
    }

    fn forward(&self, x: &Tensor, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor> {
        let gate = self.gate.forward(x, train, rng)?;
        let up = self.up.forward(x, train, rng)?;
        self.down.forward(&crate::ops::silu_mul(&gate, &up)?, train, rng)
    }
}

/// One decoder block (`model.layers.{i}`).
pub(crate) struct Block {
    pub(super) input_norm: RmsNorm,
    pub(super) attn: Attention,
    pub(super) post_norm: RmsNorm,
    pub(super) mlp: Mlp,
}

impl Block {
    /// Loads the block under `vb`'s prefix; `frozen` holds its norms detached (LoRA runs).
    pub(crate) fn load(
        cfg: &LlamaConfig,
        vb: VarBuilder,
        mut lora: Option<&mut LoraBuilder>,
        frozen: bool,
    ) -> candle_core::Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(Self {
            input_norm: RmsNorm::load(h, eps, vb.pp("input_layernorm"), frozen)?,
            attn: Attention::load(cfg, vb.pp("self_attn"), lora.as_deref_mut())?,
            post_norm: RmsNorm::load(h, eps, vb.pp("post_attention_layernorm"), frozen)?,
            mlp: Mlp::load(cfg, vb.pp("mlp"), lora)?,
        })
    }

    /// The block's output and the layer's keys and values (see [`Attention::forward`]).
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        angles: &Angles,
        bias: Option<&Tensor>,
        past: Option<&(Tensor, Tensor)>,
        train: bool,
        rng: &mut Rng,
    ) -> candle_core::Result<(Tensor, (Tensor, Tensor))> {
        let (a, kv) = self.attn.forward(&self.input_norm.forward(x)?, angles, bias, past, train, rng)?;
        let h = (x + a)?;
        let out = (&h + self.mlp.forward(&self.post_norm.forward(&h)?, train, rng)?)?;
        Ok((out, kv))
    }

    /// The block's linear layers, in Hugging Face order.
    pub(crate) fn linears(&self) -> [&LoraLinear; 7] {
        let (a, m) = (&self.attn, &self.mlp);
        [&a.q, &a.k, &a.v, &a.o, &m.gate, &m.up, &m.down]
    }
}

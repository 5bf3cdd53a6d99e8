//! Grouped-query self-attention: `num_attention_heads` query heads share
//! `num_key_value_heads` key/value heads (query head `h` reads key/value head
//! `h / (heads / kv_heads)`, as transformers' `repeat_kv`), rotary positions, an additive
//! causal + padding bias, and an optional KV cache.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::LlamaConfig;
use super::rope::Angles;
use crate::model::lora::{LoraBuilder, LoraLinear};
use crate::ops;
use crate::rng::Rng;

/// One attention layer (`self_attn`).
pub(crate) struct Attention {
    pub(super) q: LoraLinear,
    pub(super) k: LoraLinear,
    pub(super) v: LoraLinear,
    pub(super) o: LoraLinear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    /// Loads `q_proj`, `k_proj`, `v_proj`, `o_proj` under `vb`'s prefix.
    pub(crate) fn load(
        cfg: &LlamaConfig,
        vb: VarBuilder,
        mut lora: Option<&mut LoraBuilder>,
    ) -> candle_core::Result<Self> {
        let (h, hd, heads, kv) = (cfg.hidden_size, cfg.head_dim(), cfg.num_attention_heads, cfg.kv_heads());
        let bias = cfg.attention_bias;
        Ok(Self {
            q: LoraLinear::load(vb.pp("q_proj"), h, heads * hd, bias, lora.as_deref_mut())?,
            k: LoraLinear::load(vb.pp("k_proj"), h, kv * hd, bias, lora.as_deref_mut())?,
            v: LoraLinear::load(vb.pp("v_proj"), h, kv * hd, bias, lora.as_deref_mut())?,
            o: LoraLinear::load(vb.pp("o_proj"), heads * hd, h, bias, lora)?,
            heads,
            kv_heads: kv,
            head_dim: hd,
        })
    }

    /// Attention output `[b, t, hidden]` of `x` `[b, t, hidden]`. `bias` is the additive mask
    /// `[b | 1, 1, t, past + t]`; `past` the cached (rotated) keys and values
    /// `[b, kv_heads, past, head_dim]` of earlier positions, returned extended by these.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        angles: &Angles,
        bias: Option<&Tensor>,
        past: Option<&(Tensor, Tensor)>,
        train: bool,
        rng: &mut Rng,
    ) -> candle_core::Result<(Tensor, (Tensor, Tensor))> {
        let (b, t, _) = x.dims3()?;
        let (hd, kvh) = (self.head_dim, self.kv_heads);
        let heads = |y: Tensor, n: usize| y.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous();
        let q = angles.apply(&heads(self.q.forward(x, train, rng)?, self.heads)?)?;
        let mut k = angles.apply(&heads(self.k.forward(x, train, rng)?, kvh)?)?;
        let mut v = heads(self.v.forward(x, train, rng)?, kvh)?;
        if let Some((pk, pv)) = past {
            k = Tensor::cat(&[pk, &k], 2)?;
            v = Tensor::cat(&[pv, &v], 2)?;
        }
        let total = k.dim(2)?;
        // Group the query heads by the key/value head they share: no repeated copies of k, v.
        let group = self.heads / kvh;
        let q = q.reshape((b, kvh, group * t, hd))?;
        let scores = q.matmul(&k.t()?)?.reshape((b, self.heads, t, total))?;
        let scale = 1.0 / (hd as f64).sqrt();
        // Scale, mask and softmax in one fused op on the CPU (composed ops elsewhere).
        let probs = match bias {
            Some(m) => ops::masked_softmax(&scores, scale, m)?,
            None => ops::softmax_last(&(scores * scale)?)?,
        };
        let probs = probs.reshape((b, kvh, group * t, total))?;
        let ctx = probs.matmul(&v.contiguous()?)?.reshape((b, self.heads, t, hd))?;
        let ctx = ctx.transpose(1, 2)?.reshape((b, t, self.heads * hd))?;
        Ok((self.o.forward(&ctx, train, rng)?, (k, v)))
    }
}

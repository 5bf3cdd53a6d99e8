//! The differentiable building blocks candle-nn has only as fused ops without a backward pass:
//! RMSNorm (the trainer's fused op, [`crate::ops::rms_norm`]) and the attention bias (causal and
//! padding masks). The attention's softmax and the MLP's SwiGLU are [`crate::ops`]' too.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

/// RMSNorm over the last dimension, `x / √(mean(x²) + eps) · weight`: [`crate::ops::rms_norm`]
/// (a fused kernel on the CPU, plain ops elsewhere).
pub(crate) struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// Loads `<prefix>.weight` `[size]` from `vb`; `frozen` holds it detached.
    pub(crate) fn load(size: usize, eps: f64, vb: VarBuilder, frozen: bool) -> candle_core::Result<Self> {
        let weight = vb.get(size, "weight")?;
        Ok(Self { weight: if frozen { weight.detach() } else { weight }, eps })
    }

    /// The normalised `x`.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        crate::ops::rms_norm(x, &self.weight, self.eps)
    }

    /// The scale vector.
    pub(crate) fn weight(&self) -> &Tensor {
        &self.weight
    }
}

/// The additive attention bias `[b | 1, 1, t, offset + t]` of `t` queries at positions
/// `offset..offset + t`: 0 where a query may look (keys at or before it that are real tokens),
/// `f32::MIN` elsewhere. One large finite value, never added twice, so a row with no key left
/// (a padding query) gives a uniform softmax rather than NaN. `mask` (u32 `[b, offset + t]`,
/// 1 = token) marks padded keys.
pub(crate) fn attention_bias(
    t: usize,
    offset: usize,
    mask: Option<&Tensor>,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let total = offset + t;
    let causal: Vec<f32> =
        (0..t).flat_map(|i| (0..total).map(move |j| if j <= offset + i { 1.0 } else { 0.0 })).collect();
    let mut allowed = Tensor::from_vec(causal, (1, 1, t, total), device)?;
    if let Some(m) = mask {
        let b = m.dim(0)?;
        let keys = m.to_dtype(DType::F32)?.reshape((b, 1, 1, total))?;
        allowed = allowed.broadcast_mul(&keys)?;
    }
    allowed.affine(f64::from(f32::MAX), f64::from(f32::MIN))
}

/// Outside training, drops the backprop graph behind `x` (candle has no `no_grad`: without
/// the cut an evaluation keeps every layer's intermediates alive until the logits are dropped).
pub(crate) fn cut_graph(x: Tensor, train: bool) -> Tensor {
    if train { x } else { x.detach() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_matches_its_formula() {
        let norm = RmsNorm { weight: Tensor::new(&[1.0f32, 2.0, 0.5], &Device::Cpu).unwrap(), eps: 0.0 };
        let y = norm.forward(&Tensor::new(&[[3.0f32, 4.0, 0.0]], &Device::Cpu).unwrap()).unwrap();
        let rms = (25.0f32 / 3.0).sqrt();
        let want = [3.0 / rms, 8.0 / rms, 0.0];
        let got = y.to_vec2::<f32>().unwrap().remove(0);
        assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6), "{got:?} vs {want:?}");
    }

    #[test]
    fn bias_is_causal_masks_padding_and_never_overflows() {
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1]], &Device::Cpu).unwrap();
        let b = attention_bias(3, 0, Some(&mask), &Device::Cpu).unwrap();
        assert_eq!(b.dims(), &[2, 1, 3, 3]);
        let m = f32::MIN;
        let flat = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(&flat[..9], [0.0, m, m, 0.0, 0.0, m, 0.0, 0.0, m]);
        assert_eq!(&flat[9..], [0.0, m, m, 0.0, 0.0, m, 0.0, 0.0, 0.0]);
        // Continuing after 2 cached positions: the new query sees all 3 keys.
        let c = attention_bias(1, 2, None, &Device::Cpu).unwrap();
        assert_eq!(c.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [0.0, 0.0, 0.0]);
    }
}

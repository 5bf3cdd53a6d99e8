//! Rotary position embeddings in Hugging Face's half-split layout: each head's vector
//! `[x₁ | x₂]` becomes `x · cos + rotate_half(x) · sin` with `rotate_half(x) = [−x₂ | x₁]`,
//! angles `position · inv_freq` (θ and the `llama3` scaling from [`LlamaConfig::inv_freq`]).

use candle_core::{Device, Tensor};

use super::LlamaConfig;

/// The rotary frequencies of a model.
pub(crate) struct Rope {
    inv_freq: Vec<f64>,
}

/// The `cos` and `sin` tables `[t, head_dim]` of `t` consecutive positions.
pub(crate) struct Angles {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    /// The model's frequencies.
    pub(crate) fn new(cfg: &LlamaConfig) -> Self {
        Self { inv_freq: cfg.inv_freq() }
    }

    /// The tables of positions `offset..offset + t` (computed in f64, stored in f32).
    pub(crate) fn angles(&self, offset: usize, t: usize, device: &Device) -> candle_core::Result<Angles> {
        let half = self.inv_freq.len();
        let (mut cos, mut sin) = (Vec::with_capacity(t * 2 * half), Vec::with_capacity(t * 2 * half));
        for p in offset..offset + t {
            for _ in 0..2 {
                for f in &self.inv_freq {
                    let a = p as f64 * f;
                    cos.push(a.cos() as f32);
                    sin.push(a.sin() as f32);
                }
            }
        }
        Ok(Angles {
            cos: Tensor::from_vec(cos, (t, 2 * half), device)?,
            sin: Tensor::from_vec(sin, (t, 2 * half), device)?,
        })
    }
}

impl Angles {
    /// Rotates `x` `[b, heads, t, head_dim]`: [`crate::ops::rope`] (a fused kernel with its
    /// backward on the CPU, plain differentiable ops elsewhere).
    pub(crate) fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        crate::ops::rope(x, &self.cos, &self.sin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(scaling: &str) -> LlamaConfig {
        serde_json::from_str(&format!(
            r#"{{"vocab_size": 10, "hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 1,
                "num_attention_heads": 1, "rope_theta": 500000.0 {scaling}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn rotation_matches_the_formula_and_llama3_rescales_long_wavelengths() {
        let rope = Rope::new(&cfg(""));
        let x = Tensor::arange(0f32, 64.0, &Device::Cpu).unwrap().reshape((1, 1, 1, 64)).unwrap();
        let y = rope.angles(3, 1, &Device::Cpu).unwrap().apply(&x).unwrap().flatten_all().unwrap();
        let y = y.to_vec1::<f32>().unwrap();
        let a = 3.0f64; // i = 0: inv_freq 1
        assert!((f64::from(y[0]) - (0.0 * a.cos() - 32.0 * a.sin())).abs() < 1e-4, "{}", y[0]);
        assert!((f64::from(y[32]) - (32.0 * a.cos() + 0.0 * a.sin())).abs() < 1e-4, "{}", y[32]);
        let scaled = cfg(r#", "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#);
        let (plain, l3) = (cfg("").inv_freq(), scaled.inv_freq());
        assert_eq!(plain[0], l3[0]); // wavelength 2π: short, kept
        assert!((l3[31] - plain[31] / 8.0).abs() < 1e-15); // the longest: divided by the factor
        let mid = (0..32).find(|&i| l3[i] != plain[i] && (l3[i] - plain[i] / 8.0).abs() > 1e-15);
        assert!(mid.is_some(), "no interpolated frequency");
    }
}

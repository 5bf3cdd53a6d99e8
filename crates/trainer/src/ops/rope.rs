//! Rotary position embeddings in Hugging Face's half-split layout: `y = x · cos + rot(x) · sin`
//! with `rot([x₁ | x₂]) = [−x₂ | x₁]`, and the backward `dx = g · cos + rotᵀ(g · sin)` with
//! `rotᵀ([v₁ | v₂]) = [v₂ | −v₁]` (the tables are constants: no gradient).

use candle_core::{CpuStorage, CustomOp3, D, Layout, Result, Shape, Tensor};

use super::{LIGHT, as_f32, for_row_chunks, fusable};

/// Rotates `x` `[b, heads, t, d]` (`d` even) by the tables `cos`, `sin` `[t, d]`: fused on f32
/// contiguous CPU tensors whose tables track no gradient, else [`rope_composed`].
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let fits = match (x.dims(), cos.dims()) {
        (&[_, _, t, d], &[ct, cd]) => t == ct && d == cd && d % 2 == 0 && sin.dims() == cos.dims(),
        _ => false,
    };
    if fits && fusable(&[x, cos, sin]) && !cos.track_op() && !sin.track_op() {
        x.apply_op3(cos, sin, Rope { inverse: false })
    } else {
        rope_composed(x, cos, sin)
    }
}

/// The same rotation from differentiable primitives (narrow, negate, concatenate, multiply, add).
pub fn rope_composed(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let (x1, x2) = (x.narrow(D::Minus1, 0, half)?, x.narrow(D::Minus1, half, half)?);
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
}

/// The rotation (`inverse: false`) or its transpose applied to a gradient (`inverse: true`:
/// `g · cos + rotᵀ(g · sin)`, which is the rotation by the negated angle).
struct Rope {
    inverse: bool,
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        if self.inverse { "trainer-rope-grad" } else { "trainer-rope" }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, cos, sin) = (as_f32(s1, l1)?, as_f32(s2, l2)?, as_f32(s3, l3)?);
        let (&[_, _, t, d], &[ct, cd]) = (l1.dims(), l2.dims()) else {
            candle_core::bail!("rope: x [b, heads, t, d] and tables [t, d] expected")
        };
        if t != ct || d != cd || d % 2 != 0 || cos.len() != t * d || sin.len() != t * d {
            candle_core::bail!("rope: x {:?} against tables {:?}", l1.dims(), l2.dims());
        }
        let half = d / 2;
        let mut y = vec![0f32; x.len()];
        for_row_chunks(&mut y, d, LIGHT, |first, rows| {
            for (r, y) in rows.chunks_exact_mut(d).enumerate() {
                let row = first + r;
                let (x, c, s) = (&x[row * d..][..d], &cos[(row % t) * d..][..d], &sin[(row % t) * d..][..d]);
                let (x1, x2) = x.split_at(half);
                let (y1, y2) = y.split_at_mut(half);
                for i in 0..half {
                    // Forward: y₁ = x₁c₁ − x₂s₁, y₂ = x₂c₂ + x₁s₂ (as the composed ops round).
                    // Transpose: dx₁ = g₁c₁ + g₂s₂, dx₂ = g₂c₂ − g₁s₁.
                    if self.inverse {
                        y1[i] = x1[i] * c[i] + x2[i] * s[half + i];
                        y2[i] = x2[i] * c[half + i] - x1[i] * s[i];
                    } else {
                        y1[i] = x1[i] * c[i] + (-x2[i]) * s[i];
                        y2[i] = x2[i] * c[half + i] + x1[i] * s[half + i];
                    }
                }
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = grad.contiguous()?.apply_op3_no_bwd(cos, sin, &Rope { inverse: true })?;
        Ok((Some(dx), None, None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{finite_diff, grads_of, randn, rel_err};
    use super::*;

    /// Tables of positions 3.. with Llama's frequencies for head size `d`.
    fn tables(t: usize, d: usize) -> (Tensor, Tensor) {
        let half = d / 2;
        let angle = |p: usize, i: usize| (p + 3) as f64 / 10000f64.powf((2 * (i % half)) as f64 / d as f64);
        let table = |f: fn(f64) -> f64| {
            let v: Vec<f32> = (0..t * d).map(|k| f(angle(k / d, k % d)) as f32).collect();
            Tensor::from_vec(v, (t, d), &candle_core::Device::Cpu).unwrap()
        };
        (table(f64::cos), table(f64::sin))
    }

    #[test]
    fn values_and_gradients_match_the_composed_ops() {
        // SmolLM2's heads at its training shape, T = 1, and a head size not a multiple of 8.
        for (b, h, t, d) in [(4, 9, 128, 64), (2, 3, 1, 64), (1, 2, 5, 6)] {
            let (c, s) = tables(t, d);
            let x = randn(&[b, h, t, d], 1.0, 1);
            let (y, g) = grads_of(|v| rope(&v[0], &c, &s).unwrap(), std::slice::from_ref(&x), 2);
            let (y_ref, g_ref) = grads_of(|v| rope_composed(&v[0], &c, &s).unwrap(), std::slice::from_ref(&x), 2);
            let (ey, eg) = (rel_err(&y, &y_ref), rel_err(&g[0], &g_ref[0]));
            eprintln!("rope {:?}: value rel err {ey:e}, grad rel err {eg:e}", [b, h, t, d]);
            assert!(ey <= 1e-6 && eg <= 1e-6, "{ey} {eg}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (c, s) = tables(3, 6);
        let x = randn(&[1, 2, 3, 6], 1.0, 3);
        let (_, g) = grads_of(|v| rope(&v[0], &c, &s).unwrap(), std::slice::from_ref(&x), 4);
        let (c64, s64) = (c.to_dtype(candle_core::DType::F64).unwrap(), s.to_dtype(candle_core::DType::F64).unwrap());
        let fd = finite_diff(|v| rope(&v[0], &c64, &s64).unwrap(), &[x], 0, 4);
        let e = rel_err(&g[0], &fd);
        eprintln!("rope finite differences: rel err {e:e}");
        assert!(e <= 1e-5, "{e}");
    }

    #[test]
    fn strided_input_takes_the_composed_path() {
        let (c, s) = tables(4, 6);
        let x = randn(&[1, 4, 2, 6], 1.0, 5).transpose(1, 2).unwrap();
        assert!(!x.is_contiguous());
        assert_eq!(rel_err(&rope(&x, &c, &s).unwrap(), &rope_composed(&x, &c, &s).unwrap()), 0.0);
    }
}

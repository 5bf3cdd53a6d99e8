//! RMSNorm over the last dimension, `x / sqrt(mean(x²) + eps) · weight` (Llama's norm), with the
//! backward `dx = r · (g·w − x̂ · mean(g·w·x̂))`, `dweight = Σ g·x̂` (`r = 1 / sqrt(mean(x²) + eps)`,
//! `x̂ = x · r`), recomputing `r` per row instead of saving it.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, D, Layout, Result, Shape, Tensor};

use super::{LIGHT, add_into, as_f32, for_row_chunks, fusable, row_width};

/// RMSNorm of `x` over its last dimension with `weight` `[n]`: fused on f32 contiguous CPU
/// tensors, else [`rms_norm_composed`].
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let n = x.dims().last().copied();
    if n.is_some() && weight.dims() == [n.unwrap_or(0)] && fusable(&[x, weight]) {
        x.apply_op2(weight, RmsNorm { eps: eps as f32 })
    } else {
        rms_norm_composed(x, weight, eps)
    }
}

/// The same norm from differentiable primitives: `x / sqrt(mean(x²) + eps) · weight`.
pub fn rms_norm_composed(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(weight)
}

/// A row's `sqrt(mean(x²) + eps)`, rounded as the composed ops round (`sum · (1/n)`).
fn row_rms(x: &[f32], eps: f32) -> f32 {
    let inv_n = (1.0 / x.len() as f64) as f32;
    (x.iter().map(|v| v * v).sum::<f32>() * inv_n + eps).sqrt()
}

struct RmsNorm {
    eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "trainer-rms-norm"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, w, n) = (as_f32(s1, l1)?, as_f32(s2, l2)?, row_width(l1)?);
        if w.len() != n {
            candle_core::bail!("rms norm: rows of {n} against a weight of {}", w.len());
        }
        let mut y = vec![0f32; x.len()];
        for_row_chunks(&mut y, n, LIGHT, |first, out| {
            for (y, x) in out.chunks_exact_mut(n).zip(x[first * n..].chunks_exact(n)) {
                let rms = row_rms(x, self.eps);
                for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
                    *y = x / rms * w;
                }
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = weight.elem_count();
        let rows = x.elem_count() / n;
        // One tensor [rows + 1, n]: dx, then dweight.
        let all = x.apply_op3_no_bwd(weight, &grad.contiguous()?, &RmsNormGrad { eps: self.eps })?;
        let dx = all.narrow(0, 0, rows)?.reshape(x.shape())?;
        Ok((Some(dx), Some(all.get(rows)?)))
    }
}

/// One row of [`RmsNormGrad`]: writes `dx`, adds the row's terms to `dw`.
fn grad_row(x: &[f32], g: &[f32], w: &[f32], eps: f32, dx: &mut [f32], dw: &mut [f32]) {
    let inv_n = (1.0 / x.len() as f64) as f32;
    let rms = row_rms(x, eps);
    let sum_gwx: f32 = x.iter().zip(g).zip(w).map(|((&x, &g), &w)| g * w * (x / rms)).sum();
    let c = sum_gwx * inv_n;
    for ((((dx, &x), &g), &w), dw) in dx.iter_mut().zip(x).zip(g).zip(w).zip(dw.iter_mut()) {
        let xhat = x / rms;
        *dx = (g * w - xhat * c) / rms;
        *dw += g * xhat;
    }
}

/// From `x`, `weight` and the output gradient `g`: `[rows + 1, n]` holding `dx` per row, then
/// `Σ g·x̂` over rows.
struct RmsNormGrad {
    eps: f32,
}

impl CustomOp3 for RmsNormGrad {
    fn name(&self) -> &'static str {
        "trainer-rms-norm-grad"
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
        let (x, w, g, n) = (as_f32(s1, l1)?, as_f32(s2, l2)?, as_f32(s3, l3)?, row_width(l1)?);
        if w.len() != n || g.len() != x.len() {
            candle_core::bail!("rms norm grad: {} values, weight {}, {} gradients", x.len(), w.len(), g.len());
        }
        let rows = x.len() / n;
        let mut out = Vec::with_capacity(x.len() + n);
        out.resize(x.len(), 0f32);
        let partials = for_row_chunks(&mut out, n, LIGHT, |first, dx| {
            let (x, g) = (&x[first * n..], &g[first * n..]);
            let mut dw = vec![0f32; n];
            for ((dx, x), g) in dx.chunks_exact_mut(n).zip(x.chunks_exact(n)).zip(g.chunks_exact(n)) {
                grad_row(x, g, w, self.eps, dx, &mut dw);
            }
            dw
        });
        out.resize(x.len() + n, 0f32);
        let dw = &mut out[x.len()..];
        for p in &partials {
            add_into(dw, p);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 1, n))))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_matches_composed, finite_diff, grads_of, randn, rel_err};
    use super::*;
    use candle_core::DType;

    const EPS: f64 = 1e-5;

    fn fused(t: &[Tensor]) -> Tensor {
        rms_norm(&t[0], &t[1], EPS).unwrap()
    }
    fn composed(t: &[Tensor]) -> Tensor {
        rms_norm_composed(&t[0], &t[1], EPS).unwrap()
    }
    fn inputs(shape: &[usize], seed: u64) -> Vec<Tensor> {
        let n = *shape.last().unwrap();
        vec![(randn(shape, 2.0, seed) + 0.5).unwrap(), (randn(&[n], 0.2, seed + 1) + 1.0).unwrap()]
    }

    #[test]
    fn values_and_both_gradients_match_the_composed_version() {
        // SmolLM2's hidden size (576) at its training shape, T = 1, and widths not a multiple of 8.
        for shape in [vec![4, 128, 576], vec![4, 1, 13], vec![2, 3], vec![13]] {
            assert_matches_composed(&format!("rms norm {shape:?} (x, w)"), fused, composed, &inputs(&shape, 1), 1e-5);
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let ins = inputs(&[3, 13], 3);
        let (_, g) = grads_of(fused, &ins, 4);
        for (which, name) in ["x", "weight"].iter().enumerate() {
            let e = rel_err(&g[which], &finite_diff(fused, &ins, which, 4));
            eprintln!("rms norm finite differences, d{name}: rel err {e:e}");
            assert!(e <= 1e-5, "{name}: {e}");
        }
    }

    #[test]
    fn a_frozen_weight_still_gives_dx_and_other_dtypes_take_the_composed_path() {
        let ins = inputs(&[3, 13], 5);
        let w = ins[1].detach();
        let (_, g) = grads_of(|t| rms_norm(&t[0], &w, EPS).unwrap(), &ins[..1], 6);
        let (_, g_ref) = grads_of(|t| rms_norm_composed(&t[0], &w, EPS).unwrap(), &ins[..1], 6);
        assert!(rel_err(&g[0], &g_ref[0]) <= 1e-5);
        let d: Vec<Tensor> = ins.iter().map(|t| t.to_dtype(DType::F64).unwrap()).collect();
        let h = rms_norm(&d[0], &d[1], EPS).unwrap();
        assert_eq!(h.dtype(), DType::F64);
        assert!(rel_err(&h.to_dtype(DType::F32).unwrap(), &fused(&ins)) <= 1e-5);
    }
}

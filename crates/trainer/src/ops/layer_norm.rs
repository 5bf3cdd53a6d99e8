//! Layer norm over the last dimension, `(x − mean) / sqrt(var + eps) · weight + bias` with the
//! biased variance, as the encoder's composed version. The backward recomputes each row's mean
//! and deviation (one pass over `x`) instead of saving them.

use candle_core::{CpuStorage, CustomOp3, D, Layout, Result, Shape, Tensor};

use super::{LIGHT, add_into, as_f32, for_row_chunks, fusable, row_width};

/// Layer norm of `x` over its last dimension with `weight` and `bias` (both `[n]`, `n` the last
/// dimension): fused on f32 contiguous CPU tensors, else [`layer_norm_composed`]. Detached
/// (frozen) weights are fine: their gradients are computed, then dropped (the patched candle stores
/// none for tensors that track no gradient).
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let n = x.dims().last().copied();
    let fits = n.is_some() && weight.dims() == [n.unwrap_or(0)] && bias.dims() == weight.dims();
    if fits && fusable(&[x, weight, bias]) {
        x.apply_op3(weight, bias, LayerNorm { eps: eps as f32 })
    } else {
        layer_norm_composed(x, weight, bias, eps)
    }
}

/// The same layer norm from differentiable primitives: mean, centred, `var = mean(centred²)`,
/// `centred / sqrt(var + eps) · weight + bias`.
pub fn layer_norm_composed(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(weight)?.broadcast_add(bias)
}

/// A row's mean and `sqrt(var + eps)`, rounded as the composed ops round (`sum · (1/n)`).
fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let inv_n = (1.0 / x.len() as f64) as f32;
    let mean = x.iter().sum::<f32>() * inv_n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() * inv_n;
    (mean, (var + eps).sqrt())
}

struct LayerNorm {
    eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "trainer-layer-norm"
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
        let (x, w, b, n) = (as_f32(s1, l1)?, as_f32(s2, l2)?, as_f32(s3, l3)?, row_width(l1)?);
        if w.len() != n || b.len() != n {
            candle_core::bail!("layer norm: rows of {n} against weight {} and bias {}", w.len(), b.len());
        }
        let mut y = vec![0f32; x.len()];
        for_row_chunks(&mut y, n, LIGHT, |first, out| {
            for (y, x) in out.chunks_exact_mut(n).zip(x[first * n..].chunks_exact(n)) {
                let (mean, std) = row_stats(x, self.eps);
                for (((y, &x), &w), &b) in y.iter_mut().zip(x).zip(w).zip(b) {
                    *y = (x - mean) / std * w + b;
                }
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = weight.elem_count();
        let rows = x.elem_count() / n;
        // One tensor [rows + 2, n]: dx, then dweight, then dbias.
        let all = x.apply_op3_no_bwd(weight, &grad.contiguous()?, &LayerNormGrad { eps: self.eps })?;
        let dx = all.narrow(0, 0, rows)?.reshape(x.shape())?;
        Ok((Some(dx), Some(all.get(rows)?), Some(all.get(rows + 1)?)))
    }
}

/// One row of [`LayerNormGrad`]: writes `dx`, adds the row's terms to `dw` and `db`.
fn grad_row(x: &[f32], g: &[f32], w: &[f32], eps: f32, dx: &mut [f32], dw: &mut [f32], db: &mut [f32]) {
    let inv_n = (1.0 / x.len() as f64) as f32;
    let (mean, std) = row_stats(x, eps);
    let (mut sum_gw, mut sum_gwx) = (0f32, 0f32);
    for ((&x, &g), &w) in x.iter().zip(g).zip(w) {
        let xhat = (x - mean) / std;
        sum_gw += g * w;
        sum_gwx += g * w * xhat;
    }
    let (a, c) = (sum_gw * inv_n, sum_gwx * inv_n);
    let terms = dx.iter_mut().zip(x).zip(g).zip(w).zip(dw.iter_mut()).zip(db.iter_mut());
    for (((((dx, &x), &g), &w), dw), db) in terms {
        let xhat = (x - mean) / std;
        *dx = (g * w - a - xhat * c) / std;
        *dw += g * xhat;
        *db += g;
    }
}

/// From `x`, `weight` and the output gradient `g`: `[rows + 2, n]` holding
/// `dx = (g·w − mean(g·w) − x̂ · mean(g·w·x̂)) / std` per row, then `Σ g·x̂` and `Σ g` over rows.
struct LayerNormGrad {
    eps: f32,
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "trainer-layer-norm-grad"
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
            candle_core::bail!("layer norm grad: {} values, weight {}, {} gradients", x.len(), w.len(), g.len());
        }
        let rows = x.len() / n;
        let mut out = Vec::with_capacity(x.len() + 2 * n);
        out.resize(x.len(), 0f32);
        let partials = for_row_chunks(&mut out, n, LIGHT, |first, dx| {
            let (x, g) = (&x[first * n..], &g[first * n..]);
            let (mut dw, mut db) = (vec![0f32; n], vec![0f32; n]);
            for ((dx, x), g) in dx.chunks_exact_mut(n).zip(x.chunks_exact(n)).zip(g.chunks_exact(n)) {
                grad_row(x, g, w, self.eps, dx, &mut dw, &mut db);
            }
            (dw, db)
        });
        out.resize(x.len() + 2 * n, 0f32);
        let (dw, db) = out[x.len()..].split_at_mut(n);
        for (pw, pb) in &partials {
            add_into(dw, pw);
            add_into(db, pb);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, n))))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_matches_composed, finite_diff, grads_of, randn, rel_err};
    use super::*;
    use candle_core::DType;

    const EPS: f64 = 1e-12;

    fn fused(t: &[Tensor]) -> Tensor {
        layer_norm(&t[0], &t[1], &t[2], EPS).unwrap()
    }
    fn composed(t: &[Tensor]) -> Tensor {
        layer_norm_composed(&t[0], &t[1], &t[2], EPS).unwrap()
    }
    fn inputs(shape: &[usize], seed: u64) -> Vec<Tensor> {
        let n = *shape.last().unwrap();
        let w = (randn(&[n], 0.2, seed + 1) + 1.0).unwrap();
        vec![(randn(shape, 2.0, seed) + 0.5).unwrap(), w, randn(&[n], 0.3, seed + 2)]
    }

    #[test]
    fn values_and_all_three_gradients_match_the_composed_version() {
        for shape in [vec![16, 32, 384], vec![4, 1, 13], vec![2, 1], vec![13]] {
            assert_matches_composed(
                &format!("layer norm {shape:?} (x, w, b)"),
                fused,
                composed,
                &inputs(&shape, 1),
                1e-5,
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let ins = inputs(&[3, 13], 3);
        let (_, g) = grads_of(fused, &ins, 4);
        for (which, name) in ["x", "weight", "bias"].iter().enumerate() {
            let e = rel_err(&g[which], &finite_diff(fused, &ins, which, 4));
            eprintln!("layer norm finite differences, d{name}: rel err {e:e}");
            assert!(e <= 1e-5, "{name}: {e}");
        }
    }

    #[test]
    fn frozen_weights_still_give_dx() {
        let ins = inputs(&[3, 13], 5);
        let (w, b) = (ins[1].detach(), ins[2].detach());
        let (_, g) = grads_of(|t| layer_norm(&t[0], &w, &b, EPS).unwrap(), &ins[..1], 6);
        let (_, g_ref) = grads_of(|t| layer_norm_composed(&t[0], &w, &b, EPS).unwrap(), &ins[..1], 6);
        assert!(rel_err(&g[0], &g_ref[0]) <= 1e-5);
    }

    #[test]
    fn other_dtypes_and_strided_views_take_the_composed_path() {
        let ins = inputs(&[6, 4], 7);
        let xt = ins[0].reshape((4, 6)).unwrap().t().unwrap();
        assert!(!xt.is_contiguous());
        let on = |x: &Tensor| layer_norm(x, &ins[1], &ins[2], EPS).unwrap();
        assert_eq!(rel_err(&on(&xt), &layer_norm_composed(&xt, &ins[1], &ins[2], EPS).unwrap()), 0.0);
        let d: Vec<Tensor> = ins.iter().map(|t| t.to_dtype(DType::F64).unwrap()).collect();
        let h = layer_norm(&d[0], &d[1], &d[2], EPS).unwrap();
        assert_eq!(h.dtype(), DType::F64);
        assert!(rel_err(&h.to_dtype(DType::F32).unwrap(), &on(&ins[0])) <= 1e-5);
    }
}

//! A linear layer's bias: `y + b` row by row, with the backward `dy = g` and `db = Σ_rows g` in
//! one pass (candle's `broadcast_add` reduces the bias gradient with a separate, single-threaded
//! sum over a broadcast view).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::{LIGHT, add_into, as_f32, for_row_chunks, fusable, row_width};

/// `y + bias` for `y` `[rows, n]` and `bias` `[n]`: fused on f32 contiguous CPU tensors, else
/// `broadcast_add`. A bias that tracks no gradient (frozen) gets none computed.
pub fn add_bias(y: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let fits = matches!(y.dims(), &[_, n] if bias.dims() == [n]);
    if fits && fusable(&[y, bias]) {
        y.apply_op2(bias, AddBias { bias_grad: bias.track_op() })
    } else {
        y.broadcast_add(bias)
    }
}

struct AddBias {
    bias_grad: bool,
}

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "trainer-add-bias"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (y, b, n) = (as_f32(s1, l1)?, as_f32(s2, l2)?, row_width(l1)?);
        if b.len() != n {
            candle_core::bail!("add bias: rows of {n} against a bias of {}", b.len());
        }
        let mut out = y.to_vec();
        for_row_chunks(&mut out, n, LIGHT, |_, rows| {
            for row in rows.chunks_exact_mut(n) {
                row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let db = if self.bias_grad { Some(grad.contiguous()?.apply_op1_no_bwd(&SumRows)?) } else { None };
        Ok((Some(grad.clone()), db))
    }
}

/// `Σ_rows g` of a `[rows, n]` tensor: `[n]`, partial sums per thread added in chunk order.
struct SumRows;

impl CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "trainer-sum-rows"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (g, n) = (as_f32(storage, layout)?, row_width(layout)?);
        // for_row_chunks splits a slot per row (its values unused) into chunks of rows.
        let mut slots = vec![0f32; g.len() / n];
        let partials = for_row_chunks(&mut slots, 1, (LIGHT / n).max(1), |first, rows| {
            let mut sum = vec![0f32; n];
            for row in g[first * n..][..rows.len() * n].chunks_exact(n) {
                add_into(&mut sum, row);
            }
            sum
        });
        let mut db = vec![0f32; n];
        for p in &partials {
            add_into(&mut db, p);
        }
        Ok((CpuStorage::F32(db), Shape::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{finite_diff, grads_of, randn, rel_err};
    use super::*;

    #[test]
    fn value_and_gradients_match_broadcast_add() {
        // MiniLM's FFN output rows, one row, and a width not a multiple of 8.
        for (rows, n) in [(512, 1536), (1, 13), (37, 5)] {
            let ins = vec![randn(&[rows, n], 1.0, 1), randn(&[n], 1.0, 2)];
            let (y, g) = grads_of(|t| add_bias(&t[0], &t[1]).unwrap(), &ins, 3);
            let (y_ref, g_ref) = grads_of(|t| t[0].broadcast_add(&t[1]).unwrap(), &ins, 3);
            let eg: Vec<f32> = g.iter().zip(&g_ref).map(|(a, b)| rel_err(a, b)).collect();
            eprintln!("add bias [{rows}, {n}]: value rel err {:e}, grad (y, b) rel errs {eg:?}", rel_err(&y, &y_ref));
            assert_eq!(rel_err(&y, &y_ref), 0.0);
            assert!(eg.iter().all(|&e| e <= 1e-5), "{eg:?}");
        }
        let ins = vec![randn(&[3, 4], 1.0, 4), randn(&[4], 1.0, 5)];
        let (_, g) = grads_of(|t| add_bias(&t[0], &t[1]).unwrap(), &ins, 6);
        let fd = finite_diff(|t| add_bias(&t[0], &t[1]).unwrap(), &ins, 1, 6);
        assert!(rel_err(&g[1], &fd) <= 1e-5);
    }

    #[test]
    fn a_frozen_bias_gets_no_gradient_and_other_shapes_broadcast() {
        let (y, b) = (randn(&[3, 4], 1.0, 7), randn(&[4], 1.0, 8));
        let (_, g) = grads_of(|t| add_bias(&t[0], &b).unwrap(), std::slice::from_ref(&y), 9);
        assert_eq!(rel_err(&g[0], &randn(&[3, 4], 1.0, 9)), 0.0, "dy is the upstream gradient");
        let y3 = randn(&[2, 3, 4], 1.0, 10);
        assert_eq!(rel_err(&add_bias(&y3, &b).unwrap(), &y3.broadcast_add(&b).unwrap()), 0.0);
    }
}

//! Softmax over the last dimension, `exp(x − max) / Σ exp(x − max)` row by row, with the
//! backward `y · (g − Σ g·y)` from the saved output.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, D, Layout, Result, Shape, Tensor};

use super::{LIGHT, as_f32, for_row_chunks, fusable, row_width};

/// Softmax over the last dimension of `x`: fused on f32 contiguous CPU tensors, else
/// `candle_nn::ops::softmax` (composed, differentiable).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if fusable(&[x]) { x.apply_op1(SoftmaxLast) } else { candle_nn::ops::softmax(x, D::Minus1) }
}

/// One row in place: `row ← exp(row − max) / Σ`, as candle-nn's composed softmax computes it.
pub(super) fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

struct SoftmaxLast;

impl CustomOp1 for SoftmaxLast {
    fn name(&self) -> &'static str {
        "trainer-softmax-last"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, n) = (as_f32(storage, layout)?, row_width(layout)?);
        let mut y = x.to_vec();
        for_row_chunks(&mut y, n, LIGHT, |_, rows| rows.chunks_exact_mut(n).for_each(softmax_row));
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxGrad { scale: 1.0 })?))
    }
}

/// `scale · y · (g − Σ g·y)` row by row, from the softmax output `y` and its gradient `g`: the
/// gradient with respect to the softmax's input (times `scale`, the factor before it).
pub(super) struct SoftmaxGrad {
    pub(super) scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "trainer-softmax-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (y, g, n) = (as_f32(s1, l1)?, as_f32(s2, l2)?, row_width(l1)?);
        if y.len() != g.len() {
            candle_core::bail!("softmax grad: {} values against {} gradients", y.len(), g.len());
        }
        let mut dx = vec![0f32; y.len()];
        for_row_chunks(&mut dx, n, LIGHT, |first, out| {
            let (y, g) = (&y[first * n..], &g[first * n..]);
            for ((d, y), g) in out.chunks_exact_mut(n).zip(y.chunks_exact(n)).zip(g.chunks_exact(n)) {
                let dot: f32 = y.iter().zip(g).map(|(y, g)| y * g).sum();
                for ((d, &y), &g) in d.iter_mut().zip(y).zip(g) {
                    *d = self.scale * (y * (g - dot));
                }
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{finite_diff, grads_of, randn, rel_err};
    use super::*;
    use candle_core::DType;

    fn fused(t: &[Tensor]) -> Tensor {
        softmax_last(&t[0]).unwrap()
    }
    fn composed(t: &[Tensor]) -> Tensor {
        candle_nn::ops::softmax(&t[0], D::Minus1).unwrap()
    }

    #[test]
    fn values_and_gradients_match_the_composed_softmax() {
        for shape in [vec![16, 12, 32, 32], vec![2, 3, 1, 1], vec![4, 13], vec![5, 1]] {
            let x = randn(&shape, 3.0, 1);
            let (y, g) = grads_of(fused, std::slice::from_ref(&x), 2);
            let (y_ref, g_ref) = grads_of(composed, std::slice::from_ref(&x), 2);
            let (ey, eg) = (rel_err(&y, &y_ref), rel_err(&g[0], &g_ref[0]));
            eprintln!("softmax {shape:?}: value rel err {ey:e}, grad rel err {eg:e}");
            assert!(ey <= 1e-5 && eg <= 1e-5, "{ey} {eg}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x = randn(&[3, 13], 2.0, 3);
        let (_, g) = grads_of(fused, std::slice::from_ref(&x), 4);
        let fd = finite_diff(fused, std::slice::from_ref(&x), 0, 4);
        let e = rel_err(&g[0], &fd);
        eprintln!("softmax finite differences: rel err {e:e}");
        assert!(e <= 1e-5, "{e}");
    }

    #[test]
    fn other_dtypes_and_strided_views_take_the_composed_path() {
        let x = randn(&[4, 6], 1.0, 5);
        let t = x.t().unwrap();
        assert_eq!(rel_err(&softmax_last(&t).unwrap(), &composed(std::slice::from_ref(&t))), 0.0);
        let h = softmax_last(&x.to_dtype(DType::F64).unwrap()).unwrap();
        assert_eq!(h.dtype(), DType::F64);
        assert!(rel_err(&h.to_dtype(DType::F32).unwrap(), &softmax_last(&x).unwrap()) <= 1e-6);
    }
}

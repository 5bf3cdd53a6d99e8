//! Attention's softmax: `softmax(scores · scale + mask)` over the keys, the additive mask
//! `[batch, 1, 1, keys]` broadcast over heads and queries, in one pass.

use candle_core::{CpuStorage, CustomOp2, D, Layout, Result, Shape, Tensor};

use super::softmax::{SoftmaxGrad, softmax_row};
use super::{LIGHT, as_f32, for_row_chunks, fusable};

/// `softmax(scores · scale + mask, last dim)` for `scores` `[b, h, q, k]` and an additive `mask`
/// `[b | 1, 1, q | 1, k]` (0 to keep, a large negative value such as `f32::MIN` to drop): a
/// padding mask `[b, 1, 1, k]` (BERT), a causal one `[1, 1, q, k]` or both `[b, 1, q, k]`
/// (Llama). The mask gets no gradient on the fused path, so it is taken only when the mask tracks
/// none; other shapes, dtypes, devices and layouts use the composed ops.
pub fn masked_softmax(scores: &Tensor, scale: f64, mask: &Tensor) -> Result<Tensor> {
    let fits = match (scores.dims(), mask.dims()) {
        (&[b, _, q, k], &[mb, 1, mq, mk]) => (mb == b || mb == 1) && (mq == q || mq == 1) && k == mk,
        _ => false,
    };
    if fits && fusable(&[scores, mask]) && !mask.track_op() {
        scores.apply_op2(mask, MaskedSoftmax { scale: scale as f32 })
    } else {
        candle_nn::ops::softmax(&(scores * scale)?.broadcast_add(mask)?, D::Minus1)
    }
}

struct MaskedSoftmax {
    scale: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "trainer-masked-softmax"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, mask) = (as_f32(s1, l1)?, as_f32(s2, l2)?);
        let (&[b, h, q, k], &[mb, _, mq, _]) = (l1.dims(), l2.dims()) else {
            candle_core::bail!("masked softmax: scores [b, h, q, k] and a mask [b | 1, 1, q | 1, k] expected")
        };
        if mask.len() != mb * mq * k || k == 0 || (mb != b && mb != 1) || (mq != q && mq != 1) {
            candle_core::bail!("masked softmax: mask of {} values for scores {:?}", mask.len(), l1.dims());
        }
        // The mask row of score row r = ((batch · h) + head) · q + query.
        let mask_row = |r: usize| {
            let (batch, query) = (r / (h * q), r % q);
            (if mb == 1 { 0 } else { batch } * mq + if mq == 1 { 0 } else { query }) * k
        };
        let mut y = x.to_vec();
        for_row_chunks(&mut y, k, LIGHT, |first, rows| {
            for (r, row) in rows.chunks_exact_mut(k).enumerate() {
                let m = &mask[mask_row(first + r)..][..k];
                // As the composed ops round: (s · scale) first, then + mask.
                for (v, &m) in row.iter_mut().zip(m) {
                    *v = *v * self.scale + m;
                }
                softmax_row(row);
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let ds = res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxGrad { scale: self.scale })?;
        Ok((Some(ds), None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{finite_diff, grads_of, randn, rel_err};
    use super::*;
    use candle_core::Device;

    const SCALE: f64 = 0.125;

    /// A `[b, 1, 1, k]` mask of 0 and `f32::MIN` (as the encoder builds it) from keep flags.
    fn mask(keep: &[&[u32]]) -> Tensor {
        let (b, k) = (keep.len(), keep[0].len());
        let flat: Vec<u32> = keep.iter().flat_map(|r| r.iter().copied()).collect();
        let m = Tensor::from_vec(flat, (b, k), &Device::Cpu).unwrap().to_dtype(candle_core::DType::F32).unwrap();
        ((m.affine(-1.0, 1.0).unwrap()) * f64::from(f32::MIN)).unwrap().reshape((b, 1, 1, k)).unwrap()
    }
    fn random_mask(b: usize, k: usize) -> Tensor {
        let keep: Vec<Vec<u32>> = (0..b).map(|i| (0..k).map(|j| u32::from(j < k - i % k)).collect()).collect();
        mask(&keep.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    fn run(scores: &Tensor, m: &Tensor, f: fn(&Tensor, &Tensor) -> Tensor) -> (Tensor, Tensor) {
        let (y, g) = grads_of(|t| f(&t[0], m), std::slice::from_ref(scores), 7);
        (y, g[0].clone())
    }
    fn fused(s: &Tensor, m: &Tensor) -> Tensor {
        masked_softmax(s, SCALE, m).unwrap()
    }
    fn composed(s: &Tensor, m: &Tensor) -> Tensor {
        candle_nn::ops::softmax(&(s * SCALE).unwrap().broadcast_add(m).unwrap(), D::Minus1).unwrap()
    }

    #[test]
    fn values_and_gradients_match_the_composed_ops() {
        for (b, h, q, k) in [(16, 12, 32, 32), (3, 2, 1, 1), (2, 3, 5, 13)] {
            let s = randn(&[b, h, q, k], 8.0, 1);
            let m = random_mask(b, k);
            let ((y, g), (y_ref, g_ref)) = (run(&s, &m, fused), run(&s, &m, composed));
            let (ey, eg) = (rel_err(&y, &y_ref), rel_err(&g, &g_ref));
            eprintln!("masked softmax {:?}: value rel err {ey:e}, grad rel err {eg:e}", [b, h, q, k]);
            assert!(ey <= 1e-5 && eg <= 1e-5, "{ey} {eg}");
        }
    }

    #[test]
    fn causal_and_batch_shared_masks_match_the_composed_ops() {
        // Llama's [b, 1, q, k] (causal and padding), [1, 1, q, k] (causal only) and a [1, 1, 1, k].
        let (b, h, q, k) = (3, 4, 5, 7);
        let s = randn(&[b, h, q, k], 6.0, 8);
        let causal: Vec<f32> = (0..q * k).map(|i| if i % k <= i / k + 2 { 0.0 } else { f32::MIN }).collect();
        let causal = Tensor::from_vec(causal, (1, 1, q, k), &Device::Cpu).unwrap();
        let both = causal.broadcast_add(&random_mask(b, k)).unwrap().clamp(f32::MIN, 0.0).unwrap();
        for m in [both, causal, randn(&[1, 1, 1, k], 1.0, 9)] {
            let ((y, g), (y_ref, g_ref)) = (run(&s, &m, fused), run(&s, &m, composed));
            let (ey, eg) = (rel_err(&y, &y_ref), rel_err(&g, &g_ref));
            eprintln!("masked softmax, mask {:?}: value rel err {ey:e}, grad rel err {eg:e}", m.dims());
            assert!(ey <= 1e-5 && eg <= 1e-5, "{ey} {eg}");
        }
    }

    #[test]
    fn fully_masked_rows_give_what_the_composed_ops_give_without_nan() {
        let s = randn(&[2, 2, 3, 4], 4.0, 2);
        let m = mask(&[&[0, 0, 0, 0], &[1, 1, 0, 0]]);
        let ((y, g), (y_ref, g_ref)) = (run(&s, &m, fused), run(&s, &m, composed));
        let y_flat = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(y_flat.iter().chain(&g.flatten_all().unwrap().to_vec1::<f32>().unwrap()).all(|v| v.is_finite()));
        // The composed ops give a uniform row (every logit rounds to f32::MIN); so does the kernel.
        assert!(y_flat[..24].iter().all(|&v| (v - 0.25).abs() < 1e-7), "{y_flat:?}");
        assert!(y_flat[24..].chunks(4).all(|r| r[2] == 0.0 && r[3] == 0.0));
        assert!(rel_err(&y, &y_ref) <= 1e-6 && rel_err(&g, &g_ref) <= 1e-5);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let s = randn(&[2, 2, 3, 5], 4.0, 3);
        let m = random_mask(2, 5);
        let (_, g) = run(&s, &m, fused);
        let fd = finite_diff(|t| masked_softmax(&t[0], SCALE, &m.to_dtype(t[0].dtype()).unwrap()).unwrap(), &[s], 0, 7);
        let e = rel_err(&g, &fd);
        eprintln!("masked softmax finite differences: rel err {e:e}");
        assert!(e <= 1e-5, "{e}");
    }

    #[test]
    fn a_tracked_mask_or_another_shape_takes_the_composed_path() {
        let s = randn(&[2, 2, 3, 4], 1.0, 4);
        let m = candle_core::Var::from_tensor(&randn(&[2, 1, 1, 4], 1.0, 5)).unwrap();
        let (y, g) = grads_of(|t| masked_softmax(&t[0], SCALE, &t[1]).unwrap(), &[s.clone(), m.as_tensor().clone()], 6);
        let (y_ref, g_ref) = grads_of(|t| composed(&t[0], &t[1]), &[s.clone(), m.as_tensor().clone()], 6);
        assert_eq!(rel_err(&y, &y_ref), 0.0);
        assert_eq!(rel_err(&g[1], &g_ref[1]), 0.0);
        let per_head = randn(&[2, 2, 1, 4], 1.0, 5);
        assert_eq!(rel_err(&masked_softmax(&s, SCALE, &per_head).unwrap(), &composed(&s, &per_head)), 0.0);
    }
}

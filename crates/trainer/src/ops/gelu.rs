//! The exact (erf) GELU, `x · Φ(x)`, and its derivative `Φ(x) + x · φ(x)`.
//!
//! `Φ` and `exp` are [`super::math`]'s vectorisable ones: `Φ` within 4 ulp (2.4e-7) of what candle's erf
//! (libm's `erff`) gives, and more precise in the left tail, where `1 + erf` cancels.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};

use super::{HEAVY, LIGHT, as_f32, for_row_chunks, fusable, math};

/// `1 / sqrt(2π)`.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// The exact GELU of `x`, elementwise: fused on f32 contiguous CPU tensors, else
/// `Tensor::gelu_erf`.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if fusable(&[x]) { x.apply_op1(GeluErf) } else { x.gelu_erf() }
}

/// `Φ(x)`: [`math::normal_cdf`].
#[inline]
fn cdf(x: f32) -> f32 {
    math::normal_cdf(x)
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "trainer-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = as_f32(storage, layout)?;
        let mut y = vec![0f32; x.len()];
        for_row_chunks(&mut y, 1, HEAVY, |start, out| {
            for (y, &v) in out.iter_mut().zip(&x[start..]) {
                *y = v * cdf(v);
            }
        });
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op3_no_bwd(res, &grad.contiguous()?, &GeluErfGrad)?))
    }
}

/// `Φ(x)` from `x` and the forward's output `y = x · Φ(x)`: `y / x`, saving a second erf (the
/// division is good to an ulp or two; where `y` underflows, `Φ` and the gradient are ~1e-38).
#[inline]
fn cdf_from_output(x: f32, y: f32) -> f32 {
    if x == 0.0 { 0.5 } else { y / x }
}

/// `grad · (Φ(x) + x · φ(x))` from `x`, the forward's output and `grad`.
struct GeluErfGrad;

impl CustomOp3 for GeluErfGrad {
    fn name(&self) -> &'static str {
        "trainer-gelu-erf-grad"
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
        let (x, y, g) = (as_f32(s1, l1)?, as_f32(s2, l2)?, as_f32(s3, l3)?);
        if x.len() != g.len() || x.len() != y.len() {
            candle_core::bail!("gelu grad: {} values, {} outputs, {} gradients", x.len(), y.len(), g.len());
        }
        let mut dx = vec![0f32; x.len()];
        for_row_chunks(&mut dx, 1, LIGHT, |start, out| {
            for (((d, &v), &y), &g) in out.iter_mut().zip(&x[start..]).zip(&y[start..]).zip(&g[start..]) {
                *d = g * (cdf_from_output(v, y) + v * INV_SQRT_2PI * math::exp(-0.5 * v * v));
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
        gelu_erf(&t[0]).unwrap()
    }
    fn composed(t: &[Tensor]) -> Tensor {
        t[0].gelu_erf().unwrap()
    }

    #[test]
    fn values_and_gradients_match_candles_gelu_erf() {
        // std 6 and 30 reach the tails, where Φ(x) = y / x meets underflow (x < -13).
        for (shape, std) in [(vec![16, 32, 1536], 2.0), (vec![1, 13], 3.0), (vec![7], 6.0), (vec![4, 100], 30.0)] {
            let x = randn(&shape, std, 1);
            let (y, g) = grads_of(fused, std::slice::from_ref(&x), 2);
            let (y_ref, g_ref) = grads_of(composed, std::slice::from_ref(&x), 2);
            let (ey, eg) = (rel_err(&y, &y_ref), rel_err(&g[0], &g_ref[0]));
            eprintln!("gelu {shape:?}: value rel err {ey:e}, grad rel err {eg:e}");
            assert!(ey <= 1e-6, "{ey}");
            assert!(eg <= 1e-5, "{eg}");
        }
    }

    #[test]
    fn zero_tiny_and_tail_inputs_match_elementwise() {
        // Where Φ = y / x could be inexact: x = 0, |x| tiny, y subnormal or zero (x < −13).
        let v = [-40f32, -20.0, -14.0, -13.5, -13.0, -5.0, -1e-30, 0.0, 1e-30, 0.5, 5.0, 20.0, 40.0];
        let x = Tensor::new(&v[..], &candle_core::Device::Cpu).unwrap();
        let (y, g) = grads_of(fused, std::slice::from_ref(&x), 2);
        let (y_ref, g_ref) = grads_of(composed, std::slice::from_ref(&x), 2);
        let pairs = |a: &Tensor, b: &Tensor| {
            let (a, b) = (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
            a.into_iter().zip(b).collect::<Vec<_>>()
        };
        for (a, b) in pairs(&y, &y_ref).into_iter().chain(pairs(&g[0], &g_ref[0])) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} against {b} in {v:?}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x = randn(&[3, 13], 2.0, 3);
        let (_, g) = grads_of(fused, std::slice::from_ref(&x), 4);
        let fd = finite_diff(fused, std::slice::from_ref(&x), 0, 4);
        let e = rel_err(&g[0], &fd);
        eprintln!("gelu finite differences: rel err {e:e}");
        assert!(e <= 1e-5, "{e}");
    }

    #[test]
    fn other_dtypes_and_strided_views_take_the_composed_path() {
        let x = randn(&[4, 6], 1.0, 5);
        let t = x.t().unwrap();
        assert!(!t.is_contiguous());
        assert!(rel_err(&gelu_erf(&t).unwrap(), &t.gelu_erf().unwrap()) == 0.0);
        let h = gelu_erf(&x.to_dtype(DType::F64).unwrap()).unwrap();
        assert_eq!(h.dtype(), DType::F64);
        assert!(rel_err(&h.to_dtype(DType::F32).unwrap(), &gelu_erf(&x).unwrap()) <= 1e-6);
    }
}

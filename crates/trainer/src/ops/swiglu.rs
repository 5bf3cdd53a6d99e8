//! SwiGLU's gate, `silu(gate) · up` with `silu(x) = x · σ(x)`, and its derivatives
//! `d gate = g · up · σ(gate) · (1 + gate · (1 − σ(gate)))`, `d up = g · silu(gate)`.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::{HEAVY, as_f32, for_row_chunks, fusable, math};

/// `silu(gate) · up`, elementwise (same shapes): fused on f32 contiguous CPU tensors, else
/// composed from `Tensor::silu` and a product.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if gate.dims() == up.dims() && fusable(&[gate, up]) { gate.apply_op2(up, SiluMul) } else { gate.silu()? * up }
}

/// `σ(x) = 1 / (1 + e^(−x))` (for x → −∞, e^(−x) overflows to ∞ and σ to 0, as it should).
#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + math::exp(-x))
}

/// Checks two operands of the same length.
fn same_len(what: &str, a: &[f32], b: &[f32]) -> Result<()> {
    if a.len() != b.len() {
        candle_core::bail!("{what}: {} values against {}", a.len(), b.len());
    }
    Ok(())
}

struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "trainer-silu-mul"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (gate, up) = (as_f32(s1, l1)?, as_f32(s2, l2)?);
        same_len("silu mul", gate, up)?;
        let mut y = vec![0f32; gate.len()];
        for_row_chunks(&mut y, 1, HEAVY, |start, out| {
            for ((y, &g), &u) in out.iter_mut().zip(&gate[start..]).zip(&up[start..]) {
                // As candle's silu rounds: x / (1 + e^(−x)), then the product.
                *y = g / (1.0 + math::exp(-g)) * u;
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // One tensor [2, …]: d gate, then d up.
        let both = gate.apply_op3_no_bwd(up, &grad.contiguous()?, &SiluMulGrad)?;
        Ok((Some(both.get(0)?), Some(both.get(1)?)))
    }
}

/// From `gate`, `up` and the output gradient: `[2, …]` holding `d gate` then `d up`.
struct SiluMulGrad;

impl CustomOp3 for SiluMulGrad {
    fn name(&self) -> &'static str {
        "trainer-silu-mul-grad"
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
        let (gate, up, grad) = (as_f32(s1, l1)?, as_f32(s2, l2)?, as_f32(s3, l3)?);
        same_len("silu mul grad", gate, up)?;
        same_len("silu mul grad", gate, grad)?;
        let len = gate.len();
        let mut out = vec![0f32; 2 * len];
        let (d_gate, d_up) = out.split_at_mut(len);
        for_row_chunks(d_gate, 1, HEAVY, |start, d_gate| {
            let (gate, up, grad) = (&gate[start..], &up[start..], &grad[start..]);
            for (((d, &x), &u), &g) in d_gate.iter_mut().zip(gate).zip(up).zip(grad) {
                let s = sigmoid(x);
                *d = g * u * (s * (1.0 + x * (1.0 - s)));
            }
        });
        for_row_chunks(d_up, 1, HEAVY, |start, d_up| {
            for ((d, &x), &g) in d_up.iter_mut().zip(&gate[start..]).zip(&grad[start..]) {
                *d = g * (x / (1.0 + math::exp(-x)));
            }
        });
        let mut dims = vec![2];
        dims.extend_from_slice(l1.dims());
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_matches_composed, finite_diff, grads_of, randn, rel_err};
    use super::*;
    use candle_core::DType;

    fn fused(t: &[Tensor]) -> Tensor {
        silu_mul(&t[0], &t[1]).unwrap()
    }
    fn composed(t: &[Tensor]) -> Tensor {
        (t[0].silu().unwrap() * &t[1]).unwrap()
    }

    #[test]
    fn values_and_both_gradients_match_the_composed_ops() {
        // SmolLM2's MLP at its training shape, T = 1, odd widths; gates out to ±30 (σ saturates).
        for shape in [vec![4, 128, 1536], vec![4, 1, 13], vec![7]] {
            let ins = [randn(&shape, 6.0, 1), randn(&shape, 1.0, 2)];
            assert_matches_composed(&format!("silu mul {shape:?} (gate, up)"), fused, composed, &ins, 1e-5);
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_extremes_stay_finite() {
        let ins = vec![randn(&[3, 11], 3.0, 4), randn(&[3, 11], 1.0, 5)];
        let (_, g) = grads_of(fused, &ins, 6);
        for (which, name) in ["gate", "up"].iter().enumerate() {
            let e = rel_err(&g[which], &finite_diff(fused, &ins, which, 6));
            eprintln!("silu mul finite differences, d{name}: rel err {e:e}");
            assert!(e <= 1e-5, "{name}: {e}");
        }
        let x = Tensor::new(&[-1000f32, -88.0, 0.0, 88.0, 1000.0], &candle_core::Device::Cpu).unwrap();
        let ones = x.ones_like().unwrap();
        let (y, g) = grads_of(fused, &[x.clone(), ones.clone()], 7);
        let (y_ref, g_ref) = grads_of(composed, &[x, ones], 7);
        assert!(rel_err(&y, &y_ref) <= 1e-6 && rel_err(&g[0], &g_ref[0]) <= 1e-6);
    }

    #[test]
    fn other_dtypes_take_the_composed_path() {
        let ins: Vec<Tensor> =
            [randn(&[2, 5], 2.0, 8), randn(&[2, 5], 1.0, 9)].iter().map(|t| t.to_dtype(DType::F64).unwrap()).collect();
        let y = silu_mul(&ins[0], &ins[1]).unwrap();
        assert_eq!(y.dtype(), DType::F64);
        assert_eq!(y.to_vec2::<f64>().unwrap(), composed(&ins).to_vec2::<f64>().unwrap());
    }
}

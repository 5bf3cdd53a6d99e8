//! Helpers shared by the ops' tests: seeded inputs and the error metric.

use candle_core::{DType, Device, Tensor};

use crate::rng::Rng;

/// Normal(0, `std`) f32 values of `shape` from a fixed seed.
pub(crate) fn randn(shape: &[usize], std: f32, seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.normal() as f32 * std).collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

/// The relative error used throughout: `max |a − b| / max(max |b|, 1e-6)`.
pub(crate) fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(a.iter().all(|v| v.is_finite()), "non-finite value");
    diff / b.iter().map(|v| v.abs()).fold(1e-6, f32::max)
}

/// Gradient of `sum(f(x) * w)` with respect to each input, `w` a fixed random weighting (so
/// the upstream gradient is not uniform).
pub(crate) fn grads_of(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor], seed: u64) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<candle_core::Var> = inputs.iter().map(|t| candle_core::Var::from_tensor(t).unwrap()).collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors);
    let w = randn(out.dims(), 1.0, seed);
    let grads = (&out * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let gs = tensors.iter().map(|t| grads.get(t).expect("no gradient").clone()).collect();
    (out, gs)
}

/// Central finite differences of `sum(f(x) * w)` with respect to input `which`, at every
/// element, computed in f64 (the ops take their composed path there): a reference for the
/// f32 gradients that owes nothing to either implementation's backward.
pub(crate) fn finite_diff(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor], which: usize, seed: u64) -> Tensor {
    let h = 1e-5f64;
    let inputs: Vec<Tensor> = inputs.iter().map(|t| t.to_dtype(DType::F64).unwrap()).collect();
    let w = randn(f(&inputs).dims(), 1.0, seed).to_dtype(DType::F64).unwrap();
    let loss = |ins: &[Tensor]| (f(ins) * &w).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
    let base = inputs[which].flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let grad: Vec<f32> = (0..base.len())
        .map(|i| {
            let at = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let mut ins = inputs.clone();
                ins[which] = Tensor::from_vec(v, inputs[which].dims(), &Device::Cpu).unwrap();
                loss(&ins)
            };
            ((at(h) - at(-h)) / (2.0 * h)) as f32
        })
        .collect();
    Tensor::from_vec(grad, inputs[which].dims(), &Device::Cpu).unwrap()
}

/// Checks `fused` against `composed` on `inputs`: the value and every input's gradient (of
/// `sum(f(x) * w)`, `w` fixed) within `tol` relative; prints the errors under `label`.
pub(crate) fn assert_matches_composed(
    label: &str,
    fused: impl Fn(&[Tensor]) -> Tensor,
    composed: impl Fn(&[Tensor]) -> Tensor,
    inputs: &[Tensor],
    tol: f32,
) {
    let (y, g) = grads_of(fused, inputs, 2);
    let (y_ref, g_ref) = grads_of(composed, inputs, 2);
    let ey = rel_err(&y, &y_ref);
    let eg: Vec<f32> = g.iter().zip(&g_ref).map(|(a, b)| rel_err(a, b)).collect();
    eprintln!("{label}: value rel err {ey:e}, gradient rel errs {eg:?}");
    assert!(ey <= tol && eg.iter().all(|&e| e <= tol), "{label}: {ey} {eg:?}");
}

/// The worst `max |fused − composed| / max |composed|` over the gradients of `vars` (name, var)
/// in two gradient stores of the same step, and the variable it is for. A `key.bias` is checked
/// apart: zero in exact arithmetic (softmax ignores a per-row constant), both sides must be
/// rounding noise under 1e-5. Panics on a variable without a gradient in either store.
pub(crate) fn worst_gradient_difference<'a>(
    fused: &candle_core::backprop::GradStore,
    composed: &candle_core::backprop::GradStore,
    vars: impl IntoIterator<Item = (&'a String, &'a candle_core::Var)>,
) -> (f32, String) {
    let max = |t: &Tensor| t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    let mut worst = (0f32, String::new());
    for (name, var) in vars {
        let a = fused.get(var.as_tensor()).unwrap_or_else(|| panic!("no fused gradient for {name}"));
        let b = composed.get(var.as_tensor()).unwrap_or_else(|| panic!("no composed gradient for {name}"));
        if name.ends_with("key.bias") {
            assert!(max(a) < 1e-5 && max(b) < 1e-5, "{name}: {} {}", max(a), max(b));
            continue;
        }
        let rel = max(&(a - b).unwrap()) / max(b).max(1e-6);
        if rel > worst.0 {
            worst = (rel, name.clone());
        }
    }
    worst
}

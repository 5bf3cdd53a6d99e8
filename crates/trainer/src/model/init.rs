//! Seeded parameter creation, PyTorch's default initialisation: `U(−1/√fan_in, 1/√fan_in)` for
//! the weights and biases of linear and convolution layers; and `N(0, std²)` weights with zero
//! biases, the Hugging Face initialisation of new heads on pretrained models.

use std::cell::Cell;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;

use crate::rng::Rng;

/// Creates variable `name` of `shape` in `varmap`, uniform in `±1/√fan_in`, and returns its tensor
/// (sharing storage with the variable, so optimizer updates are seen by the model).
pub fn uniform(
    varmap: &VarMap,
    name: &str,
    shape: &[usize],
    fan_in: usize,
    rng: &mut Rng,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.uniform(-bound, bound) as f32).collect();
    insert(varmap, name, Tensor::from_vec(values, shape, device)?)
}

/// Creates variable `name` of `shape` in `varmap` with values `N(0, std²)` from `rng` (`std` 0
/// gives zeros), and returns its tensor.
pub fn normal(
    varmap: &VarMap,
    name: &str,
    shape: &[usize],
    std: f64,
    rng: &mut Rng,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| if std == 0.0 { 0.0 } else { (std * rng.normal()) as f32 }).collect();
    insert(varmap, name, Tensor::from_vec(values, shape, device)?)
}

thread_local! {
    /// The dtype [`insert`] creates variables in: f32 except inside [`with_dtype`].
    static VAR_DTYPE: Cell<DType> = const { Cell::new(DType::F32) };
}

/// Restores the previous variable dtype when dropped (also on a panic inside the build).
struct Restore(DType);

impl Drop for Restore {
    fn drop(&mut self) {
        VAR_DTYPE.with(|d| d.set(self.0));
    }
}

/// Runs `build` with the variables this module creates (on this thread) in `dtype` instead of
/// f32: how the low-precision working copy of a model is built (`train.precision`). The values
/// are drawn in f32 and rounded.
pub fn with_dtype<T>(dtype: DType, build: impl FnOnce() -> T) -> T {
    let _restore = Restore(VAR_DTYPE.with(|d| d.replace(dtype)));
    build()
}

/// Adds `value` to `varmap` as variable `name` (an error if the name is taken).
fn insert(varmap: &VarMap, name: &str, value: Tensor) -> candle_core::Result<Tensor> {
    let var = Var::from_tensor(&value.to_dtype(VAR_DTYPE.with(Cell::get))?)?;
    let tensor = var.as_tensor().clone();
    let mut data = varmap.data().lock().map_err(|_| candle_core::Error::Msg("variable map lock poisoned".into()))?;
    if data.insert(name.to_owned(), var).is_some() {
        return Err(candle_core::Error::Msg(format!("parameter `{name}` defined twice")));
    }
    Ok(tensor)
}

/// A linear layer's `(weight [out, in], bias [out])` named `<prefix>.weight`/`<prefix>.bias`.
pub fn linear(
    varmap: &VarMap,
    prefix: &str,
    inputs: usize,
    outputs: usize,
    rng: &mut Rng,
    device: &Device,
) -> candle_core::Result<candle_nn::Linear> {
    let w = uniform(varmap, &format!("{prefix}.weight"), &[outputs, inputs], inputs, rng, device)?;
    let b = uniform(varmap, &format!("{prefix}.bias"), &[outputs], inputs, rng, device)?;
    Ok(candle_nn::Linear::new(w, Some(b)))
}

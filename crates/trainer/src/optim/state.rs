//! Per-parameter optimizer state and its safetensors form.
//!
//! A state file holds, for each parameter `<name>`: `<name>.step` (I64 scalar, updates applied
//! to it), and `<name>.exp_avg` + `<name>.exp_avg_sq` (Adam/AdamW) or `<name>.momentum_buffer`
//! (SGD, only once it exists), each with the parameter's shape and dtype. The metadata holds one
//! entry, `"trainer.optim.state/1": "<kind>"` (`sgd`, `adam`, `adamw`).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};

use super::adam::{EXP_AVG, EXP_AVG_SQ};
use super::sgd::MOMENTUM_BUFFER;
use super::{OptimError, StateError};

/// The one metadata entry of a state file: this key (the format and its version), and the
/// optimizer kind as value. One entry, so that the bytes are deterministic.
const FORMAT_KEY: &str = "trainer.optim.state/1";

/// A read-only view of the state of one parameter: its step count and its buffers, named as in
/// a state file.
#[derive(Debug, Clone)]
pub struct ParamState<'a> {
    step: u64,
    buffers: Vec<(&'static str, &'a Tensor)>,
}

impl<'a> ParamState<'a> {
    pub(crate) fn new(step: u64, buffers: Vec<(&'static str, &'a Tensor)>) -> Self {
        Self { step, buffers }
    }

    /// Updates applied to the parameter so far (steps where it had a gradient).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The buffers that exist, `(name, tensor)`, named as in a state file (`exp_avg`,
    /// `exp_avg_sq`, `momentum_buffer`).
    pub fn buffers(&self) -> &[(&'static str, &'a Tensor)] {
        &self.buffers
    }

    /// The buffer named `name` (as in a state file), if the parameter has it.
    pub fn buffer(&self, name: &str) -> Option<&'a Tensor> {
        self.buffers.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// SGD momentum buffer, once it exists.
    pub fn momentum_buffer(&self) -> Option<&'a Tensor> {
        self.buffer(MOMENTUM_BUFFER)
    }

    /// Adam first moment average (`exp_avg`).
    pub fn exp_avg(&self) -> Option<&'a Tensor> {
        self.buffer(EXP_AVG)
    }

    /// Adam second moment average (`exp_avg_sq`).
    pub fn exp_avg_sq(&self) -> Option<&'a Tensor> {
        self.buffer(EXP_AVG_SQ)
    }
}

/// Appends the tensors of one parameter (`name`, variable `param`, `step` count, `buffers` as
/// [`Rule::buffers`](super::rule::Rule::buffers) names them) to `tensors`, on the CPU.
pub(crate) fn push(
    tensors: &mut Vec<(String, Tensor)>,
    name: &str,
    param: &Var,
    step: u64,
    buffers: &[(&'static str, &Tensor)],
) -> Result<(), OptimError> {
    if !matches!(param.dtype(), DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
        return Err(StateError::UnsupportedDType { name: name.to_string(), dtype: param.dtype() }.into());
    }
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    tensors.push((format!("{name}.step"), Tensor::new(step, &Device::Cpu)?));
    for (buffer, t) in buffers {
        // On the CPU first, so that serializing cannot fail (candle's `View` unwraps).
        tensors.push((format!("{name}.{buffer}"), t.to_device(&Device::Cpu)?));
    }
    Ok(())
}

/// Serializes `tensors` (from [`push`]) of an optimizer of kind `kind` to safetensors bytes.
pub(crate) fn to_bytes(kind: &str, tensors: Vec<(String, Tensor)>) -> Result<Vec<u8>, OptimError> {
    let metadata = HashMap::from([(FORMAT_KEY.to_string(), kind.to_string())]);
    Ok(safetensors::serialize(tensors, Some(metadata)).map_err(candle_core::Error::from)?)
}

/// Reads the tensors of a state file written by [`to_bytes`] for optimizer kind `kind` (on the
/// CPU), checking the metadata.
pub(crate) fn read(bytes: &[u8], kind: &'static str) -> Result<HashMap<String, Tensor>, OptimError> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| StateError::Format(e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    match meta.get(FORMAT_KEY) {
        None => return Err(StateError::Format(format!("no `{FORMAT_KEY}` metadata entry")).into()),
        Some(saved) if saved == kind => {}
        Some(saved) => return Err(StateError::KindMismatch { saved: saved.clone(), expected: kind }.into()),
    }
    candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(|e| StateError::Format(e.to_string()).into())
}

/// The saved tensors of one parameter, taken out of the file's tensors as they are read:
/// whatever is left at the end belongs to no parameter.
pub(crate) struct Saved<'a> {
    tensors: &'a mut HashMap<String, Tensor>,
    name: &'a str,
    param: &'a Var,
}

impl<'a> Saved<'a> {
    /// The tensors of parameter `name` (variable `param`) in `tensors`.
    pub(crate) fn new(tensors: &'a mut HashMap<String, Tensor>, name: &'a str, param: &'a Var) -> Self {
        Self { tensors, name, param }
    }

    /// The step count (`<name>.step`, a non-negative I64 scalar).
    pub(crate) fn step(&mut self) -> Result<u64, OptimError> {
        let key = format!("{}.step", self.name);
        let t = self.tensors.remove(&key).ok_or_else(|| StateError::Missing(key.clone()))?;
        read_step(&key, &t)
    }

    /// Buffer `<name>.<buffer>`, which must be there, with the parameter's shape and dtype, on
    /// its device.
    pub(crate) fn required(&mut self, buffer: &str) -> Result<Tensor, OptimError> {
        let key = format!("{}.{buffer}", self.name);
        let t = self.tensors.remove(&key).ok_or_else(|| StateError::Missing(key.clone()))?;
        fit(&key, t, self.param)
    }

    /// Buffer `<name>.<buffer>` if it is there (checked as in [`Saved::required`]).
    pub(crate) fn optional(&mut self, buffer: &str) -> Result<Option<Tensor>, OptimError> {
        let key = format!("{}.{buffer}", self.name);
        self.tensors.remove(&key).map(|t| fit(&key, t, self.param)).transpose()
    }
}

fn read_step(name: &str, t: &Tensor) -> Result<u64, OptimError> {
    let bad = |reason: String| OptimError::from(StateError::Step { name: name.to_string(), reason });
    if t.dtype() != DType::I64 || t.rank() != 0 {
        return Err(bad(format!("must be an I64 scalar (got {:?} of shape {:?})", t.dtype(), t.dims())));
    }
    let step = t.to_scalar::<i64>()?;
    u64::try_from(step).map_err(|_| bad(format!("must be >= 0 (got {step})")))
}

/// Checks that the saved tensor `t` fits `param` and moves it to the parameter's device.
fn fit(name: &str, t: Tensor, param: &Var) -> Result<Tensor, OptimError> {
    if t.dims() != param.dims() {
        return Err(StateError::Shape {
            name: name.to_string(),
            saved: t.dims().to_vec(),
            expected: param.dims().to_vec(),
        }
        .into());
    }
    if t.dtype() != param.dtype() {
        return Err(StateError::DType { name: name.to_string(), saved: t.dtype(), expected: param.dtype() }.into());
    }
    Ok(t.to_device(param.device())?)
}

//! Per-parameter optimizer state and its safetensors form.
//!
//! A state file holds, for each parameter `<name>`: `<name>.step` (I64 scalar, updates applied
//! to it), and `<name>.exp_avg` + `<name>.exp_avg_sq` (Adam/AdamW) or `<name>.momentum_buffer`
//! (SGD, only once it exists), each with the parameter's shape and dtype. The metadata holds one
//! entry, `"trainer.optim.state/1": "<kind>"` (`sgd`, `adam`, `adamw`).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};

use super::{OptimError, StateError};

/// The one metadata entry of a state file: this key (the format and its version), and the
/// optimizer kind as value. One entry, so that the bytes are deterministic.
const FORMAT_KEY: &str = "trainer.optim.state/1";

/// The state of one parameter.
#[derive(Debug, Clone)]
pub struct ParamState {
    step: u64,
    moments: Moments,
}

/// Kind-specific buffers.
#[derive(Debug, Clone)]
pub(crate) enum Moments {
    /// SGD: the momentum buffer, `None` until the first step with momentum.
    Sgd { momentum_buffer: Option<Tensor> },
    /// Adam/AdamW: first and second moment averages (zeros before the first step).
    Adam { exp_avg: Tensor, exp_avg_sq: Tensor },
}

impl ParamState {
    /// Fresh state for `param` (`adam`: zero moments; else SGD).
    pub(crate) fn new(param: &Var, adam: bool) -> candle_core::Result<Self> {
        let moments = if adam {
            Moments::Adam { exp_avg: param.zeros_like()?, exp_avg_sq: param.zeros_like()? }
        } else {
            Moments::Sgd { momentum_buffer: None }
        };
        Ok(Self { step: 0, moments })
    }

    /// Updates applied to the parameter so far (steps where it had a gradient).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// SGD momentum buffer, once it exists.
    pub fn momentum_buffer(&self) -> Option<&Tensor> {
        match &self.moments {
            Moments::Sgd { momentum_buffer } => momentum_buffer.as_ref(),
            Moments::Adam { .. } => None,
        }
    }

    /// Adam first moment average (`exp_avg`).
    pub fn exp_avg(&self) -> Option<&Tensor> {
        match &self.moments {
            Moments::Adam { exp_avg, .. } => Some(exp_avg),
            Moments::Sgd { .. } => None,
        }
    }

    /// Adam second moment average (`exp_avg_sq`).
    pub fn exp_avg_sq(&self) -> Option<&Tensor> {
        match &self.moments {
            Moments::Adam { exp_avg_sq, .. } => Some(exp_avg_sq),
            Moments::Sgd { .. } => None,
        }
    }

    /// Step counter and buffers, for the update functions.
    pub(crate) fn parts_mut(&mut self) -> (&mut u64, &mut Moments) {
        (&mut self.step, &mut self.moments)
    }

    /// Back to a fresh state: step 0, zero moments, no momentum buffer.
    pub(crate) fn reset(&mut self) -> candle_core::Result<()> {
        self.step = 0;
        match &mut self.moments {
            Moments::Sgd { momentum_buffer } => *momentum_buffer = None,
            Moments::Adam { exp_avg, exp_avg_sq } => {
                *exp_avg = exp_avg.zeros_like()?;
                *exp_avg_sq = exp_avg_sq.zeros_like()?;
            }
        }
        Ok(())
    }
}

/// Serializes the states of `params` (name, parameter, state) to safetensors bytes.
pub(crate) fn to_bytes<'a>(
    kind: &str,
    params: impl Iterator<Item = (&'a str, &'a Var, &'a ParamState)>,
) -> Result<Vec<u8>, OptimError> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (name, param, state) in params {
        if !matches!(param.dtype(), DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
            return Err(StateError::UnsupportedDType { name: name.to_string(), dtype: param.dtype() }.into());
        }
        let step = i64::try_from(state.step).unwrap_or(i64::MAX);
        tensors.push((format!("{name}.step"), Tensor::new(step, &Device::Cpu)?));
        // On the CPU first, so that serializing cannot fail (candle's `View` unwraps).
        let cpu = |t: &Tensor| t.to_device(&Device::Cpu);
        match &state.moments {
            Moments::Sgd { momentum_buffer } => {
                if let Some(b) = momentum_buffer {
                    tensors.push((format!("{name}.momentum_buffer"), cpu(b)?));
                }
            }
            Moments::Adam { exp_avg, exp_avg_sq } => {
                tensors.push((format!("{name}.exp_avg"), cpu(exp_avg)?));
                tensors.push((format!("{name}.exp_avg_sq"), cpu(exp_avg_sq)?));
            }
        }
    }
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

/// Builds the state of `param` (named `name`) from `tensors`, removing what it uses. Checks
/// presence, shapes and dtypes; `adam` selects the kind of moments.
pub(crate) fn take(
    tensors: &mut HashMap<String, Tensor>,
    name: &str,
    param: &Var,
    adam: bool,
) -> Result<ParamState, OptimError> {
    let step_name = format!("{name}.step");
    let step_tensor = tensors.remove(&step_name).ok_or_else(|| StateError::Missing(step_name.clone()))?;
    let step = read_step(&step_name, &step_tensor)?;
    let mut moment = |suffix: &str, required: bool| -> Result<Option<Tensor>, OptimError> {
        let key = format!("{name}.{suffix}");
        match tensors.remove(&key) {
            None if required => Err(StateError::Missing(key).into()),
            None => Ok(None),
            Some(t) => Ok(Some(fit(&key, t, param)?)),
        }
    };
    let moments = if adam {
        match (moment("exp_avg", true)?, moment("exp_avg_sq", true)?) {
            (Some(exp_avg), Some(exp_avg_sq)) => Moments::Adam { exp_avg, exp_avg_sq },
            _ => return Err(StateError::Missing(format!("{name}.exp_avg")).into()),
        }
    } else {
        Moments::Sgd { momentum_buffer: moment("momentum_buffer", false)? }
    };
    Ok(ParamState { step, moments })
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

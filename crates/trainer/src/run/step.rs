//! One optimizer step's gradients: forward and backward over `grad_accum_steps` micro-batches,
//! summed, then global-norm clipping.

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};

use super::loader::Loader;
use crate::data::{Dataset, Split, Task};
use crate::model::Model;
use crate::rng::Rng;

/// The gradients of one optimizer step.
pub struct Gradients {
    /// Summed gradients of the mean losses (each micro-batch's loss divided by their count).
    pub grads: GradStore,
    /// Mean training loss over the micro-batches.
    pub loss: f64,
    /// Examples seen.
    pub samples: usize,
}

/// The loss of `task`: cross-entropy of logits `[batch, classes]` against class indices, or the
/// mean squared error of predictions `[batch, outputs]` against targets of the same shape.
pub fn loss_of(task: Task, outputs: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    match task {
        Task::Classification { .. } => candle_nn::loss::cross_entropy(outputs, targets),
        Task::Regression { .. } => candle_nn::loss::mse(outputs, targets),
    }
}

/// Forward and backward over `accum` micro-batches from `loader`.
pub fn accumulate(
    model: &dyn Model,
    data: &dyn Dataset,
    loader: &mut Loader,
    accum: u64,
    vars: &[Var],
    device: &Device,
    rng: &mut Rng,
) -> Result<Gradients, crate::TrainError> {
    let mut total: Option<GradStore> = None;
    let mut loss_sum = 0.0;
    let mut samples = 0;
    let task = data.task();
    for _ in 0..accum {
        let indices = loader.next_batch().to_vec();
        samples += indices.len();
        let batch = data.batch(Split::Train, &indices, device)?;
        let logits = model.forward(&batch.inputs, true, rng)?;
        let loss = loss_of(task, &logits, &batch.targets)?;
        loss_sum += f64::from(loss.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?);
        // The mean over micro-batches; no extra op when there is only one.
        let grads = if accum == 1 { loss.backward()? } else { (loss / accum as f64)?.backward()? };
        total = Some(match total {
            None => grads,
            Some(mut acc) => {
                for v in vars {
                    if let Some(g) = grads.get(v.as_tensor()) {
                        let sum = match acc.get(v.as_tensor()) {
                            Some(a) => (a + g)?,
                            None => g.clone(),
                        };
                        acc.insert(v.as_tensor(), sum);
                    }
                }
                acc
            }
        });
    }
    let grads = total.ok_or_else(|| crate::TrainError::Tensor("grad_accum_steps must be >= 1".into()))?;
    Ok(Gradients { grads, loss: loss_sum / accum as f64, samples })
}

/// The global L2 norm of the gradients of `vars`, summed in f64. On the CPU the values are read
/// directly (one copy per tensor); on other devices each tensor is reduced there first, so only
/// one number per tensor crosses to the host.
pub fn global_norm(grads: &GradStore, vars: &[Var]) -> candle_core::Result<f64> {
    let mut sum = 0.0f64;
    for v in vars {
        let Some(g) = grads.get(v.as_tensor()) else { continue };
        sum += if g.device().is_cpu() {
            match g.dtype() {
                candle_core::DType::F64 => g.flatten_all()?.to_vec1::<f64>()?.iter().map(|x| x * x).sum::<f64>(),
                _ => g.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>(),
            }
        } else {
            g.sqr()?.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?
        };
    }
    Ok(sum.sqrt())
}

/// Scales the gradients so their global norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)`, only when below 1). Returns the pre-clip
/// norm, computed only when clipping or `wanted` (it is logged).
pub fn clip(grads: &mut GradStore, vars: &[Var], max_norm: Option<f64>, wanted: bool) -> candle_core::Result<Option<f64>> {
    if max_norm.is_none() && !wanted {
        return Ok(None);
    }
    let norm = global_norm(grads, vars)?;
    if let Some(max) = max_norm {
        let coef = max / (norm + 1e-6);
        if coef < 1.0 {
            for v in vars {
                if let Some(g) = grads.get(v.as_tensor()) {
                    let scaled = (g * coef)?;
                    grads.insert(v.as_tensor(), scaled);
                }
            }
        }
    }
    Ok(Some(norm))
}

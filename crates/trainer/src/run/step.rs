//! One optimizer step's gradients: forward and backward over `grad_accum_steps` micro-batches,
//! summed, then global-norm clipping.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Device, Storage, Tensor, Var};

use super::loader::Loader;
use super::low_precision::LowPrecision;
use crate::data::{Dataset, Split};
use crate::rng::Rng;
use crate::task::Task;

/// The gradients of one optimizer step.
pub(super) struct Gradients {
    /// Summed gradients of the mean losses (each micro-batch's loss divided by their count).
    pub(super) grads: GradStore,
    /// Mean training loss over the micro-batches.
    pub(super) loss: f64,
    /// Examples seen.
    pub(super) samples: usize,
    /// Tokens seen, for tasks that count them ([`Task::tokens`]).
    pub(super) tokens: Option<usize>,
}

/// Forward and backward over `accum` micro-batches from `loader`. `stop` is checked before
/// every micro-batch: once it is set the step is abandoned (`Ok(None)`), and the caller must
/// discard the loader and `rng` it passed (both have moved on) and apply nothing.
///
/// With `low = Some((working copy, loss scale))` (`train.precision: bf16 | f16`) the forward and
/// backward run on the synced working copy, and the gradients are f32, unscaled, keyed by the
/// master variables `vars`.
#[allow(clippy::too_many_arguments)]
pub(super) fn accumulate(
    task: &dyn Task,
    data: &dyn Dataset,
    loader: &mut Loader,
    accum: u64,
    vars: &[Var],
    device: &Device,
    rng: &mut Rng,
    stop: &AtomicBool,
    low: Option<(&LowPrecision, f64)>,
) -> Result<Option<Gradients>, crate::TrainError> {
    let task = low.map_or(task, |(l, _)| l.task());
    let mut total: Option<GradStore> = None;
    let mut loss_sum = 0.0;
    let mut samples = 0;
    let mut tokens: Option<usize> = None;
    for _ in 0..accum {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let indices = loader.next_batch().to_vec();
        samples += indices.len();
        let batch = data.batch(Split::Train, &indices, device)?;
        let batch = match low {
            Some((l, _)) => l.cast(batch)?,
            None => batch,
        };
        if let Some(n) = task.tokens(&batch)? {
            tokens = Some(tokens.unwrap_or(0) + n);
        }
        let loss = task.loss(&batch, rng)?;
        loss_sum += f64::from(loss.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?);
        // The mean over micro-batches; no extra op when there is only one.
        let mean = if accum == 1 { loss } else { (loss / accum as f64)? };
        let grads = match low {
            Some((l, scale)) => l.backward(&mean, scale)?,
            None => mean.backward()?,
        };
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
    Ok(Some(Gradients { grads, loss: loss_sum / accum as f64, samples, tokens }))
}

/// The global L2 norm of the gradients of `vars`, summed in f64. On the CPU contiguous F32/F64
/// gradients are read in place ([`sum_of_squares`]); other dtypes and layouts are copied once;
/// on other devices each tensor is reduced there first, so only one number per tensor crosses
/// to the host.
pub(super) fn global_norm(grads: &GradStore, vars: &[Var]) -> candle_core::Result<f64> {
    let mut sum = 0.0f64;
    for v in vars {
        let Some(g) = grads.get(v.as_tensor()) else { continue };
        sum += if g.device().is_cpu() {
            match in_place_sum_of_squares(g) {
                Some(s) => s,
                None => sum_of_squares(&g.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?),
            }
        } else {
            g.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?
        };
    }
    Ok(sum.sqrt())
}

/// Σ x² of a contiguous F32/F64 CPU tensor, read from its buffer without a copy.
fn in_place_sum_of_squares(t: &Tensor) -> Option<f64> {
    let (storage, layout) = t.storage_and_layout();
    let (start, end) = layout.contiguous_offsets()?;
    match &*storage {
        Storage::Cpu(CpuStorage::F32(v)) => v.get(start..end).map(sum_of_squares),
        Storage::Cpu(CpuStorage::F64(v)) => v.get(start..end).map(sum_of_squares),
        _ => None,
    }
}

/// Σ x² in f64 with eight independent accumulators: one serial chain of f64 additions is bound
/// by the adder's latency (measured: it was half the toolkit's per-step overhead on the digits
/// MLP); eight chains vectorise.
pub(super) fn sum_of_squares<T: Copy + Into<f64>>(xs: &[T]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            let x: f64 = x.into();
            *a += x * x;
        }
    }
    let tail: f64 = rest
        .iter()
        .map(|&x| {
            let x: f64 = x.into();
            x * x
        })
        .sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Scales the gradients so their global norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)`, only when below 1). Returns the pre-clip
/// norm, computed only when clipping or `wanted` (it is logged).
pub(super) fn clip(
    grads: &mut GradStore,
    vars: &[Var],
    max_norm: Option<f64>,
    wanted: bool,
) -> candle_core::Result<Option<f64>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_of_squares_matches_the_serial_sum() {
        for n in [0usize, 1, 7, 8, 9, 17, 1000, 9610] {
            let xs: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 1e-3).collect();
            let serial: f64 = xs.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            let fast = sum_of_squares(&xs);
            assert!((fast - serial).abs() <= 1e-13 * serial.max(f64::MIN_POSITIVE), "n={n}: {fast} vs {serial}");
        }
    }

    #[test]
    fn global_norm_reads_every_dtype_and_layout() {
        let dev = Device::Cpu;
        let a = Var::new(&[[1.0f32, 2.0], [3.0, 4.0]], &dev).unwrap();
        let b = Var::new(&[[0.5f64, -0.5, 1.5]], &dev).unwrap();
        let c = Var::new(&[[2.0f32, 2.0], [2.0, 2.0]], &dev).unwrap();
        let loss = (a.as_tensor().t().unwrap().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap();
        let mut grads = loss.backward().unwrap();
        // a's gradient is a itself (from a transposed use); b's is F64; c's a transposed F16.
        grads.insert(b.as_tensor(), b.as_tensor().clone());
        grads.insert(
            c.as_tensor(),
            Tensor::new(&[[3.0f32, 0.0], [4.0, 0.0]], &dev).unwrap().to_dtype(DType::F16).unwrap().t().unwrap(),
        );
        let norm = global_norm(&grads, &[a, b, c]).unwrap();
        let expected = (1.0f64 + 4.0 + 9.0 + 16.0 + 0.25 + 0.25 + 2.25 + 9.0 + 16.0).sqrt();
        assert!((norm - expected).abs() < 1e-12, "{norm} vs {expected}");
    }
}

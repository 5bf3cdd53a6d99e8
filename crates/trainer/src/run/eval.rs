//! Evaluation on the held-out split: mean loss, and accuracy for classification.

use candle_core::{D, DType, Device};

use super::observer::EvalReport;
use super::step::loss_of;
use crate::data::{Dataset, Split, Task};
use crate::model::Model;
use crate::rng::Rng;

/// Evaluates `model` on the whole validation split in batches of `batch_size`.
pub fn evaluate(
    model: &dyn Model,
    data: &dyn Dataset,
    batch_size: usize,
    device: &Device,
    step: u64,
) -> Result<EvalReport, crate::TrainError> {
    let n = data.len(Split::Val);
    let (mut loss_sum, mut correct) = (0.0f64, 0.0f64);
    // Evaluation draws no random numbers (no dropout); the generator is a placeholder.
    let mut rng = Rng::new(0);
    let indices: Vec<usize> = (0..n).collect();
    let task = data.task();
    let classify = matches!(task, Task::Classification { .. });
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = data.batch(Split::Val, chunk, device)?;
        let logits = model.forward(&batch.inputs, false, &mut rng)?;
        let loss = loss_of(task, &logits, &batch.targets)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        loss_sum += loss * chunk.len() as f64;
        if classify {
            let predicted = logits.argmax(D::Minus1)?;
            correct += predicted.eq(&batch.targets)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        }
    }
    let n = n.max(1) as f64;
    Ok(EvalReport { step, loss: loss_sum / n, accuracy: classify.then_some(correct / n) })
}

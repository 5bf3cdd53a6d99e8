//! Evaluation on the held-out split: the task's metrics over every validation example.

use candle_core::Device;

use super::metric::Evaluation;
use crate::data::{Dataset, Split};
use crate::task::{Tally, Task};

/// Evaluates `task` on the whole validation split in batches of `batch_size`, after step `step`.
pub(super) fn evaluate(
    task: &dyn Task,
    data: &dyn Dataset,
    batch_size: usize,
    device: &Device,
    step: u64,
) -> Result<Evaluation, crate::TrainError> {
    let indices: Vec<usize> = (0..data.len(Split::Val)).collect();
    let mut total = Tally::default();
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = data.batch(Split::Val, chunk, device)?;
        total.add(&task.tally(&batch)?);
    }
    Ok(Evaluation { step, metrics: task.metrics(), values: task.finish(&total) })
}

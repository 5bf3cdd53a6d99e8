//! Evaluation: the task's metrics over every example of a split (the held-out one during
//! training).

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::Device;

use super::evaluator::Detail;
use super::metric::Evaluation;
use crate::data::{Dataset, Split};
use crate::task::{Tally, Task};

/// Evaluates `task` on the whole `split` in batches of `batch_size`, after step `step`: its
/// metrics and its detail scalars ([`Task::detail`]). `stop` is checked before every batch: once
/// set, the evaluation is abandoned (`Ok(None)`).
pub(super) fn evaluate(
    task: &dyn Task,
    data: &dyn Dataset,
    split: Split,
    batch_size: usize,
    device: &Device,
    step: u64,
    stop: &AtomicBool,
) -> Result<Option<(Evaluation, Detail)>, crate::TrainError> {
    let indices: Vec<usize> = (0..data.len(split)).collect();
    let mut total = Tally::default();
    for chunk in indices.chunks(batch_size.max(1)) {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let batch = data.batch(split, chunk, device)?;
        total.add(&task.tally(&batch)?);
    }
    Ok(Some((Evaluation::new(step, task.metrics(), task.finish(&total)), task.detail(&total))))
}

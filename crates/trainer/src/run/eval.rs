//! Evaluation: the task's metrics over every example of a split (the held-out one during
//! training).

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::Device;

use super::evaluator::Detail;
use super::metric::Evaluation;
use crate::data::{Dataset, Split};
use crate::logging::confusion::confusion_image;
use crate::logging::{LogError, Scalars};
use crate::task::{Confusion, Tally, Task};

/// What one evaluation reports.
pub(super) struct Outcome {
    /// The task's metrics.
    pub(super) evaluation: Evaluation,
    /// Its detail scalars ([`Task::detail`]).
    pub(super) detail: Detail,
    /// Its confusion matrix, when it classifies ([`Task::confusion`]).
    pub(super) confusion: Option<Confusion>,
}

/// Evaluates `task` on the whole `split` in batches of `batch_size`, after step `step`: its
/// metrics, detail scalars and confusion matrix. `stop` is checked before every batch: once
/// set, the evaluation is abandoned (`Ok(None)`).
pub(super) fn evaluate(
    task: &dyn Task,
    data: &dyn Dataset,
    split: Split,
    batch_size: usize,
    device: &Device,
    step: u64,
    stop: &AtomicBool,
) -> Result<Option<Outcome>, crate::TrainError> {
    let indices: Vec<usize> = (0..data.len(split)).collect();
    let mut total = Tally::default();
    for chunk in indices.chunks(batch_size.max(1)) {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let batch = data.batch(split, chunk, device)?;
        total.add(&task.tally(&batch)?);
    }
    Ok(Some(Outcome {
        evaluation: Evaluation::new(step, task.metrics(), task.finish(&total)),
        detail: task.detail(&total),
        confusion: task.confusion(&total),
    }))
}

/// Logs `matrix` as the image `tag` at `step` (laid out as [`crate::logging::confusion`]
/// says), unless there is none, no sink keeps images, or it has too many classes to draw.
pub(super) fn log_confusion(
    scalars: &mut Scalars,
    tag: &str,
    step: u64,
    matrix: Option<&Confusion>,
) -> Result<(), LogError> {
    let Some(m) = matrix.filter(|_| scalars.keeps_images()) else { return Ok(()) };
    match confusion_image(&m.counts, m.classes)? {
        Some(image) => scalars.image(tag, step, &image),
        None => Ok(()),
    }
}

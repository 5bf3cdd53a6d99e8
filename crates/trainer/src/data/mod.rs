//! Datasets: in-memory examples split into train and validation, assembled into batches on the
//! run's device. One unit of data time: an epoch of shuffled train batches.

pub mod digits;

use candle_core::{Device, Tensor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a dataset asks the model to do; decides the loss and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Predict one of `num_classes` labels: cross-entropy loss, `val/accuracy`.
    Classification {
        /// Number of classes.
        num_classes: usize,
    },
}

/// Which part of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training examples.
    Train,
    /// The held-out examples.
    Val,
}

/// The model input of one batch.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// Dense features, `[batch, …input_shape]`, f32.
    Dense(Tensor),
}

/// One batch: inputs and targets (class indices, u32 `[batch]`).
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs.
    pub inputs: Inputs,
    /// Targets.
    pub targets: Tensor,
}

/// A dataset error: bad file, bad row, empty data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A tensor operation failed.
    #[error("building a batch: {0}")]
    Tensor(String),
}

impl From<candle_core::Error> for DataError {
    fn from(e: candle_core::Error) -> Self {
        DataError::Tensor(crate::device::first_line(&e))
    }
}

/// A dataset ready for training: examples in memory, split, batchable.
pub trait Dataset: Send {
    /// The task the data poses.
    fn task(&self) -> Task;
    /// Shape of one input example (e.g. `[64]`, or `[1, 8, 8]` as an image).
    fn input_shape(&self) -> &[usize];
    /// Number of examples in `split`.
    fn len(&self, split: Split) -> usize;
    /// Assembles the examples `indices` of `split` into a batch on `device`.
    fn batch(&self, split: Split, indices: &[usize], device: &Device) -> Result<Batch, DataError>;
    /// One line describing the data (for summaries).
    fn describe(&self) -> String;
}

/// The `data:` section of a run config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataConfig {
    /// scikit-learn's 8×8 handwritten digits (1797 images, 10 classes), embedded in the binary.
    Digits(digits::DigitsConfig),
}

impl DataConfig {
    /// Loads the data (reads files where the kind has any); `images` asks for image-shaped
    /// examples where the data has them (convolutional models).
    pub fn load(&self, images: bool) -> Result<Box<dyn Dataset>, DataError> {
        match self {
            DataConfig::Digits(c) => Ok(Box::new(digits::Digits::load(c, images)?)),
        }
    }
}

/// Splits `0..n` into (train, val) index lists: a seeded shuffle, then the first
/// `round(n · val_fraction)` indices are held out.
pub fn split_indices(n: usize, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order = crate::rng::Rng::derived(seed, 0x5eed_da7a).permutation(n);
    let n_val = ((n as f64) * val_fraction).round() as usize;
    let train = order.split_off(n_val.min(n));
    (train, order)
}

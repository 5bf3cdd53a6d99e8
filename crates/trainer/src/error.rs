//! [`TrainError`]: everything that can stop a run. A config problem found before anything is
//! created is a [`FieldIssue`] (sched's: the one field-path + message type of the workspace).

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;
use crate::data::DataError;
use crate::logging::LogError;
use crate::model::ModelError;
use crate::optim::OptimError;

pub use sched::FieldIssue;

/// Why a run could not be built, started, continued or finished.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The config is invalid (all problems found, each with its field path).
    #[error("invalid config:\n{}", .0.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<FieldIssue>),
    /// The data could not be loaded or batched.
    #[error("data: {0}")]
    Data(#[from] DataError),
    /// A model file is unreadable or malformed (e.g. a corrupt safetensors file).
    #[error("model: {0}")]
    Model(ModelError),
    /// The optimizer failed.
    #[error("optimizer: {0}")]
    Optim(#[from] OptimError),
    /// Logging failed (disk full, permissions…).
    #[error("logging: {0}")]
    Log(#[from] LogError),
    /// Saving or loading a checkpoint failed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Tensor(String),
    /// The training loss became NaN or infinite.
    #[error(
        "the training loss is {value} at step {step}: stopped. {}",
        match checkpoint { Some(p) => format!("The last good checkpoint is {} (resume from it, e.g. with a lower learning rate).", p.display()), None => "No checkpoint was saved before it.".to_owned() }
    )]
    NonFiniteLoss {
        /// The optimizer step whose loss is not finite.
        step: u64,
        /// The loss.
        value: f64,
        /// The newest checkpoint, untouched.
        checkpoint: Option<PathBuf>,
    },
    /// Resuming with a schedule or optimizer config other than the checkpoint's.
    #[error(
        "the config differs from the checkpoint's in:\n{}\nresume with the run's own config, or pass --allow-config-change to continue anyway",
        .0.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
    )]
    ConfigChanged(Vec<String>),
    /// The run directory is locked by another process, or cannot be locked.
    #[error(transparent)]
    Lock(#[from] crate::run::lock::LockError),
}

impl From<ModelError> for TrainError {
    /// Config and hub problems become [`TrainError::Config`] (placed at their field); file
    /// problems stay [`TrainError::Model`].
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Config(issue) => TrainError::Config(vec![issue]),
            ModelError::Hub { path, source } => TrainError::Config(vec![FieldIssue::new(path, source.to_string())]),
            other => TrainError::Model(other),
        }
    }
}

impl From<FieldIssue> for TrainError {
    fn from(issue: FieldIssue) -> Self {
        TrainError::Config(vec![issue])
    }
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Tensor(crate::device::first_line(&e))
    }
}

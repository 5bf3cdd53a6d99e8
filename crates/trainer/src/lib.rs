//! The candle training engine: optimizers with checkpointable state, the training loop with
//! plateau and warm-restart hooks, checkpoints with exact resume, and logging (TensorBoard event
//! files and `metrics.jsonl`).
//!
//! Pretrained models (`model.kind = bert_classifier`: [`hub`], `tokenize`, [`model::bert`]) need
//! the `hub` cargo feature, which the cli enables by default.
//!
//! [`Trainer::build`] checks a [`RunConfig`] and builds everything in memory;
//! [`Trainer::start`]/[`Trainer::resume`] attach it to a run directory; [`Trainer::run`] trains.

pub mod check;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
mod error;
pub mod hub;
pub mod logging;
pub mod model;
pub mod optim;
pub mod rng;
pub mod run;
#[cfg(feature = "hub")]
pub mod tokenize;

pub use config::RunConfig;
pub use error::{ConfigIssue, TrainError};
pub use run::{EvalReport, Observer, Silent, StepReport, StopReason, Summary, Trainer};

//! The candle training engine: optimizers with checkpointable state, the training loop with
//! plateau and warm-restart hooks, checkpoints with exact resume, and logging (TensorBoard event
//! files and `metrics.jsonl`).
//!
//! Pretrained models (`model.kind = bert_classifier`: [`hub`], `tokenize`, [`model::bert`]) need
//! the `hub` cargo feature, which the cli enables by default.
//!
//! [`Trainer::build`] checks a [`RunConfig`] and builds everything in memory;
//! [`Trainer::start`]/[`Trainer::resume`] consume it and return a [`Session`] that owns the run
//! directory; [`Session::run`] trains, assembled from [`run::hooks`]. A model family plugs in
//! through [`task::Task`]. See `docs/architecture.md`.

pub mod allocator;
pub mod check;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
mod error;
pub mod hub;
#[cfg(feature = "hub")]
pub mod lm_tokenizer;
pub mod logging;
pub mod model;
pub mod ops;
pub mod optim;
pub mod paths;
pub mod precision;
pub mod rng;
pub mod run;
pub mod safe_fs;
pub mod scores;
pub mod task;
#[cfg(feature = "hub")]
pub mod tokenize;

pub use config::RunConfig;
pub use error::{FieldIssue, TrainError};
pub use run::metric::{Direction, Evaluation, Metric, MetricId, Metrics};
pub use run::{
    BuildOptions, Event, Observer, ResumeInfo, RunDir, Session, Silent, StepReport, StopReason, Summary, Trainer,
};

//! Optimizers (SGD, Adam, AdamW) with parameter groups and checkpointable state.

mod config;
mod error;
mod validate;

pub use config::{AdamConfig, AdamWConfig, GroupConfig, OptimizerConfig, SgdConfig};
pub use error::{OptimError, StateError};
pub use sched::ConfigError;

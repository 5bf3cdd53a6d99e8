//! Optimizers (SGD, Adam, AdamW) with parameter groups and checkpointable state.
//!
//! Each kind reproduces its PyTorch namesake (`torch.optim.SGD`, `Adam`, `AdamW`, non-fused,
//! non-amsgrad) on candle tensors of any float dtype and device. The caller supplies the LR of
//! every step per group (and optionally a momentum override), normally from a [`sched::Schedule`]:
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use trainer::optim::{Optimizer, OptimizerConfig};
//!
//! let config: OptimizerConfig = serde_json::from_str(r#"{"kind": "adamw", "lr": 0.01}"#).unwrap();
//! let schedule = sched::Schedule::new(
//!     &serde_json::from_str(r#"{"kind": "cosine", "t_max": 10}"#).unwrap(),
//!     config.lr(),
//! ).unwrap();
//! let w = Var::new(&[1.0f64, -2.0], &Device::Cpu).unwrap();
//! let mut opt = Optimizer::new(&config, [("w".to_string(), w.clone())]).unwrap();
//! for t in 0..3 {
//!     let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
//!     let grads = loss.backward().unwrap();
//!     let used = opt.step_scheduled(&grads, &schedule, t).unwrap(); // one per group
//!     assert_eq!(used[0].lr, schedule.lr(t));
//! }
//! let bytes = opt.state_bytes().unwrap(); // safetensors: w.step, w.exp_avg, w.exp_avg_sq
//! opt.load_state_bytes(&bytes).unwrap();
//! ```
//!
//! Inside, each kind is an update rule (`rule.rs`: SGD, and Adam with `decoupled` for AdamW) with
//! its own per-parameter state type; the optimizer holds the parameters under one rule.

mod adam;
pub mod average;
mod bank;
mod config;
mod error;
mod groups;
pub mod loss_scale;
mod optimizer;
mod rule;
mod sgd;
pub mod state;
mod validate;

#[cfg(test)]
mod tests;

pub use config::{
    AdamConfig, AdamFields, AdamVariant, AdamWConfig, Decoupled, GroupConfig, L2, OptimizerConfig, SgdConfig,
};
pub use error::{OptimError, StateError};
pub use groups::{ParamGroup, layer_index};
pub use optimizer::{GroupStep, Optimizer};
pub use sched::FieldIssue;
pub use state::ParamState;

//! Learning-rate schedules as closed-form functions of the optimizer step, matching
//! `torch.optim.lr_scheduler` to 1e-9 relative.
//!
//! No candle, no I/O: a [`ScheduleConfig`] (the `schedule:` section of a run config) is validated
//! into a [`Schedule`], whose [`Schedule::lr`] gives the LR used by optimizer step `t` (0-based)
//! in f64, in O(1) without allocation. Only `plateau` carries state, fed by
//! [`Schedule::observe`] and saved/restored with [`Schedule::state`]/[`Schedule::restore`].
//!
//! ```
//! use sched::{Schedule, ScheduleConfig};
//! let cfg: ScheduleConfig = serde_json::from_str(
//!     r#"{"kind": "cosine", "t_max": 100, "warmup": {"steps": 10, "start_factor": 0.1}}"#,
//! ).unwrap();
//! let s = Schedule::new(&cfg, 0.1).unwrap();
//! assert!((s.lr(0) - 0.01).abs() < 1e-15);
//! assert_eq!(s.lr(10), 0.1);
//! ```

pub mod check;
pub mod config;
mod error;
mod horizon;
mod keypoints;
pub mod kinds;
mod node;
mod schedule;

pub use config::{ChainedConfig, Kind, ScheduleConfig, SequentialConfig, WarmupConfig};
pub use error::{FieldIssue, StateError};
pub use horizon::{MAX_LR, check_horizon};
pub use keypoints::{KeyPoint, KeyPointKind, MAX_KEY_POINTS};
pub use kinds::cosine_restarts::CyclePosition;
pub use kinds::plateau::{Observation, Plateau, PlateauConfig, PlateauMode, PlateauState, ThresholdMode};
pub use schedule::{Schedule, ScheduleState};

//! The loop state saved in every checkpoint (`state.json`), and the fingerprint of the
//! schedule and optimizer configs that a resume must match.

use serde::{Deserialize, Serialize};

use super::loader::DataPosition;
use super::stopping::Tracker;
use crate::config::RunConfig;
use crate::rng::Rng;
use sched::{PlateauState, ScheduleState};

/// Version of the `state.json` layout.
pub const STATE_FORMAT: u32 = 1;

/// Everything besides weights and optimizer moments that an exact resume needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Layout version.
    pub format: u32,
    /// Optimizer steps done (the next step to run).
    pub step: u64,
    /// Position of the next training micro-batch.
    pub data: DataPosition,
    /// The run's random generator (dropout masks).
    pub rng: Rng,
    /// Schedule time origin: the schedule is evaluated at `step − schedule_origin` (moved by an
    /// `on_plateau: restart`).
    pub schedule_origin: u64,
    /// The schedule's plateau states.
    pub schedule: ScheduleState,
    /// The `on_plateau` hook's detector, when it has its own.
    pub plateau_hook: Option<PlateauState>,
    /// Early stopping's tracker (its own mode and `min_delta`).
    pub early_stopping: Tracker,
    /// Best value of each validation metric, in the metric's direction: for the summary and the
    /// `best` checkpoint. (Files written before it also hold a `best` tracker: ignored.)
    #[serde(default)]
    pub best_metrics: std::collections::BTreeMap<String, Tracker>,
    /// The schedule and optimizer configs the run was started with.
    pub fingerprint: Fingerprint,
    /// The evaluation after step `step` was abandoned by a stop request: a resume runs it first.
    /// (Written only when true.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eval_pending: bool,
}

/// The schedule and optimizer sections as JSON, and a hash of both (FNV-1a 64 of the JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `schedule:` as JSON.
    pub schedule: serde_json::Value,
    /// `optimizer:` as JSON.
    pub optimizer: serde_json::Value,
    /// `fnv1a64:<hex>` of the two.
    pub hash: String,
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Fingerprint {
    /// The fingerprint of a config.
    pub fn of(config: &RunConfig) -> Self {
        let schedule = serde_json::to_value(&config.schedule).unwrap_or_default();
        let optimizer = serde_json::to_value(&config.optimizer).unwrap_or_default();
        let text = format!("{schedule}\n{optimizer}");
        Self { schedule, optimizer, hash: format!("fnv1a64:{:016x}", fnv1a64(text.as_bytes())) }
    }

    /// The differences from `other`, one `path: old → new` per changed field.
    pub fn changes(&self, other: &Self) -> Vec<String> {
        let mut out = Vec::new();
        diff("schedule", &self.schedule, &other.schedule, &mut out);
        diff("optimizer", &self.optimizer, &other.optimizer, &mut out);
        out
    }
}

fn diff(path: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let null = Value::Null;
                diff(&format!("{path}.{k}"), a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if old != new => out.push(format!("{path}: {old} → {new}")),
        _ => {}
    }
}

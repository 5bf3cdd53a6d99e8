//! The loop state saved in every checkpoint (`state.json`), and the fingerprint of the configs a
//! resume must match: everything that decides what the remaining steps compute (schedule,
//! optimizer, model, data, seed, and the train fields that set the sample order and what a step
//! is). Logging, evaluation, checkpointing, `max_steps`/`epochs` (the schedule's horizon is in
//! its own section), early stopping, `best_monitor`, hooks and the device may change.

use serde::{Deserialize, Serialize};

mod check;

pub use check::Expected;

use super::loader::DataPosition;
use super::stopping::Tracker;
use crate::config::RunConfig;
use crate::optim::loss_scale::LossScaler;
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
    /// The dynamic loss scale of `train.precision: f16` (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScaler>,
}

/// The config sections a resume must match, as JSON, and a hash of them (FNV-1a 64 of the
/// JSON). Sections absent from an older `state.json` were not recorded: they are not compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `schedule:` as JSON.
    pub schedule: serde_json::Value,
    /// `optimizer:` as JSON.
    pub optimizer: serde_json::Value,
    /// `model:` as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<serde_json::Value>,
    /// `data:` as JSON (files, split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<serde_json::Value>,
    /// The train fields that set the sample order and what one step is: `batch_size`,
    /// `grad_accum_steps`, `max_grad_norm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<serde_json::Value>,
    /// `fnv1a64:<hex>` of the sections.
    pub hash: String,
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Fingerprint {
    /// The fingerprint of a config.
    pub fn of(config: &RunConfig) -> Self {
        let t = &config.train;
        let train = serde_json::json!({
            "batch_size": t.batch_size,
            "grad_accum_steps": t.grad_accum_steps,
            "max_grad_norm": t.max_grad_norm,
        });
        let (schedule, optimizer) = (json(&config.schedule), json(&config.optimizer));
        let (model, data, seed) = (json(&config.model), json(&config.data), serde_json::json!(config.seed));
        let text = format!("{schedule}\n{optimizer}\n{model}\n{data}\n{seed}\n{train}");
        Self {
            schedule,
            optimizer,
            model: Some(model),
            data: Some(data),
            seed: Some(seed),
            train: Some(train),
            hash: format!("fnv1a64:{:016x}", fnv1a64(text.as_bytes())),
        }
    }

    /// The differences from `other`, one `path: old → new` per changed field. A section this
    /// fingerprint did not record (an older `state.json`) is not compared.
    pub fn changes(&self, other: &Self) -> Vec<String> {
        let mut out = Vec::new();
        diff("schedule", &self.schedule, &other.schedule, &mut out);
        diff("optimizer", &self.optimizer, &other.optimizer, &mut out);
        let recorded = [
            ("model", &self.model, &other.model),
            ("data", &self.data, &other.data),
            ("seed", &self.seed, &other.seed),
            ("train", &self.train, &other.train),
        ];
        for (path, old, new) in recorded {
            if let (Some(old), Some(new)) = (old, new) {
                diff(path, old, new, &mut out);
            }
        }
        out
    }

    /// Whether the changes from `other` touch the sample order (data, seed, batch size,
    /// accumulation): then the saved data position cannot be checked against the step.
    pub fn changes_sample_order(&self, other: &Self) -> bool {
        self.data != other.data && self.data.is_some()
            || self.seed != other.seed && self.seed.is_some()
            || self.train != other.train && self.train.is_some()
    }
}

/// A config section as JSON (`Null` if it cannot be represented, which serde-derived configs
/// always can).
fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
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

//! `train.ema` and `train.swa`: which weight averages a run keeps, and when they are updated.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use sched::FieldIssue;
use sched::check::{at_least, field, in_range};

/// `train.ema: {decay: 0.999, warmup: true, every: 1}`: an exponential moving average of the
/// trainable weights, updated after every `every` optimizer steps with timm's `ModelEmaV3` rule
/// `ema ← ema + (1 − d) · (w − ema)` (`lerp`, i.e. `d · ema + (1 − d) · w`).
///
/// For the update number `t` (0 for the first, after optimizer step `every`), the decay is
/// `d = 0` at `t = 0` (the average starts as a copy of the weights, as timm's `get_decay(step)`
/// returns 0 for its first step), then `min(decay, (1 + t) / (10 + t))` with `warmup`, `decay`
/// without.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmaConfig {
    /// The decay (weight of the old average), in `[0, 1)` (default 0.999).
    #[serde(default = "default_decay")]
    pub decay: f64,
    /// Ramp the decay up as `min(decay, (1 + t) / (10 + t))` over the first updates (default true).
    #[serde(default = "yes")]
    pub warmup: bool,
    /// Update after every this many optimizer steps (≥ 1; default 1).
    #[serde(default = "one")]
    pub every: u64,
}

/// `train.swa: {start_step, every}`: stochastic weight averaging, the equal-weight running mean
/// of the trainable weights (PyTorch's `AveragedModel` with its default average:
/// `avg ← avg + (w − avg) / (n + 1)`, `n` the weights averaged so far), taken after optimizer
/// steps `start_step`, `start_step + every`, `start_step + 2·every`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwaAverageConfig {
    /// The first optimizer step (counted from 1) whose weights enter the average (≥ 1).
    pub start_step: u64,
    /// Average every this many optimizer steps from `start_step` on (≥ 1; default 1).
    #[serde(default = "one")]
    pub every: u64,
}

fn default_decay() -> f64 {
    0.999
}
fn yes() -> bool {
    true
}
fn one() -> u64 {
    1
}

impl EmaConfig {
    /// The problems of the section at `path` (`train.ema`).
    pub fn issues(&self, path: &str) -> Vec<FieldIssue> {
        let mut out = Vec::new();
        out.extend(in_range(path, "decay", self.decay, (0.0, false), (1.0, true)).err());
        out.extend(at_least(path, "every", self.every, 1).err());
        out
    }

    /// Whether the average is updated after the optimizer step that makes `steps_done` steps.
    pub fn updates_after(&self, steps_done: u64) -> bool {
        steps_done > 0 && steps_done.is_multiple_of(self.every.max(1))
    }

    /// The decay of update number `t` (0-based).
    pub fn decay_at(&self, t: u64) -> f64 {
        if t == 0 {
            0.0
        } else if self.warmup {
            let t = t as f64;
            self.decay.min((1.0 + t) / (10.0 + t))
        } else {
            self.decay
        }
    }
}

impl SwaAverageConfig {
    /// The problems of the section at `path` (`train.swa`).
    pub fn issues(&self, path: &str) -> Vec<FieldIssue> {
        let mut out = Vec::new();
        out.extend(at_least(path, "start_step", self.start_step, 1).err());
        out.extend(at_least(path, "every", self.every, 1).err());
        out
    }

    /// Whether the weights after the optimizer step that makes `steps_done` steps enter the
    /// average.
    pub fn updates_after(&self, steps_done: u64) -> bool {
        steps_done >= self.start_step.max(1) && (steps_done - self.start_step.max(1)).is_multiple_of(self.every.max(1))
    }

    /// The issue when the run (of `total_steps` steps) ends before `start_step`.
    pub fn horizon_issue(&self, path: &str, total_steps: u64) -> Option<FieldIssue> {
        (self.start_step > total_steps).then(|| {
            FieldIssue::new(
                field(path, "start_step"),
                format!(
                    "must be <= the run's {total_steps} steps (got {}): nothing would be averaged",
                    self.start_step
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_decay_starts_with_a_copy_then_warms_up_to_decay() {
        let c = EmaConfig { decay: 0.3, warmup: true, every: 1 };
        let d: Vec<f64> = (0..5).map(|t| c.decay_at(t)).collect();
        assert_eq!(d, [0.0, 2.0 / 11.0, 3.0 / 12.0, 0.3, 0.3]);
        let plain = EmaConfig { warmup: false, ..c };
        assert_eq!((plain.decay_at(0), plain.decay_at(1)), (0.0, 0.3));
    }

    #[test]
    fn update_steps() {
        let ema = EmaConfig { decay: 0.9, warmup: true, every: 3 };
        let at: Vec<u64> = (0..10).filter(|&s| ema.updates_after(s)).collect();
        assert_eq!(at, [3, 6, 9]);
        let swa = SwaAverageConfig { start_step: 4, every: 2 };
        let at: Vec<u64> = (0..10).filter(|&s| swa.updates_after(s)).collect();
        assert_eq!(at, [4, 6, 8]);
        assert!(swa.horizon_issue("train.swa", 3).is_some() && swa.horizon_issue("train.swa", 4).is_none());
    }

    #[test]
    fn impossible_fields_are_named() {
        let ema = EmaConfig { decay: 1.0, warmup: true, every: 0 };
        let paths: Vec<String> = ema.issues("train.ema").into_iter().map(|i| i.path).collect();
        assert_eq!(paths, ["train.ema.decay", "train.ema.every"]);
        let swa = SwaAverageConfig { start_step: 0, every: 0 };
        let paths: Vec<String> = swa.issues("train.swa").into_iter().map(|i| i.path).collect();
        assert_eq!(paths, ["train.swa.start_step", "train.swa.every"]);
    }
}

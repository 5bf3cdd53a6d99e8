//! `plateau`: PyTorch's `ReduceLROnPlateau`, as a composable schedule with explicit state.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{FieldIssue, StateError, check};

/// Whether lower or higher values of the monitored metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlateauMode {
    /// Lower is better (losses).
    Min,
    /// Higher is better (accuracies).
    Max,
}

/// How `threshold` defines a significant improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Relative: better than `best · (1 ∓ threshold)`.
    Rel,
    /// Absolute: better than `best ∓ threshold`.
    Abs,
}

/// `ReduceLROnPlateau`: `lr(t) = min(base, max(base · factor^n, min_lr))`, where `n` is the number of
/// reductions so far (a `min_lr` above `base` never raises the LR, as in PyTorch). Each observed metric (PyTorch's `step(metrics)`) updates the best value
/// (an improvement must beat it by `threshold`, relative or absolute); after more than
/// `patience` observations without improvement the LR is reduced (when the reduction exceeds
/// `eps`), the counter resets and `cooldown` observations are ignored.
///
/// Unlike PyTorch, it composes: it can follow a `warmup`, and be a child of `sequential` or
/// `chained`; its state (best, counters, reductions) is saved and restored with the schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlateauConfig {
    /// `min` or `max` (default `min`).
    #[serde(default = "min")]
    pub mode: PlateauMode,
    /// Multiplier of the LR at each reduction, in `(0, 1)` (default 0.1).
    #[serde(default = "tenth")]
    pub factor: f64,
    /// Observations without improvement tolerated before a reduction (default 10).
    #[serde(default = "ten")]
    pub patience: u64,
    /// Minimum significant improvement (≥ 0; default 1e-4).
    #[serde(default = "threshold")]
    pub threshold: f64,
    /// `rel` or `abs` (default `rel`).
    #[serde(default = "rel")]
    pub threshold_mode: ThresholdMode,
    /// Observations ignored after a reduction (default 0).
    #[serde(default)]
    pub cooldown: u64,
    /// Lower bound of the LR (absolute, ≥ 0; default 0).
    #[serde(default)]
    pub min_lr: f64,
    /// Reductions smaller than this are skipped (≥ 0; default 1e-8).
    #[serde(default = "eps")]
    pub eps: f64,
    /// Name of the monitored metric (default `val/loss`).
    #[serde(default = "monitor")]
    pub monitor: String,
}

fn min() -> PlateauMode {
    PlateauMode::Min
}
fn tenth() -> f64 {
    0.1
}
fn ten() -> u64 {
    10
}
fn threshold() -> f64 {
    1e-4
}
fn rel() -> ThresholdMode {
    ThresholdMode::Rel
}
fn eps() -> f64 {
    1e-8
}
fn monitor() -> String {
    "val/loss".to_owned()
}

impl PlateauConfig {
    /// Validates the config (its fields at `path.<name>`) into a fresh [`Plateau`].
    ///
    /// Built alone, it is a detector (see [`Plateau::detector`]): its `eps` rule is checked
    /// against an LR of 0, so it reports plateaus but never counts a reduction. Inside a
    /// [`crate::Schedule`] it is checked against the optimizer's LR and reduces the LR.
    pub fn build(&self, path: &str) -> Result<Plateau, FieldIssue> {
        check::in_range(path, "factor", self.factor, (0.0, true), (1.0, true))?;
        check::non_negative(path, "threshold", self.threshold)?;
        check::non_negative(path, "min_lr", self.min_lr)?;
        check::non_negative(path, "eps", self.eps)?;
        if self.monitor.trim().is_empty() {
            return Err(FieldIssue::new(check::field(path, "monitor"), "must name a metric"));
        }
        Ok(Plateau { config: self.clone(), primary_lr: 0.0, state: PlateauState::default() })
    }

    /// Whether `value` is a significant improvement on `best` (PyTorch's `is_better`).
    pub fn is_better(&self, value: f64, best: Option<f64>) -> bool {
        let Some(best) = best else {
            // PyTorch starts from ±inf: anything but NaN (and ±inf itself) improves on it.
            return match self.mode {
                PlateauMode::Min => value < f64::INFINITY,
                PlateauMode::Max => value > f64::NEG_INFINITY,
            };
        };
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => value < best * (1.0 - self.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => value < best - self.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => value > best * (self.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => value > best + self.threshold,
        }
    }
}

/// The mutable part of a plateau: everything needed to resume it exactly.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct PlateauState {
    /// Best value seen so far (`None` before the first finite improvement).
    pub best: Option<f64>,
    /// Observations since the last improvement.
    pub num_bad_epochs: u64,
    /// Observations left to ignore.
    pub cooldown_counter: u64,
    /// Reductions applied so far (`n` in the formula).
    pub reductions: u32,
    /// Observations so far.
    pub observations: u64,
}

/// What one observation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observation {
    /// Patience ran out: a plateau was detected (whether or not the LR could still go down).
    pub plateau: bool,
    /// The LR was reduced.
    pub reduced: bool,
}

impl Observation {
    /// Combines two observations (any plateau, any reduction).
    pub fn merge(self, other: Self) -> Self {
        Self { plateau: self.plateau || other.plateau, reduced: self.reduced || other.reduced }
    }
}

/// A plateau detector with its state; `primary_lr` (the optimizer's LR) decides the `eps` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Plateau {
    config: PlateauConfig,
    primary_lr: f64,
    state: PlateauState,
}

impl Plateau {
    /// The plateau of a schedule built for the optimizer LR `primary_lr`, the base LR whose
    /// reductions `eps` is checked against.
    pub(crate) fn with_primary_lr(self, primary_lr: f64) -> Self {
        Self { primary_lr, ..self }
    }

    /// A standalone detector (for `on_plateau` hooks without a `plateau` schedule): it never
    /// reduces an LR, it only reports plateaus. Fields are reported at `plateau.<name>`.
    pub fn detector(config: &PlateauConfig) -> Result<Self, FieldIssue> {
        config.build("plateau")
    }

    /// The validated config.
    pub fn config(&self) -> &PlateauConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> &PlateauState {
        &self.state
    }

    /// Replaces the state (checked for consistency).
    pub fn set_state(&mut self, state: PlateauState, index: usize) -> Result<(), StateError> {
        if state.best.is_some_and(f64::is_nan) {
            return Err(StateError::Invalid { index, reason: "best is NaN".into() });
        }
        self.state = state;
        Ok(())
    }

    /// LR of base `base` after `n` reductions. PyTorch applies `new = max(old · factor, min_lr)`
    /// only when it lowers the LR, so a `min_lr` above `base` never raises it: `base` stays.
    fn lr_after(&self, base: f64, n: u32) -> f64 {
        (base * self.config.factor.powi(n as i32)).max(self.config.min_lr).min(base)
    }

    /// LR for base LR `base` given the reductions so far. Unlike the other kinds it takes no
    /// step: it is a function of the observed metrics (the state), not of `t`.
    #[inline]
    pub fn lr(&self, base: f64) -> f64 {
        self.lr_after(base, self.state.reductions)
    }

    /// Observes one value of the monitored metric (PyTorch's `scheduler.step(metrics)`).
    pub fn observe(&mut self, value: f64) -> Observation {
        let s = &mut self.state;
        s.observations += 1;
        if self.config.is_better(value, s.best) {
            s.best = Some(value);
            s.num_bad_epochs = 0;
        } else {
            s.num_bad_epochs += 1;
        }
        if s.cooldown_counter > 0 {
            s.cooldown_counter -= 1;
            s.num_bad_epochs = 0;
        }
        let mut out = Observation::default();
        if s.num_bad_epochs > self.config.patience {
            out.plateau = true;
            let n = s.reductions;
            let (old, new) = (self.lr_after(self.primary_lr, n), self.lr_after(self.primary_lr, n + 1));
            if old - new > self.config.eps {
                self.state.reductions = n + 1;
                out.reduced = true;
            }
            self.state.cooldown_counter = self.config.cooldown;
            self.state.num_bad_epochs = 0;
        }
        out
    }
}

//! `linear`: PyTorch's `LinearLR` (also the `warmup:` ramp of every kind).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::f;
use crate::{FieldIssue, check};

/// `LinearLR`: `lr(t) = base · (start_factor + (end_factor − start_factor) · min(t, total_iters) / total_iters)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// Factor at step 0, in `(0, 1]` (PyTorch's default 1/3).
    #[serde(default = "third")]
    pub start_factor: f64,
    /// Factor from step `total_iters` on, in `[0, 1]` (default 1).
    #[serde(default = "one")]
    pub end_factor: f64,
    /// Length of the ramp in steps (≥ 1; default 5).
    #[serde(default = "five")]
    pub total_iters: u64,
}

pub(crate) fn third() -> f64 {
    1.0 / 3.0
}
fn one() -> f64 {
    1.0
}
fn five() -> u64 {
    5
}

impl LinearConfig {
    pub(crate) fn validate(&self, path: &str) -> Result<(), FieldIssue> {
        check::in_range(path, "start_factor", self.start_factor, (0.0, true), (1.0, false))?;
        check::in_range(path, "end_factor", self.end_factor, (0.0, false), (1.0, false))?;
        check::at_least(path, "total_iters", self.total_iters, 1)
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let done = f(t.min(self.total_iters));
        base * (self.start_factor + (self.end_factor - self.start_factor) * done / f(self.total_iters))
    }
}

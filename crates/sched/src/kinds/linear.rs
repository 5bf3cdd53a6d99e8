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
    /// Validates the config (its fields at `path.<name>`) into a [`Linear`].
    pub fn build(&self, path: &str) -> Result<Linear, FieldIssue> {
        check::in_range(path, "start_factor", self.start_factor, (0.0, true), (1.0, false))?;
        check::in_range(path, "end_factor", self.end_factor, (0.0, false), (1.0, false))?;
        check::at_least(path, "total_iters", self.total_iters, 1)?;
        Ok(Linear { config: self.clone() })
    }
}

/// A validated `linear` schedule (nothing to precompute).
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    config: LinearConfig,
}

impl Linear {
    /// The validated config.
    pub fn config(&self) -> &LinearConfig {
        &self.config
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let c = &self.config;
        let done = f(t.min(c.total_iters));
        base * (c.start_factor + (c.end_factor - c.start_factor) * done / f(c.total_iters))
    }
}

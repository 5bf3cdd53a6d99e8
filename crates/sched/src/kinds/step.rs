//! `step`: PyTorch's `StepLR`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Geometric;
use crate::{FieldIssue, check};

/// `StepLR`: `lr(t) = base · gamma^⌊t / step_size⌋`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Period of the decay, in optimizer steps (≥ 1).
    pub step_size: u64,
    /// Multiplicative decay per period (> 0; PyTorch's default 0.1).
    #[serde(default = "tenth")]
    pub gamma: f64,
}

pub(crate) fn tenth() -> f64 {
    0.1
}

impl StepConfig {
    pub(crate) fn validate(&self, path: &str) -> Result<(), FieldIssue> {
        check::at_least(path, "step_size", self.step_size, 1)?;
        check::positive(path, "gamma", self.gamma)
    }

    /// LR at step `t` for base LR `base` (with `gamma`'s powers precomputed in `g`).
    #[inline]
    pub(crate) fn lr(&self, g: &Geometric, t: u64, base: f64) -> f64 {
        base * g.pow(t / self.step_size)
    }
}

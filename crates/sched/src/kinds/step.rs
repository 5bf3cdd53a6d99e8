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
    /// Validates the config (its fields at `path.<name>`) into a [`Step`].
    pub fn build(&self, path: &str) -> Result<Step, FieldIssue> {
        check::at_least(path, "step_size", self.step_size, 1)?;
        check::positive(path, "gamma", self.gamma)?;
        Ok(Step { config: self.clone(), gamma: Geometric::new(self.gamma) })
    }
}

/// A validated `step` schedule, with `gamma`'s powers precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    config: StepConfig,
    gamma: Geometric,
}

impl Step {
    /// The validated config.
    pub fn config(&self) -> &StepConfig {
        &self.config
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        base * self.gamma.pow(t / self.config.step_size)
    }
}

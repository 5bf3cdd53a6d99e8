//! `multistep`: PyTorch's `MultiStepLR`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{f, step::tenth};
use crate::{ConfigError, check};

/// `MultiStepLR`: `lr(t) = base · gamma^(number of milestones m with m ≤ t)`.
///
/// A milestone listed twice counts twice (PyTorch's `Counter` semantics). Evaluation is a binary
/// search over the milestones: O(log m), no allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiStepConfig {
    /// Steps at which the LR is multiplied by `gamma`, sorted in non-decreasing order.
    pub milestones: Vec<u64>,
    /// Multiplicative decay at each milestone (> 0; PyTorch's default 0.1).
    #[serde(default = "tenth")]
    pub gamma: f64,
}

impl MultiStepConfig {
    pub(crate) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        check::sorted(path, "milestones", &self.milestones)?;
        check::positive(path, "gamma", self.gamma)
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let passed = self.milestones.partition_point(|&m| m <= t);
        base * self.gamma.powf(f(passed as u64))
    }
}

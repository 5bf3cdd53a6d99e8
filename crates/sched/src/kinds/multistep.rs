//! `multistep`: PyTorch's `MultiStepLR`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::step::tenth;
use crate::{FieldIssue, check};

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
    /// Validates the config (its fields at `path.<name>`) into a [`MultiStep`].
    pub fn build(&self, path: &str) -> Result<MultiStep, FieldIssue> {
        check::sorted(path, "milestones", &self.milestones)?;
        check::positive(path, "gamma", self.gamma)?;
        let powers = (0..=self.milestones.len()).map(|k| self.gamma.powi(k as i32)).collect();
        Ok(MultiStep { config: self.clone(), powers })
    }
}

/// A validated `multistep` schedule, with `gamma^k` precomputed for every number `k` of passed
/// milestones.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiStep {
    config: MultiStepConfig,
    /// `powers[k] = gamma^k`, `k` in `0..=milestones.len()`.
    powers: Vec<f64>,
}

impl MultiStep {
    /// The validated config.
    pub fn config(&self) -> &MultiStepConfig {
        &self.config
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let passed = self.config.milestones.partition_point(|&m| m <= t);
        base * self.powers[passed]
    }
}

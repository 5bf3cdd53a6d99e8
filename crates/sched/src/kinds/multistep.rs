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
    pub(crate) fn validate(&self, path: &str) -> Result<(), FieldIssue> {
        check::sorted(path, "milestones", &self.milestones)?;
        check::positive(path, "gamma", self.gamma)
    }

    /// `gamma^k` for every number `k` of milestones passed (0..=len).
    pub(crate) fn powers(&self) -> Vec<f64> {
        (0..=self.milestones.len()).map(|k| self.gamma.powi(k as i32)).collect()
    }

    /// LR at step `t` for base LR `base`, with `powers` from [`MultiStepConfig::powers`].
    #[inline]
    pub(crate) fn lr(&self, powers: &[f64], t: u64, base: f64) -> f64 {
        let passed = self.milestones.partition_point(|&m| m <= t);
        base * powers[passed]
    }
}

//! `exponential`: PyTorch's `ExponentialLR`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Geometric;
use crate::{FieldIssue, check};

/// `ExponentialLR`: `lr(t) = base · gamma^t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExponentialConfig {
    /// Multiplicative factor per step (> 0).
    pub gamma: f64,
}

impl ExponentialConfig {
    pub(crate) fn validate(&self, path: &str) -> Result<(), FieldIssue> {
        check::positive(path, "gamma", self.gamma)
    }

    /// LR at step `t` for base LR `base` (with `gamma`'s powers precomputed in `g`).
    #[inline]
    pub(crate) fn lr(&self, g: &Geometric, t: u64, base: f64) -> f64 {
        base * g.pow(t)
    }
}

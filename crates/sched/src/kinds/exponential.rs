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
    /// Validates the config (its fields at `path.<name>`) into an [`Exponential`].
    pub fn build(&self, path: &str) -> Result<Exponential, FieldIssue> {
        check::positive(path, "gamma", self.gamma)?;
        Ok(Exponential { config: self.clone(), gamma: Geometric::new(self.gamma) })
    }
}

/// A validated `exponential` schedule, with `gamma`'s powers precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Exponential {
    config: ExponentialConfig,
    gamma: Geometric,
}

impl Exponential {
    /// The validated config.
    pub fn config(&self) -> &ExponentialConfig {
        &self.config
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        base * self.gamma.pow(t)
    }
}

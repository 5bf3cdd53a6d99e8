//! `cosine`: PyTorch's `CosineAnnealingLR`.

use std::f64::consts::PI;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::f;
use crate::{FieldIssue, check};

/// `CosineAnnealingLR`: `lr(t) = eta_min + (base − eta_min) · (1 + cos(π · t / t_max)) / 2`.
///
/// Past `t_max` the formula keeps going (the LR rises again), exactly as PyTorch's does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CosineConfig {
    /// Half-period in steps: the LR reaches `eta_min` at `t = t_max` (≥ 1).
    pub t_max: u64,
    /// Minimum LR (absolute, ≥ 0; default 0).
    #[serde(default)]
    pub eta_min: f64,
}

impl CosineConfig {
    /// Validates the config (its fields at `path.<name>`) into a [`Cosine`].
    pub fn build(&self, path: &str) -> Result<Cosine, FieldIssue> {
        check::at_least(path, "t_max", self.t_max, 1)?;
        check::non_negative(path, "eta_min", self.eta_min)?;
        Ok(Cosine { config: self.clone() })
    }
}

/// A validated `cosine` schedule (nothing to precompute).
#[derive(Debug, Clone, PartialEq)]
pub struct Cosine {
    config: CosineConfig,
}

impl Cosine {
    /// The validated config.
    pub fn config(&self) -> &CosineConfig {
        &self.config
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        cosine_between(self.config.eta_min, base, f(t), f(self.config.t_max))
    }
}

/// `low + (high − low) · (1 + cos(π · num / den)) / 2`: PyTorch's cosine annealing term, with
/// its order of floating-point operations.
#[inline]
pub(crate) fn cosine_between(low: f64, high: f64, num: f64, den: f64) -> f64 {
    low + (high - low) * (1.0 + (PI * num / den).cos()) / 2.0
}

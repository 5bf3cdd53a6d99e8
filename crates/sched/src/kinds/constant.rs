//! `constant`: PyTorch's `ConstantLR`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{FieldIssue, check};

/// `ConstantLR`: `lr(t) = base · (factor + [t ≥ total_iters] · (1 − factor))`, i.e. `base · factor`
/// for `t < total_iters`, then `base`.
///
/// Defaults differ from PyTorch's (1/3 for 5 steps): `factor = 1`, `total_iters = 0` is a plain
/// constant LR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstantConfig {
    /// Multiplier of the base LR while `t < total_iters`, in `[0, 1]`.
    #[serde(default = "one")]
    pub factor: f64,
    /// Number of steps the factor applies to.
    #[serde(default)]
    pub total_iters: u64,
}

fn one() -> f64 {
    1.0
}

impl ConstantConfig {
    /// Validates the config (its fields at `path.<name>`) into a [`Constant`].
    pub fn build(&self, path: &str) -> Result<Constant, FieldIssue> {
        check::in_range(path, "factor", self.factor, (0.0, false), (1.0, false))?;
        Ok(Constant { config: self.clone() })
    }
}

/// A validated `constant` schedule (nothing to precompute).
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    config: ConstantConfig,
}

impl Constant {
    /// The validated config.
    pub fn config(&self) -> &ConstantConfig {
        &self.config
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let c = &self.config;
        let done = if t >= c.total_iters { 1.0 } else { 0.0 };
        base * (c.factor + done * (1.0 - c.factor))
    }
}

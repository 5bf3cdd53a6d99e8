//! `polynomial`: PyTorch's `PolynomialLR`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::f;
use crate::{FieldIssue, check};

/// `PolynomialLR`: `lr(t) = base · (1 − min(t, total_iters) / total_iters)^power` (0 from
/// `total_iters` on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolynomialConfig {
    /// Steps until the LR reaches 0 (≥ 1; PyTorch's default 5).
    #[serde(default = "five")]
    pub total_iters: u64,
    /// Power of the polynomial (finite, ≥ 0; default 1).
    #[serde(default = "one")]
    pub power: f64,
}

fn five() -> u64 {
    5
}
fn one() -> f64 {
    1.0
}

impl PolynomialConfig {
    /// Validates the config (its fields at `path.<name>`) into a [`Polynomial`].
    pub fn build(&self, path: &str) -> Result<Polynomial, FieldIssue> {
        check::at_least(path, "total_iters", self.total_iters, 1)?;
        check::non_negative(path, "power", self.power)?;
        Ok(Polynomial { config: self.clone() })
    }
}

/// A validated `polynomial` schedule (nothing to precompute).
#[derive(Debug, Clone, PartialEq)]
pub struct Polynomial {
    config: PolynomialConfig,
}

impl Polynomial {
    /// The validated config.
    pub fn config(&self) -> &PolynomialConfig {
        &self.config
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let c = &self.config;
        let x = 1.0 - f(t.min(c.total_iters)) / f(c.total_iters);
        // Small whole powers (the usual 1, 2, 3) by multiplication: ~2x cheaper than powf,
        // within an ulp or two of it.
        let y = if c.power.fract() == 0.0 && c.power <= 16.0 { x.powi(c.power as i32) } else { x.powf(c.power) };
        base * y
    }
}

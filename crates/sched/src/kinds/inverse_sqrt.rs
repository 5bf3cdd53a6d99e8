//! `inverse_sqrt`: Hugging Face's `get_inverse_sqrt_schedule`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::f;
use crate::{FieldIssue, check};

/// Hugging Face `inverse_sqrt`: `lr(t) = base · t / max(1, num_warmup_steps)` while
/// `t < num_warmup_steps`, then `base / sqrt((t + timescale − num_warmup_steps) / timescale)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InverseSqrtConfig {
    /// Linear warmup from 0 over this many steps (default 0).
    #[serde(default)]
    pub num_warmup_steps: u64,
    /// Time scale of the decay (≥ 1); defaults to `num_warmup_steps`, or 10 000 when that is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timescale: Option<u64>,
}

impl InverseSqrtConfig {
    /// Validates the config (its fields at `path.<name>`) into an [`InverseSqrt`].
    pub fn build(&self, path: &str) -> Result<InverseSqrt, FieldIssue> {
        if let Some(ts) = self.timescale {
            check::at_least(path, "timescale", ts, 1)?;
        }
        let timescale = match self.timescale {
            Some(ts) => ts,
            None if self.num_warmup_steps > 0 => self.num_warmup_steps,
            None => 10_000,
        };
        Ok(InverseSqrt { config: self.clone(), timescale })
    }
}

/// A validated `inverse_sqrt` schedule, with its time scale resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct InverseSqrt {
    config: InverseSqrtConfig,
    /// `timescale`, or its default.
    timescale: u64,
}

impl InverseSqrt {
    /// The validated config.
    pub fn config(&self) -> &InverseSqrtConfig {
        &self.config
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let w = self.config.num_warmup_steps;
        if t < w {
            return base * (f(t) / f(w.max(1)));
        }
        let ts = self.timescale;
        base * (1.0 / (f((t - w).saturating_add(ts)) / f(ts)).sqrt())
    }
}

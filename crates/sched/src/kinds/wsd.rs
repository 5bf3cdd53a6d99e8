//! `warmup_stable_decay`: Hugging Face's `get_wsd_schedule`.

use std::f64::consts::PI;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::f;
use crate::{FieldIssue, check};

/// Shape of the warmup or decay phase of `warmup_stable_decay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WsdShape {
    /// Linear in the phase's progress.
    #[serde(rename = "linear")]
    Linear,
    /// Half cosine.
    #[serde(rename = "cosine")]
    Cosine,
    /// `1 − sqrt(·)`.
    #[serde(rename = "1-sqrt")]
    OneMinusSqrt,
}

/// Hugging Face `warmup_stable_decay` (`get_wsd_schedule`), with `r = min_lr_ratio`:
/// - warmup, `t < W`, `p = t / max(1, W)`: factor `g(p) · (1 − r) + r` with `g` = `p` (linear),
///   `(1 − cos(π p)) / 2` (cosine) or `1 − sqrt(1 − p)` (1-sqrt);
/// - stable, `t < W + S`: factor 1;
/// - decay, `t < W + S + D`, `p = (t − W − S) / max(1, D)`: factor `g(p) · (1 − r) + r` with
///   `g` = `1 − p`, `(1 + cos(2π · num_cycles · p)) / 2` or `1 − sqrt(p)`;
/// - afterwards: factor `r`.
///
/// `lr(t) = base · max(0, factor)`. `S = num_stable_steps`, or
/// `num_training_steps − W − D` when only `num_training_steps` is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsdConfig {
    /// Warmup steps `W`.
    pub num_warmup_steps: u64,
    /// Decay steps `D`.
    pub num_decay_steps: u64,
    /// Total steps `W + S + D` (used when `num_stable_steps` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_training_steps: Option<u64>,
    /// Stable steps `S` (takes precedence over `num_training_steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_stable_steps: Option<u64>,
    /// Warmup shape (default `linear`).
    #[serde(default = "linear")]
    pub warmup_type: WsdShape,
    /// Decay shape (default `cosine`).
    #[serde(default = "cosine")]
    pub decay_type: WsdShape,
    /// Floor of the factor, in `[0, 1]` (default 0).
    #[serde(default)]
    pub min_lr_ratio: f64,
    /// Cosine waves in the decay phase (default 0.5: a half cosine).
    #[serde(default = "half")]
    pub num_cycles: f64,
}

fn linear() -> WsdShape {
    WsdShape::Linear
}
fn cosine() -> WsdShape {
    WsdShape::Cosine
}
fn half() -> f64 {
    0.5
}

impl WsdConfig {
    /// Validates the config (its fields at `path.<name>`) into a [`Wsd`].
    pub fn build(&self, path: &str) -> Result<Wsd, FieldIssue> {
        self.validate(path)?;
        Ok(Wsd { config: self.clone(), stable_steps: self.stable_steps() })
    }

    fn validate(&self, path: &str) -> Result<(), FieldIssue> {
        check::in_range(path, "min_lr_ratio", self.min_lr_ratio, (0.0, false), (1.0, false))?;
        check::positive(path, "num_cycles", self.num_cycles)?;
        match (self.num_stable_steps, self.num_training_steps) {
            (Some(_), _) => Ok(()),
            (None, Some(total)) => {
                let needed = self.num_warmup_steps.saturating_add(self.num_decay_steps);
                if total < needed {
                    Err(FieldIssue::new(
                        check::field(path, "num_training_steps"),
                        format!("must be >= num_warmup_steps + num_decay_steps = {needed} (got {total})"),
                    ))
                } else {
                    Ok(())
                }
            }
            (None, None) => Err(FieldIssue::new(
                check::field(path, "num_stable_steps"),
                "either num_stable_steps or num_training_steps is required",
            )),
        }
    }

    /// Stable steps `S`.
    pub fn stable_steps(&self) -> u64 {
        self.num_stable_steps.unwrap_or_else(|| {
            self.num_training_steps
                .unwrap_or(0)
                .saturating_sub(self.num_warmup_steps.saturating_add(self.num_decay_steps))
        })
    }
}

/// A validated `warmup_stable_decay` schedule, with its stable length resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Wsd {
    config: WsdConfig,
    /// [`WsdConfig::stable_steps`].
    stable_steps: u64,
}

impl Wsd {
    /// The validated config.
    pub fn config(&self) -> &WsdConfig {
        &self.config
    }

    fn floor(&self, g: f64) -> f64 {
        (g * (1.0 - self.config.min_lr_ratio) + self.config.min_lr_ratio).max(0.0)
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let c = &self.config;
        let w = c.num_warmup_steps;
        let s = self.stable_steps;
        let d = c.num_decay_steps;
        let factor = if t < w {
            let p = f(t) / f(w.max(1));
            self.floor(match c.warmup_type {
                WsdShape::Linear => p,
                WsdShape::Cosine => 0.5 * (1.0 - (PI * p).cos()),
                WsdShape::OneMinusSqrt => 1.0 - (1.0 - p).sqrt(),
            })
        } else if t - w < s {
            1.0
        } else if t - w - s < d {
            let p = f(t - w - s) / f(d.max(1));
            self.floor(match c.decay_type {
                WsdShape::Linear => 1.0 - p,
                WsdShape::Cosine => 0.5 * (1.0 + (PI * c.num_cycles * 2.0 * p).cos()),
                WsdShape::OneMinusSqrt => 1.0 - p.sqrt(),
            })
        } else {
            c.min_lr_ratio
        };
        base * factor
    }
}

//! `cyclic`: PyTorch's `CyclicLR` (with momentum cycling).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Geometric, f, inv_pow2};
use crate::{FieldIssue, check};

/// Shape of the cycles' amplitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CyclicMode {
    /// Constant amplitude: `scale = 1`.
    Triangular,
    /// Amplitude halves every cycle: `scale(c) = 1 / 2^(c − 1)`.
    Triangular2,
    /// Amplitude decays every step: `scale(t) = gamma^t`.
    ExpRange,
}

/// `CyclicLR`: with `total = step_size_up + step_size_down`, `c = ⌊1 + t / total⌋`,
/// `x = 1 + t / total − c`, `h = x / r` if `x ≤ r` else `(x − 1) / (r − 1)` where
/// `r = step_size_up / total`:
/// `lr(t) = base_lr + (max_lr − base_lr) · h · scale`, and when `cycle_momentum`,
/// `momentum(t) = max_momentum − (max_momentum − base_momentum) · h · scale`,
/// with `scale` from `mode` (of `c` for triangular modes, of `t` for `exp_range`).
///
/// The LRs are absolute (PyTorch overrides the optimizer's LR); with several parameter groups each
/// group's values are multiplied by the group's LR scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CyclicConfig {
    /// Lower LR bound of the cycle (≥ 0).
    pub base_lr: f64,
    /// Upper LR bound of the cycle (≥ `base_lr`).
    pub max_lr: f64,
    /// Steps in the increasing half of a cycle (≥ 1; default 2000).
    #[serde(default = "two_thousand")]
    pub step_size_up: u64,
    /// Steps in the decreasing half (≥ 1); equals `step_size_up` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size_down: Option<u64>,
    /// Amplitude policy (default `triangular`).
    #[serde(default = "triangular")]
    pub mode: CyclicMode,
    /// Decay base of `exp_range` (> 0; default 1).
    #[serde(default = "one")]
    pub gamma: f64,
    /// Cycle the momentum (SGD `momentum`, Adam `betas[0]`) inversely to the LR (default true).
    #[serde(default = "yes")]
    pub cycle_momentum: bool,
    /// Lower momentum bound, in `[0, 1]` (default 0.8).
    #[serde(default = "point_eight")]
    pub base_momentum: f64,
    /// Upper momentum bound, in `[base_momentum, 1]` (default 0.9).
    #[serde(default = "point_nine")]
    pub max_momentum: f64,
}

fn two_thousand() -> u64 {
    2000
}
fn triangular() -> CyclicMode {
    CyclicMode::Triangular
}
fn one() -> f64 {
    1.0
}
pub(crate) fn yes() -> bool {
    true
}
fn point_eight() -> f64 {
    0.8
}
fn point_nine() -> f64 {
    0.9
}

impl CyclicConfig {
    /// Validates the config (its fields at `path.<name>`) into a [`Cyclic`], precomputing the
    /// cycle's constants.
    pub fn build(&self, path: &str) -> Result<Cyclic, FieldIssue> {
        self.validate(path)?;
        let up = f(self.step_size_up);
        let total = up + f(self.step_size_down.unwrap_or(self.step_size_up));
        Ok(Cyclic { config: self.clone(), total, ratio: up / total, gamma: Geometric::new(self.gamma) })
    }

    fn validate(&self, path: &str) -> Result<(), FieldIssue> {
        check::non_negative(path, "base_lr", self.base_lr)?;
        check::non_negative(path, "max_lr", self.max_lr)?;
        if self.max_lr < self.base_lr {
            return Err(FieldIssue::new(
                check::field(path, "max_lr"),
                format!("must be >= base_lr ({} < {})", self.max_lr, self.base_lr),
            ));
        }
        check::at_least(path, "step_size_up", self.step_size_up, 1)?;
        if let Some(down) = self.step_size_down {
            check::at_least(path, "step_size_down", down, 1)?;
        }
        check::positive(path, "gamma", self.gamma)?;
        check::in_range(path, "base_momentum", self.base_momentum, (0.0, false), (1.0, false))?;
        check::in_range(path, "max_momentum", self.max_momentum, (self.base_momentum, false), (1.0, false))
    }
}

/// A validated `cyclic` schedule with its constants precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Cyclic {
    config: CyclicConfig,
    /// Cycle length in steps.
    total: f64,
    /// Fraction of the cycle spent going up.
    ratio: f64,
    /// Powers of `gamma` (`exp_range`).
    gamma: Geometric,
}

impl Cyclic {
    /// The validated config.
    pub fn config(&self) -> &CyclicConfig {
        &self.config
    }

    /// Steps where the LR or the momentum can be extreme within `[0, span)`: the first and last
    /// peaks and cycle starts (the amplitude is a monotone `gamma^t` times a triangle).
    pub(crate) fn extremes(&self, span: u64) -> Vec<u64> {
        let total = self.total as u64;
        let up = self.config.step_size_up;
        let last = span.saturating_sub(1);
        let last_start = last / total * total;
        let last_peak = if last_start + up <= last { last_start + up } else { last_start.saturating_sub(total - up) };
        vec![up.min(last), last_peak, last_start, last_start.saturating_sub(total), last]
    }

    /// `height · scale` at step `t`: the fraction of the way from base to max (PyTorch's
    /// `scale_factor · scale_fn(…)`), shared by the LR and the momentum.
    #[inline]
    fn amplitude(&self, t: u64) -> f64 {
        let cycle = (1.0 + f(t) / self.total).floor();
        let x = 1.0 + f(t) / self.total - cycle;
        let height = if x <= self.ratio { x / self.ratio } else { (x - 1.0) / (self.ratio - 1.0) };
        match self.config.mode {
            CyclicMode::Triangular => height,
            CyclicMode::Triangular2 => height * inv_pow2(cycle as u64 - 1),
            CyclicMode::ExpRange => height * self.gamma.pow(t),
        }
    }

    /// LR at step `t` for a group whose LR scale is `scale`.
    #[inline]
    pub fn lr(&self, t: u64, scale: f64) -> f64 {
        let c = &self.config;
        (c.base_lr + (c.max_lr - c.base_lr) * self.amplitude(t)) * scale
    }

    /// Momentum at step `t`, when `cycle_momentum`.
    #[inline]
    pub fn momentum(&self, t: u64) -> Option<f64> {
        let c = &self.config;
        c.cycle_momentum.then(|| c.max_momentum - (c.max_momentum - c.base_momentum) * self.amplitude(t))
    }

    /// LR and momentum at step `t`, sharing the work.
    #[inline]
    pub fn values(&self, t: u64, scale: f64) -> (f64, Option<f64>) {
        let c = &self.config;
        let a = self.amplitude(t);
        let lr = (c.base_lr + (c.max_lr - c.base_lr) * a) * scale;
        (lr, c.cycle_momentum.then_some(c.max_momentum - (c.max_momentum - c.base_momentum) * a))
    }
}

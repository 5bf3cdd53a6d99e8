//! `swa`: PyTorch's `torch.optim.swa_utils.SWALR`, stepped once per optimizer step.

use std::f64::consts::PI;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::f;
use super::one_cycle::AnnealStrategy;
use crate::{FieldIssue, check};

/// `SWALR(optimizer, swa_lr, anneal_epochs=anneal_steps, anneal_strategy)`, its `step()` called
/// after every optimizer step: the LR anneals from `start` (the LR in effect when the schedule
/// takes over) to `swa_lr` over `anneal_steps` steps, then stays at `swa_lr`:
///
/// `lr(t) = swa_lr · α(t) + start · (1 − α(t))`, with `p = clamp(t / max(1, anneal_steps), 0, 1)`
/// (`p = 1` at every step when `anneal_steps = 0`) and `α = (1 − cos(π·p)) / 2` for `cos`,
/// `α = p` for `linear`.
///
/// `start` is the group's base LR when `swa` stands alone (or after its `warmup:`); as child `k > 0`
/// of a `sequential`, it is the LR child `k − 1` reached at the milestone, as in PyTorch's
/// documented pattern (`scheduler.step()` until `swa_start`, then `swa_scheduler.step()`): the
/// milestone step itself still uses that LR (`α(0) = 0`) and step `milestone + j` uses `α(j)`.
/// PyTorch recovers `start` from the current LR at every step (`(lr − α·swa_lr) / (1 − α)`); this
/// closed form equals that recursion to rounding (1e-12 relative in the parity cases).
///
/// `swa_lr` is absolute, like `cyclic`'s LRs: a parameter group whose base LR is `s` times
/// `optimizer.lr` anneals to `s · swa_lr` (PyTorch's per-group `swa_lr` list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwaConfig {
    /// The LR annealed to and then held (absolute, finite, > 0).
    pub swa_lr: f64,
    /// Length of the anneal in optimizer steps (PyTorch's `anneal_epochs`, ≥ 0; default 10; 0
    /// switches to `swa_lr` at once).
    #[serde(default = "ten")]
    pub anneal_steps: u64,
    /// Annealing shape: `cos` (default) or `linear`.
    #[serde(default = "cos")]
    pub anneal_strategy: AnnealStrategy,
}

fn ten() -> u64 {
    10
}
fn cos() -> AnnealStrategy {
    AnnealStrategy::Cos
}

impl SwaConfig {
    /// Validates the config (its fields at `path.<name>`) into a [`Swa`].
    pub fn build(&self, path: &str) -> Result<Swa, FieldIssue> {
        check::positive(path, "swa_lr", self.swa_lr)?;
        Ok(Swa { config: self.clone() })
    }
}

/// A validated `swa` schedule (nothing to precompute).
#[derive(Debug, Clone, PartialEq)]
pub struct Swa {
    config: SwaConfig,
}

impl Swa {
    /// The validated config.
    pub fn config(&self) -> &SwaConfig {
        &self.config
    }

    /// The annealing weight `α(t)` of `swa_lr` at local step `t`, with PyTorch's operations.
    #[inline]
    pub fn alpha(&self, t: u64) -> f64 {
        let c = &self.config;
        let step = if c.anneal_steps == 0 { t.max(1) } else { t };
        let p = (f(step) / f(c.anneal_steps.max(1))).clamp(0.0, 1.0);
        match c.anneal_strategy {
            AnnealStrategy::Cos => (1.0 - (PI * p).cos()) / 2.0,
            AnnealStrategy::Linear => p,
        }
    }

    /// LR at local step `t`, annealing from `start` for a group of scale `scale`
    /// (`group base LR / optimizer.lr`).
    #[inline]
    pub fn lr(&self, t: u64, start: f64, scale: f64) -> f64 {
        let alpha = self.alpha(t);
        self.config.swa_lr * scale * alpha + start * (1.0 - alpha)
    }
}

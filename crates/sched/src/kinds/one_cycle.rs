//! `one_cycle`: PyTorch's `OneCycleLR` (with momentum cycling).

use std::f64::consts::PI;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{cyclic::yes, f};
use crate::{FieldIssue, check};

/// Interpolation inside a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnnealStrategy {
    /// `end + (start − end) / 2 · (cos(π · pct) + 1)`.
    Cos,
    /// `start + (end − start) · pct`.
    Linear,
}

/// `OneCycleLR`: with `initial = max_lr / div_factor` and `min = initial / final_div_factor`, the
/// LR anneals `initial → max_lr` over steps `[0, pct_start · total_steps − 1]`, then
/// `max_lr → min` until `total_steps − 1` (`three_phase`: `initial → max_lr → initial → min`,
/// phase ends `p·T − 1`, `2p·T − 2`, `T − 1`); within a phase `pct = (t − start) / (end − start)`
/// and the anneal is `anneal_strategy`. Momentum, when cycled, moves the opposite way between
/// `max_momentum` and `base_momentum`.
///
/// From `total_steps − 1` on, the LR holds its final value `min` (PyTorch refuses steps past
/// `total_steps`, and at exactly `total_steps` extrapolates the last phase, which can go below
/// `min`, even negative with `linear`). LRs are absolute; several parameter groups multiply them
/// by their LR scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OneCycleConfig {
    /// Peak LR (> 0).
    pub max_lr: f64,
    /// Length of the cycle in steps (≥ 2). Either this or `epochs` × `steps_per_epoch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<u64>,
    /// Epochs, used with `steps_per_epoch` when `total_steps` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u64>,
    /// Optimizer steps per epoch, used with `epochs` when `total_steps` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_epoch: Option<u64>,
    /// Fraction of the cycle spent increasing the LR, in `[0, 1]` (default 0.3).
    #[serde(default = "point_three")]
    pub pct_start: f64,
    /// Annealing shape (default `cos`).
    #[serde(default = "cos")]
    pub anneal_strategy: AnnealStrategy,
    /// Cycle the momentum inversely to the LR (default true).
    #[serde(default = "yes")]
    pub cycle_momentum: bool,
    /// Momentum at the LR peak, in `[0, 1]` (default 0.85).
    #[serde(default = "point_eighty_five")]
    pub base_momentum: f64,
    /// Momentum at the ends, in `[base_momentum, 1]` (default 0.95).
    #[serde(default = "point_ninety_five")]
    pub max_momentum: f64,
    /// `initial_lr = max_lr / div_factor` (> 0; default 25).
    #[serde(default = "twenty_five")]
    pub div_factor: f64,
    /// `min_lr = initial_lr / final_div_factor` (> 0; default 1e4).
    #[serde(default = "ten_thousand")]
    pub final_div_factor: f64,
    /// Use the three-phase variant (default false).
    #[serde(default)]
    pub three_phase: bool,
}

fn point_three() -> f64 {
    0.3
}
fn cos() -> AnnealStrategy {
    AnnealStrategy::Cos
}
fn point_eighty_five() -> f64 {
    0.85
}
fn point_ninety_five() -> f64 {
    0.95
}
fn twenty_five() -> f64 {
    25.0
}
fn ten_thousand() -> f64 {
    1e4
}

/// One annealing phase: ends at `end_step` (a float, as in PyTorch).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Phase {
    end_step: f64,
    lr: (f64, f64),
    momentum: (f64, f64),
}

/// A validated one-cycle schedule with its phases precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct OneCycle {
    config: OneCycleConfig,
    total_steps: u64,
    phases: [Phase; 3],
    len: usize,
}

impl OneCycleConfig {
    /// Validates the config (its fields at `path.<name>`) into a [`OneCycle`], precomputing its
    /// phases.
    pub fn build(&self, path: &str) -> Result<OneCycle, FieldIssue> {
        let c = self;
        check::positive(path, "max_lr", c.max_lr)?;
        let total_steps = match (c.total_steps, c.epochs, c.steps_per_epoch) {
            (Some(total), _, _) => total,
            (None, Some(e), Some(s)) => e
                .checked_mul(s)
                .ok_or_else(|| FieldIssue::new(check::field(path, "epochs"), "epochs × steps_per_epoch overflows"))?,
            _ => {
                return Err(FieldIssue::new(
                    check::field(path, "total_steps"),
                    "is required (or both epochs and steps_per_epoch)",
                ));
            }
        };
        check::at_least(path, "total_steps", total_steps, 2)?;
        check::in_range(path, "pct_start", c.pct_start, (0.0, false), (1.0, false))?;
        check::positive(path, "div_factor", c.div_factor)?;
        check::positive(path, "final_div_factor", c.final_div_factor)?;
        check::in_range(path, "base_momentum", c.base_momentum, (0.0, false), (1.0, false))?;
        check::in_range(path, "max_momentum", c.max_momentum, (c.base_momentum, false), (1.0, false))?;

        let initial = c.max_lr / c.div_factor;
        let min = initial / c.final_div_factor;
        let (lo_m, hi_m) = (c.base_momentum, c.max_momentum);
        let total = f(total_steps);
        let warm_end = c.pct_start * total - 1.0;
        let phase = |end_step, lr, momentum| Phase { end_step, lr, momentum };
        let (phases, len) = if c.three_phase {
            (
                [
                    phase(warm_end, (initial, c.max_lr), (hi_m, lo_m)),
                    phase(2.0 * c.pct_start * total - 2.0, (c.max_lr, initial), (lo_m, hi_m)),
                    phase(total - 1.0, (initial, min), (hi_m, hi_m)),
                ],
                3,
            )
        } else {
            let last = phase(total - 1.0, (c.max_lr, min), (lo_m, hi_m));
            ([phase(warm_end, (initial, c.max_lr), (hi_m, lo_m)), last, last], 2)
        };
        // PyTorch divides by the length of the phase a step falls in. A middle phase is only
        // reached by steps after the previous phase's end, so its length is then positive; the
        // first phase starts at 0 (a step 0 with `end = 0` would divide by zero), and the last
        // takes every remaining step (three_phase with pct_start > 0.5 makes it run backwards).
        let last = &phases[len - 1];
        let before_last = phases[len - 2].end_step;
        for (i, bad) in [(0, phases[0].end_step == 0.0), (len - 1, last.end_step <= before_last)] {
            if bad {
                let start = if i == 0 { 0.0 } else { before_last };
                return Err(FieldIssue::new(
                    check::field(path, "pct_start"),
                    format!(
                        "gives an empty or backwards phase {} (from step {start} to {}) for total_steps = {total_steps}",
                        i + 1,
                        phases[i].end_step
                    ),
                ));
            }
        }
        Ok(OneCycle { config: c.clone(), total_steps, phases, len })
    }
}

impl OneCycle {
    /// The cycle length in steps.
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// The validated config.
    pub fn config(&self) -> &OneCycleConfig {
        &self.config
    }

    /// The last step of each phase, rounded down and up: where the LR and the momentum reach
    /// their extremes (the horizon check evaluates there).
    pub(crate) fn phase_ends(&self) -> impl Iterator<Item = u64> + '_ {
        self.phases[..self.len].iter().flat_map(|p| {
            let end = p.end_step.max(0.0);
            [end.floor() as u64, end.ceil() as u64]
        })
    }

    /// The shape factor of `pct` shared by every annealed quantity: `cos(π·pct) + 1` for
    /// `cos`, `pct` for `linear`.
    #[inline]
    fn shape(&self, pct: f64) -> f64 {
        match self.config.anneal_strategy {
            AnnealStrategy::Cos => (PI * pct).cos() + 1.0,
            AnnealStrategy::Linear => pct,
        }
    }

    /// PyTorch's `_annealing_cos`/`_annealing_linear` from `start` to `end` given `shape(pct)`.
    #[inline]
    fn anneal(&self, (start, end): (f64, f64), shape: f64) -> f64 {
        match self.config.anneal_strategy {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * shape,
            AnnealStrategy::Linear => (end - start) * shape + start,
        }
    }

    /// `(phase, pct)` at step `t` (held at `total_steps − 1` beyond it).
    fn locate(&self, t: u64) -> (&Phase, f64) {
        let step = f(t.min(self.total_steps - 1));
        let mut start = 0.0;
        for (i, p) in self.phases[..self.len].iter().enumerate() {
            if step <= p.end_step || i == self.len - 1 {
                return (p, (step - start) / (p.end_step - start));
            }
            start = p.end_step;
        }
        (&self.phases[0], 0.0)
    }

    /// LR at step `t` for a group whose LR scale is `scale`.
    #[inline]
    pub fn lr(&self, t: u64, scale: f64) -> f64 {
        let (p, pct) = self.locate(t);
        self.anneal(p.lr, self.shape(pct)) * scale
    }

    /// Momentum at step `t`, when `cycle_momentum`.
    #[inline]
    pub fn momentum(&self, t: u64) -> Option<f64> {
        self.config.cycle_momentum.then(|| {
            let (p, pct) = self.locate(t);
            self.anneal(p.momentum, self.shape(pct))
        })
    }

    /// LR and momentum at step `t`, sharing the phase lookup and the cosine.
    #[inline]
    pub fn values(&self, t: u64, scale: f64) -> (f64, Option<f64>) {
        let (p, pct) = self.locate(t);
        let shape = self.shape(pct);
        (self.anneal(p.lr, shape) * scale, self.config.cycle_momentum.then(|| self.anneal(p.momentum, shape)))
    }
}

//! The SGD [`Rule`]: one update of one parameter, exactly `torch.optim.SGD` (single-tensor path).

use candle_core::{Result, Tensor, Var};

use super::OptimError;
use super::config::SgdConfig;
use super::optimizer::GroupStep;
use super::rule::{MomentumRange, Rule};
use super::state::Saved;

/// The hyperparameters of one SGD update.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SgdStep {
    /// Learning rate of this step.
    pub lr: f64,
    /// Momentum of this step (the config's, or the schedule's override).
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay of the parameter's group.
    pub weight_decay: f64,
}

/// Updates `param` in place from `grad`, with the momentum buffer `buf` (`None` until the first
/// step with momentum, as in PyTorch):
///
/// ```text
/// g = grad + weight_decay·p                          (if weight_decay ≠ 0)
/// buf = g (first step) | momentum·buf + (1 − dampening)·g
/// g = g + momentum·buf (nesterov) | buf              (if momentum ≠ 0)
/// p = p − lr·g
/// ```
pub(crate) fn sgd_update(param: &Var, grad: &Tensor, buf: &mut Option<Tensor>, h: &SgdStep) -> Result<()> {
    let p = param.as_tensor().detach();
    let mut g = grad.detach();
    if h.weight_decay != 0.0 {
        g = (&g + (&p * h.weight_decay)?)?;
    }
    if h.momentum != 0.0 {
        let next = match buf.as_ref() {
            // A copy: the buffer must never share storage with anything that changes.
            None => g.copy()?,
            Some(b) => ((b * h.momentum)? + (&g * (1.0 - h.dampening))?)?,
        };
        g = if h.nesterov { (&g + (&next * h.momentum)?)? } else { next.clone() };
        *buf = Some(next);
    }
    param.set(&(p - (g * h.lr)?)?)
}

/// Name of the SGD momentum buffer in a state file (`<param>.momentum_buffer`).
pub(crate) const MOMENTUM_BUFFER: &str = "momentum_buffer";

/// The SGD rule: the config's momentum, dampening and Nesterov flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sgd {
    /// Momentum when the step does not override it.
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl From<&SgdConfig> for Sgd {
    fn from(c: &SgdConfig) -> Self {
        Self { momentum: c.momentum, dampening: c.dampening, nesterov: c.nesterov }
    }
}

/// The buffers of one parameter under SGD.
#[derive(Debug, Clone)]
pub(crate) struct SgdState {
    /// The momentum buffer, `None` until the first step with momentum.
    momentum_buffer: Option<Tensor>,
}

impl Rule for Sgd {
    type State = SgdState;
    type Hyper = SgdStep;

    fn kind(&self) -> &'static str {
        "sgd"
    }

    fn momentum_range(&self) -> MomentumRange {
        MomentumRange::UpToOne
    }

    fn init(&self, _param: &Var) -> Result<SgdState> {
        Ok(SgdState { momentum_buffer: None })
    }

    fn hyper(&self, setting: &GroupStep, weight_decay: f64) -> SgdStep {
        SgdStep {
            lr: setting.lr,
            momentum: setting.momentum.unwrap_or(self.momentum),
            dampening: self.dampening,
            nesterov: self.nesterov,
            weight_decay,
        }
    }

    fn update(&self, param: &Var, grad: &Tensor, state: &mut SgdState, _step: u64, h: &SgdStep) -> Result<()> {
        sgd_update(param, grad, &mut state.momentum_buffer, h)
    }

    fn buffers<'s>(&self, state: &'s SgdState) -> Vec<(&'static str, &'s Tensor)> {
        state.momentum_buffer.iter().map(|b| (MOMENTUM_BUFFER, b)).collect()
    }

    fn load(&self, saved: &mut Saved<'_>) -> std::result::Result<SgdState, OptimError> {
        Ok(SgdState { momentum_buffer: saved.optional(MOMENTUM_BUFFER)? })
    }
}

//! The Adam/AdamW [`Rule`]: one update of one parameter, exactly `torch.optim.Adam`/`AdamW`
//! (single-tensor, non-amsgrad path).

use candle_core::{Result, Tensor, Var};

use super::OptimError;
use super::config::{AdamFields, AdamVariant, Decoupled, L2};
use super::optimizer::GroupStep;
use super::rule::{MomentumRange, Rule};
use super::state::Saved;

/// The hyperparameters of one Adam update.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamStep {
    /// Learning rate of this step.
    pub lr: f64,
    /// `beta1` of this step (the config's, or the schedule's momentum override).
    pub beta1: f64,
    /// `beta2`.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Weight decay of the parameter's group.
    pub weight_decay: f64,
    /// AdamW (decoupled decay `p *= 1 − lr·wd`) rather than Adam (L2 `g += wd·p`).
    pub decoupled: bool,
}

/// Updates `param` in place from `grad` and the moments; `step` is the parameter's step count
/// after this update (≥ 1):
///
/// ```text
/// p = p·(1 − lr·wd)  (AdamW)   |   g = g + wd·p  (Adam)        (if wd ≠ 0)
/// m = m + (1 − beta1)·(g − m)                                  (torch's lerp)
/// v = beta2·v + (1 − beta2)·g²
/// step_size = lr / (1 − beta1^step)
/// denom = sqrt(v) / sqrt(1 − beta2^step) + eps
/// p = p − step_size · m / denom
/// ```
pub(crate) fn adam_update(
    param: &Var,
    grad: &Tensor,
    exp_avg: &mut Tensor,
    exp_avg_sq: &mut Tensor,
    step: u64,
    h: &AdamStep,
) -> Result<()> {
    let mut p = param.as_tensor().detach();
    let mut g = grad.detach();
    if h.weight_decay != 0.0 {
        if h.decoupled {
            p = (p * (1.0 - h.lr * h.weight_decay))?;
        } else {
            g = (&g + (&p * h.weight_decay)?)?;
        }
    }
    let m = (&*exp_avg + ((&g - &*exp_avg)? * (1.0 - h.beta1))?)?;
    let v = ((&*exp_avg_sq * h.beta2)? + (g.sqr()? * (1.0 - h.beta2))?)?;
    let t = step as f64;
    let bias_correction1 = 1.0 - h.beta1.powf(t);
    let bias_correction2 = 1.0 - h.beta2.powf(t);
    let step_size = h.lr / bias_correction1;
    let denom = ((v.sqrt()? / bias_correction2.sqrt())? + h.eps)?;
    let next = (p - ((&m / &denom)? * step_size)?)?;
    param.set(&next)?;
    *exp_avg = m;
    *exp_avg_sq = v;
    Ok(())
}

/// Name of the Adam first moment average in a state file (`<param>.exp_avg`).
pub(crate) const EXP_AVG: &str = "exp_avg";
/// Name of the Adam second moment average in a state file (`<param>.exp_avg_sq`).
pub(crate) const EXP_AVG_SQ: &str = "exp_avg_sq";

/// The Adam rule (`decoupled`: AdamW): the config's betas and epsilon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Adam {
    /// `[beta1, beta2]`; a step may override `beta1`.
    pub betas: [f64; 2],
    /// Denominator epsilon.
    pub eps: f64,
    /// AdamW (decoupled decay `p *= 1 − lr·wd`) rather than Adam (L2 `g += wd·p`).
    pub decoupled: bool,
}

impl<V: AdamVariant> From<&AdamFields<V>> for Adam {
    fn from(c: &AdamFields<V>) -> Self {
        Self { betas: c.betas, eps: c.eps, decoupled: V::DECOUPLED }
    }
}

/// The buffers of one parameter under Adam/AdamW: the moment averages (zeros before the first
/// step).
#[derive(Debug, Clone)]
pub(crate) struct AdamState {
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

impl Rule for Adam {
    type State = AdamState;
    type Hyper = AdamStep;

    fn kind(&self) -> &'static str {
        if self.decoupled { Decoupled::KIND } else { L2::KIND }
    }

    fn momentum_range(&self) -> MomentumRange {
        MomentumRange::BelowOne
    }

    fn init(&self, param: &Var) -> Result<AdamState> {
        Ok(AdamState { exp_avg: param.zeros_like()?, exp_avg_sq: param.zeros_like()? })
    }

    fn hyper(&self, setting: &GroupStep, weight_decay: f64) -> AdamStep {
        AdamStep {
            lr: setting.lr,
            beta1: setting.momentum.unwrap_or(self.betas[0]),
            beta2: self.betas[1],
            eps: self.eps,
            weight_decay,
            decoupled: self.decoupled,
        }
    }

    fn update(&self, param: &Var, grad: &Tensor, state: &mut AdamState, step: u64, h: &AdamStep) -> Result<()> {
        adam_update(param, grad, &mut state.exp_avg, &mut state.exp_avg_sq, step, h)
    }

    fn buffers<'s>(&self, state: &'s AdamState) -> Vec<(&'static str, &'s Tensor)> {
        vec![(EXP_AVG, &state.exp_avg), (EXP_AVG_SQ, &state.exp_avg_sq)]
    }

    fn load(&self, saved: &mut Saved<'_>) -> std::result::Result<AdamState, OptimError> {
        let exp_avg = saved.required(EXP_AVG)?;
        let exp_avg_sq = saved.required(EXP_AVG_SQ)?;
        Ok(AdamState { exp_avg, exp_avg_sq })
    }
}

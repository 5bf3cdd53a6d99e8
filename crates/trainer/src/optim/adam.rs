//! One Adam/AdamW update of one parameter, exactly `torch.optim.Adam`/`AdamW` (single-tensor,
//! non-amsgrad path).

use candle_core::{Result, Tensor, Var};

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

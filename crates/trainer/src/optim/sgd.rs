//! One SGD update of one parameter, exactly `torch.optim.SGD` (single-tensor path).

use candle_core::{Result, Tensor, Var};

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

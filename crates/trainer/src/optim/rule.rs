//! [`Rule`]: what one optimizer kind does to one parameter, with the per-parameter buffers it
//! keeps. [`Sgd`](super::sgd::Sgd) and [`Adam`](super::adam::Adam) (`decoupled` for AdamW)
//! implement it; the optimizer holds the state of every parameter typed by its rule, so no
//! update can meet the buffers of another kind.

use std::fmt::Debug;

use candle_core::{Tensor, Var};

use super::OptimError;
use super::optimizer::GroupStep;
use super::state::Saved;

/// An update rule: the per-parameter state, the per-step update, and the state's tensor names
/// in a state file.
pub(crate) trait Rule: Debug + Send + Sync + 'static {
    /// The buffers of one parameter (its step count is kept by the optimizer).
    type State: Debug + Send + Sync;
    /// The settings of one step for one parameter group, resolved once per group and step.
    type Hyper;

    /// The optimizer kind, as in configs and the state file's kind check (`sgd`, `adam`,
    /// `adamw`).
    fn kind(&self) -> &'static str;

    /// The momentum overrides a step accepts.
    fn momentum_range(&self) -> MomentumRange;

    /// Fresh buffers for `param` (also the state after a reset).
    fn init(&self, param: &Var) -> candle_core::Result<Self::State>;

    /// The settings of a step for a group: `setting` (LR, momentum override) and the group's
    /// weight decay, completed with the rule's own hyperparameters.
    fn hyper(&self, setting: &GroupStep, weight_decay: f64) -> Self::Hyper;

    /// Updates `param` in place from `grad` and `state`; `step` is the parameter's step count
    /// after this update (≥ 1).
    fn update(
        &self,
        param: &Var,
        grad: &Tensor,
        state: &mut Self::State,
        step: u64,
        hyper: &Self::Hyper,
    ) -> candle_core::Result<()>;

    /// The buffers that exist, named as in a state file (`<param>.<name>`), in file order.
    fn buffers<'s>(&self, state: &'s Self::State) -> Vec<(&'static str, &'s Tensor)>;

    /// Rebuilds the buffers of one parameter from a state file (names as in
    /// [`Rule::buffers`]).
    fn load(&self, saved: &mut Saved<'_>) -> Result<Self::State, OptimError>;
}

/// The momentum overrides a rule accepts: SGD's `momentum` in `[0, 1]`, Adam's `beta1` in
/// `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MomentumRange {
    /// `[0, 1]`.
    UpToOne,
    /// `[0, 1)`.
    BelowOne,
}

impl MomentumRange {
    /// Whether `m` lies in the range (NaN never does).
    pub(crate) fn contains(self, m: f64) -> bool {
        m >= 0.0
            && match self {
                MomentumRange::UpToOne => m <= 1.0,
                MomentumRange::BelowOne => m < 1.0,
            }
    }

    /// The range as written in error messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MomentumRange::UpToOne => "[0, 1]",
            MomentumRange::BelowOne => "[0, 1)",
        }
    }
}

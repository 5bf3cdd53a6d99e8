//! [`Bank`]: the parameters of an optimizer with their state, typed by its [`Rule`], and the
//! object-safe [`Engine`] through which [`Optimizer`](super::Optimizer) drives it (one dynamic
//! call per optimizer operation, none per parameter).

use candle_core::Var;
use candle_core::backprop::GradStore;

use super::groups::{Named, ParamGroup};
use super::rule::{MomentumRange, Rule};
use super::state::{self, ParamState, Saved};
use super::{GroupStep, OptimError, StateError};

/// What [`Optimizer`](super::Optimizer) needs from the parameters and their state, whatever the
/// rule.
pub(crate) trait Engine: std::fmt::Debug + Send + Sync {
    /// The optimizer kind (`sgd`, `adam`, `adamw`).
    fn kind(&self) -> &'static str;
    /// The momentum overrides a step accepts.
    fn momentum_range(&self) -> MomentumRange;
    /// One step over the groups (`settings` already checked, one per group).
    fn step(&mut self, groups: &[ParamGroup], grads: &GradStore, settings: &[GroupStep]) -> Result<(), OptimError>;
    /// The state of parameter `name`, if the optimizer has it.
    fn param_state(&self, name: &str) -> Option<ParamState<'_>>;
    /// Back to fresh state: step counts 0, fresh buffers.
    fn reset(&mut self) -> Result<(), OptimError>;
    /// The state as safetensors bytes.
    fn state_bytes(&self) -> Result<Vec<u8>, OptimError>;
    /// Loads a state from safetensors bytes; on error the state is unchanged.
    fn load_state_bytes(&mut self, bytes: &[u8]) -> Result<(), OptimError>;
}

/// One parameter with its step count and buffers.
#[derive(Debug)]
struct Slot<S> {
    name: String,
    var: Var,
    /// Updates applied to the parameter (steps where it had a gradient).
    step: u64,
    state: S,
}

/// The parameters of an optimizer, by group, with their state under rule `R`.
#[derive(Debug)]
pub(crate) struct Bank<R: Rule> {
    rule: R,
    /// `slots[i]`: the parameters of group `i`, in the order of its `param_names`.
    slots: Vec<Vec<Slot<R::State>>>,
}

impl<R: Rule> Bank<R> {
    /// Fresh state for the parameters of each group (`groups[i]`: the parameters of group `i`).
    pub(crate) fn new(rule: R, groups: Vec<Vec<Named>>) -> Result<Self, OptimError> {
        let slots = groups
            .into_iter()
            .map(|params| {
                params
                    .into_iter()
                    .map(|(name, var)| Ok(Slot { state: rule.init(&var)?, name, var, step: 0 }))
                    .collect::<Result<Vec<_>, OptimError>>()
            })
            .collect::<Result<Vec<_>, OptimError>>()?;
        Ok(Self { rule, slots })
    }
}

impl<R: Rule> Engine for Bank<R> {
    fn kind(&self) -> &'static str {
        self.rule.kind()
    }

    fn momentum_range(&self) -> MomentumRange {
        self.rule.momentum_range()
    }

    fn step(&mut self, groups: &[ParamGroup], grads: &GradStore, settings: &[GroupStep]) -> Result<(), OptimError> {
        for ((group, slots), setting) in groups.iter().zip(&mut self.slots).zip(settings) {
            let hyper = self.rule.hyper(setting, group.weight_decay());
            for slot in slots.iter_mut() {
                let Some(grad) = grads.get(slot.var.as_tensor()) else { continue };
                let next = slot.step + 1;
                self.rule.update(&slot.var, grad, &mut slot.state, next, &hyper)?;
                slot.step = next;
            }
        }
        Ok(())
    }

    fn param_state(&self, name: &str) -> Option<ParamState<'_>> {
        let slot = self.slots.iter().flatten().find(|s| s.name == name)?;
        Some(ParamState::new(slot.step, self.rule.buffers(&slot.state)))
    }

    fn reset(&mut self) -> Result<(), OptimError> {
        for slot in self.slots.iter_mut().flatten() {
            slot.state = self.rule.init(&slot.var)?;
            slot.step = 0;
        }
        Ok(())
    }

    fn state_bytes(&self) -> Result<Vec<u8>, OptimError> {
        let mut tensors = Vec::new();
        for slot in self.slots.iter().flatten() {
            state::push(&mut tensors, &slot.name, &slot.var, slot.step, &self.rule.buffers(&slot.state))?;
        }
        state::to_bytes(self.kind(), tensors)
    }

    fn load_state_bytes(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let mut tensors = state::read(bytes, self.kind())?;
        let mut loaded = Vec::new();
        for slot in self.slots.iter().flatten() {
            let mut saved = Saved::new(&mut tensors, &slot.name, &slot.var);
            let step = saved.step()?;
            loaded.push((step, self.rule.load(&mut saved)?));
        }
        if let Some(name) = tensors.keys().min() {
            return Err(StateError::Unexpected(name.clone()).into());
        }
        for (slot, (step, state)) in self.slots.iter_mut().flatten().zip(loaded) {
            slot.step = step;
            slot.state = state;
        }
        Ok(())
    }
}

//! [`Optimizer`]: parameter groups, the per-step update with per-group LR and momentum, and the
//! checkpointable state.

use std::path::Path;

use candle_core::Var;
use candle_core::backprop::GradStore;
use candle_nn::VarMap;
use sched::Schedule;

use super::OptimError;
use super::adam::{AdamStep, adam_update};
use super::config::OptimizerConfig;
use super::groups::{ParamGroup, assign};
use super::sgd::{SgdStep, sgd_update};
use super::state::{self, Moments, ParamState};

/// What one optimizer step uses for one parameter group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupStep {
    /// Learning rate of the step (finite, ≥ 0), normally
    /// `schedule.group_lr(t, group.base_lr())`.
    pub lr: f64,
    /// Momentum override (SGD `momentum`, Adam `betas[0]`), normally `schedule.momentum(t)`;
    /// `None` keeps the configured value.
    pub momentum: Option<f64>,
}

/// One parameter with its state.
#[derive(Debug)]
struct Slot {
    name: String,
    var: Var,
    state: ParamState,
}

/// An SGD, Adam or AdamW optimizer over named parameters split into groups.
///
/// The caller drives the LR (and possibly the momentum) of every step, normally from a
/// [`Schedule`]: see [`Optimizer::step_scheduled`].
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    groups: Vec<ParamGroup>,
    /// `slots[i]`: the parameters of `groups[i]`, in the same order as its `param_names`.
    slots: Vec<Vec<Slot>>,
}

impl Optimizer {
    /// Validates `config` and builds the optimizer over `params` (name, variable); non-float
    /// variables are left out. Errors: invalid config, no float parameter, a name given twice, a
    /// configured group matching no parameter.
    pub fn new(config: &OptimizerConfig, params: impl IntoIterator<Item = (String, Var)>) -> Result<Self, OptimError> {
        config.validate()?;
        let adam = !matches!(config, OptimizerConfig::Sgd(_));
        let mut groups = Vec::new();
        let mut slots = Vec::new();
        for (group, params) in assign(config, params)? {
            let group_slots = params
                .into_iter()
                .map(|(name, var)| Ok(Slot { state: ParamState::new(&var, adam)?, name, var }))
                .collect::<Result<Vec<_>, OptimError>>()?;
            groups.push(group);
            slots.push(group_slots);
        }
        Ok(Self { config: config.clone(), groups, slots })
    }

    /// [`Optimizer::new`] over every variable of `varmap`, named as in the map
    /// (e.g. `encoder.layer.0.weight`).
    pub fn from_varmap(config: &OptimizerConfig, varmap: &VarMap) -> Result<Self, OptimError> {
        let params: Vec<(String, Var)> = {
            // A poisoned lock only means another thread panicked while holding it; the map is intact.
            let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        Self::new(config, params)
    }

    /// The config the optimizer was built from.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The optimizer kind (`sgd`, `adam`, `adamw`).
    pub fn kind(&self) -> &'static str {
        self.config.kind_name()
    }

    /// The parameter groups, in step order: `default` first (when some parameter matches no
    /// group), then the configured groups in config order. Log `train/lr/<name>` per group.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    /// The state of parameter `name`, if the optimizer has it.
    pub fn param_state(&self, name: &str) -> Option<&ParamState> {
        self.slots.iter().flatten().find(|s| s.name == name).map(|s| &s.state)
    }

    /// The settings of step `t` from `schedule`, one per group: `schedule.group_lr(t, base_lr)`
    /// and `schedule.momentum(t)`.
    pub fn scheduled(&self, schedule: &Schedule, t: u64) -> Vec<GroupStep> {
        let momentum = schedule.momentum(t);
        self.groups.iter().map(|g| GroupStep { lr: schedule.group_lr(t, g.base_lr()), momentum }).collect()
    }

    /// Step `t` (0-based) driven by `schedule`: [`Optimizer::scheduled`] then [`Optimizer::step`].
    /// Returns the settings used (one per group, for logging).
    pub fn step_scheduled(
        &mut self,
        grads: &GradStore,
        schedule: &Schedule,
        t: u64,
    ) -> Result<Vec<GroupStep>, OptimError> {
        let settings = self.scheduled(schedule, t);
        self.step(grads, &settings)?;
        Ok(settings)
    }

    /// One optimizer step: `settings[i]` (LR, momentum override) applies to `groups()[i]`.
    /// Parameters without a gradient in `grads` are left alone (their step count too), as in
    /// PyTorch. All settings are checked before anything changes.
    pub fn step(&mut self, grads: &GradStore, settings: &[GroupStep]) -> Result<(), OptimError> {
        self.check(settings)?;
        for ((group, slots), setting) in self.groups.iter().zip(&mut self.slots).zip(settings) {
            for slot in slots.iter_mut() {
                let Some(grad) = grads.get(slot.var.as_tensor()) else { continue };
                let (step, moments) = slot.state.parts_mut();
                let next = *step + 1;
                // States are always built for the optimizer's own kind (`new`, `load_state_bytes`),
                // so the `_ => continue` arms never run.
                match (&self.config, moments) {
                    (OptimizerConfig::Sgd(c), Moments::Sgd { momentum_buffer }) => {
                        let h = SgdStep {
                            lr: setting.lr,
                            momentum: setting.momentum.unwrap_or(c.momentum),
                            dampening: c.dampening,
                            nesterov: c.nesterov,
                            weight_decay: group.weight_decay(),
                        };
                        sgd_update(&slot.var, grad, momentum_buffer, &h)?;
                    }
                    (config, Moments::Adam { exp_avg, exp_avg_sq }) => {
                        let (betas, eps, decoupled) = match config {
                            OptimizerConfig::Adam(c) => (c.betas, c.eps, false),
                            OptimizerConfig::AdamW(c) => (c.betas, c.eps, true),
                            OptimizerConfig::Sgd(_) => continue,
                        };
                        let h = AdamStep {
                            lr: setting.lr,
                            beta1: setting.momentum.unwrap_or(betas[0]),
                            beta2: betas[1],
                            eps,
                            weight_decay: group.weight_decay(),
                            decoupled,
                        };
                        adam_update(&slot.var, grad, exp_avg, exp_avg_sq, next, &h)?;
                    }
                    _ => continue,
                }
                *step = next;
            }
        }
        Ok(())
    }

    /// Checks the settings of a step: one per group, LR finite ≥ 0, momentum in range.
    fn check(&self, settings: &[GroupStep]) -> Result<(), OptimError> {
        if settings.len() != self.groups.len() {
            return Err(OptimError::GroupCount { expected: self.groups.len(), got: settings.len() });
        }
        let sgd = matches!(self.config, OptimizerConfig::Sgd(_));
        for (group, s) in self.groups.iter().zip(settings) {
            if !(s.lr.is_finite() && s.lr >= 0.0) {
                return Err(OptimError::InvalidLr { group: group.name().to_string(), lr: s.lr });
            }
            if let Some(m) = s.momentum {
                let ok = m >= 0.0 && if sgd { m <= 1.0 } else { m < 1.0 };
                if !ok {
                    let range = if sgd { "[0, 1]" } else { "[0, 1)" };
                    return Err(OptimError::InvalidMomentum { group: group.name().to_string(), momentum: m, range });
                }
            }
        }
        Ok(())
    }

    /// Back to a fresh optimizer's state: step counts 0, Adam moments zero, no SGD momentum
    /// buffer (used by the warm-restart hook).
    pub fn reset_state(&mut self) -> Result<(), OptimError> {
        for slot in self.slots.iter_mut().flatten() {
            slot.state.reset()?;
        }
        Ok(())
    }

    /// The state as a safetensors file's bytes (see the [`state`](super::state) module docs for
    /// the tensor names).
    pub fn state_bytes(&self) -> Result<Vec<u8>, OptimError> {
        state::to_bytes(self.kind(), self.slots.iter().flatten().map(|s| (s.name.as_str(), &s.var, &s.state)))
    }

    /// Loads a state saved by [`Optimizer::state_bytes`]. Every parameter must have its tensors
    /// with its shape and dtype, and every tensor must belong to a parameter; otherwise a
    /// [`StateError`](super::StateError) and the current state is unchanged.
    pub fn load_state_bytes(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let adam = !matches!(self.config, OptimizerConfig::Sgd(_));
        let mut tensors = state::read(bytes, self.kind())?;
        let mut loaded = Vec::new();
        for slot in self.slots.iter().flatten() {
            loaded.push(state::take(&mut tensors, &slot.name, &slot.var, adam)?);
        }
        if let Some(name) = tensors.keys().min() {
            return Err(super::StateError::Unexpected(name.clone()).into());
        }
        for (slot, state) in self.slots.iter_mut().flatten().zip(loaded) {
            slot.state = state;
        }
        Ok(())
    }

    /// Writes the state to a safetensors file at `path`.
    pub fn save_state(&self, path: impl AsRef<Path>) -> Result<(), OptimError> {
        let path = path.as_ref();
        let bytes = self.state_bytes()?;
        std::fs::write(path, bytes).map_err(|source| OptimError::Io { path: path.to_path_buf(), source })
    }

    /// Loads the state from a safetensors file written by [`Optimizer::save_state`].
    pub fn load_state(&mut self, path: impl AsRef<Path>) -> Result<(), OptimError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| OptimError::Io { path: path.to_path_buf(), source })?;
        self.load_state_bytes(&bytes)
    }
}

//! [`Optimizer`]: parameter groups, the per-step update with per-group LR and momentum, and the
//! checkpointable state.

use std::path::Path;

use candle_core::Var;
use candle_core::backprop::GradStore;
use candle_nn::VarMap;
use sched::Schedule;

use super::OptimError;
use super::adam::Adam;
use super::bank::{Bank, Engine};
use super::config::OptimizerConfig;
use super::groups::{ParamGroup, assign};
use super::sgd::Sgd;
use super::state::ParamState;

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

/// An SGD, Adam or AdamW optimizer over named parameters split into groups.
///
/// The caller drives the LR (and possibly the momentum) of every step, normally from a
/// [`Schedule`]: see [`Optimizer::step_scheduled`].
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    groups: Vec<ParamGroup>,
    /// The parameters of `groups[i]` with their state, under the config's update rule.
    engine: Box<dyn Engine>,
}

impl Optimizer {
    /// Validates `config` and builds the optimizer over `params` (name, variable); non-float
    /// variables are left out. Errors: invalid config, no float parameter, a name given twice, a
    /// configured group matching no parameter.
    pub fn new(config: &OptimizerConfig, params: impl IntoIterator<Item = (String, Var)>) -> Result<Self, OptimError> {
        config.validate()?;
        let (groups, params): (Vec<_>, Vec<_>) = assign(config, params)?.into_iter().unzip();
        let engine: Box<dyn Engine> = match config {
            OptimizerConfig::Sgd(c) => Box::new(Bank::new(Sgd::from(c), params)?),
            OptimizerConfig::Adam(c) => Box::new(Bank::new(Adam::from(c), params)?),
            OptimizerConfig::AdamW(c) => Box::new(Bank::new(Adam::from(c), params)?),
        };
        Ok(Self { config: config.clone(), groups, engine })
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
    pub fn param_state(&self, name: &str) -> Option<ParamState<'_>> {
        self.engine.param_state(name)
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
        self.engine.step(&self.groups, grads, settings)
    }

    /// Checks the settings of a step: one per group, LR finite ≥ 0, momentum in range.
    fn check(&self, settings: &[GroupStep]) -> Result<(), OptimError> {
        if settings.len() != self.groups.len() {
            return Err(OptimError::GroupCount { expected: self.groups.len(), got: settings.len() });
        }
        let range = self.engine.momentum_range();
        for (group, s) in self.groups.iter().zip(settings) {
            if !(s.lr.is_finite() && s.lr >= 0.0) {
                return Err(OptimError::InvalidLr { group: group.name().to_string(), lr: s.lr });
            }
            if let Some(m) = s.momentum.filter(|&m| !range.contains(m)) {
                let range = range.as_str();
                return Err(OptimError::InvalidMomentum { group: group.name().to_string(), momentum: m, range });
            }
        }
        Ok(())
    }

    /// Back to a fresh optimizer's state: step counts 0, Adam moments zero, no SGD momentum
    /// buffer (used by the warm-restart hook).
    pub fn reset_state(&mut self) -> Result<(), OptimError> {
        self.engine.reset()
    }

    /// The state as a safetensors file's bytes (see the [`state`](super::state) module docs for
    /// the tensor names).
    pub fn state_bytes(&self) -> Result<Vec<u8>, OptimError> {
        self.engine.state_bytes()
    }

    /// Loads a state saved by [`Optimizer::state_bytes`]. Every parameter must have its tensors
    /// with its shape and dtype, and every tensor must belong to a parameter; otherwise a
    /// [`StateError`](super::StateError) and the current state is unchanged.
    pub fn load_state_bytes(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        self.engine.load_state_bytes(bytes)
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

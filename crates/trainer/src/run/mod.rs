//! The training loop: [`Trainer::build`] checks the config and builds device, data, model,
//! optimizer and schedule in memory (nothing on disk); [`Trainer::start`] or [`Trainer::resume`]
//! attach it to a run directory; [`Trainer::run`] trains.

mod attach;
mod eval;
pub mod loader;
pub mod observer;
pub mod state;
mod step;
pub mod stopping;
mod train;

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::{Device, Var};
use candle_nn::VarMap;
use sched::{Plateau, Schedule};

use crate::check;
use crate::checkpoint::Checkpointer;
use crate::config::{PlateauAction, RunConfig};
use crate::data::{Dataset, Split};
use crate::device::DeviceSpec;
use crate::error::{ConfigIssue, TrainError};
use crate::logging::Scalars;
use crate::model::{Model, ModelSpec};
use crate::optim::{OptimError, Optimizer};
use crate::rng::Rng;

use self::loader::DataPosition;
use self::state::{Fingerprint, LoopState, STATE_FORMAT};
use self::stopping::Tracker;

pub use self::observer::{EvalReport, Observer, Silent, StepReport, StopReason, Summary};

/// A run attached to its directory: logs and checkpoints.
struct Attached {
    dir: PathBuf,
    scalars: Scalars,
    checkpoints: Checkpointer,
}

/// A built training run.
pub struct Trainer {
    config: RunConfig,
    device: Device,
    data: Box<dyn Dataset>,
    varmap: VarMap,
    vars: Vec<Var>,
    model: Box<dyn Model>,
    optimizer: Optimizer,
    schedule: Schedule,
    plateau_hook: Option<Plateau>,
    total_steps: u64,
    steps_per_epoch: u64,
    state: LoopState,
    attached: Option<Attached>,
}

fn issues(list: Vec<ConfigIssue>) -> Result<(), TrainError> {
    if list.is_empty() { Ok(()) } else { Err(TrainError::Config(list)) }
}

impl Trainer {
    /// Checks `config` and builds everything in memory. All config problems are reported
    /// together, before anything is created on disk.
    pub fn build(config: RunConfig) -> Result<Self, TrainError> {
        issues(check::static_issues(&config))?;
        let spec = DeviceSpec::parse(&config.device).map_err(|e| TrainError::Config(vec![ConfigIssue::new("device", e.to_string())]))?;
        let device = spec.open(&config.device).map_err(|e| TrainError::Config(vec![ConfigIssue::new("device", e.to_string())]))?;
        let data = config
            .data
            .load(config.model.wants_images())
            .map_err(|e| TrainError::Config(vec![ConfigIssue::new("data", e.to_string())]))?;
        let n_train = data.len(Split::Train);
        if n_train == 0 || data.len(Split::Val) == 0 {
            return Err(TrainError::Config(vec![ConfigIssue::new(
                "data",
                format!("needs training and validation examples ({})", data.describe()),
            )]));
        }
        let t = &config.train;
        let micro_per_epoch = n_train.div_ceil(t.batch_size.max(1)) as u64;
        let steps_per_epoch = micro_per_epoch.div_ceil(t.grad_accum_steps.max(1)).max(1);
        let total_steps = match (t.max_steps, t.epochs) {
            (Some(s), _) => s,
            (None, Some(e)) => e.saturating_mul(steps_per_epoch),
            (None, None) => 0,
        };
        issues(check::run_issues(&config, total_steps, data.task()))?;

        let mut rng = Rng::new(config.seed);
        let varmap = VarMap::new();
        let crate::data::Task::Classification { num_classes } = data.task();
        let model_spec = ModelSpec { input_shape: data.input_shape().to_vec(), outputs: num_classes };
        let model = config
            .model
            .build(&model_spec, &varmap, &mut rng, &device)
            .map_err(|e| TrainError::Config(vec![ConfigIssue::new("model", crate::device::first_line(&e))]))?;
        let optimizer = Optimizer::from_varmap(&config.optimizer, &varmap).map_err(|e| match e {
            OptimError::UnmatchedGroup { index, name, prefixes, shadowed_by } => {
                let mut names: Vec<String> = varmap.data().lock().map(|d| d.keys().cloned().collect()).unwrap_or_default();
                names.sort();
                let shadow = shadowed_by.map(|g| format!(" (its parameters all go to the earlier group `{g}`)")).unwrap_or_default();
                let shown = if names.len() > 8 { format!("{}, … ({} in all)", names[..8].join(", "), names.len()) } else { names.join(", ") };
                let message = format!("group `{name}` with prefixes {prefixes:?} matches no parameter{shadow}; the model's parameters are {shown}");
                TrainError::Config(vec![ConfigIssue::new(format!("optimizer.groups[{index}]"), message)])
            }
            OptimError::Config(c) => TrainError::Config(vec![ConfigIssue::new(c.path, c.rule)]),
            other => TrainError::Optim(other),
        })?;
        let schedule = Schedule::new(&config.schedule, config.optimizer.lr())
            .map_err(|e| TrainError::Config(vec![ConfigIssue::new(e.path, e.rule)]))?;
        let plateau_hook = match &config.hooks.on_plateau {
            Some(h) if h.action != PlateauAction::Reduce => Some(
                Plateau::detector(&h.detector())
                    .map_err(|e| TrainError::Config(vec![ConfigIssue::new(format!("hooks.on_plateau.{}", e.path.trim_start_matches("plateau.")), e.rule)]))?,
            ),
            _ => None,
        };
        let mut vars: Vec<(String, Var)> = varmap.data().lock().map_or_else(|e| e.into_inner().clone(), |d| d.clone()).into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let state = LoopState {
            format: STATE_FORMAT,
            step: 0,
            data: DataPosition::default(),
            rng,
            schedule_origin: 0,
            schedule: schedule.state(),
            plateau_hook: plateau_hook.as_ref().map(|p| p.state().clone()),
            early_stopping: Tracker::default(),
            best: Tracker::default(),
            best_metrics: BTreeMap::new(),
            fingerprint: Fingerprint::of(&config),
        };
        Ok(Self {
            config,
            device,
            data,
            varmap,
            vars: vars.into_iter().map(|(_, v)| v).collect(),
            model,
            optimizer,
            schedule,
            plateau_hook,
            total_steps,
            steps_per_epoch,
            state,
            attached: None,
        })
    }

    /// The config.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Total optimizer steps of the run.
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// Optimizer steps per epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    /// Steps done so far (after a resume: where it continues).
    pub fn steps_done(&self) -> u64 {
        self.state.step
    }

    /// The schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The data's one-line description.
    pub fn data_description(&self) -> String {
        self.data.describe()
    }

    /// The device in words.
    pub fn device_description(&self) -> String {
        match &self.device {
            Device::Cpu => "cpu".to_owned(),
            d => format!("{:?}", d.location()),
        }
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }
}

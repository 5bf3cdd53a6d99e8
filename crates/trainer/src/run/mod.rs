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
use crate::data::{DataError, Dataset, LoadContext, Split};
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
    /// The trainable variables (frozen ones are only in `varmap`), sorted by name.
    vars: Vec<Var>,
    frozen_params: usize,
    model_origin: Option<String>,
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
        let spec = DeviceSpec::parse(&config.device)
            .map_err(|e| TrainError::Config(vec![ConfigIssue::new("device", e.to_string())]))?;
        let device = spec
            .open(&config.device)
            .map_err(|e| TrainError::Config(vec![ConfigIssue::new("device", e.to_string())]))?;
        let prepared = config.model.prepare()?;
        let ctx = LoadContext {
            images: config.model.wants_images(),
            encoder: prepared.encoder.clone(),
            num_labels: config.model.num_labels(),
        };
        let data = config.data.load_with(&ctx).map_err(|e| match e {
            DataError::Field { path, message } => TrainError::Config(vec![ConfigIssue::new(path, message)]),
            other => TrainError::Config(vec![ConfigIssue::new("data", other.to_string())]),
        })?;
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
        let model_spec = ModelSpec { input_shape: data.input_shape().to_vec(), outputs: data.task().outputs() };
        let model = config.model.build(&model_spec, &prepared, &varmap, &mut rng, &device)?;
        // Frozen parameters stay in the varmap (and the checkpoints) but not in the optimizer.
        let mut all: Vec<(String, Var)> =
            varmap.data().lock().map_or_else(|e| e.into_inner().clone(), |d| d.clone()).into_iter().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let (trainable, frozen): (Vec<_>, Vec<_>) = all.into_iter().partition(|(n, _)| model.is_trainable(n));
        let frozen_params = frozen.iter().map(|(_, v)| v.elem_count()).sum();
        let optimizer = Optimizer::new(&config.optimizer, trainable.clone()).map_err(|e| match e {
            OptimError::UnmatchedGroup { index, name, prefixes, shadowed_by } => {
                let names: Vec<&str> = trainable.iter().map(|(n, _)| n.as_str()).collect();
                let shadow = shadowed_by.map(|g| format!(" (its parameters all go to the earlier group `{g}`)")).unwrap_or_default();
                let frozen_hit = frozen.iter().any(|(n, _)| prefixes.iter().any(|p| n.starts_with(p.as_str())));
                let frozen_note = if frozen_hit { " (the parameters it matches are frozen by model.freeze)" } else { "" };
                let shown = if names.len() > 8 { format!("{}, … ({} in all)", names[..8].join(", "), names.len()) } else { names.join(", ") };
                let trainable_word = if frozen.is_empty() { "" } else { "trainable " };
                let message = format!("group `{name}` with prefixes {prefixes:?} matches no {trainable_word}parameter{shadow}{frozen_note}; the model's {trainable_word}parameters are {shown}");
                TrainError::Config(vec![ConfigIssue::new(format!("optimizer.groups[{index}]"), message)])
            }
            OptimError::Config(c) => TrainError::Config(vec![ConfigIssue::new(c.path, c.rule)]),
            other => TrainError::Optim(other),
        })?;
        let schedule = Schedule::new(&config.schedule, config.optimizer.lr())
            .map_err(|e| TrainError::Config(vec![ConfigIssue::new(e.path, e.rule)]))?;
        let plateau_hook = match &config.hooks.on_plateau {
            Some(h) if h.action != PlateauAction::Reduce => Some(Plateau::detector(&h.detector()).map_err(|e| {
                TrainError::Config(vec![ConfigIssue::new(
                    format!("hooks.on_plateau.{}", e.path.trim_start_matches("plateau.")),
                    e.rule,
                )])
            })?),
            _ => None,
        };
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
            vars: trainable.into_iter().map(|(_, v)| v).collect(),
            frozen_params,
            model_origin: prepared.files.map(|f| f.origin),
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

    /// Number of frozen parameters (`model.freeze`): saved, never trained.
    pub fn frozen_parameter_count(&self) -> usize {
        self.frozen_params
    }

    /// Where a pretrained model's files came from (`org/name@<commit> (from the Hugging Face
    /// cache …)`, or a local folder); `None` for models trained from scratch.
    pub fn model_origin(&self) -> Option<&str> {
        self.model_origin.as_deref()
    }
}

//! The training run's lifecycle, as types: [`Trainer::build`] checks the config and builds
//! device, data, task, optimizer and schedule in memory (nothing on disk); [`Trainer::start`] or
//! [`Trainer::resume`] consume it and return a [`Session`] that owns the run directory, the logs,
//! the checkpoints and the loop state; [`Session::run`] trains.

mod eval;
pub mod evaluator;
pub mod hooks;
pub mod inspect;
pub mod loader;
pub mod lock;
mod low_precision;
pub mod metric;
pub mod observer;
pub mod record;
mod resume;
mod rundir;
mod session;
pub mod state;
mod step;
pub mod stopping;

use candle_core::{Device, Var};
use candle_nn::VarMap;
use sched::{Plateau, Schedule};

use crate::FieldIssue;
use crate::check::{self, Monitored};
use crate::config::{PlateauAction, RunConfig};
use crate::data::{DataError, Dataset, LoadContext, Split};
use crate::error::TrainError;
use crate::optim::average::{Averages, Weights};
use crate::optim::{OptimError, Optimizer};
use crate::rng::Rng;
use crate::task::Task;

use self::low_precision::LowPrecision;
use self::metric::{Metric, MetricId, Metrics};

pub use self::observer::{Event, Observer, Silent, StepReport, StopReason, Summary};
pub use self::resume::ResumeInfo;
pub use self::rundir::{CONFIG_FILE, RunDir};
pub use self::session::Session;

/// The config fields that name a metric, resolved against the task's metrics.
#[derive(Debug, Clone)]
struct Monitors {
    best: Metric,
    early_stopping: Option<MetricId>,
    plateau_hook: Option<(MetricId, Plateau, PlateauAction)>,
}

/// A built training run: every part in memory, nothing on disk yet.
pub struct Trainer {
    config: RunConfig,
    device: Device,
    data: Box<dyn Dataset>,
    /// The variables checkpoints hold: every parameter, or only the trainable ones when the
    /// task re-reads its frozen base from its source ([`Task::checkpoints_frozen`]).
    varmap: VarMap,
    /// The trainable variables (frozen ones are only in `varmap`), sorted by name.
    vars: Vec<Var>,
    frozen_params: usize,
    model_origin: Option<String>,
    task: Box<dyn Task>,
    metrics: Metrics,
    monitors: Monitors,
    optimizer: Optimizer,
    /// The weight averages (`train.ema`, `train.swa`) over `vars`.
    averages: Averages,
    schedule: Schedule,
    total_steps: u64,
    steps_per_epoch: u64,
    /// The generator after the initial weights were drawn (dropout masks continue it).
    rng: Rng,
    /// The low-precision working model of `train.precision: bf16 | f16`.
    low: Option<LowPrecision>,
}

/// How [`Trainer::build_with`] may deviate from a config's plain meaning.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Allow `train.precision: bf16 | f16` on the CPU (refused from configs: there they are no
    /// faster than f32, measured). CPU-emulated low precision, for tests and measurements.
    pub low_precision_on_cpu: bool,
}

fn one_issue(path: impl Into<String>, message: impl Into<String>) -> TrainError {
    TrainError::Config(vec![FieldIssue::new(path, message)])
}

impl Trainer {
    /// Checks `config` and builds everything in memory. All config problems are reported
    /// together, before anything is created on disk.
    pub fn build(config: RunConfig) -> Result<Self, TrainError> {
        Self::build_with(config, BuildOptions::default())
    }

    /// [`Trainer::build`] with `options`.
    pub fn build_with(config: RunConfig, options: BuildOptions) -> Result<Self, TrainError> {
        let checked = check::static_checks(&config).map_err(TrainError::Config)?;
        let device = checked.device.open().map_err(|e| one_issue("device", e.to_string()))?;
        if device.is_cpu() && config.train.precision.low_dtype().is_some() && !options.low_precision_on_cpu {
            return Err(one_issue("train.precision", cpu_refusal(config.train.precision)));
        }
        let prepared = config.model.prepare()?;
        let ctx = LoadContext {
            encoder: prepared.encoder.clone(),
            num_labels: config.model.num_labels(),
            #[cfg(feature = "hub")]
            lm_tokenizer: prepared.lm.as_ref().map(|s| s.tokenizer.clone()),
            max_context: max_context(&prepared),
        };
        let data = config.data.load_with(&ctx).map_err(|e| match e {
            DataError::Field(issue) => TrainError::Config(vec![issue]),
            other => one_issue("data", other.to_string()),
        })?;
        let n_train = data.len(Split::Train);
        if n_train == 0 || data.len(Split::Val) == 0 {
            return Err(one_issue("data", format!("needs training and validation examples ({})", data.describe())));
        }
        let (steps_per_epoch, total_steps) = run_length(&config, n_train);
        let metrics = config.model.metrics(data.labels()).with_averages(&averages_kept(&config));
        let monitored =
            check::run_issues(&config, &checked.schedule, total_steps, &metrics).map_err(TrainError::Config)?;
        let monitors = monitors(&config, &metrics, monitored)?;

        // The model's size from the data's shapes, before anything is allocated (counted models only).
        if crate::model::size::parameters(&config.model, None).is_some() {
            let spec = crate::model::ModelSpec {
                input_shape: data.input_shape().to_vec(),
                image: data.image_shape(),
                outputs: data.labels().outputs(),
            };
            if let Some(issue) = crate::model::size::issue(&config.model, Some(&spec)) {
                return Err(TrainError::Config(vec![issue]));
            }
        }
        let mut rng = Rng::new(config.seed);
        let varmap = VarMap::new();
        let task = config.model.build(data.as_ref(), &prepared, &varmap, &mut rng, &device)?;
        // Frozen parameters stay in the varmap (and the checkpoints) but not in the optimizer.
        let mut all: Vec<(String, Var)> =
            varmap.data().lock().map_or_else(|e| e.into_inner().clone(), |d| d.clone()).into_iter().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let (trainable, frozen): (Vec<_>, Vec<_>) = all.into_iter().partition(|(n, _)| task.is_trainable(n));
        let frozen_params = frozen.iter().map(|(_, v)| v.elem_count()).sum();
        let optimizer = Optimizer::new(&config.optimizer, trainable.clone())
            .map_err(|e| optimizer_error(e, &trainable, &frozen))?;
        let averages = Averages::new(config.train.ema.as_ref(), config.train.swa.as_ref(), &trainable);
        let low = match config.train.precision.low_dtype() {
            Some(dtype) => {
                Some(LowPrecision::build(&config, dtype, (data.as_ref(), &prepared, &device), &trainable, &frozen)?)
            }
            None => None,
        };
        let varmap = if task.checkpoints_frozen() { varmap } else { subset(&trainable) };
        Ok(Self {
            device,
            data,
            varmap,
            vars: trainable.into_iter().map(|(_, v)| v).collect(),
            frozen_params,
            model_origin: origin(&prepared),
            task,
            metrics,
            monitors,
            optimizer,
            averages,
            schedule: checked.schedule,
            total_steps,
            steps_per_epoch,
            rng,
            low,
            config,
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

    /// The schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The metrics each evaluation reports.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
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

/// Why `precision` is refused on the CPU.
fn cpu_refusal(precision: crate::precision::Precision) -> String {
    format!(
        "{} runs on a GPU (device: cuda or metal); on the CPU it is no faster than f32 (measured: \
         docs/mixed_precision.md), so use precision: f32 there",
        precision.name()
    )
}

/// A causal LM's context length.
fn max_context(prepared: &crate::model::Prepared) -> Option<usize> {
    #[cfg(feature = "hub")]
    if let Some(lm) = &prepared.lm {
        return Some(lm.config.max_position_embeddings);
    }
    let _ = prepared;
    None
}

/// Where a pretrained model came from, in words.
fn origin(prepared: &crate::model::Prepared) -> Option<String> {
    #[cfg(feature = "hub")]
    if let Some(lm) = &prepared.lm {
        return Some(lm.origin.clone());
    }
    prepared.files.as_ref().map(|f| f.origin.clone())
}

/// The weight averages a run keeps (`train.ema`, `train.swa`), in the order of their metrics.
fn averages_kept(config: &RunConfig) -> Vec<Weights> {
    let t = &config.train;
    [(t.ema.is_some(), Weights::Ema), (t.swa.is_some(), Weights::Swa)]
        .into_iter()
        .filter_map(|(on, w)| on.then_some(w))
        .collect()
}

/// A variable map holding `vars` (sharing their storage).
fn subset(vars: &[(String, Var)]) -> VarMap {
    let map = VarMap::new();
    if let Ok(mut data) = map.data().lock() {
        data.extend(vars.iter().cloned());
    }
    map
}

/// `(steps per epoch, total steps)` of a run over `n_train` training examples.
fn run_length(config: &RunConfig, n_train: usize) -> (u64, u64) {
    let t = &config.train;
    let micro_per_epoch = n_train.div_ceil(t.batch_size.max(1)) as u64;
    let steps_per_epoch = micro_per_epoch.div_ceil(t.grad_accum_steps.max(1)).max(1);
    let total_steps = match (t.max_steps, t.epochs) {
        (Some(s), _) => s,
        (None, Some(e)) => e.saturating_mul(steps_per_epoch),
        (None, None) => 0,
    };
    (steps_per_epoch, total_steps)
}

/// The monitors of the hooks, from the metric ids [`check::run_issues`] resolved, with the
/// plateau hook's detector.
fn monitors(config: &RunConfig, metrics: &Metrics, ids: Monitored) -> Result<Monitors, TrainError> {
    let best = metrics.get(ids.best).ok_or_else(|| one_issue("train.best_monitor", "unknown metric"))?;
    let plateau_hook = match (&config.hooks.on_plateau, ids.plateau_hook) {
        (Some(h), Some(id)) if h.action != PlateauAction::Reduce => {
            let detector = Plateau::detector(&h.detector()).map_err(|e| {
                one_issue(format!("hooks.on_plateau.{}", e.path.trim_start_matches("plateau.")), e.message)
            })?;
            Some((id, detector, h.action))
        }
        _ => None,
    };
    Ok(Monitors { best, early_stopping: ids.early_stopping, plateau_hook })
}

/// An optimizer error as a config issue; a group that matches no parameter names the ones the
/// model has.
fn optimizer_error(e: OptimError, trainable: &[(String, Var)], frozen: &[(String, Var)]) -> TrainError {
    match e {
        OptimError::UnmatchedGroup { index, name, prefixes, shadowed_by } => {
            let names: Vec<&str> = trainable.iter().map(|(n, _)| n.as_str()).collect();
            let shadow =
                shadowed_by.map(|g| format!(" (its parameters all go to the earlier group `{g}`)")).unwrap_or_default();
            let frozen_hit = frozen.iter().any(|(n, _)| prefixes.iter().any(|p| n.starts_with(p.as_str())));
            let frozen_note = if frozen_hit { " (the parameters it matches are frozen by model.freeze)" } else { "" };
            let shown = if names.len() > 8 {
                format!("{}, … ({} in all)", names[..8].join(", "), names.len())
            } else {
                names.join(", ")
            };
            let trainable_word = if frozen.is_empty() { "" } else { "trainable " };
            let message = format!(
                "group `{name}` with prefixes {prefixes:?} matches no {trainable_word}parameter{shadow}{frozen_note}; the model's {trainable_word}parameters are {shown}"
            );
            one_issue(format!("optimizer.groups[{index}]"), message)
        }
        OptimError::Config(c) => one_issue(c.path, c.message),
        other => TrainError::Optim(other),
    }
}

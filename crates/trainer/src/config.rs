//! The run config: one YAML schema whose types are the single source of truth for names,
//! defaults and docs (the JSON schema is generated from them).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use sched::check::{at_least, non_negative, positive};

use crate::FieldIssue;
use crate::data::DataConfig;
use crate::device::DeviceSpec;
use crate::model::ModelConfig;
use crate::optim::OptimizerConfig;
use crate::optim::average::{EmaConfig, SwaAverageConfig};
use crate::precision::{LossScaleConfig, Precision};
use sched::{PlateauMode, ScheduleConfig, ThresholdMode};

/// A training run: model, data, optimizer, schedule, loop settings, hooks and logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run name: outputs go to `<logging.dir>/<name>/<version>/`.
    pub name: String,
    /// Seed of the initial weights, shuffles and dropout (default 0).
    #[serde(default)]
    pub seed: u64,
    /// `cpu` (default), `cuda`, `cuda:N`, `metal`, `metal:N` or `auto`.
    #[serde(default)]
    pub device: DeviceSpec,
    /// The model.
    pub model: ModelConfig,
    /// The data.
    pub data: DataConfig,
    /// The optimizer and its parameter groups; `optimizer.lr` is the schedule's base LR.
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule (in optimizer steps).
    pub schedule: ScheduleConfig,
    /// The training loop.
    pub train: TrainConfig,
    /// Reactions to warm restarts and plateaus.
    #[serde(default)]
    pub hooks: HooksConfig,
    /// Where and how often to log.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// Schedules for `cli compare CONFIG` (each replaces `schedule:` in one run of the
    /// comparison); `train` ignores them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<CompareEntry>,
    /// Seeds for `cli compare CONFIG` (each schedule runs once per seed, and the table shows
    /// mean ± standard deviation); `train` ignores them. `compare --seeds N` overrides them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
}

/// One schedule of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareEntry {
    /// Name of the run in the comparison (default: the schedule's kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The schedule.
    pub schedule: ScheduleConfig,
}

/// `train:`: length, batches, evaluation and checkpoints. Every count is in optimizer steps
/// (after gradient accumulation), never micro-batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of optimizer steps. Either this or `epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    /// Number of passes over the training data, converted to steps when the run is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u64>,
    /// Examples per micro-batch (default 32).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed into one optimizer step (default 1).
    #[serde(default = "one")]
    pub grad_accum_steps: u64,
    /// Clip the global gradient norm to this value (default: no clipping). The pre-clip norm is
    /// logged as `train/grad_norm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grad_norm: Option<f64>,
    /// Evaluate every this many steps, and at the end (default 100).
    #[serde(default = "default_eval_every")]
    pub eval_every: u64,
    /// Also evaluate before the first step, logged at step 0: the starting point of a
    /// fine-tuning run (default false). It feeds no plateau, early-stopping or best-checkpoint
    /// tracker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eval_on_start: bool,
    /// Examples per evaluation batch (default 512).
    #[serde(default = "default_eval_batch_size")]
    pub eval_batch_size: usize,
    /// Save a checkpoint every this many steps (default 0: only at the end and on a clean stop).
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Keep this many newest periodic checkpoints (default 3), plus the best and the snapshots.
    #[serde(default = "default_keep")]
    pub keep_checkpoints: usize,
    /// Stop when the monitored metric stops improving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Metric that picks the `best` checkpoint (default `val/loss`; its mode from its name:
    /// `min` for losses, `max` for accuracies).
    #[serde(default = "default_monitor")]
    pub best_monitor: String,
    /// Keep an exponential moving average of the trainable weights, evaluated as `val_ema/…`
    /// and saved in checkpoints (`ema.safetensors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema: Option<EmaConfig>,
    /// Keep a stochastic weight average (equal-weight mean) of the trainable weights from
    /// `start_step` on, evaluated as `val_swa/…` and saved in checkpoints (`swa.safetensors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swa: Option<SwaAverageConfig>,
    /// The precision of the forward and backward passes: `f32` (default), `bf16` or `f16`.
    /// Parameters and optimizer moments stay f32 (checkpoints hold f32 weights); `bf16`/`f16`
    /// need a GPU (refused on the CPU, where they are slower).
    #[serde(default, skip_serializing_if = "is_f32")]
    pub precision: Precision,
    /// Dynamic loss scaling of `precision: f16` (default `{init: 65536, growth_interval: 2000}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScaleConfig>,
}

fn is_f32(p: &Precision) -> bool {
    *p == Precision::F32
}

/// The most micro-batches one optimizer step may accumulate: far beyond any useful effective
/// batch, and a bound on how long one step (which a stop request abandons) can take.
pub const MAX_GRAD_ACCUM_STEPS: u64 = 65_536;

/// Collects the failed checks of `results`.
pub(crate) fn failed(results: impl IntoIterator<Item = Result<(), FieldIssue>>) -> Vec<FieldIssue> {
    results.into_iter().filter_map(Result::err).collect()
}

impl TrainConfig {
    /// The section's problems, each at its field (`train.…`).
    pub fn issues(&self) -> Vec<FieldIssue> {
        let t = "train";
        let mut out = Vec::new();
        match (self.max_steps, self.epochs) {
            (None, None) => out.push(FieldIssue::new("train.max_steps", "give train.max_steps or train.epochs")),
            (Some(_), Some(_)) => {
                out.push(FieldIssue::new("train.epochs", "give train.max_steps or train.epochs, not both"))
            }
            (Some(s), _) => out.extend(at_least(t, "max_steps", s, 1).err()),
            (_, Some(e)) => out.extend(at_least(t, "epochs", e, 1).err()),
        }
        out.extend(failed([
            at_least(t, "batch_size", self.batch_size as u64, 1),
            at_least(t, "grad_accum_steps", self.grad_accum_steps, 1),
            at_least(t, "eval_every", self.eval_every, 1),
            at_least(t, "eval_batch_size", self.eval_batch_size as u64, 1),
            at_least(t, "keep_checkpoints", self.keep_checkpoints as u64, 1),
        ]));
        if self.grad_accum_steps > MAX_GRAD_ACCUM_STEPS {
            out.push(FieldIssue::new(
                "train.grad_accum_steps",
                format!("must be <= {MAX_GRAD_ACCUM_STEPS} (got {})", self.grad_accum_steps),
            ));
        }
        if let Some(n) = self.max_grad_norm {
            out.extend(positive(t, "max_grad_norm", n).err());
        }
        if let Some(es) = &self.early_stopping {
            out.extend(non_negative("train.early_stopping", "min_delta", es.min_delta).err());
        }
        out.extend(self.ema.iter().flat_map(|e| e.issues("train.ema")));
        out.extend(self.swa.iter().flat_map(|s| s.issues("train.swa")));
        out.extend(crate::precision::issues(self.precision, self.loss_scale.as_ref()));
        out
    }
}

fn default_batch_size() -> usize {
    32
}
fn one() -> u64 {
    1
}
fn default_eval_every() -> u64 {
    100
}
fn default_eval_batch_size() -> usize {
    512
}
fn default_keep() -> usize {
    3
}
fn default_monitor() -> String {
    "val/loss".to_owned()
}

/// `train.early_stopping:`: stop at the first evaluation that makes more than `patience`
/// evaluations in a row without an improvement larger than `min_delta` (`patience` means what it
/// means for `hooks.on_plateau` and PyTorch's `ReduceLROnPlateau`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Monitored metric (default `val/loss`).
    #[serde(default = "default_monitor")]
    pub monitor: String,
    /// Evaluations in a row without improvement tolerated (default 5), as PyTorch's
    /// `ReduceLROnPlateau(patience)`: the run stops at the `patience + 1`-th; with 0 it stops at
    /// the first evaluation that does not improve, never at an improving one.
    #[serde(default = "default_patience")]
    pub patience: u64,
    /// Minimum change that counts as an improvement (≥ 0; default 0).
    #[serde(default)]
    pub min_delta: f64,
    /// `min` (default) or `max`.
    #[serde(default = "default_mode")]
    pub mode: PlateauMode,
}

fn default_patience() -> u64 {
    5
}
fn default_mode() -> PlateauMode {
    PlateauMode::Min
}

/// `hooks:`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// At each warm restart of the schedule.
    #[serde(default)]
    pub on_restart: RestartHookConfig,
    /// When the monitored metric plateaus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_plateau: Option<PlateauHookConfig>,
}

/// `hooks.on_restart:`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartHookConfig {
    /// Zero the optimizer's moments (and step counts) at each restart (default false).
    #[serde(default)]
    pub reset_optimizer: bool,
    /// Save a checkpoint `cycle-<k>` of the model at the end of each cycle `k`, before the
    /// restart: the members of a snapshot ensemble (default false).
    #[serde(default)]
    pub snapshot: bool,
}

/// What to do on a plateau.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlateauAction {
    /// Let the schedule's `plateau` reduce the LR (needs a `plateau` in the schedule).
    Reduce,
    /// Restart the schedule from its step 0 (a warm restart triggered by the plateau).
    Restart,
    /// Stop training (checkpoint and summary as at the end).
    Stop,
}

/// `hooks.on_plateau:`: a plateau detector (ReduceLROnPlateau's rules) and the action to take.
/// With `action: reduce` the schedule's own plateau does the work and these fields are unused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlateauHookConfig {
    /// The action (`reduce`, `restart` or `stop`).
    pub action: PlateauAction,
    /// Monitored metric (default `val/loss`).
    #[serde(default = "default_monitor")]
    pub monitor: String,
    /// `min` (default) or `max`.
    #[serde(default = "default_mode")]
    pub mode: PlateauMode,
    /// Evaluations in a row without improvement tolerated (default 5), as PyTorch's
    /// `ReduceLROnPlateau(patience)`: the action comes at the `patience + 1`-th; with 0 at the
    /// first evaluation that does not improve, never at an improving one.
    #[serde(default = "default_patience")]
    pub patience: u64,
    /// Minimum significant improvement (default 1e-4).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// `rel` (default) or `abs`.
    #[serde(default = "default_threshold_mode")]
    pub threshold_mode: ThresholdMode,
    /// Evaluations ignored after an action (default 0).
    #[serde(default)]
    pub cooldown: u64,
}

fn default_threshold() -> f64 {
    1e-4
}
fn default_threshold_mode() -> ThresholdMode {
    ThresholdMode::Rel
}

impl HooksConfig {
    /// The section's problems; `schedule_has_plateau` says whether `action: reduce` has a
    /// schedule `plateau` to act through.
    pub fn issues(&self, schedule_has_plateau: bool) -> Vec<FieldIssue> {
        let Some(h) = &self.on_plateau else { return Vec::new() };
        let mut out = failed([non_negative("hooks.on_plateau", "threshold", h.threshold)]);
        if h.action == PlateauAction::Reduce && !schedule_has_plateau {
            out.push(FieldIssue::new("hooks.on_plateau.action", "`reduce` lowers the LR through the schedule, which has no `plateau`: use schedule.kind = plateau (or a composition with one), or action restart/stop"));
        }
        out
    }
}

impl PlateauHookConfig {
    /// The detector as a `plateau` schedule config (factor and floors unused).
    pub fn detector(&self) -> sched::PlateauConfig {
        sched::PlateauConfig {
            mode: self.mode,
            factor: 0.5,
            patience: self.patience,
            threshold: self.threshold,
            threshold_mode: self.threshold_mode,
            cooldown: self.cooldown,
            min_lr: 0.0,
            eps: 0.0,
            monitor: self.monitor.clone(),
        }
    }
}

/// `logging:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// Root of the runs directory (default `runs`).
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// Log training scalars every this many steps (default 1: every step).
    #[serde(default = "one")]
    pub every: u64,
    /// Write TensorBoard event files (default true).
    #[serde(default = "yes")]
    pub tensorboard: bool,
    /// Write `metrics.jsonl` (default true).
    #[serde(default = "yes")]
    pub jsonl: bool,
}

fn default_dir() -> PathBuf {
    PathBuf::from("runs")
}
fn yes() -> bool {
    true
}

impl LoggingConfig {
    /// The section's problems.
    pub fn issues(&self) -> Vec<FieldIssue> {
        let mut out = failed([at_least("logging", "every", self.every, 1)]);
        out.extend(self.root().err().map(|e| FieldIssue::new("logging.dir", e)));
        out
    }

    /// `dir` with a leading `~` expanded to `$HOME` ([`crate::paths::expand_home`]).
    pub fn root(&self) -> Result<PathBuf, String> {
        crate::paths::expand_home(&self.dir)
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { dir: default_dir(), every: 1, tensorboard: true, jsonl: true }
    }
}

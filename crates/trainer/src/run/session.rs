//! [`Session`]: a built [`Trainer`] attached to its run directory — a fresh start here, a resume
//! from the newest valid checkpoint in `resume.rs` — with its logs, checkpoints, loop state and
//! hooks, and the training loop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_nn::VarMap;

use super::Trainer;
use super::eval::{evaluate, log_confusion};
use super::hooks::{
    BestCheckpoint, BestMetrics, Ctx, EarlyStopping, Effects, Hook, PlateauHook, Progress, SchedulePlateau,
    WarmRestart, Watchdog,
};
use super::loader::{DataPosition, Loader};
use super::lock::RunLock;
use super::metric::Evaluation;
use super::observer::{Event, Observer, StepReport, StopReason, Summary};
use super::record::RunRecord;
use super::rundir::RunDir;
use super::state::{Fingerprint, LoopState, STATE_FORMAT};
use super::step::{accumulate, clip, global_norm};
use crate::checkpoint::{Checkpointer, step_label};
use crate::data::Split;
use crate::error::TrainError;
use crate::logging::{LogError, Scalars, confusion};
use crate::optim::average::{Averages, Weights};
use crate::optim::{GroupStep, Optimizer};

/// A run attached to its directory, ready to train.
pub struct Session {
    parts: Trainer,
    dir: RunDir,
    scalars: Scalars,
    checkpoints: Checkpointer,
    state: LoopState,
    hooks: Vec<Box<dyn Hook>>,
    /// The newest periodic checkpoint.
    last_checkpoint: Option<PathBuf>,
    /// The step of the newest checkpoint this session saved or resumed from.
    last_saved: Option<u64>,
    /// The run directory's lock, held for the session's life.
    _lock: RunLock,
}

/// One optimizer step as applied, for logging.
struct Applied {
    step: u64,
    /// Whether the step is logged (every `logging.every` steps, and the last).
    logged: bool,
    loss: f64,
    settings: Vec<GroupStep>,
    grad_norm: Option<f64>,
    /// The loss scale the step used (f16).
    loss_scale: Option<f64>,
    samples: usize,
    tokens: Option<usize>,
}

/// What was processed since the last logged step, for the throughput scalars.
struct Window {
    samples: usize,
    tokens: Option<usize>,
    since: Instant,
}

impl Window {
    fn new() -> Self {
        Self { samples: 0, tokens: None, since: Instant::now() }
    }

    fn add(&mut self, a: &Applied) {
        self.samples += a.samples;
        if let Some(n) = a.tokens {
            self.tokens = Some(self.tokens.unwrap_or(0) + n);
        }
    }

    /// `(samples/s, tokens/s)` since the window opened; the window restarts.
    fn rates(&mut self) -> (f64, Option<f64>) {
        let secs = self.since.elapsed().as_secs_f64();
        let per_sec = |n: usize| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let rates = (per_sec(self.samples), self.tokens.map(per_sec));
        *self = Self::new();
        rates
    }
}

impl Trainer {
    /// Starts the run in `dir` (created if missing): locks it ([`RunLock`]: refused while
    /// another process holds it), opens the logs.
    pub fn start(self, dir: impl Into<PathBuf>) -> Result<Session, TrainError> {
        let dir = RunDir::create(dir)?;
        let lock = RunLock::acquire(dir.path())?;
        let scalars = dir.scalars(self.config.logging.tensorboard, self.config.logging.jsonl)?;
        let checkpoints = dir.checkpoints(self.config.train.keep_checkpoints);
        let state = LoopState {
            format: STATE_FORMAT,
            step: 0,
            data: DataPosition::default(),
            rng: self.rng.clone(),
            schedule_origin: 0,
            schedule: self.schedule.state(),
            plateau_hook: self.monitors.plateau_hook.as_ref().map(|(_, p, _)| p.state().clone()),
            early_stopping: Default::default(),
            best_metrics: Default::default(),
            fingerprint: Fingerprint::of(&self.config),
            eval_pending: false,
            loss_scale: super::low_precision::scaler(&self.config.train, None),
        };
        Session::new(self, dir, scalars, checkpoints, state, lock)
    }
}

/// `train.loss_scale.growth_interval` (its default when not given).
fn growth_interval(config: &crate::config::RunConfig) -> u64 {
    config.train.loss_scale.unwrap_or_default().growth_interval
}

/// The hooks of a run, in the order they act.
fn hooks(parts: &Trainer, state: &LoopState) -> Result<Vec<Box<dyn Hook>>, TrainError> {
    let mut hooks: Vec<Box<dyn Hook>> = vec![
        Box::new(Progress),
        Box::new(WarmRestart::new(parts.config.hooks.on_restart.clone())),
        Box::new(Watchdog),
        Box::new(BestMetrics),
    ];
    if !parts.schedule.monitors().is_empty() {
        hooks.push(Box::new(SchedulePlateau));
    }
    if let Some((id, detector, action)) = &parts.monitors.plateau_hook {
        hooks.push(Box::new(PlateauHook::new(detector.clone(), *id, *action, state.plateau_hook.as_ref())?));
    }
    if let (Some(config), Some(id)) = (&parts.config.train.early_stopping, parts.monitors.early_stopping) {
        hooks.push(Box::new(EarlyStopping::new(config.clone(), id)));
    }
    hooks.push(Box::new(BestCheckpoint::new(parts.monitors.best)));
    Ok(hooks)
}

/// [`Effects`] on the real run.
struct RunEffects<'a> {
    scalars: &'a mut Scalars,
    checkpoints: &'a Checkpointer,
    varmap: &'a VarMap,
    optimizer: &'a mut Optimizer,
    averages: &'a Averages,
    observer: &'a mut dyn Observer,
}

/// Saves checkpoint `label`: the weights, the optimizer, `state` and the weight averages.
fn save_checkpoint(
    checkpoints: &Checkpointer,
    label: &str,
    (varmap, optimizer, averages): (&VarMap, &Optimizer, &Averages),
    state: &LoopState,
) -> Result<PathBuf, TrainError> {
    let extra = averages.files()?;
    Ok(checkpoints.save_with(label, varmap, optimizer, state, &extra)?)
}

impl Effects for RunEffects<'_> {
    fn save(&mut self, label: &str, state: &LoopState) -> Result<PathBuf, TrainError> {
        self.scalars.flush()?;
        save_checkpoint(self.checkpoints, label, (self.varmap, self.optimizer, self.averages), state)
    }
    fn reset_optimizer(&mut self) -> Result<(), TrainError> {
        Ok(self.optimizer.reset_state()?)
    }
    fn record(&mut self, tag: &str, step: u64, value: f64) -> Result<(), TrainError> {
        self.scalars.scalar(tag, step, value)?;
        Ok(self.scalars.flush()?)
    }
    fn checkpoint_before(&self, step: u64) -> Option<PathBuf> {
        self.checkpoints.newest_before(step)
    }
    fn notify(&mut self, event: Event) {
        self.observer.on_event(&event);
    }
    fn step_done(&mut self, report: &StepReport) {
        self.observer.on_step(report);
    }
    fn evaluated(&mut self, eval: &Evaluation) {
        self.observer.on_eval(eval);
    }
}

impl Session {
    pub(super) fn new(
        parts: Trainer,
        dir: RunDir,
        scalars: Scalars,
        checkpoints: Checkpointer,
        state: LoopState,
        lock: RunLock,
    ) -> Result<Self, TrainError> {
        let hooks = hooks(&parts, &state)?;
        let last_checkpoint = checkpoints.periodic().into_iter().next().map(|(_, path)| path);
        let last_saved = (state.step > 0).then_some(state.step);
        Ok(Self { parts, dir, scalars, checkpoints, state, hooks, last_checkpoint, last_saved, _lock: lock })
    }

    /// The built parts (config, model, optimizer, schedule…).
    pub fn trainer(&self) -> &Trainer {
        &self.parts
    }

    /// The run directory.
    pub fn run_dir(&self) -> &RunDir {
        &self.dir
    }

    /// Steps done so far (after a resume: where it continues).
    pub fn steps_done(&self) -> u64 {
        self.state.step
    }

    /// Trains until the planned number of steps, an early stop, a plateau stop, or `stop`. The
    /// stop request is checked before every step, before every micro-batch of gradient
    /// accumulation (an unfinished step is abandoned, nothing of it applied) and before every
    /// evaluation batch (an abandoned evaluation is owed: the checkpoint says so and a resume
    /// runs it first); a checkpoint of the last completed step is saved. A NaN or infinite loss
    /// ends the run with [`TrainError::NonFiniteLoss`], leaving the last checkpoint intact.
    ///
    /// However it ends, `<run dir>/summary.json` records how ([`RunRecord`]); a failure to write
    /// it is an error only when training itself succeeded.
    pub fn run(&mut self, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Summary, TrainError> {
        let started = Instant::now();
        let result = self.train(observer, stop, started);
        let record = match &result {
            Ok(summary) => RunRecord::of(summary),
            Err(e) => RunRecord::failed(self.state.step, self.parts.total_steps, started.elapsed(), e),
        };
        let written = record
            .write(self.dir.path())
            .map_err(|source| LogError::Write { path: self.dir.path().join(super::record::SUMMARY_FILE), source });
        let summary = result?;
        written?;
        Ok(summary)
    }

    /// [`Session::run`] without the record.
    fn train(
        &mut self,
        observer: &mut dyn Observer,
        stop: &AtomicBool,
        started: Instant,
    ) -> Result<Summary, TrainError> {
        let t = self.parts.config.train.clone();
        let mut loader =
            Loader::new(self.parts.config.seed, self.parts.data.len(Split::Train), t.batch_size, self.state.data);
        let mut window = Window::new();
        let mut last_eval = None;
        if t.eval_on_start && self.state.step == 0 {
            match self.evaluate(0, stop)? {
                Some(e) => observer.on_event(&Event::BeforeTraining(e)),
                None => return self.finish(StopReason::Interrupted, None, started, observer),
            }
        }
        let mut reason = self.owed_eval(observer, stop, &mut last_eval)?;
        while reason == StopReason::Completed && self.state.step < self.parts.total_steps {
            if stop.load(Ordering::SeqCst) {
                reason = StopReason::Interrupted;
                break;
            }
            self.each_hook(observer, |h, ctx| h.before_step(ctx).map(|()| None))?;
            let Some(applied) = self.step(&mut loader, observer, stop)? else {
                reason = StopReason::Interrupted;
                break;
            };
            window.add(&applied);
            if let Some(report) = self.log_step(&applied, &mut window)? {
                self.each_hook(observer, |h, ctx| h.after_step(&report, ctx).map(|()| None))?;
            }
            if self.state.step.is_multiple_of(t.eval_every) || self.state.step == self.parts.total_steps {
                self.state.eval_pending = true;
                reason = self.eval_after_step(observer, stop, &mut last_eval)?;
                if self.state.eval_pending {
                    break;
                }
            }
            if t.checkpoint_every > 0 && self.state.step.is_multiple_of(t.checkpoint_every) {
                self.checkpoint()?;
            }
        }
        self.finish(reason, last_eval, started, observer)
    }

    /// The evaluation after the last completed step, its scalars logged and its hooks run; the
    /// reason to stop they give. Stopped before it finished: [`StopReason::Interrupted`], with
    /// `eval_pending` left set for the checkpoint.
    fn eval_after_step(
        &mut self,
        observer: &mut dyn Observer,
        stop: &AtomicBool,
        last_eval: &mut Option<Evaluation>,
    ) -> Result<StopReason, TrainError> {
        let Some(e) = self.evaluate(self.state.step.saturating_sub(1), stop)? else {
            return Ok(StopReason::Interrupted);
        };
        self.state.eval_pending = false;
        let reason = self.each_hook(observer, |h, ctx| h.after_eval(&e, ctx))?;
        *last_eval = Some(e);
        Ok(reason.unwrap_or(StopReason::Completed))
    }

    /// After a resume from a checkpoint whose evaluation was abandoned: that evaluation, then
    /// the checkpoint saved again with it (the trackers it fed).
    fn owed_eval(
        &mut self,
        observer: &mut dyn Observer,
        stop: &AtomicBool,
        last_eval: &mut Option<Evaluation>,
    ) -> Result<StopReason, TrainError> {
        if !self.state.eval_pending || self.state.step == 0 {
            self.state.eval_pending = false;
            return Ok(StopReason::Completed);
        }
        let reason = self.eval_after_step(observer, stop, last_eval)?;
        if !self.state.eval_pending {
            self.checkpoint()?;
        }
        Ok(reason)
    }

    /// Runs `call` on every hook in order with a context on this run; returns the last reason
    /// to stop any of them gave.
    fn each_hook(
        &mut self,
        observer: &mut dyn Observer,
        mut call: impl FnMut(&mut dyn Hook, &mut Ctx<'_>) -> Result<Option<StopReason>, TrainError>,
    ) -> Result<Option<StopReason>, TrainError> {
        let Session { parts, scalars, checkpoints, state, hooks, .. } = self;
        let mut fx = RunEffects {
            scalars,
            checkpoints,
            varmap: &parts.varmap,
            optimizer: &mut parts.optimizer,
            averages: &parts.averages,
            observer,
        };
        let mut ctx = Ctx { state, schedule: &mut parts.schedule, fx: &mut fx };
        let mut stop = None;
        for hook in hooks.iter_mut() {
            if let Some(r) = call(hook.as_mut(), &mut ctx)? {
                stop = Some(r);
            }
        }
        Ok(stop)
    }

    /// One optimizer step: the step's settings from the schedule, forward and backward over
    /// the micro-batches, the loss hooks (the NaN watchdog), clipping, the update.
    /// `None`: `stop` was set before the last micro-batch; the step is abandoned (the loop state
    /// keeps the last completed step's RNG and data position).
    fn step(
        &mut self,
        loader: &mut Loader,
        observer: &mut dyn Observer,
        stop: &AtomicBool,
    ) -> Result<Option<Applied>, TrainError> {
        let step = self.state.step;
        let tau = step.saturating_sub(self.state.schedule_origin);
        let p = &mut self.parts;
        let settings = p.optimizer.scheduled(&p.schedule, tau);
        let accum = p.config.train.grad_accum_steps;
        let mut rng = self.state.rng.clone();
        let loss_scale = self.state.loss_scale.map(|s| s.scale);
        if let Some(low) = &mut p.low {
            low.sync()?;
        }
        let low = p.low.as_ref().map(|l| (l, loss_scale.unwrap_or(1.0)));
        let Some(mut g) =
            accumulate(p.task.as_ref(), p.data.as_ref(), loader, accum, &p.vars, &p.device, &mut rng, stop, low)?
        else {
            return Ok(None);
        };
        self.state.rng = rng;
        self.each_hook(observer, |h, ctx| h.after_loss(step, g.loss, ctx).map(|()| None))?;
        let p = &mut self.parts;
        let logged = step.is_multiple_of(p.config.logging.every.max(1)) || step + 1 == p.total_steps;
        // f16: a step whose unscaled gradients overflowed is skipped (the schedule still moves
        // on, as PyTorch's GradScaler.step with scheduler.step) and the scale halved.
        let applied = match &mut self.state.loss_scale {
            Some(s) => s.update(global_norm(&g.grads, &p.vars)?.is_finite(), growth_interval(&p.config)),
            None => true,
        };
        let mut grad_norm = None;
        if applied {
            // The pre-clip norm is computed only when clipping or logged.
            grad_norm = clip(&mut g.grads, &p.vars, p.config.train.max_grad_norm, logged)?;
            p.optimizer.step(&g.grads, &settings)?;
        }
        self.state.step += 1;
        p.averages.after_step(self.state.step)?;
        self.state.data = loader.position();
        let (loss, samples, tokens) = (g.loss, g.samples, g.tokens);
        Ok(Some(Applied { step, logged, loss, settings, grad_norm, loss_scale, samples, tokens }))
    }

    /// Logs a step (every `logging.every` steps and the last): loss, LR per group, momentum,
    /// gradient norm, throughput since the last logged step. Returns its report when logged.
    fn log_step(&mut self, a: &Applied, window: &mut Window) -> Result<Option<StepReport>, TrainError> {
        if !a.logged {
            return Ok(None);
        }
        let p = &self.parts;
        let (samples_per_sec, tokens_per_sec) = window.rates();
        let lr = a.settings.first().map_or(0.0, |s| s.lr);
        let s = &mut self.scalars;
        s.scalar("train/loss", a.step, a.loss)?;
        s.scalar("train/lr", a.step, lr)?;
        if p.optimizer.groups().len() > 1 {
            for (group, setting) in p.optimizer.groups().iter().zip(&a.settings) {
                s.scalar(&format!("train/lr/{}", group.name()), a.step, setting.lr)?;
            }
        }
        if p.schedule.cycles_momentum() {
            let m = a.settings.first().and_then(|s| s.momentum).unwrap_or(p.config.optimizer.base_momentum());
            s.scalar("train/momentum", a.step, m)?;
        }
        if let Some(norm) = a.grad_norm {
            s.scalar("train/grad_norm", a.step, norm)?;
        }
        if let Some(scale) = a.loss_scale {
            s.scalar("train/loss_scale", a.step, scale)?;
        }
        s.scalar("perf/samples_per_sec", a.step, samples_per_sec)?;
        if let Some(t) = tokens_per_sec {
            s.scalar("perf/tokens_per_sec", a.step, t)?;
        }
        Ok(Some(StepReport { step: a.step, total: p.total_steps, loss: a.loss, lr, samples_per_sec, tokens_per_sec }))
    }

    /// Evaluates after step `step`, with the raw weights and with each weight average that has
    /// weights (`val_ema/…`, `val_swa/…`), and logs every metric; `None` (nothing logged) when
    /// `stop` was set before they all finished. Returns all of them as one evaluation of the
    /// run's metrics (what the hooks monitor: `train.best_monitor: val_ema/accuracy` works).
    fn evaluate(&mut self, step: u64, stop: &AtomicBool) -> Result<Option<Evaluation>, TrainError> {
        let p = &self.parts;
        let run = || {
            let batch = p.config.train.eval_batch_size;
            evaluate(p.task.as_ref(), p.data.as_ref(), Split::Val, batch, &p.device, step, stop)
        };
        let Some(raw) = run()? else { return Ok(None) };
        let mut averaged = Vec::new();
        for w in p.averages.ready() {
            let Some(a) = p.averages.with_weights(w, run)? else { return Ok(None) };
            averaged.push((w, a));
        }
        for (_, metric, value) in raw.evaluation.iter() {
            self.scalars.scalar(metric.name, step, value)?;
        }
        for (tag, value) in &raw.detail {
            self.scalars.scalar(tag, step, *value)?;
        }
        log_confusion(&mut self.scalars, confusion::TAG, step, raw.confusion.as_ref())?;
        for (w, a) in &averaged {
            for (_, metric, value) in a.evaluation.iter() {
                self.scalars.scalar(&w.tag(metric.name), step, value)?;
            }
            log_confusion(&mut self.scalars, &w.tag(confusion::TAG), step, a.confusion.as_ref())?;
        }
        let averaged: Vec<(Weights, Evaluation)> = averaged.into_iter().map(|(w, a)| (w, a.evaluation)).collect();
        Ok(Some(raw.evaluation.with_averages(&p.metrics, &averaged)))
    }

    /// Saves the periodic checkpoint of the current step and rotates old ones. The logs are
    /// flushed first: whatever a checkpoint holds, the metrics up to it are on disk.
    fn checkpoint(&mut self) -> Result<(), TrainError> {
        self.scalars.flush()?;
        let label = step_label(self.state.step);
        let p = &self.parts;
        let path = save_checkpoint(&self.checkpoints, &label, (&p.varmap, &p.optimizer, &p.averages), &self.state)?;
        self.checkpoints.rotate()?;
        self.last_checkpoint = Some(path);
        self.last_saved = Some(self.state.step);
        Ok(())
    }

    /// The end hooks, the final checkpoint (unless the last step has one), flushed logs, the
    /// summary.
    fn finish(
        &mut self,
        reason: StopReason,
        final_eval: Option<Evaluation>,
        started: Instant,
        observer: &mut dyn Observer,
    ) -> Result<Summary, TrainError> {
        self.each_hook(observer, |h, ctx| h.at_end(reason, ctx).map(|()| None))?;
        if self.last_saved != Some(self.state.step) && self.state.step > 0 {
            self.checkpoint()?;
        }
        self.scalars.flush()?;
        let best = self
            .parts
            .metrics
            .all()
            .iter()
            .map(|m| (*m, self.state.best_metrics.get(m.name).and_then(|t| t.best)))
            .collect();
        Ok(Summary {
            run_dir: self.dir.path().to_owned(),
            steps_done: self.state.step,
            total_steps: self.parts.total_steps,
            stop: reason,
            final_eval,
            best,
            last_checkpoint: self.last_checkpoint.clone(),
            elapsed: started.elapsed(),
        })
    }
}

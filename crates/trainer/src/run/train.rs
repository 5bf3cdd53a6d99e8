//! [`Trainer::run`]: the step loop with its hooks, logging and checkpoints.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::eval::evaluate;
use super::loader::Loader;
use super::observer::{EvalReport, Observer, StepReport, StopReason, Summary};
use super::step::{accumulate, clip};
use super::{Attached, Trainer};
use crate::checkpoint::step_label;
use crate::config::PlateauAction;
use crate::data::Split;
use crate::error::TrainError;
use crate::logging::LogError;

impl Trainer {
    fn attached(&mut self) -> Result<&mut Attached, TrainError> {
        self.attached.as_mut().ok_or_else(|| {
            TrainError::Log(LogError::Open {
                path: "<run directory>".into(),
                source: std::io::Error::other(
                    "the trainer is not attached to a run directory: call start or resume first",
                ),
            })
        })
    }

    fn log(&mut self, tag: &str, step: u64, value: f64) -> Result<(), TrainError> {
        self.attached()?.scalars.scalar(tag, step, value)?;
        Ok(())
    }

    /// Saves the periodic checkpoint for the current step and rotates old ones. The logs are
    /// flushed first: whatever a checkpoint holds, the metrics up to it are on disk.
    fn checkpoint(&mut self) -> Result<std::path::PathBuf, TrainError> {
        self.attached()?.scalars.flush()?;
        let label = step_label(self.state.step);
        let a = self.attached.as_ref().ok_or_else(|| TrainError::Tensor("not attached".into()))?;
        let path = a.checkpoints.save(&label, &self.varmap, &self.optimizer, &self.state)?;
        a.checkpoints.rotate()?;
        Ok(path)
    }

    fn save_named(&mut self, label: &str) -> Result<std::path::PathBuf, TrainError> {
        self.attached()?.scalars.flush()?;
        let a = self.attached.as_ref().ok_or_else(|| TrainError::Tensor("not attached".into()))?;
        Ok(a.checkpoints.save(label, &self.varmap, &self.optimizer, &self.state)?)
    }

    /// Trains until the planned number of steps, an early stop, a plateau stop, or `stop`
    /// (checked before every step; a checkpoint is saved). A NaN or infinite loss ends the run
    /// with [`TrainError::NonFiniteLoss`], leaving the last checkpoint intact.
    pub fn run(&mut self, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Summary, TrainError> {
        let started = Instant::now();
        let t = self.config.train.clone();
        let every = self.config.logging.every.max(1);
        let multi_group = self.optimizer.groups().len() > 1;
        let group_names: Vec<String> = self.optimizer.groups().iter().map(|g| g.name().to_owned()).collect();
        let cycles_momentum = self.schedule.cycles_momentum();
        let mut loader = Loader::new(self.config.seed, self.data.len(Split::Train), t.batch_size, self.state.data);
        let mut last_eval: Option<EvalReport> = None;
        let mut last_saved = if self.state.step > 0 { Some(self.state.step) } else { None };
        let mut last_checkpoint =
            self.attached.as_ref().and_then(|a| a.checkpoints.periodic().first().map(|p| p.1.clone()));
        let mut reason = StopReason::Completed;
        let (mut window_samples, mut window_start) = (0usize, Instant::now());

        if t.eval_on_start && self.state.step == 0 {
            let report = evaluate(self.model.as_ref(), self.data.as_ref(), t.eval_batch_size, &self.device, 0)?;
            self.log("val/loss", 0, report.loss)?;
            if let Some(a) = report.accuracy {
                self.log("val/accuracy", 0, a)?;
            }
            observer.on_event(&format!(
                "before training: val/loss {:.4}{}",
                report.loss,
                report.accuracy.map(|a| format!(" val/accuracy {a:.4}")).unwrap_or_default()
            ));
        }

        while self.state.step < self.total_steps {
            if stop.load(Ordering::SeqCst) {
                reason = StopReason::Interrupted;
                break;
            }
            let step = self.state.step;
            let tau = step.saturating_sub(self.state.schedule_origin);

            // Warm-restart hook: before the first step of a new cycle.
            if let Some(cycle) = self.schedule.restart_at(tau) {
                let hooks = self.config.hooks.on_restart.clone();
                if hooks.snapshot {
                    let path = self.save_named(&format!("cycle-{:03}", cycle - 1))?;
                    observer.on_event(&format!(
                        "step {step}: warm restart (cycle {cycle}); snapshot of cycle {} saved to {}",
                        cycle - 1,
                        path.display()
                    ));
                } else {
                    observer.on_event(&format!("step {step}: warm restart (cycle {cycle})"));
                }
                if hooks.reset_optimizer {
                    self.optimizer.reset_state()?;
                }
            }

            let settings = self.optimizer.scheduled(&self.schedule, tau);
            let mut g = accumulate(
                self.model.as_ref(),
                self.data.as_ref(),
                &mut loader,
                t.grad_accum_steps,
                &self.vars,
                &self.device,
                &mut self.state.rng,
            )?;
            if !g.loss.is_finite() {
                self.log("train/loss", step, g.loss)?;
                self.attached()?.scalars.flush()?;
                return Err(TrainError::NonFiniteLoss { step, value: g.loss, checkpoint: last_checkpoint });
            }
            let logged = step.is_multiple_of(every) || step + 1 == self.total_steps;
            let grad_norm = clip(&mut g.grads, &self.vars, t.max_grad_norm, logged)?;
            self.optimizer.step(&g.grads, &settings)?;
            self.state.step += 1;
            self.state.data = loader.position();
            window_samples += g.samples;

            if logged {
                let secs = window_start.elapsed().as_secs_f64();
                let samples_per_sec = if secs > 0.0 { window_samples as f64 / secs } else { 0.0 };
                (window_samples, window_start) = (0, Instant::now());
                let lr = settings.first().map_or(0.0, |s| s.lr);
                self.log("train/loss", step, g.loss)?;
                self.log("train/lr", step, lr)?;
                if multi_group {
                    for (name, s) in group_names.iter().zip(&settings) {
                        self.log(&format!("train/lr/{name}"), step, s.lr)?;
                    }
                }
                if cycles_momentum {
                    let m = settings.first().and_then(|s| s.momentum).unwrap_or(self.config.optimizer.base_momentum());
                    self.log("train/momentum", step, m)?;
                }
                if let Some(norm) = grad_norm {
                    self.log("train/grad_norm", step, norm)?;
                }
                self.log("perf/samples_per_sec", step, samples_per_sec)?;
                observer.on_step(&StepReport { step, total: self.total_steps, loss: g.loss, lr, samples_per_sec });
            }

            let done = self.state.step == self.total_steps;
            if self.state.step.is_multiple_of(t.eval_every) || done {
                let report = evaluate(self.model.as_ref(), self.data.as_ref(), t.eval_batch_size, &self.device, step)?;
                if let Some(r) = self.after_eval(&report, observer)? {
                    reason = r;
                }
                last_eval = Some(report);
            }
            if t.checkpoint_every > 0 && self.state.step.is_multiple_of(t.checkpoint_every) {
                last_checkpoint = Some(self.checkpoint()?);
                last_saved = Some(self.state.step);
            }
            if reason != StopReason::Completed {
                break;
            }
        }

        // A run that ends exactly where a cycle ends: snapshot that last cycle too.
        if reason == StopReason::Completed && self.config.hooks.on_restart.snapshot {
            let tau = self.state.step.saturating_sub(self.state.schedule_origin);
            if let Some(cycle) = self.schedule.restart_at(tau) {
                let path = self.save_named(&format!("cycle-{:03}", cycle - 1))?;
                observer.on_event(&format!(
                    "step {}: end of cycle {}; snapshot saved to {}",
                    self.state.step,
                    cycle - 1,
                    path.display()
                ));
            }
        }
        if last_saved != Some(self.state.step) && self.state.step > 0 {
            last_checkpoint = Some(self.checkpoint()?);
        }
        let a = self.attached()?;
        a.scalars.flush()?;
        let run_dir = a.dir.clone();
        Ok(Summary {
            run_dir,
            steps_done: self.state.step,
            total_steps: self.total_steps,
            stop: reason,
            final_eval: last_eval,
            best_loss: self.state.best_metrics.get("val/loss").and_then(|t| t.best),
            best_accuracy: self.state.best_metrics.get("val/accuracy").and_then(|t| t.best),
            last_checkpoint,
            elapsed: started.elapsed(),
        })
    }

    /// Logs an evaluation and runs the plateau hook, early stopping and the best checkpoint.
    /// Returns a reason to stop, if any.
    fn after_eval(
        &mut self,
        report: &EvalReport,
        observer: &mut dyn Observer,
    ) -> Result<Option<StopReason>, TrainError> {
        let step = report.step;
        let mut metrics = vec![("val/loss", report.loss)];
        if let Some(a) = report.accuracy {
            metrics.push(("val/accuracy", a));
        }
        for (name, value) in &metrics {
            self.log(name, step, *value)?;
            let mode = crate::check::mode_for(name);
            self.state.best_metrics.entry((*name).to_owned()).or_default().update(*value, step, mode, 0.0);
        }
        observer.on_eval(report);

        let tau = step.saturating_sub(self.state.schedule_origin);
        for (name, value) in &metrics {
            let obs = self.schedule.observe(tau, name, *value);
            if obs.reduced {
                observer.on_event(&format!(
                    "step {step}: {name} plateaued; LR reduced to {:.3e}",
                    self.schedule.group_lr(tau + 1, self.config.optimizer.lr())
                ));
            }
        }
        self.state.schedule = self.schedule.state();

        let mut stop = None;
        if let (Some(hook), Some(detector)) = (self.config.hooks.on_plateau.clone(), self.plateau_hook.as_mut()) {
            if let Some((_, value)) = metrics.iter().find(|(n, _)| *n == hook.monitor) {
                if detector.observe(*value).plateau {
                    match hook.action {
                        PlateauAction::Restart => {
                            self.state.schedule_origin = self.state.step;
                            observer.on_event(&format!("step {step}: {} plateaued; schedule restarted", hook.monitor));
                        }
                        PlateauAction::Stop => {
                            observer.on_event(&format!("step {step}: {} plateaued; stopping", hook.monitor));
                            stop = Some(StopReason::Plateau);
                        }
                        PlateauAction::Reduce => {}
                    }
                }
            }
            self.state.plateau_hook = Some(detector.state().clone());
        }

        if let Some(es) = self.config.train.early_stopping.clone() {
            if let Some((_, value)) = metrics.iter().find(|(n, _)| *n == es.monitor) {
                self.state.early_stopping.update(*value, step, es.mode, es.min_delta);
                if self.state.early_stopping.bad >= es.patience {
                    observer.on_event(&format!(
                        "step {step}: early stopping ({} did not improve for {} evaluations)",
                        es.monitor, es.patience
                    ));
                    stop = Some(StopReason::EarlyStopping);
                }
            }
        }

        let monitor = self.config.train.best_monitor.clone();
        if let Some((_, value)) = metrics.iter().find(|(n, _)| *n == monitor) {
            if self.state.best.update(*value, step, crate::check::mode_for(&monitor), 0.0) {
                self.save_named("best")?;
            }
        }
        Ok(stop)
    }
}

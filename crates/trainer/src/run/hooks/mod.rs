//! Hooks: the strategies the loop is assembled from (Burn's `burn-train`, Lightning's callbacks).
//! Each reacts at one or more points of the loop — before a step, after the loss is known, after
//! an evaluation, at the end — by changing the [`LoopState`] and the schedule, and by asking the
//! run for side effects through [`Effects`] (save a checkpoint, reset the optimizer, tell the
//! observer). The session implements `Effects` on the real run; unit tests record the calls, so
//! every hook is tested without a training run.

mod best;
mod early_stop;
mod plateau;
mod progress;
mod restart;
mod watchdog;

use std::path::PathBuf;

use sched::Schedule;

use super::metric::Evaluation;
use super::observer::{Event, StepReport, StopReason};
use super::state::LoopState;
use crate::error::TrainError;

pub use best::{BestCheckpoint, BestMetrics};
pub use early_stop::EarlyStopping;
pub use plateau::{PlateauHook, SchedulePlateau};
pub use progress::Progress;
pub use restart::WarmRestart;
pub use watchdog::Watchdog;

/// The side effects a hook may ask of the run.
pub trait Effects {
    /// Saves checkpoint `label` (model, optimizer and `state`); returns its path.
    fn save(&mut self, label: &str, state: &LoopState) -> Result<PathBuf, TrainError>;
    /// Zeroes the optimizer's moments and step counts.
    fn reset_optimizer(&mut self) -> Result<(), TrainError>;
    /// Logs one scalar and flushes the logs (used when the run is about to fail).
    fn record(&mut self, tag: &str, step: u64, value: f64) -> Result<(), TrainError>;
    /// The newest checkpoint (any kind) saved before step `step` ran: its weights are not the
    /// ones step `step` computed with.
    fn checkpoint_before(&self, step: u64) -> Option<PathBuf>;
    /// Tells the observer about an event.
    fn notify(&mut self, event: Event);
    /// Tells the observer about a logged step.
    fn step_done(&mut self, report: &StepReport);
    /// Tells the observer about an evaluation.
    fn evaluated(&mut self, eval: &Evaluation);
}

/// What a hook sees and may change.
pub struct Ctx<'a> {
    /// The loop state saved in checkpoints (step, trackers, schedule origin…).
    pub state: &'a mut LoopState,
    /// The schedule (its plateaus observe metrics).
    pub schedule: &'a mut Schedule,
    /// Side effects on the run.
    pub fx: &'a mut dyn Effects,
}

impl Ctx<'_> {
    /// The schedule's time at the current step: `step − schedule_origin`.
    pub fn tau(&self) -> u64 {
        self.state.step.saturating_sub(self.state.schedule_origin)
    }
}

/// One strategy of the loop. Every method has a do-nothing default; a hook implements the
/// points it reacts at.
pub trait Hook {
    /// Before optimizer step `ctx.state.step` runs.
    fn before_step(&mut self, _ctx: &mut Ctx<'_>) -> Result<(), TrainError> {
        Ok(())
    }
    /// After the forward and backward passes of step `step`, before the optimizer step, with the
    /// step's mean training loss.
    fn after_loss(&mut self, _step: u64, _loss: f64, _ctx: &mut Ctx<'_>) -> Result<(), TrainError> {
        Ok(())
    }
    /// After a logged step (every `logging.every` steps and the last), its scalars written.
    fn after_step(&mut self, _report: &StepReport, _ctx: &mut Ctx<'_>) -> Result<(), TrainError> {
        Ok(())
    }
    /// After an evaluation (logged already); returns a reason to stop, if any.
    fn after_eval(&mut self, _eval: &Evaluation, _ctx: &mut Ctx<'_>) -> Result<Option<StopReason>, TrainError> {
        Ok(None)
    }
    /// After the loop ended for `reason`, before the final checkpoint.
    fn at_end(&mut self, _reason: StopReason, _ctx: &mut Ctx<'_>) -> Result<(), TrainError> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A recording [`Effects`] and a fresh loop state for the hooks' unit tests.

    use std::path::PathBuf;

    use super::*;
    use crate::rng::Rng;
    use crate::run::loader::DataPosition;
    use crate::run::state::{Fingerprint, STATE_FORMAT};

    /// Records every call.
    #[derive(Default)]
    pub(crate) struct Recorder {
        pub(crate) saved: Vec<(String, u64)>,
        pub(crate) resets: usize,
        pub(crate) recorded: Vec<(String, u64, f64)>,
        pub(crate) events: Vec<String>,
        /// Checkpoints on "disk": `(step, path)`.
        pub(crate) checkpoints: Vec<(u64, PathBuf)>,
        pub(crate) steps: Vec<u64>,
        pub(crate) evals: Vec<u64>,
    }

    impl Effects for Recorder {
        fn save(&mut self, label: &str, state: &LoopState) -> Result<PathBuf, TrainError> {
            self.saved.push((label.to_owned(), state.step));
            Ok(PathBuf::from("ckpt").join(label))
        }
        fn reset_optimizer(&mut self) -> Result<(), TrainError> {
            self.resets += 1;
            Ok(())
        }
        fn record(&mut self, tag: &str, step: u64, value: f64) -> Result<(), TrainError> {
            self.recorded.push((tag.to_owned(), step, value));
            Ok(())
        }
        fn checkpoint_before(&self, step: u64) -> Option<PathBuf> {
            self.checkpoints.iter().filter(|(s, _)| *s < step).max_by_key(|(s, _)| *s).map(|(_, p)| p.clone())
        }
        fn notify(&mut self, event: Event) {
            self.events.push(event.to_string());
        }
        fn step_done(&mut self, report: &StepReport) {
            self.steps.push(report.step);
        }
        fn evaluated(&mut self, eval: &Evaluation) {
            self.evals.push(eval.step);
        }
    }

    /// The loop state of a fresh run at `step`.
    pub(crate) fn state(step: u64, schedule: &Schedule) -> LoopState {
        LoopState {
            format: STATE_FORMAT,
            step,
            data: DataPosition::default(),
            rng: Rng::new(0),
            schedule_origin: 0,
            schedule: schedule.state(),
            plateau_hook: None,
            early_stopping: Default::default(),
            best_metrics: Default::default(),
            fingerprint: Fingerprint {
                schedule: Default::default(),
                optimizer: Default::default(),
                model: None,
                data: None,
                seed: None,
                train: None,
                hash: String::new(),
            },
            eval_pending: false,
            loss_scale: None,
        }
    }

    /// A hook's world in a unit test: a schedule, a loop state, a recorder.
    pub(crate) struct Harness {
        pub(crate) schedule: Schedule,
        pub(crate) state: LoopState,
        pub(crate) fx: Recorder,
    }

    impl Harness {
        /// The schedule of `json` (base LR 0.1) at step `step` of a fresh run.
        pub(crate) fn new(json: &str, step: u64) -> Self {
            let schedule = schedule(json);
            let state = state(step, &schedule);
            Self { schedule, state, fx: Recorder::default() }
        }

        /// The context hooks get.
        pub(crate) fn ctx(&mut self) -> Ctx<'_> {
            Ctx { state: &mut self.state, schedule: &mut self.schedule, fx: &mut self.fx }
        }
    }

    /// A schedule from its JSON config, base LR 0.1.
    pub(crate) fn schedule(json: &str) -> Schedule {
        Schedule::new(&serde_json::from_str(json).unwrap(), 0.1).unwrap()
    }

    /// An evaluation of classification metrics at `step`.
    pub(crate) fn eval(step: u64, loss: f64, accuracy: f64) -> Evaluation {
        use crate::run::metric::{Metric, Metrics};
        Evaluation::new(step, Metrics::new(vec![Metric::VAL_LOSS, Metric::VAL_ACCURACY]), vec![loss, accuracy])
    }
}

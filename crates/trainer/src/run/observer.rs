//! What the loop reports as it goes (for progress bars and logs), and its final summary.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::metric::{Evaluation, Metric};

/// One optimizer step, as applied.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step (0-based).
    pub step: u64,
    /// Total steps of the run.
    pub total: u64,
    /// Mean training loss over the step's micro-batches.
    pub loss: f64,
    /// LR of group 0 used by the step.
    pub lr: f64,
    /// Training examples per second since the previous report.
    pub samples_per_sec: f64,
    /// Tokens per second since the previous report, for tasks that count tokens (causal LMs).
    pub tokens_per_sec: Option<f64>,
}

/// Receives progress from [`super::Session::run`] (through the `Progress` hook and events); every
/// method has a no-op default.
pub trait Observer {
    /// After each logged step.
    fn on_step(&mut self, _report: &StepReport) {}
    /// After each evaluation.
    fn on_eval(&mut self, _eval: &Evaluation) {}
    /// A notable event (restart, plateau, early stop…); its `Display` is one line.
    fn on_event(&mut self, _event: &Event) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// All steps done.
    Completed,
    /// Early stopping: the monitored metric stopped improving.
    EarlyStopping,
    /// `hooks.on_plateau: {action: stop}`.
    Plateau,
    /// A stop was requested (Ctrl-C).
    Interrupted,
}

/// The end of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Optimizer steps done.
    pub steps_done: u64,
    /// Steps the run was planned for.
    pub total_steps: u64,
    /// Why it ended.
    pub stop: StopReason,
    /// The last evaluation.
    pub final_eval: Option<Evaluation>,
    /// Best value of each metric and the step it was reached at, in the task's metric order.
    pub best: Vec<(Metric, Option<(f64, u64)>)>,
    /// The newest periodic checkpoint.
    pub last_checkpoint: Option<PathBuf>,
    /// Wall time of this invocation's training.
    pub elapsed: Duration,
}

impl Summary {
    /// The best value of metric `name` and its step.
    pub fn best_of(&self, name: &str) -> Option<(f64, u64)> {
        self.best.iter().find(|(m, _)| m.name == name).and_then(|(_, b)| *b)
    }
}

/// Something notable the loop did, for the observer.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The evaluation before the first step (`train.eval_on_start`).
    BeforeTraining(Evaluation),
    /// The schedule restarted (cycle `cycle` begins at `step`); the ending cycle's snapshot.
    WarmRestart {
        /// The first step of the new cycle.
        step: u64,
        /// The new cycle (1 for the first restart).
        cycle: u64,
        /// The snapshot of the cycle that ended, when `hooks.on_restart.snapshot`.
        snapshot: Option<PathBuf>,
    },
    /// The run completed exactly at the end of cycle `cycle`, snapshotted too.
    CycleEnd {
        /// Steps done.
        step: u64,
        /// The cycle that ended.
        cycle: u64,
        /// Its snapshot.
        snapshot: PathBuf,
    },
    /// A schedule `plateau` lowered the LR.
    LrReduced {
        /// The evaluation's step.
        step: u64,
        /// The metric that plateaued.
        metric: &'static str,
        /// The primary group's LR from the next step on.
        lr: f64,
    },
    /// `hooks.on_plateau: restart` restarted the schedule.
    PlateauRestart {
        /// The evaluation's step.
        step: u64,
        /// The monitored metric.
        metric: String,
    },
    /// `hooks.on_plateau: stop` ends the run.
    PlateauStop {
        /// The evaluation's step.
        step: u64,
        /// The monitored metric.
        metric: String,
    },
    /// Early stopping ends the run.
    EarlyStop {
        /// The evaluation's step.
        step: u64,
        /// The monitored metric.
        metric: String,
        /// Evaluations without improvement.
        patience: u64,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::BeforeTraining(e) => {
                write!(f, "before training: val/loss {:.4}", e.loss())?;
                e.accuracy().map_or(Ok(()), |a| write!(f, " val/accuracy {a:.4}"))
            }
            Event::WarmRestart { step, cycle, snapshot: None } => {
                write!(f, "step {step}: warm restart (cycle {cycle})")
            }
            Event::WarmRestart { step, cycle, snapshot: Some(p) } => write!(
                f,
                "step {step}: warm restart (cycle {cycle}); snapshot of cycle {} saved to {}",
                cycle - 1,
                p.display()
            ),
            Event::CycleEnd { step, cycle, snapshot } => {
                write!(f, "step {step}: end of cycle {cycle}; snapshot saved to {}", snapshot.display())
            }
            Event::LrReduced { step, metric, lr } => {
                write!(f, "step {step}: {metric} plateaued; LR reduced to {lr:.3e}")
            }
            Event::PlateauRestart { step, metric } => write!(f, "step {step}: {metric} plateaued; schedule restarted"),
            Event::PlateauStop { step, metric } => write!(f, "step {step}: {metric} plateaued; stopping"),
            Event::EarlyStop { step, metric, patience } => {
                write!(f, "step {step}: early stopping ({metric} did not improve for {patience} evaluations)")
            }
        }
    }
}

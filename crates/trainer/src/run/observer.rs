//! What the loop reports as it goes (for progress bars and logs), and its final summary.

use std::path::PathBuf;
use std::time::Duration;

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
}

/// One evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// The step after which it ran (0-based).
    pub step: u64,
    /// Mean validation loss.
    pub loss: f64,
    /// Validation accuracy (classification).
    pub accuracy: Option<f64>,
}

/// Receives progress from [`super::Trainer::run`]; every method has a no-op default.
pub trait Observer {
    /// After each logged step.
    fn on_step(&mut self, _report: &StepReport) {}
    /// After each evaluation.
    fn on_eval(&mut self, _report: &EvalReport) {}
    /// A notable event (restart, plateau, checkpoint…), as one line.
    fn on_event(&mut self, _message: &str) {}
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
    pub final_eval: Option<EvalReport>,
    /// Best validation loss and the step it was reached at.
    pub best_loss: Option<(f64, u64)>,
    /// Best validation accuracy and the step it was reached at.
    pub best_accuracy: Option<(f64, u64)>,
    /// The newest periodic checkpoint.
    pub last_checkpoint: Option<PathBuf>,
    /// Wall time of this invocation's training.
    pub elapsed: Duration,
}

//! [`Progress`]: tells the observer (the progress bar, a log line) about each logged step and
//! each evaluation, as the first hook at those points, so it reports before the other hooks'
//! events.

use super::{Ctx, Hook};
use crate::error::TrainError;
use crate::run::metric::Evaluation;
use crate::run::observer::{StepReport, StopReason};

/// Forwards steps and evaluations to the observer.
pub struct Progress;

impl Hook for Progress {
    fn after_step(&mut self, report: &StepReport, ctx: &mut Ctx<'_>) -> Result<(), TrainError> {
        ctx.fx.step_done(report);
        Ok(())
    }

    fn after_eval(&mut self, eval: &Evaluation, ctx: &mut Ctx<'_>) -> Result<Option<StopReason>, TrainError> {
        ctx.fx.evaluated(eval);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::hooks::testing::{Harness, eval};

    #[test]
    fn reports_each_logged_step_and_evaluation() {
        let mut h = Harness::new(r#"{"kind": "constant"}"#, 0);
        let mut ctx = h.ctx();
        let report =
            StepReport { step: 4, total: 10, loss: 0.5, lr: 0.1, samples_per_sec: 100.0, tokens_per_sec: None };
        Progress.after_step(&report, &mut ctx).unwrap();
        assert_eq!(Progress.after_eval(&eval(4, 0.4, 0.9), &mut ctx).unwrap(), None);
        assert_eq!(h.fx.steps, [4]);
        assert_eq!(h.fx.evals, [4]);
    }
}

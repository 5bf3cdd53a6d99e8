//! The best value of every metric ([`BestMetrics`], for the summary) and the `best` checkpoint
//! of the monitored one ([`BestCheckpoint`]): one tracker per metric serves both.

use super::{Ctx, Hook};
use crate::error::TrainError;
use crate::run::metric::{Evaluation, Metric};
use crate::run::observer::StopReason;

/// Tracks the best value of each metric the task reports, in the metric's direction
/// (`LoopState::best_metrics`).
pub struct BestMetrics;

impl Hook for BestMetrics {
    fn after_eval(&mut self, eval: &Evaluation, ctx: &mut Ctx<'_>) -> Result<Option<StopReason>, TrainError> {
        for (_, metric, value) in eval.iter() {
            let tracker = ctx.state.best_metrics.entry(metric.name.to_owned()).or_default();
            tracker.update(value, eval.step, metric.direction.mode(), 0.0);
        }
        Ok(None)
    }
}

/// Saves checkpoint `best` whenever the monitored metric (`train.best_monitor`) improves; runs
/// after [`BestMetrics`], whose tracker it reads.
pub struct BestCheckpoint {
    monitor: Metric,
}

impl BestCheckpoint {
    /// Saves on improvements of `monitor`.
    pub fn new(monitor: Metric) -> Self {
        Self { monitor }
    }
}

impl Hook for BestCheckpoint {
    fn after_eval(&mut self, eval: &Evaluation, ctx: &mut Ctx<'_>) -> Result<Option<StopReason>, TrainError> {
        let improved = ctx
            .state
            .best_metrics
            .get(self.monitor.name)
            .is_some_and(|t| t.bad == 0 && t.best.is_some_and(|(_, step)| step == eval.step));
        if improved {
            ctx.fx.save("best", ctx.state)?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::hooks::testing::{Harness, eval};

    #[test]
    fn tracks_each_metric_in_its_direction_and_saves_best_on_improvement() {
        let mut h = Harness::new(r#"{"kind": "constant"}"#, 0);
        let mut best = BestCheckpoint::new(Metric::VAL_ACCURACY);
        for (step, loss, acc) in [(9, 1.0, 0.5), (19, 0.8, 0.7), (29, 0.9, 0.6), (39, 0.7, 0.7), (49, 0.6, 0.8)] {
            h.state.step = step + 1;
            let e = eval(step, loss, acc);
            let mut ctx = h.ctx();
            BestMetrics.after_eval(&e, &mut ctx).unwrap();
            best.after_eval(&e, &mut ctx).unwrap();
        }
        // Accuracy improves (strictly) at steps 9, 19 and 49; a tie at 39 is no improvement.
        let (fx, st) = (&h.fx, &h.state);
        let steps: Vec<u64> = fx.saved.iter().filter_map(|(l, s)| (l == "best").then_some(*s)).collect();
        assert_eq!(steps, [10, 20, 50]);
        assert_eq!(st.best_metrics["val/accuracy"].best, Some((0.8, 49)));
        assert_eq!(st.best_metrics["val/loss"].best, Some((0.6, 49)));
        assert_eq!(st.best_metrics["val/loss"].bad, 0);
    }
}

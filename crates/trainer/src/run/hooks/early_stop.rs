//! [`EarlyStopping`]: stop once more than `patience` evaluations in a row brought no improvement
//! larger than `min_delta` of the monitored metric (`train.early_stopping`); `patience` counts as
//! in PyTorch's `ReduceLROnPlateau` and `hooks.on_plateau`.

use super::{Ctx, Hook};
use crate::config::EarlyStoppingConfig;
use crate::error::TrainError;
use crate::run::metric::{Evaluation, MetricId};
use crate::run::observer::{Event, StopReason};

/// Early stopping on one resolved metric.
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    metric: MetricId,
}

impl EarlyStopping {
    /// Early stopping as configured, watching `metric` (the resolved `config.monitor`).
    pub fn new(config: EarlyStoppingConfig, metric: MetricId) -> Self {
        Self { config, metric }
    }
}

impl Hook for EarlyStopping {
    fn after_eval(&mut self, eval: &Evaluation, ctx: &mut Ctx<'_>) -> Result<Option<StopReason>, TrainError> {
        let Some(value) = eval.value(self.metric) else { return Ok(None) };
        let c = &self.config;
        ctx.state.early_stopping.update(value, eval.step, c.mode, c.min_delta);
        let bad = ctx.state.early_stopping.bad;
        if bad <= c.patience {
            return Ok(None);
        }
        ctx.fx.notify(Event::EarlyStop { step: eval.step, metric: c.monitor.clone(), patience: bad });
        Ok(Some(StopReason::EarlyStopping))
    }
}

#[cfg(test)]
mod tests {
    use sched::PlateauMode;

    use super::*;
    use crate::run::hooks::testing::{Harness, eval};

    /// The stops of early stopping with `patience` over the losses evaluated at steps 0, 1, ….
    fn stops(patience: u64, losses: &[f64]) -> (Vec<Option<StopReason>>, Vec<String>) {
        let config =
            EarlyStoppingConfig { monitor: "val/loss".into(), patience, min_delta: 0.05, mode: PlateauMode::Min };
        let mut hook = EarlyStopping::new(config, MetricId(0));
        let mut h = Harness::new(r#"{"kind": "constant"}"#, 0);
        let stops =
            losses.iter().enumerate().map(|(s, &l)| hook.after_eval(&eval(s as u64, l, 0.0), &mut h.ctx()).unwrap());
        let stops = stops.collect();
        (stops, h.fx.events)
    }

    #[test]
    fn stops_when_more_than_patience_evaluations_bring_no_large_enough_improvement() {
        let stop = Some(StopReason::EarlyStopping);
        let (got, events) = stops(2, &[1.0, 0.9, 0.88, 0.86, 0.87, 0.5]);
        assert_eq!(got, [None, None, None, None, stop, None]);
        assert_eq!(events, ["step 4: early stopping (val/loss did not improve for 3 evaluations)"]);
    }

    #[test]
    fn patience_zero_stops_at_the_first_evaluation_that_does_not_improve_never_an_improving_one() {
        let stop = Some(StopReason::EarlyStopping);
        assert_eq!(stops(0, &[1.0, 0.9, 0.8, 0.79]).0, [None, None, None, stop]);
    }
}

//! [`EarlyStopping`]: stop after `patience` evaluations without an improvement larger than
//! `min_delta` of the monitored metric (`train.early_stopping`).

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
        if ctx.state.early_stopping.bad < c.patience {
            return Ok(None);
        }
        ctx.fx.notify(Event::EarlyStop { step: eval.step, metric: c.monitor.clone(), patience: c.patience });
        Ok(Some(StopReason::EarlyStopping))
    }
}

#[cfg(test)]
mod tests {
    use sched::PlateauMode;

    use super::*;
    use crate::run::hooks::testing::{Harness, eval};

    #[test]
    fn stops_after_patience_evaluations_without_a_large_enough_improvement() {
        let config =
            EarlyStoppingConfig { monitor: "val/loss".into(), patience: 2, min_delta: 0.05, mode: PlateauMode::Min };
        let mut hook = EarlyStopping::new(config, MetricId(0));
        let mut h = Harness::new(r#"{"kind": "constant"}"#, 0);
        let mut stops = Vec::new();
        for (step, loss) in [(0, 1.0), (1, 0.9), (2, 0.88), (3, 0.86), (4, 0.5)] {
            stops.push(hook.after_eval(&eval(step, loss, 0.0), &mut h.ctx()).unwrap());
        }
        let fx = h.fx;
        assert_eq!(stops, [None, None, None, Some(StopReason::EarlyStopping), None]);
        assert_eq!(fx.events, ["step 3: early stopping (val/loss did not improve for 2 evaluations)"]);
    }
}

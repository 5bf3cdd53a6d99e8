//! Plateaus: the schedule's own `plateau` kinds observing the metrics ([`SchedulePlateau`], the
//! LR reductions of `ReduceLROnPlateau`), and `hooks.on_plateau` with `restart` or `stop`
//! ([`PlateauHook`], its own detector).

use sched::{Plateau, PlateauState};

use super::{Ctx, Hook};
use crate::config::PlateauAction;
use crate::error::TrainError;
use crate::run::metric::{Evaluation, MetricId};
use crate::run::observer::{Event, StopReason};

/// Feeds every evaluation to the schedule's plateaus (each listens to its own `monitor`).
pub struct SchedulePlateau;

impl Hook for SchedulePlateau {
    fn after_eval(&mut self, eval: &Evaluation, ctx: &mut Ctx<'_>) -> Result<Option<StopReason>, TrainError> {
        let tau = eval.step.saturating_sub(ctx.state.schedule_origin);
        for (_, metric, value) in eval.iter() {
            if ctx.schedule.observe(tau, metric.name, value).reduced {
                let lr = ctx.schedule.group_lr(tau + 1, ctx.schedule.base_lr());
                ctx.fx.notify(Event::LrReduced { step: eval.step, metric: metric.name, lr });
            }
        }
        ctx.state.schedule = ctx.schedule.state();
        Ok(None)
    }
}

/// `hooks.on_plateau` with `restart` (the schedule starts again from its step 0) or `stop`.
pub struct PlateauHook {
    detector: Plateau,
    metric: MetricId,
    action: PlateauAction,
}

impl PlateauHook {
    /// The hook watching `metric` with `detector`, continuing from `saved` (a resume).
    pub fn new(
        mut detector: Plateau,
        metric: MetricId,
        action: PlateauAction,
        saved: Option<&PlateauState>,
    ) -> Result<Self, TrainError> {
        if let Some(s) = saved {
            detector.set_state(s.clone(), 0).map_err(|e| crate::FieldIssue::new("hooks.on_plateau", e.to_string()))?;
        }
        Ok(Self { detector, metric, action })
    }
}

impl Hook for PlateauHook {
    fn after_eval(&mut self, eval: &Evaluation, ctx: &mut Ctx<'_>) -> Result<Option<StopReason>, TrainError> {
        let mut stop = None;
        if let Some(value) = eval.value(self.metric)
            && self.detector.observe(value).plateau
        {
            let metric = self.detector.config().monitor.clone();
            let step = eval.step;
            match self.action {
                PlateauAction::Restart => {
                    ctx.state.schedule_origin = ctx.state.step;
                    ctx.fx.notify(Event::PlateauRestart { step, metric });
                }
                PlateauAction::Stop => {
                    ctx.fx.notify(Event::PlateauStop { step, metric });
                    stop = Some(StopReason::Plateau);
                }
                PlateauAction::Reduce => {}
            }
        }
        ctx.state.plateau_hook = Some(self.detector.state().clone());
        Ok(stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PlateauHookConfig;
    use crate::run::hooks::testing::{Recorder, eval, schedule, state};

    fn hook(action: PlateauAction) -> PlateauHook {
        hook_with(action, 1)
    }

    fn hook_with(action: PlateauAction, patience: u64) -> PlateauHook {
        let config: PlateauHookConfig =
            serde_json::from_value(serde_json::json!({"action": "restart", "patience": patience})).unwrap();
        PlateauHook::new(Plateau::detector(&config.detector()).unwrap(), MetricId(0), action, None).unwrap()
    }

    fn feed(hook: &mut dyn Hook, s: &mut sched::Schedule, losses: &[f64]) -> (Recorder, Vec<Option<StopReason>>, u64) {
        let mut st = state(0, s);
        let mut fx = Recorder::default();
        let mut out = Vec::new();
        for (i, &loss) in losses.iter().enumerate() {
            st.step = 10 * (i as u64 + 1);
            out.push(
                hook.after_eval(&eval(st.step - 1, loss, 0.0), &mut Ctx { state: &mut st, schedule: s, fx: &mut fx })
                    .unwrap(),
            );
        }
        (fx, out, st.schedule_origin)
    }

    #[test]
    fn restart_moves_the_schedule_origin_to_the_current_step() {
        let mut s = schedule(r#"{"kind": "cosine", "t_max": 100}"#);
        let (fx, stops, origin) = feed(&mut hook(PlateauAction::Restart), &mut s, &[1.0, 1.0, 1.0]);
        assert_eq!(stops, [None, None, None]);
        assert_eq!(origin, 30);
        assert_eq!(fx.events, ["step 29: val/loss plateaued; schedule restarted"]);
    }

    #[test]
    fn stop_ends_the_run_on_a_plateau() {
        let mut s = schedule(r#"{"kind": "constant"}"#);
        let (fx, stops, _) = feed(&mut hook(PlateauAction::Stop), &mut s, &[1.0, 0.5, 0.5, 0.5]);
        assert_eq!(stops, [None, None, None, Some(StopReason::Plateau)]);
        assert_eq!(fx.events, ["step 39: val/loss plateaued; stopping"]);
    }

    #[test]
    fn patience_zero_acts_at_the_first_evaluation_that_does_not_improve_never_an_improving_one() {
        // The same meaning as train.early_stopping.patience (see early_stop.rs).
        let mut s = schedule(r#"{"kind": "constant"}"#);
        let (_, stops, _) = feed(&mut hook_with(PlateauAction::Stop, 0), &mut s, &[1.0, 0.9, 0.8, 0.8]);
        assert_eq!(stops, [None, None, None, Some(StopReason::Plateau)]);
    }

    #[test]
    fn the_schedule_plateau_reduces_the_lr_and_reports_it() {
        let mut s = schedule(r#"{"kind": "plateau", "patience": 0, "factor": 0.5}"#);
        let (fx, _, _) = feed(&mut SchedulePlateau, &mut s, &[1.0, 1.0]);
        assert_eq!(fx.events, ["step 19: val/loss plateaued; LR reduced to 5.000e-2"]);
        assert_eq!(s.lr(100), 0.05);
    }
}

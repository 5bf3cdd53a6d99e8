//! [`WarmRestart`]: at each warm restart of the schedule (`cosine_restarts`), optionally snapshot
//! the cycle that ends and reset the optimizer's moments (`hooks.on_restart`).

use super::{Ctx, Hook};
use crate::config::RestartHookConfig;
use crate::error::TrainError;
use crate::run::observer::{Event, StopReason};

/// Reacts to the schedule's restarts.
pub struct WarmRestart {
    config: RestartHookConfig,
}

impl WarmRestart {
    /// The hook configured by `hooks.on_restart`.
    pub fn new(config: RestartHookConfig) -> Self {
        Self { config }
    }

    /// The snapshot label of cycle `cycle` (0-based): `cycle-000`.
    fn label(cycle: u64) -> String {
        format!("cycle-{cycle:03}")
    }
}

impl Hook for WarmRestart {
    /// Before the first step of a new cycle: the snapshot of the cycle that ends, then the reset.
    fn before_step(&mut self, ctx: &mut Ctx<'_>) -> Result<(), TrainError> {
        let Some(cycle) = ctx.schedule.restart_at(ctx.tau()) else { return Ok(()) };
        let step = ctx.state.step;
        let snapshot = match self.config.snapshot {
            true => Some(ctx.fx.save(&Self::label(cycle - 1), ctx.state)?),
            false => None,
        };
        ctx.fx.notify(Event::WarmRestart { step, cycle, snapshot });
        if self.config.reset_optimizer {
            ctx.fx.reset_optimizer()?;
        }
        Ok(())
    }

    /// A run that completes exactly where a cycle ends: the snapshot of that last cycle too.
    fn at_end(&mut self, reason: StopReason, ctx: &mut Ctx<'_>) -> Result<(), TrainError> {
        if reason != StopReason::Completed || !self.config.snapshot {
            return Ok(());
        }
        if let Some(cycle) = ctx.schedule.restart_at(ctx.tau()) {
            let snapshot = ctx.fx.save(&Self::label(cycle - 1), ctx.state)?;
            ctx.fx.notify(Event::CycleEnd { step: ctx.state.step, cycle: cycle - 1, snapshot });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::hooks::testing::{Recorder, schedule, state};

    fn run_steps(hook: &mut WarmRestart, steps: std::ops::Range<u64>) -> Recorder {
        let mut s = schedule(r#"{"kind": "cosine_restarts", "t_0": 3}"#);
        let mut fx = Recorder::default();
        for step in steps {
            let mut st = state(step, &s);
            hook.before_step(&mut Ctx { state: &mut st, schedule: &mut s, fx: &mut fx }).unwrap();
        }
        fx
    }

    #[test]
    fn snapshots_the_ending_cycle_and_resets_at_each_restart() {
        let mut hook = WarmRestart::new(RestartHookConfig { reset_optimizer: true, snapshot: true });
        let fx = run_steps(&mut hook, 0..7);
        assert_eq!(fx.saved, [("cycle-000".to_owned(), 3), ("cycle-001".to_owned(), 6)]);
        assert_eq!(fx.resets, 2);
        assert_eq!(fx.events[0], "step 3: warm restart (cycle 1); snapshot of cycle 0 saved to ckpt/cycle-000");
    }

    #[test]
    fn without_options_it_only_reports_the_restart() {
        let mut hook = WarmRestart::new(RestartHookConfig::default());
        let fx = run_steps(&mut hook, 0..4);
        assert!(fx.saved.is_empty() && fx.resets == 0);
        assert_eq!(fx.events, ["step 3: warm restart (cycle 1)"]);
    }

    #[test]
    fn a_run_ending_on_a_cycle_boundary_snapshots_its_last_cycle() {
        let mut hook = WarmRestart::new(RestartHookConfig { reset_optimizer: false, snapshot: true });
        let mut s = schedule(r#"{"kind": "cosine_restarts", "t_0": 3}"#);
        let mut fx = Recorder::default();
        for (step, reason) in [(6, StopReason::Interrupted), (5, StopReason::Completed), (6, StopReason::Completed)] {
            let mut st = state(step, &s);
            hook.at_end(reason, &mut Ctx { state: &mut st, schedule: &mut s, fx: &mut fx }).unwrap();
        }
        assert_eq!(fx.saved, [("cycle-001".to_owned(), 6)]);
        assert_eq!(fx.events, ["step 6: end of cycle 1; snapshot saved to ckpt/cycle-001"]);
    }
}

//! Range checks of a loaded [`LoopState`] against the run it resumes: a `state.json` edited or
//! damaged (without a manifest to catch it) is refused with the field named, never trusted.

use super::{LoopState, STATE_FORMAT};
use crate::run::loader::DataPosition;
use crate::run::stopping::Tracker;

/// What the resumed run expects of a checkpoint's state.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    /// The step the directory name claims (`step-<n>`).
    pub dir_step: Option<u64>,
    /// Total optimizer steps of the run.
    pub total_steps: u64,
    /// Micro-batches per epoch (training examples / batch size, rounded up).
    pub micro_per_epoch: u64,
    /// Micro-batches per optimizer step.
    pub accum: u64,
    /// Whether the data position must match the step exactly (the sample order is unchanged).
    pub exact_position: bool,
}

/// The loader's position after `micro` micro-batches (it moves to the next epoch lazily, when
/// the next batch is drawn).
fn position_after(micro: u64, per_epoch: u64) -> DataPosition {
    match micro {
        0 => DataPosition::default(),
        n => DataPosition { epoch: (n - 1) / per_epoch, batch: (n - 1) % per_epoch + 1 },
    }
}

fn check_tracker(what: &str, t: &Tracker, step: u64) -> Result<(), String> {
    match t.best {
        Some((v, _)) if v.is_nan() => Err(format!("{what}: best value is NaN")),
        Some((_, at)) if at >= step => Err(format!("{what}: best at step {at}, not before step {step}")),
        _ if t.bad > step => Err(format!("{what}: {} evaluations without improvement in {step} steps", t.bad)),
        _ => Ok(()),
    }
}

impl LoopState {
    /// Checks every field against its valid range for the run described by `e`.
    pub fn check(&self, e: &Expected) -> Result<(), String> {
        if self.format != STATE_FORMAT {
            return Err(format!("state format {} (this build reads {STATE_FORMAT})", self.format));
        }
        if let Some(d) = e.dir_step.filter(|&d| d != self.step) {
            return Err(format!("step {} does not match the directory's step {d}", self.step));
        }
        if self.step > e.total_steps {
            return Err(format!("step {} is beyond the run's {} steps", self.step, e.total_steps));
        }
        if self.schedule_origin > self.step {
            return Err(format!("schedule_origin {} is after step {}", self.schedule_origin, self.step));
        }
        if e.exact_position {
            let per_epoch = e.micro_per_epoch.max(1);
            let want = self.step.checked_mul(e.accum.max(1)).map(|n| position_after(n, per_epoch));
            if want != Some(self.data) {
                return Err(format!(
                    "data position (epoch {}, batch {}) is not where step {} leaves the data",
                    self.data.epoch, self.data.batch, self.step
                ));
            }
        }
        if let Some(s) = &self.loss_scale {
            s.check()?;
        }
        check_tracker("early_stopping", &self.early_stopping, self.step)?;
        for (name, t) in &self.best_metrics {
            check_tracker(&format!("best_metrics.{name}"), t, self.step)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::hooks::testing::{schedule, state};

    fn expected() -> Expected {
        Expected { dir_step: Some(10), total_steps: 300, micro_per_epoch: 7, accum: 2, exact_position: true }
    }

    fn at(step: u64) -> LoopState {
        let mut s = state(step, &schedule(r#"{"kind": "constant"}"#));
        s.data = position_after(step * 2, 7);
        s
    }

    #[test]
    fn the_position_after_n_micro_batches_wraps_lazily() {
        assert_eq!(position_after(0, 7), DataPosition { epoch: 0, batch: 0 });
        assert_eq!(position_after(7, 7), DataPosition { epoch: 0, batch: 7 });
        assert_eq!(position_after(8, 7), DataPosition { epoch: 1, batch: 1 });
    }

    #[test]
    fn accepts_a_consistent_state_and_names_each_bad_field() {
        assert_eq!(at(10).check(&expected()), Ok(()));
        let e = Expected { dir_step: None, ..expected() };
        assert_eq!(at(1_000_000).check(&e), Err("step 1000000 is beyond the run's 300 steps".to_owned()));
        assert_eq!(at(12).check(&expected()), Err("step 12 does not match the directory's step 10".to_owned()));
        let mut s = at(10);
        s.data.batch += 1;
        assert_eq!(
            s.check(&expected()),
            Err("data position (epoch 2, batch 7) is not where step 10 leaves the data".to_owned())
        );
        let mut s = at(10);
        s.schedule_origin = 11;
        assert!(s.check(&expected()).unwrap_err().starts_with("schedule_origin 11"));
        let mut s = at(10);
        s.best_metrics.insert("val/loss".into(), Tracker { best: Some((0.5, 10)), bad: 0 });
        assert_eq!(s.check(&expected()), Err("best_metrics.val/loss: best at step 10, not before step 10".to_owned()));
        let mut s = at(10);
        s.format = 9;
        assert!(s.check(&expected()).unwrap_err().starts_with("state format 9"));
    }
}

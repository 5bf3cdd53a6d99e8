//! [`Watchdog`]: a NaN or infinite training loss ends the run before the optimizer step applies
//! it, naming the step and the last good checkpoint: the newest one saved before that step ran
//! (checkpoint `k` holds the weights step `k` computes its loss with, so when step `k`'s loss is
//! not finite, checkpoint `k` already holds the weights that produced it).

use super::{Ctx, Hook};
use crate::error::TrainError;

/// Stops the run on a non-finite loss.
pub struct Watchdog;

impl Hook for Watchdog {
    fn after_loss(&mut self, step: u64, loss: f64, ctx: &mut Ctx<'_>) -> Result<(), TrainError> {
        if loss.is_finite() {
            return Ok(());
        }
        ctx.fx.record("train/loss", step, loss)?;
        Err(TrainError::NonFiniteLoss { step, value: loss, checkpoint: ctx.fx.checkpoint_before(step) })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::run::hooks::testing::Harness;

    #[test]
    fn a_non_finite_loss_is_logged_and_stops_with_the_checkpoint_before_the_step() {
        let mut h = Harness::new(r#"{"kind": "constant"}"#, 7);
        // Checkpoint 7 holds the weights step 7 computes with: not a good one.
        h.fx.checkpoints = vec![(5, PathBuf::from("ckpt/step-5")), (7, PathBuf::from("ckpt/step-7"))];
        let mut ctx = h.ctx();
        Watchdog.after_loss(6, 1.5, &mut ctx).unwrap();
        let err = Watchdog.after_loss(7, f64::NAN, &mut ctx).unwrap_err();
        match err {
            TrainError::NonFiniteLoss { step: 7, value, checkpoint: Some(p) } => {
                assert!(value.is_nan());
                assert_eq!(p, PathBuf::from("ckpt/step-5"));
            }
            other => panic!("{other}"),
        }
        assert_eq!(h.fx.recorded.len(), 1);
        assert_eq!((h.fx.recorded[0].0.as_str(), h.fx.recorded[0].1), ("train/loss", 7));
        assert!(Watchdog.after_loss(8, f64::INFINITY, &mut h.ctx()).is_err());
        match Watchdog.after_loss(5, f64::NAN, &mut h.ctx()) {
            Err(TrainError::NonFiniteLoss { step: 5, checkpoint: None, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}

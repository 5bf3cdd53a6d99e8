//! [`LossScaler`]: dynamic loss scaling for f16 training, PyTorch's `torch.amp.GradScaler`.
//! The loss is multiplied by the scale before backward (so small f16 gradients do not flush to
//! zero), the gradients are divided by it in f32, and a step whose unscaled gradients hold any
//! non-finite value is skipped and the scale halved; after `growth_interval` consecutive good
//! steps the scale doubles.

use serde::{Deserialize, Serialize};

use crate::precision::LossScaleConfig;

/// The scale's growth after `growth_interval` good steps (PyTorch's `growth_factor`).
pub const GROWTH_FACTOR: f64 = 2.0;
/// The scale's change on an overflow (PyTorch's `backoff_factor`).
pub const BACKOFF_FACTOR: f64 = 0.5;

/// The scaler's state, saved in every checkpoint (`state.json`, `loss_scale`) so a resume
/// continues it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    /// The current scale.
    pub scale: f64,
    /// Consecutive steps without overflow since the scale last changed (PyTorch's
    /// `_growth_tracker`).
    pub good_steps: u64,
}

impl LossScaler {
    /// A scaler at `config.init`.
    pub fn new(config: &LossScaleConfig) -> Self {
        Self { scale: config.init, good_steps: 0 }
    }

    /// Records one step whose unscaled gradients were `finite` (or not) and returns whether the
    /// optimizer step is applied: on an overflow the step is skipped, the scale multiplied by
    /// [`BACKOFF_FACTOR`] and the count of good steps reset; after `growth_interval` good steps
    /// the scale is multiplied by [`GROWTH_FACTOR`] (unless that overflows f32, as PyTorch).
    pub fn update(&mut self, finite: bool, growth_interval: u64) -> bool {
        if !finite {
            self.scale *= BACKOFF_FACTOR;
            self.good_steps = 0;
            return false;
        }
        self.good_steps += 1;
        if self.good_steps >= growth_interval.max(1) {
            let grown = self.scale * GROWTH_FACTOR;
            if grown <= f64::from(f32::MAX) {
                self.scale = grown;
            }
            self.good_steps = 0;
        }
        true
    }

    /// Whether the state is in range: a finite scale > 0 (a `good_steps` count at or beyond a
    /// changed `growth_interval` just grows the scale at the next good step).
    pub fn check(&self) -> Result<(), String> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(format!("loss_scale.scale {} is not a finite number > 0", self.scale));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(init: f64, growth_interval: u64) -> LossScaleConfig {
        LossScaleConfig { init, growth_interval }
    }

    #[test]
    fn defaults_are_pytorchs_grad_scaler() {
        let s = LossScaler::new(&LossScaleConfig::default());
        assert_eq!(s, LossScaler { scale: 65536.0, good_steps: 0 });
        assert_eq!(LossScaleConfig::default().growth_interval, 2000);
    }

    #[test]
    fn an_overflow_skips_the_step_and_halves_the_scale() {
        let mut s = LossScaler::new(&config(1024.0, 3));
        assert!(s.update(true, 3));
        assert!(s.update(true, 3));
        assert_eq!(s, LossScaler { scale: 1024.0, good_steps: 2 });
        assert!(!s.update(false, 3), "an overflow step is skipped");
        assert_eq!(s, LossScaler { scale: 512.0, good_steps: 0 }, "halved, growth count reset");
        assert!(!s.update(false, 3));
        assert_eq!(s.scale, 256.0);
    }

    #[test]
    fn the_scale_doubles_after_growth_interval_good_steps() {
        let mut s = LossScaler::new(&config(8.0, 4));
        let scales: Vec<f64> = (0..9)
            .map(|_| {
                assert!(s.update(true, 4));
                s.scale
            })
            .collect();
        assert_eq!(scales, [8.0, 8.0, 8.0, 16.0, 16.0, 16.0, 16.0, 32.0, 32.0]);
        assert_eq!(s.good_steps, 1);
    }

    #[test]
    fn the_scale_never_grows_past_f32() {
        let mut s = LossScaler { scale: f64::from(f32::MAX) / 1.5, good_steps: 0 };
        assert!(s.update(true, 1));
        assert_eq!(s.scale, f64::from(f32::MAX) / 1.5);
    }

    #[test]
    fn state_round_trips_through_json_and_is_range_checked() {
        let s = LossScaler { scale: 2048.0, good_steps: 17 };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<LossScaler>(&text).unwrap(), s);
        assert_eq!(s.check(), Ok(()));
        assert!(LossScaler { scale: f64::INFINITY, good_steps: 0 }.check().unwrap_err().contains("scale inf"));
        assert!(LossScaler { scale: 0.0, good_steps: 0 }.check().is_err());
        assert!(LossScaler { scale: f64::NAN, good_steps: 0 }.check().is_err());
    }
}

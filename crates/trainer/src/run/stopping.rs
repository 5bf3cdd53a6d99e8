//! [`Tracker`]: the best value so far of a metric, and the evaluations since it (early stopping,
//! the best checkpoint and the summary all use it).

use serde::{Deserialize, Serialize};

use sched::PlateauMode;

/// Best value so far and evaluations since it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Tracker {
    /// Best value seen, with the step it was seen at.
    pub best: Option<(f64, u64)>,
    /// Evaluations since the last improvement.
    pub bad: u64,
}

impl Tracker {
    /// Records `value` at `step`; returns whether it improved on the best by more than
    /// `min_delta` (NaN never improves).
    pub fn update(&mut self, value: f64, step: u64, mode: PlateauMode, min_delta: f64) -> bool {
        let better = match (self.best, mode) {
            (_, _) if value.is_nan() => false,
            (None, _) => true,
            (Some((b, _)), PlateauMode::Min) => value < b - min_delta,
            (Some((b, _)), PlateauMode::Max) => value > b + min_delta,
        };
        if better {
            self.best = Some((value, step));
            self.bad = 0;
        } else {
            self.bad += 1;
        }
        better
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_improvements_with_min_delta() {
        let mut t = Tracker::default();
        assert!(t.update(1.0, 1, PlateauMode::Min, 0.1));
        assert!(!t.update(0.95, 2, PlateauMode::Min, 0.1));
        assert!(t.update(0.85, 3, PlateauMode::Min, 0.1));
        assert!(!t.update(f64::NAN, 4, PlateauMode::Min, 0.0));
        assert_eq!((t.best, t.bad), (Some((0.85, 3)), 1));
    }
}

//! The LR range test (Smith, 2017): the LR grows exponentially from `min` to `max`, the loss is
//! smoothed with a bias-corrected exponential moving average, the test stops once the smoothed
//! loss exceeds 4× its best, and two LRs are suggested.

/// One step of the test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Optimizer step.
    pub step: u64,
    /// LR used by the step.
    pub lr: f64,
    /// Raw training loss.
    pub loss: f64,
    /// Smoothed loss: EMA with bias correction.
    pub smoothed: f64,
}

/// The smoothed loss and the divergence rule.
#[derive(Debug, Clone)]
pub struct RangeTest {
    beta: f64,
    avg: f64,
    best: f64,
    /// Every step recorded so far.
    pub points: Vec<Point>,
}

/// Stop once the smoothed loss is more than this many times its best.
pub const DIVERGENCE: f64 = 4.0;

impl RangeTest {
    /// A test smoothing with `beta` (0.98 is customary).
    pub fn new(beta: f64) -> Self {
        Self { beta, avg: 0.0, best: f64::INFINITY, points: Vec::new() }
    }

    /// Records a step; returns true when the loss diverged (non-finite, or smoothed > 4× best).
    pub fn push(&mut self, step: u64, lr: f64, loss: f64) -> bool {
        if !loss.is_finite() {
            return true;
        }
        self.avg = self.beta * self.avg + (1.0 - self.beta) * loss;
        let n = self.points.len() as i32 + 1;
        let smoothed = self.avg / (1.0 - self.beta.powi(n));
        self.points.push(Point { step, lr, loss, smoothed });
        let diverged = self.points.len() > 1 && smoothed > DIVERGENCE * self.best;
        self.best = self.best.min(smoothed);
        diverged
    }
}

/// The LR of step `t` of `steps` going from `min` to `max` exponentially.
pub fn lr_at(min: f64, max: f64, steps: u64, t: u64) -> f64 {
    min * (max / min).powf(t as f64 / (steps.max(2) - 1) as f64)
}

/// The suggested LRs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Suggestion {
    /// Where the smoothed loss falls fastest (per decade of LR), before its minimum.
    pub steepest: f64,
    /// The LR of the minimal smoothed loss.
    pub minimum: f64,
    /// `minimum / 10`, the conservative rule of thumb.
    pub minimum_div_10: f64,
}

/// Suggests LRs from the recorded points (`None` with fewer than 3 points).
pub fn suggest(points: &[Point]) -> Option<Suggestion> {
    if points.len() < 3 {
        return None;
    }
    let argmin = points.iter().enumerate().min_by(|a, b| a.1.smoothed.total_cmp(&b.1.smoothed)).map(|(i, _)| i)?;
    // Central differences of the smoothed loss against log10(lr), skipping the first 10 %
    // (the average is still warming up there) and stopping at the minimum.
    let x: Vec<f64> = points.iter().map(|p| p.lr.log10()).collect();
    let skip = (points.len() / 10).max(1);
    let end = argmin.max(skip + 1).min(points.len() - 1);
    let steepest = (skip..end)
        .map(|i| {
            let (a, b) = (i - 1, i + 1);
            let g = (points[b].smoothed - points[a].smoothed) / (x[b] - x[a]);
            (g, i)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or(argmin, |(_, i)| i);
    let minimum = points[argmin].lr;
    Some(Suggestion { steepest: points[steepest].lr, minimum, minimum_div_10: minimum / 10.0 })
}

/// Fewest steps a sweep must record before it diverges for its suggestion to be trusted.
pub const MIN_CONFIDENT_STEPS: usize = 20;

/// A warning when the sweep diverged after too few of its `planned` steps (fewer than
/// [`MIN_CONFIDENT_STEPS`] or a tenth of the sweep) for its suggestion to mean much.
pub fn early_divergence(points: &[Point], planned: u64) -> Option<String> {
    let recorded = points.len();
    let enough = MIN_CONFIDENT_STEPS.max((planned / 10) as usize);
    if recorded as u64 >= planned || recorded >= enough {
        return None;
    }
    let at = points.last().map_or(String::new(), |p| format!(" (lr {:.1e})", p.lr));
    Some(format!(
        "the loss diverged after {recorded} of {planned} steps{at}: too few points for a reliable suggestion; \
         the sweep starts too close to divergence: lower --min and --max and run lr-find again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_bias_corrected_and_divergence_stops() {
        let mut t = RangeTest::new(0.98);
        assert!(!t.push(0, 1e-5, 2.0));
        assert!((t.points[0].smoothed - 2.0).abs() < 1e-12, "bias correction: first value is the loss");
        assert!(!t.push(1, 1e-4, 1.0));
        assert!(t.points[1].smoothed < 2.0 && t.points[1].smoothed > 1.0);
        assert!(t.push(2, 1e-3, f64::NAN));
        let mut t = RangeTest::new(0.0);
        t.push(0, 1.0, 1.0);
        t.push(1, 1.0, 0.5);
        assert!(!t.push(2, 1.0, 1.9));
        assert!(t.push(3, 1.0, 2.1), "above 4 × the best (0.5)");
    }

    #[test]
    fn an_early_divergence_is_flagged() {
        let points = |n: u64| (0..n).map(|t| Point { step: t, lr: 1.0, loss: 1.0, smoothed: 1.0 }).collect::<Vec<_>>();
        let w = early_divergence(&points(5), 100).unwrap();
        assert!(w.contains("diverged after 5 of 100 steps (lr 1.0e0)"), "{w}");
        assert!(early_divergence(&points(100), 100).is_none(), "a complete sweep");
        assert!(early_divergence(&points(30), 100).is_none(), "enough points");
        assert!(early_divergence(&points(30), 1000).is_some(), "less than a tenth of the sweep");
    }

    #[test]
    fn suggests_the_steepest_descent_before_the_minimum() {
        // A loss that is flat, falls fastest around 1e-2, bottoms at 1e-1 and explodes.
        let steps = 100;
        let points: Vec<Point> = (0..steps)
            .map(|t| {
                let lr = lr_at(1e-6, 10.0, steps, t);
                let x = lr.log10();
                let loss =
                    2.0 - 1.5 / (1.0 + (-(x + 2.0) * 3.0).exp()) + if x > -1.0 { (x + 1.0).powi(2) * 3.0 } else { 0.0 };
                Point { step: t, lr, loss, smoothed: loss }
            })
            .collect();
        let s = suggest(&points).unwrap();
        assert!((s.steepest.log10() + 2.0).abs() < 0.15, "{s:?}");
        assert!((s.minimum.log10() + 1.0).abs() < 0.3, "{s:?}");
        assert_eq!(s.minimum_div_10, s.minimum / 10.0);
        assert!((lr_at(1e-7, 10.0, 100, 99) - 10.0).abs() < 1e-9);
        assert_eq!(lr_at(1e-7, 10.0, 100, 0), 1e-7);
    }
}

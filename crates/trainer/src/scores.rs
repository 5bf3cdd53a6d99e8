//! Evaluation scores from summed counts, with scikit-learn's definitions: precision, recall and
//! F1 per class and their unweighted (macro) means from a confusion matrix (a class never
//! predicted has precision 0, one never present recall 0, and F1 is 0 when both are: sklearn's
//! `zero_division=0`), and R² (`r2_score`: 1 for a perfect fit of constant targets, else 0 when
//! the targets are constant).

/// Precision, recall and F1 of each class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassScores {
    /// `precision[c]`: of the examples predicted `c`, the fraction that are `c`.
    pub precision: Vec<f64>,
    /// `recall[c]`: of the examples of class `c`, the fraction predicted `c`.
    pub recall: Vec<f64>,
    /// `f1[c]`: the harmonic mean of the two.
    pub f1: Vec<f64>,
}

impl ClassScores {
    /// The scores of the `k × k` confusion matrix `m` (row-major: `m[true * k + predicted]`).
    pub fn of(m: &[f64], k: usize) -> Self {
        let at = |t: usize, p: usize| m.get(t * k + p).copied().unwrap_or(0.0);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let mut s = Self { precision: Vec::with_capacity(k), recall: Vec::with_capacity(k), f1: Vec::with_capacity(k) };
        for c in 0..k {
            let tp = at(c, c);
            let predicted: f64 = (0..k).map(|t| at(t, c)).sum();
            let actual: f64 = (0..k).map(|p| at(c, p)).sum();
            let (p, r) = (ratio(tp, predicted), ratio(tp, actual));
            s.precision.push(p);
            s.recall.push(r);
            s.f1.push(ratio(2.0 * tp, predicted + actual));
        }
        s
    }

    /// `(precision, recall, F1)` averaged over the classes (macro averages).
    pub fn macro_means(&self) -> (f64, f64, f64) {
        let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
        (mean(&self.precision), mean(&self.recall), mean(&self.f1))
    }
}

/// R² from `n` values' sums: squared errors `sse`, targets `sum_y` and squared targets
/// `sum_y2` (scikit-learn's `r2_score` over the flattened values).
pub fn r2(sse: f64, sum_y: f64, sum_y2: f64, n: f64) -> f64 {
    let sst = sum_y2 - sum_y * sum_y / n.max(1.0);
    if sst > 0.0 {
        1.0 - sse / sst
    } else if sse == 0.0 {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y_true = [0,0,0,0,1,1,1,2,2,2], y_pred = [0,0,1,1,1,1,2,2,2,0] plus a class 3 that is
    /// never true nor predicted. By hand (and `sklearn.metrics.precision_recall_fscore_support`
    /// with `zero_division=0`): precision [2/3, 1/2, 2/3, 0], recall [1/2, 2/3, 2/3, 0],
    /// F1 [4/7, 4/7, 2/3, 0].
    #[test]
    fn per_class_and_macro_scores_match_sklearn_on_a_fixed_matrix() {
        #[rustfmt::skip]
        let m = [
            2.0, 2.0, 0.0, 0.0,
            0.0, 2.0, 1.0, 0.0,
            1.0, 0.0, 2.0, 0.0,
            0.0, 0.0, 0.0, 0.0,
        ];
        let s = ClassScores::of(&m, 4);
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15) && a.len() == b.len();
        assert!(close(&s.precision, &[2.0 / 3.0, 0.5, 2.0 / 3.0, 0.0]), "{s:?}");
        assert!(close(&s.recall, &[0.5, 2.0 / 3.0, 2.0 / 3.0, 0.0]), "{s:?}");
        assert!(close(&s.f1, &[4.0 / 7.0, 4.0 / 7.0, 2.0 / 3.0, 0.0]), "{s:?}");
        let (p, r, f) = s.macro_means();
        assert!((p - (2.0 / 3.0 + 0.5 + 2.0 / 3.0) / 4.0).abs() < 1e-15);
        assert!((r - (0.5 + 2.0 / 3.0 + 2.0 / 3.0) / 4.0).abs() < 1e-15);
        assert!((f - (4.0 / 7.0 + 4.0 / 7.0 + 2.0 / 3.0) / 4.0).abs() < 1e-15);
    }

    #[test]
    fn r2_follows_sklearn_including_constant_targets() {
        // y = [1, 2, 3], prediction [1, 2, 4]: SSres 1, SStot 2 → 0.5.
        assert_eq!(r2(1.0, 6.0, 14.0, 3.0), 0.5);
        assert_eq!(r2(0.0, 6.0, 12.0, 3.0), 1.0);
        assert_eq!(r2(1.0, 6.0, 12.0, 3.0), 0.0);
    }
}

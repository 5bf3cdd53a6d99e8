//! What [`super::Supervised`] sums over an evaluation's batches, and the scores from the sums.
//! Classification: correct predictions, top-5 hits (more than 5 classes) and the confusion
//! matrix (`k × k`, row = true class, column = predicted); regression: absolute and squared
//! errors, the targets and their squares, and the number of values.

use candle_core::{D, DType, Tensor};

use crate::scores::{ClassScores, r2};

/// `[correct, (top-5 hits,) confusion…]` of one batch of logits `[n, k]` and class targets `[n]`.
pub(super) fn classification(logits: &Tensor, targets: &Tensor, k: usize) -> candle_core::Result<Vec<f64>> {
    let predicted = logits.argmax(D::Minus1)?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let truth = targets.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let mut confusion = vec![0.0; k * k];
    let mut correct = 0.0;
    for (&t, &p) in truth.iter().zip(&predicted) {
        let (t, p) = (t as usize, p as usize);
        if t == p {
            correct += 1.0;
        }
        if let Some(cell) = confusion.get_mut(t * k + p) {
            *cell += 1.0;
        }
    }
    let mut sums = vec![correct];
    if k > 5 {
        let rows = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let hits = rows
            .iter()
            .zip(&truth)
            .filter(|(row, t)| row.get(**t as usize).is_some_and(|own| row.iter().filter(|v| *v > own).count() < 5))
            .count();
        sums.push(hits as f64);
    }
    sums.extend(confusion);
    Ok(sums)
}

/// Accuracy, (top-5 accuracy,) macro precision, recall and F1 from the summed
/// [`classification`] counts of `n` examples.
pub(super) fn classification_scores(sums: &[f64], k: usize, n: f64) -> Vec<f64> {
    let top5 = usize::from(k > 5);
    let mut values: Vec<f64> = sums.iter().take(1 + top5).map(|s| s / n).collect();
    let (p, r, f) = ClassScores::of(sums.get(1 + top5..).unwrap_or_default(), k).macro_means();
    values.extend([p, r, f]);
    values
}

/// `val/precision/<c>`, `val/recall/<c>` and `val/f1/<c>` of each class from the summed
/// [`classification`] counts, `<c>` the class's tag name (`tags[c]`, see
/// [`super::class_tags`]; its index where `tags` has none).
pub(super) fn per_class(sums: &[f64], k: usize, tags: &[String]) -> Vec<(String, f64)> {
    let s = ClassScores::of(sums.get(1 + usize::from(k > 5)..).unwrap_or_default(), k);
    let name = |c: usize| tags.get(c).cloned().unwrap_or_else(|| c.to_string());
    let mut out = Vec::with_capacity(3 * k);
    for (what, values) in [("precision", &s.precision), ("recall", &s.recall), ("f1", &s.f1)] {
        out.extend(values.iter().enumerate().map(|(c, v)| (format!("val/{what}/{}", name(c)), *v)));
    }
    out
}

/// The `k × k` confusion matrix of the summed [`classification`] counts (zeros where missing).
pub(super) fn confusion(sums: &[f64], k: usize) -> super::Confusion {
    let mut counts: Vec<f64> = sums.iter().skip(1 + usize::from(k > 5)).take(k * k).copied().collect();
    counts.resize(k * k, 0.0);
    super::Confusion { classes: k, counts }
}

/// `[Σ|e|, Σe², Σy, Σy², values]` of one batch of predictions and targets (same shape).
pub(super) fn regression(outputs: &Tensor, targets: &Tensor) -> candle_core::Result<Vec<f64>> {
    let (o, t) = (outputs.to_dtype(DType::F64)?, targets.to_dtype(DType::F64)?);
    let e = (&o - &t)?;
    let sum = |x: Tensor| x.sum_all().and_then(|s| s.to_scalar::<f64>());
    Ok(vec![sum(e.abs()?)?, sum(e.sqr()?)?, sum(t.clone())?, sum(t.sqr()?)?, t.elem_count() as f64])
}

/// MAE, RMSE and R² from the summed [`regression`] sums.
pub(super) fn regression_scores(sums: &[f64]) -> Vec<f64> {
    let [abs, sq, y, y2, m] = [0, 1, 2, 3, 4].map(|i| sums.get(i).copied().unwrap_or(0.0));
    let m1 = m.max(1.0);
    vec![abs / m1, (sq / m1).sqrt(), r2(sq, y, y2, m)]
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn top5_counts_the_true_class_among_the_five_highest_scores() {
        let dev = Device::Cpu;
        // Six classes; the true class ranks 1st, 5th and 6th.
        let logits = Tensor::new(
            &[[9.0f32, 1.0, 2.0, 3.0, 4.0, 5.0], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]],
            &dev,
        )
        .unwrap();
        let targets = Tensor::new(&[0u32, 4, 5], &dev).unwrap();
        let sums = classification(&logits, &targets, 6).unwrap();
        assert_eq!(sums[..2], [1.0, 2.0]);
        assert_eq!(sums[2..].iter().sum::<f64>(), 3.0);
        assert_eq!((sums[2], sums[2 + 4 * 6], sums[2 + 5 * 6]), (1.0, 1.0, 1.0), "rows 0, 4, 5 predicted 0");
        let scores = classification_scores(&sums, 6, 3.0);
        assert_eq!(scores[..2], [1.0 / 3.0, 2.0 / 3.0]);
        // Class 0: 1 right of 3 predicted (precision 1/3), its only example (recall 1, F1 1/2).
        let detail = per_class(&sums, 6, &[]);
        assert_eq!(detail.len(), 18);
        assert_eq!(detail[0], ("val/precision/0".to_owned(), 1.0 / 3.0));
        assert_eq!(detail[6], ("val/recall/0".to_owned(), 1.0));
        assert_eq!(detail[12], ("val/f1/0".to_owned(), 0.5));
        assert_eq!(detail[16], ("val/f1/4".to_owned(), 0.0));
        let tags: Vec<String> = ["zero", "one", "two", "three", "four", "five"].map(String::from).to_vec();
        let named = per_class(&sums, 6, &tags);
        assert_eq!(named[0], ("val/precision/zero".to_owned(), 1.0 / 3.0));
        assert_eq!(named[16], ("val/f1/four".to_owned(), 0.0));
        let m = confusion(&sums, 6);
        assert_eq!((m.classes, m.counts.len()), (6, 36));
        assert_eq!(m.counts[..], sums[2..]);
        assert_eq!(confusion(&[], 2).counts, [0.0; 4], "zeros where missing");
    }
}

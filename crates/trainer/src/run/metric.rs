//! Typed metrics: what a task reports at each evaluation, each with the direction in which it
//! improves. Config fields that name a metric (`train.best_monitor`, `early_stopping.monitor`,
//! `hooks.on_plateau.monitor`, a schedule `plateau`'s `monitor`) are resolved against the task's
//! list once, when the run is built; the loop then works with [`MetricId`]s, never names.

use std::sync::LazyLock;

use sched::{FieldIssue, PlateauMode};

use crate::optim::average::Weights;

/// The direction in which a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lower is better (losses, perplexity, errors).
    Min,
    /// Higher is better (accuracies).
    Max,
}

impl Direction {
    /// The same direction as a plateau/tracker mode.
    pub fn mode(self) -> PlateauMode {
        match self {
            Direction::Min => PlateauMode::Min,
            Direction::Max => PlateauMode::Max,
        }
    }
}

/// A metric a task reports at each evaluation, e.g. `val/loss` (min) or `val/accuracy` (max).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Its tag in TensorBoard and `metrics.jsonl`.
    pub name: &'static str,
    /// The direction in which it improves.
    pub direction: Direction,
}

impl Metric {
    /// The validation loss (lower is better); every task reports it first.
    pub const VAL_LOSS: Metric = Metric { name: "val/loss", direction: Direction::Min };
    /// Validation accuracy (higher is better).
    pub const VAL_ACCURACY: Metric = Metric { name: "val/accuracy", direction: Direction::Max };

    /// Validation perplexity, `exp(val/loss)` of a language model (lower is better).
    pub const VAL_PERPLEXITY: Metric = Metric { name: "val/perplexity", direction: Direction::Min };

    /// Top-5 accuracy: the true class among the five highest scores (classification with more
    /// than 5 classes).
    pub const VAL_TOP5_ACCURACY: Metric = Metric { name: "val/top5_accuracy", direction: Direction::Max };
    /// Macro-averaged precision (scikit-learn's, zero division → 0).
    pub const VAL_PRECISION_MACRO: Metric = Metric { name: "val/precision_macro", direction: Direction::Max };
    /// Macro-averaged recall.
    pub const VAL_RECALL_MACRO: Metric = Metric { name: "val/recall_macro", direction: Direction::Max };
    /// Macro-averaged F1.
    pub const VAL_F1_MACRO: Metric = Metric { name: "val/f1_macro", direction: Direction::Max };
    /// Mean absolute error of a regression (over every predicted value).
    pub const VAL_MAE: Metric = Metric { name: "val/mae", direction: Direction::Min };
    /// Root mean squared error of a regression.
    pub const VAL_RMSE: Metric = Metric { name: "val/rmse", direction: Direction::Min };
    /// Coefficient of determination R² of a regression (scikit-learn's `r2_score`).
    pub const VAL_R2: Metric = Metric { name: "val/r2", direction: Direction::Max };

    /// Next-token accuracy of a language model: the marked targets that are the most likely
    /// token.
    pub const VAL_TOKEN_ACCURACY: Metric = Metric { name: "val/token_accuracy", direction: Direction::Max };

    /// Every metric some task reports (a new task's metrics are added here too), for readers
    /// of finished runs that have no task at hand (`compare --target`).
    pub const ALL: [Metric; 11] = [
        Metric::VAL_LOSS,
        Metric::VAL_ACCURACY,
        Metric::VAL_PERPLEXITY,
        Metric::VAL_TOP5_ACCURACY,
        Metric::VAL_PRECISION_MACRO,
        Metric::VAL_RECALL_MACRO,
        Metric::VAL_F1_MACRO,
        Metric::VAL_MAE,
        Metric::VAL_RMSE,
        Metric::VAL_R2,
        Metric::VAL_TOKEN_ACCURACY,
    ];

    /// The metric called `name`, among [`Metric::ALL`] and their averaged-weights forms
    /// ([`Metric::averaged`]).
    pub fn named(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().chain(AVERAGED.iter().map(|(_, m)| *m)).find(|m| m.name == name)
    }

    /// This metric measured on the weights `w`, with the same direction: `val/accuracy` →
    /// `val_ema/accuracy` ([`Weights::tag`]); itself for [`Weights::Raw`] or a metric outside
    /// [`Metric::ALL`].
    pub fn averaged(self, w: Weights) -> Metric {
        let tag = w.tag(self.name);
        AVERAGED.iter().find(|(_, m)| m.name == tag).map_or(self, |(_, m)| *m)
    }
}

/// Every metric of [`Metric::ALL`] on each weight average, with its `'static` name (made once
/// per process: 22 short strings).
static AVERAGED: LazyLock<Vec<(Weights, Metric)>> = LazyLock::new(|| {
    [Weights::Ema, Weights::Swa]
        .into_iter()
        .flat_map(|w| {
            Metric::ALL.into_iter().map(move |m| {
                let name: &'static str = Box::leak(w.tag(m.name).into_boxed_str());
                (w, Metric { name, direction: m.direction })
            })
        })
        .collect()
});

/// The position of a metric in its task's list (and in every [`Evaluation`]'s values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId(pub usize);

/// The metrics a task reports, in order; `val/loss` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics(Vec<Metric>);

impl Metrics {
    /// The list (its first entry should be [`Metric::VAL_LOSS`]).
    pub fn new(list: Vec<Metric>) -> Self {
        Self(list)
    }

    /// These metrics, then each of them again on each weight average of `averages` (in that
    /// order: `val_ema/…`, then `val_swa/…`): what a run that keeps those averages reports.
    pub fn with_averages(&self, averages: &[Weights]) -> Self {
        let mut list = self.0.clone();
        for &w in averages.iter().filter(|w| **w != Weights::Raw) {
            list.extend(self.0.iter().map(|m| m.averaged(w)));
        }
        Self(list)
    }

    /// Every metric, in order.
    pub fn all(&self) -> &[Metric] {
        &self.0
    }

    /// The metric with id `id`.
    pub fn get(&self, id: MetricId) -> Option<Metric> {
        self.0.get(id.0).copied()
    }

    /// The id of the metric called `name`, or `None`.
    pub fn find(&self, name: &str) -> Option<MetricId> {
        self.0.iter().position(|m| m.name == name).map(MetricId)
    }

    /// Resolves the config field `path`, which names the metric `name`: an issue listing the
    /// metrics the task produces when it produces no such metric.
    pub fn resolve(&self, path: &str, name: &str) -> Result<MetricId, FieldIssue> {
        self.find(name).ok_or_else(|| {
            let names: Vec<&str> = self.0.iter().map(|m| m.name).collect();
            FieldIssue::new(
                path,
                format!("monitor `{name}` is never produced; evaluation produces {}", names.join(", ")),
            )
        })
    }
}

/// One evaluation: the value of each of the task's metrics, in the task's order (and, in a run
/// that keeps weight averages, of each average's metrics: absent for an average that has no
/// weights yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The step after which it ran (0-based).
    pub step: u64,
    /// The metrics, as declared by the task.
    pub metrics: Metrics,
    /// `values[i]` is the value of `metrics.all()[i]`, `None` when it was not measured.
    pub values: Vec<Option<f64>>,
}

impl Evaluation {
    /// An evaluation that measured every metric of `metrics` (`values` in their order).
    pub fn new(step: u64, metrics: Metrics, values: Vec<f64>) -> Self {
        Self { step, metrics, values: values.into_iter().map(Some).collect() }
    }

    /// This evaluation of the raw weights joined with the evaluations of the weight averages
    /// that have weights, as the metrics `all` of the run list them ([`Metrics::with_averages`]);
    /// the metrics of an average not in `averaged` are absent.
    pub fn with_averages(self, all: &Metrics, averaged: &[(Weights, Evaluation)]) -> Self {
        let mut values = vec![None; all.all().len()];
        let measured = self.iter().map(|(_, m, v)| (m.name.to_owned(), v));
        let averaged = averaged.iter().flat_map(|(w, e)| e.iter().map(move |(_, m, v)| (w.tag(m.name), v)));
        for (name, v) in measured.chain(averaged) {
            if let Some(MetricId(i)) = all.find(&name) {
                values[i] = Some(v);
            }
        }
        Self { step: self.step, metrics: all.clone(), values }
    }

    /// The value of metric `id`, `None` when it was not measured.
    pub fn value(&self, id: MetricId) -> Option<f64> {
        self.values.get(id.0).copied().flatten()
    }

    /// The value of the metric called `name` (for callers that only know names: reports, UIs).
    pub fn named(&self, name: &str) -> Option<f64> {
        self.metrics.find(name).and_then(|id| self.value(id))
    }

    /// The validation loss.
    pub fn loss(&self) -> f64 {
        self.named(Metric::VAL_LOSS.name).unwrap_or(f64::NAN)
    }

    /// The validation accuracy, when the task reports one.
    pub fn accuracy(&self) -> Option<f64> {
        self.named(Metric::VAL_ACCURACY.name)
    }

    /// `(metric, value)` pairs of the measured metrics, in the task's order.
    pub fn iter(&self) -> impl Iterator<Item = (MetricId, Metric, f64)> + '_ {
        self.metrics.all().iter().zip(&self.values).enumerate().filter_map(|(i, (m, v))| Some((MetricId(i), *m, (*v)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classification() -> Metrics {
        Metrics::new(vec![Metric::VAL_LOSS, Metric::VAL_ACCURACY])
    }

    #[test]
    fn resolves_declared_metrics_with_their_direction() {
        let m = classification();
        let acc = m.resolve("train.best_monitor", "val/accuracy").unwrap();
        assert_eq!(acc, MetricId(1));
        assert_eq!(m.get(acc).map(|m| m.direction), Some(Direction::Max));
        assert_eq!(m.get(m.resolve("x", "val/loss").unwrap()).map(|m| m.direction), Some(Direction::Min));
    }

    #[test]
    fn an_unknown_metric_is_an_issue_listing_the_produced_ones() {
        let regression = Metrics::new(vec![Metric::VAL_LOSS]);
        let issue = regression.resolve("train.early_stopping.monitor", "val/accuracy").unwrap_err();
        assert_eq!(issue.path, "train.early_stopping.monitor");
        assert_eq!(issue.message, "monitor `val/accuracy` is never produced; evaluation produces val/loss");
        assert!(classification().resolve("p", "val/acc").is_err());
    }

    #[test]
    fn averaged_metrics_follow_the_raw_ones_with_their_direction_and_are_absent_until_measured() {
        let all = classification().with_averages(&[Weights::Ema, Weights::Swa]);
        let names: Vec<&str> = all.all().iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            ["val/loss", "val/accuracy", "val_ema/loss", "val_ema/accuracy", "val_swa/loss", "val_swa/accuracy"]
        );
        assert_eq!(all.all()[3].direction, Direction::Max);
        assert_eq!(Metric::named("val_swa/loss"), Some(all.all()[4]));
        let id = all.resolve("train.best_monitor", "val_ema/accuracy").unwrap();
        let raw = Evaluation::new(9, classification(), vec![0.5, 0.9]);
        let ema = Evaluation::new(9, classification(), vec![0.4, 0.95]);
        let e = raw.with_averages(&all, &[(Weights::Ema, ema)]);
        assert_eq!((e.value(id), e.named("val/accuracy"), e.named("val_swa/loss")), (Some(0.95), Some(0.9), None));
        let measured: Vec<&str> = e.iter().map(|(_, m, _)| m.name).collect();
        assert_eq!(measured, ["val/loss", "val/accuracy", "val_ema/loss", "val_ema/accuracy"]);
    }

    #[test]
    fn evaluation_values_are_read_by_id_and_name() {
        let e = Evaluation::new(3, classification(), vec![0.5, 0.9]);
        assert_eq!(e.value(MetricId(1)), Some(0.9));
        assert_eq!((e.loss(), e.accuracy()), (0.5, Some(0.9)));
        let r = Evaluation::new(3, Metrics::new(vec![Metric::VAL_LOSS]), vec![0.5]);
        assert_eq!(r.accuracy(), None);
        assert_eq!(
            e.iter().map(|(_, m, v)| (m.name, v)).collect::<Vec<_>>(),
            [("val/loss", 0.5), ("val/accuracy", 0.9)]
        );
    }
}

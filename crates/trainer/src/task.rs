//! [`Task`]: what the loop trains and evaluates. A model family plugs in by implementing it: it
//! takes a typed [`Batch`], returns the training loss, and tallies the metrics it declares. The
//! loop never computes a loss itself, so a model with its own loss (a causal LM with masked
//! labels, a LoRA-wrapped model) implements `Task` directly; networks that map inputs to logits
//! or values ([`Model`]) are wrapped in [`Supervised`], which adds cross-entropy or MSE.

use candle_core::{DType, Tensor};

use crate::data::{Batch, Labels};
use crate::model::Model;
use crate::rng::Rng;
use crate::run::metric::{Metric, Metrics};

mod class_tags;
mod counts;

/// Sums over the batches of one evaluation, from which [`Task::finish`] computes the metrics:
/// `count` examples (or tokens) and one running sum per quantity the task needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tally {
    /// Examples (or tokens) counted.
    pub count: f64,
    /// The task's sums (e.g. `[Σ loss · n, correct predictions]`).
    pub sums: Vec<f64>,
}

impl Tally {
    /// Adds another batch's tally (element by element, in batch order).
    pub fn add(&mut self, other: &Tally) {
        self.count += other.count;
        if self.sums.len() < other.sums.len() {
            self.sums.resize(other.sums.len(), 0.0);
        }
        for (s, o) in self.sums.iter_mut().zip(&other.sums) {
            *s += o;
        }
    }
}

/// The confusion matrix of an evaluation: `counts[t * classes + p]` examples of true class `t`
/// were predicted as class `p` (row = true class, column = predicted).
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    /// Number of classes (the matrix is `classes × classes`).
    pub classes: usize,
    /// The counts, row-major.
    pub counts: Vec<f64>,
}

/// A trainable task: a model with its loss and its evaluation metrics.
pub trait Task: Send {
    /// The metrics [`Task::finish`] reports, in order; `val/loss` first.
    fn metrics(&self) -> Metrics;

    /// The mean training loss of `batch` (a scalar with its graph, for backward), in training
    /// mode (dropout masks drawn from `rng`).
    fn loss(&self, batch: &Batch, rng: &mut Rng) -> candle_core::Result<Tensor>;

    /// What `batch` adds to an evaluation, in evaluation mode (no dropout).
    fn tally(&self, batch: &Batch) -> candle_core::Result<Tally>;

    /// The metric values (in [`Task::metrics`] order) of a whole evaluation's summed tally.
    fn finish(&self, total: &Tally) -> Vec<f64>;

    /// Scalars logged beside the metrics of an evaluation, not monitorable (e.g. per-class
    /// scores `val/precision/<class>`), from the same summed tally. Default: none.
    fn detail(&self, _total: &Tally) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// The confusion matrix of an evaluation's summed tally, for tasks that classify (logged as
    /// the image `val/confusion_matrix`). Default: none.
    fn confusion(&self, _total: &Tally) -> Option<Confusion> {
        None
    }

    /// The model's per-example predictions for `batch`, in evaluation mode: class
    /// probabilities `[batch, classes]` (classification) or values `[batch, outputs]`
    /// (regression). Default: none (tasks without per-example predictions).
    fn predict(&self, _batch: &Batch) -> candle_core::Result<Option<Tensor>> {
        Ok(None)
    }

    /// Whether parameter `name` trains; frozen parameters stay in checkpoints but get no
    /// gradient and no optimizer state. Default: every parameter trains.
    fn is_trainable(&self, _name: &str) -> bool {
        true
    }

    /// The tokens `batch` feeds the model, for tasks whose throughput is counted in tokens
    /// (logged as `perf/tokens_per_sec`). Default: none.
    fn tokens(&self, _batch: &Batch) -> candle_core::Result<Option<usize>> {
        Ok(None)
    }

    /// Whether checkpoints hold the frozen parameters too. A LoRA-adapted model's frozen base
    /// is re-read from its source instead (its checkpoints hold the adapters and the head).
    /// Default: true.
    fn checkpoints_frozen(&self) -> bool {
        true
    }
}

/// A network trained on labelled examples: cross-entropy on class indices (reporting `val/loss`
/// and `val/accuracy`), or the mean squared error on values (`val/loss`).
pub struct Supervised {
    net: Box<dyn Model>,
    labels: Labels,
    /// What each class is called in per-class tags ([`class_tags`]).
    class_tags: Vec<String>,
}

impl Supervised {
    /// `net` trained on data labelled as `labels`; per-class tags name classes by index.
    pub fn new(net: Box<dyn Model>, labels: Labels) -> Self {
        let class_tags = class_tags::class_tags(&[], Self::classes(labels));
        Self { net, labels, class_tags }
    }

    /// Per-class tags name the classes by `names` (in class-index order: `val/precision/setosa`)
    /// made safe for tags, or by index where that cannot name each class once (the rule is in
    /// `task/class_tags.rs`).
    pub fn with_class_names(mut self, names: &[String]) -> Self {
        self.class_tags = class_tags::class_tags(names, Self::classes(self.labels));
        self
    }

    fn classes(labels: Labels) -> usize {
        match labels {
            Labels::Classification { num_classes } => num_classes,
            _ => 0,
        }
    }

    fn loss_of(&self, outputs: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        match self.labels {
            Labels::Classification { .. } => candle_nn::loss::cross_entropy(outputs, targets),
            Labels::Regression { .. } => candle_nn::loss::mse(outputs, targets),
            Labels::NextToken { .. } => Err(candle_core::Error::Msg(
                "next-token data (data.kind: text or instruction) needs model.kind: causal_lm".into(),
            )),
        }
    }

    /// The metrics of a network trained on `labels`: `val/loss`; for classes `val/accuracy`,
    /// `val/top5_accuracy` (more than 5 classes) and the macro precision, recall and F1; for
    /// values MAE, RMSE and R².
    pub fn metrics_for(labels: Labels) -> Metrics {
        match labels {
            Labels::Classification { num_classes } => {
                let mut list = vec![Metric::VAL_LOSS, Metric::VAL_ACCURACY];
                if num_classes > 5 {
                    list.push(Metric::VAL_TOP5_ACCURACY);
                }
                list.extend([Metric::VAL_PRECISION_MACRO, Metric::VAL_RECALL_MACRO, Metric::VAL_F1_MACRO]);
                Metrics::new(list)
            }
            Labels::Regression { .. } => {
                Metrics::new(vec![Metric::VAL_LOSS, Metric::VAL_MAE, Metric::VAL_RMSE, Metric::VAL_R2])
            }
            Labels::NextToken { .. } => Metrics::new(vec![Metric::VAL_LOSS]),
        }
    }
}

impl Task for Supervised {
    fn metrics(&self) -> Metrics {
        Self::metrics_for(self.labels)
    }

    fn loss(&self, batch: &Batch, rng: &mut Rng) -> candle_core::Result<Tensor> {
        // In f32 whatever the network's dtype (a low-precision working copy's outputs are cast
        // first, as PyTorch's autocast does for losses); a no-op for f32 outputs.
        let outputs = self.net.forward(&batch.inputs, true, rng)?.to_dtype(DType::F32)?;
        self.loss_of(&outputs, &batch.targets)
    }

    fn tally(&self, batch: &Batch) -> candle_core::Result<Tally> {
        // Evaluation draws no random numbers (no dropout); the generator is a placeholder.
        let outputs = self.net.forward(&batch.inputs, false, &mut Rng::new(0))?;
        let n = batch.targets.dim(0)? as f64;
        let loss = self.loss_of(&outputs, &batch.targets)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let mut sums = vec![loss * n];
        match self.labels {
            Labels::Classification { num_classes } => {
                sums.extend(counts::classification(&outputs, &batch.targets, num_classes)?)
            }
            Labels::Regression { .. } => sums.extend(counts::regression(&outputs, &batch.targets)?),
            Labels::NextToken { .. } => {}
        }
        Ok(Tally { count: n, sums })
    }

    fn finish(&self, total: &Tally) -> Vec<f64> {
        let n = total.count.max(1.0);
        let loss = total.sums.first().map_or(f64::NAN, |s| s / n);
        let rest = total.sums.get(1..).unwrap_or_default();
        let mut values = vec![loss];
        match self.labels {
            Labels::Classification { num_classes } => {
                values.extend(counts::classification_scores(rest, num_classes, n))
            }
            Labels::Regression { .. } => values.extend(counts::regression_scores(rest)),
            Labels::NextToken { .. } => {}
        }
        values
    }

    fn detail(&self, total: &Tally) -> Vec<(String, f64)> {
        match self.labels {
            Labels::Classification { num_classes } => {
                counts::per_class(total.sums.get(1..).unwrap_or_default(), num_classes, &self.class_tags)
            }
            _ => Vec::new(),
        }
    }

    fn confusion(&self, total: &Tally) -> Option<Confusion> {
        match self.labels {
            Labels::Classification { num_classes } => {
                Some(counts::confusion(total.sums.get(1..).unwrap_or_default(), num_classes))
            }
            _ => None,
        }
    }

    fn predict(&self, batch: &Batch) -> candle_core::Result<Option<Tensor>> {
        let outputs = self.net.forward(&batch.inputs, false, &mut Rng::new(0))?;
        match self.labels {
            Labels::Classification { .. } => Ok(Some(candle_nn::ops::softmax_last_dim(&outputs)?)),
            Labels::Regression { .. } => Ok(Some(outputs)),
            Labels::NextToken { .. } => Ok(None),
        }
    }

    fn is_trainable(&self, name: &str) -> bool {
        self.net.is_trainable(name)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::data::Inputs;

    /// Logits equal to the inputs.
    struct Identity;
    impl Model for Identity {
        fn forward(&self, inputs: &Inputs, _train: bool, _rng: &mut Rng) -> candle_core::Result<Tensor> {
            match inputs {
                Inputs::Dense(x) => Ok(x.clone()),
                _ => Err(candle_core::Error::Msg("dense only".into())),
            }
        }
    }

    fn batch(logits: &[[f32; 2]], targets: &[u32]) -> Batch {
        let dev = Device::Cpu;
        let flat: Vec<f32> = logits.iter().flatten().copied().collect();
        Batch {
            inputs: Inputs::Dense(Tensor::from_vec(flat, (logits.len(), 2), &dev).unwrap()),
            targets: Tensor::new(targets, &dev).unwrap(),
        }
    }

    #[test]
    fn classification_reports_loss_accuracy_and_macro_scores_over_all_batches() {
        let task = Supervised::new(Box::new(Identity), Labels::Classification { num_classes: 2 });
        assert_eq!(
            task.metrics().all(),
            [
                Metric::VAL_LOSS,
                Metric::VAL_ACCURACY,
                Metric::VAL_PRECISION_MACRO,
                Metric::VAL_RECALL_MACRO,
                Metric::VAL_F1_MACRO
            ]
        );
        let (a, b) = (batch(&[[2.0, 0.0], [0.0, 2.0]], &[0, 0]), batch(&[[0.0, 0.0]], &[1]));
        let mut total = Tally::default();
        total.add(&task.tally(&a).unwrap());
        total.add(&task.tally(&b).unwrap());
        let values = task.finish(&total);
        // Cross-entropies: ln(1 + e^-2) (right), ln(1 + e^2) (wrong), ln 2 (a tie: argmax picks 0).
        let expected = ((1.0 + (-2.0f64).exp()).ln() + (1.0 + 2.0f64.exp()).ln() + 2.0f64.ln()) / 3.0;
        assert!((values[0] - expected).abs() < 1e-6, "{values:?}");
        assert!((values[1] - 1.0 / 3.0).abs() < 1e-12, "{values:?}");
        // Predicted [0, 1, 0] for [0, 0, 1]: class 0 has precision = recall = F1 = 1/2, class 1
        // none right (0): the macro means are 1/4.
        assert_eq!(values[2..], [0.25, 0.25, 0.25], "{values:?}");
        let train = task.loss(&a, &mut Rng::new(0)).unwrap().to_scalar::<f32>().unwrap();
        assert!((f64::from(train) - ((1.0 + (-2.0f64).exp()).ln() + (1.0 + 2.0f64.exp()).ln()) / 2.0).abs() < 1e-6);
    }

    #[test]
    fn per_class_tags_and_the_confusion_matrix_of_an_evaluation() {
        let labels = Labels::Classification { num_classes: 2 };
        let names = ["not spam".to_owned(), "spam".to_owned()];
        let task = Supervised::new(Box::new(Identity), labels).with_class_names(&names);
        // Predicted [0, 1, 0] for [0, 0, 1].
        let total = task.tally(&batch(&[[2.0, 0.0], [0.0, 2.0], [1.0, 0.0]], &[0, 0, 1])).unwrap();
        let tags: Vec<String> = task.detail(&total).into_iter().map(|(t, _)| t).collect();
        assert_eq!(tags[..2], ["val/precision/not_spam", "val/precision/spam"]);
        assert_eq!(tags[5], "val/f1/spam");
        assert_eq!(task.confusion(&total), Some(Confusion { classes: 2, counts: vec![1.0, 1.0, 1.0, 0.0] }));
        let unnamed = Supervised::new(Box::new(Identity), labels);
        assert_eq!(unnamed.detail(&total)[1].0, "val/precision/1");
        let regression = Supervised::new(Box::new(Identity), Labels::Regression { outputs: 2 });
        assert_eq!(regression.confusion(&total), None);
    }

    #[test]
    fn regression_reports_the_mean_squared_error_mae_rmse_and_r2() {
        let task = Supervised::new(Box::new(Identity), Labels::Regression { outputs: 2 });
        assert_eq!(task.metrics().all(), [Metric::VAL_LOSS, Metric::VAL_MAE, Metric::VAL_RMSE, Metric::VAL_R2]);
        let dev = Device::Cpu;
        let b = Batch {
            inputs: Inputs::Dense(Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]], &dev).unwrap()),
            targets: Tensor::new(&[[1.0f32, 0.0], [3.0, 2.0]], &dev).unwrap(),
        };
        let values = task.finish(&task.tally(&b).unwrap());
        // Errors [0, 2, 0, 2]; targets [1, 0, 3, 2] (mean 1.5, SStot 5): R² = 1 - 8/5.
        assert_eq!(values, vec![2.0, 1.0, 2.0f64.sqrt(), 1.0 - 8.0 / 5.0]);
    }
}

//! Using a trained model outside a run: the run's data and task built from its config (as
//! [`Trainer::build`] does, nothing on disk), the weights of one of its checkpoints loaded, then
//! the same evaluation the loop runs ([`Evaluator::evaluate`]) or per-example predictions
//! ([`Evaluator::predict`]).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};

use super::Trainer;
use super::eval::evaluate;
use super::metric::{Evaluation, Metrics};
use crate::checkpoint::{CheckpointError, MODEL_FILE, STATE_FILE};
use crate::config::RunConfig;
use crate::data::pixels::ImageFiles;
use crate::data::{Labels, Split};
use crate::error::TrainError;
use crate::optim::average::{Weights, load_average, weights_problem};

/// Scalars logged beside an evaluation's metrics (`(tag, value)`, e.g. per-class scores).
pub type Detail = Vec<(String, f64)>;

/// A run's model with its data, ready to evaluate or predict.
pub struct Evaluator {
    trainer: Trainer,
    step: Option<u64>,
}

/// The predictions of a few examples: one row per example, class probabilities
/// (classification) or values (regression).
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// `rows[i]` belongs to the i-th example asked for.
    pub rows: Vec<Vec<f32>>,
}

impl Evaluator {
    /// Builds the run of `config` in memory and loads the weights `weights` of the checkpoint
    /// directory `checkpoint` (`None`: the untrained model the config builds; only with
    /// [`Weights::Raw`]). Evaluation runs in f32 whatever `train.precision` trained the run
    /// (checkpoints hold f32 weights), so a run trained in bf16/f16 on a GPU evaluates on the CPU.
    pub fn open(mut config: RunConfig, checkpoint: Option<&Path>, weights: Weights) -> Result<Self, TrainError> {
        config.train.precision = crate::precision::Precision::F32;
        config.train.loss_scale = None;
        let mut trainer = Trainer::build(config)?;
        let mut step = None;
        if checkpoint.is_none() && weights != Weights::Raw {
            return Err(TrainError::Tensor(weights_problem(weights, "a config file has no trained weights")));
        }
        if let Some(dir) = checkpoint {
            let damaged = |why: String| {
                TrainError::Checkpoint(CheckpointError::NoneValid { dir: dir.to_owned(), reasons: vec![why] })
            };
            trainer
                .varmap
                .load(dir.join(MODEL_FILE))
                .map_err(|e| damaged(format!("{MODEL_FILE}: {}", crate::device::first_line(&e))))?;
            let state = std::fs::read(dir.join(STATE_FILE)).map_err(|e| damaged(format!("{STATE_FILE}: {e}")))?;
            let state: serde_json::Value =
                serde_json::from_slice(&state).map_err(|e| damaged(format!("{STATE_FILE}: {e}")))?;
            step = state.get("step").and_then(serde_json::Value::as_u64);
            load_average(&trainer.varmap, dir, weights)
                .map_err(|why| TrainError::Tensor(weights_problem(weights, &why)))?;
        }
        Ok(Self { trainer, step })
    }

    /// The optimizer steps the checkpoint's weights had taken (`None` for an untrained model).
    pub fn steps_done(&self) -> Option<u64> {
        self.step
    }

    /// The step at which the run logged the evaluation of these weights (0-based: the last
    /// step they took), 0 for an untrained model.
    pub fn eval_step(&self) -> u64 {
        self.step.unwrap_or(0).saturating_sub(1)
    }

    /// The metrics [`Evaluator::evaluate`] reports.
    pub fn metrics(&self) -> &Metrics {
        &self.trainer.metrics
    }

    /// What the data's examples are labelled with.
    pub fn labels(&self) -> Labels {
        self.trainer.data.labels()
    }

    /// The data, in words.
    pub fn data_description(&self) -> String {
        self.trainer.data.describe()
    }

    /// Number of examples in `split`.
    pub fn len(&self, split: Split) -> usize {
        self.trainer.data.len(split)
    }

    /// Whether `split` has no example.
    pub fn is_empty(&self, split: Split) -> bool {
        self.len(split) == 0
    }

    /// The task's metrics over every example of `split`, in batches of the run's
    /// `train.eval_batch_size`, with its detail scalars (per-class scores): on the validation
    /// split, exactly what the run logged for these weights.
    pub fn evaluate(&self, split: Split) -> Result<(Evaluation, Detail), TrainError> {
        let t = &self.trainer;
        let never = AtomicBool::new(false);
        let e = evaluate(
            t.task.as_ref(),
            t.data.as_ref(),
            split,
            t.config.train.eval_batch_size,
            &t.device,
            self.eval_step(),
            &never,
        )?;
        let o = e.ok_or_else(|| TrainError::Tensor("the evaluation was interrupted".into()))?;
        Ok((o.evaluation, o.detail))
    }

    /// The predictions for the examples `indices` of `split` (one batch on the run's device).
    pub fn predict(&self, split: Split, indices: &[usize]) -> Result<Predictions, TrainError> {
        let t = &self.trainer;
        let batch = t.data.batch(split, indices, &t.device)?;
        let out = t
            .task
            .predict(&batch)?
            .ok_or_else(|| TrainError::Tensor("this model makes no per-example predictions".into()))?;
        let rows = to_rows(&out)?;
        Ok(Predictions { rows })
    }
}

/// A `[n, k]` (or `[n]`) tensor as `n` rows of f32 on the CPU.
fn to_rows(t: &Tensor) -> Result<Vec<Vec<f32>>, TrainError> {
    let t = t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
    let t = if t.rank() == 1 { t.unsqueeze(1)? } else { t };
    Ok(t.to_vec2::<f32>()?)
}

/// Makes `files` the validation data of `config`, read with the same format and fields as its
/// training files, which stay (tabular features are standardised with the training rows'
/// statistics, as in the run), or, for `digits` and `mnist`, images read as
/// [`crate::data::pixels`] describes. With `unlabelled`, rows without a target are kept (a
/// placeholder target stands for it: for predictions, not metrics).
pub fn validate_on(config: &mut RunConfig, files: Vec<String>, unlabelled: bool) -> Result<(), String> {
    let files_list = files.clone();
    let files = Some(crate::data::rows::PathList(files));
    match &mut config.data {
        crate::data::DataConfig::Tabular(c) => {
            (c.val_path, c.val_size, c.val_fraction, c.unlabelled_val) = (files, None, None, unlabelled);
        }
        crate::data::DataConfig::TextClassification(c) => {
            (c.val_path, c.val_size, c.val_fraction, c.unlabelled_val) = (files, None, None, unlabelled);
        }
        crate::data::DataConfig::Digits(c) => c.images = Some(ImageFiles { paths: files_list, unlabelled }),
        crate::data::DataConfig::Mnist(c) => c.images = Some(ImageFiles { paths: files_list, unlabelled }),
        _ => return Err("other data files need tabular, text_classification, digits or mnist data (this run's data is not labelled per example)".into()),
    }
    Ok(())
}

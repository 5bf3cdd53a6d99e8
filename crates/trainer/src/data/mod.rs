//! Datasets: in-memory examples split into train and validation, assembled into batches on the
//! run's device. One unit of data time: an epoch of shuffled train batches.

pub mod capped;
pub mod causal;
#[cfg(feature = "hub")]
pub mod chat;
pub mod dense;
pub mod digits;
pub mod instruction;
pub mod lm_text;
pub mod mnist;
pub mod pixels;
pub mod rows;
pub mod tabular;
pub mod text;

use std::sync::Arc;

use candle_core::{Device, Tensor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The labels of a dataset: what the model predicts, which decides the loss and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// Predict one of `num_classes` labels: cross-entropy loss, `val/accuracy`.
    Classification {
        /// Number of classes.
        num_classes: usize,
    },
    /// Predict `outputs` real values: mean squared error loss; evaluation reports only
    /// `val/loss` (no accuracy).
    Regression {
        /// Number of predicted values per example.
        outputs: usize,
    },
    /// Predict the next token of a sequence (causal language modelling): each position's target
    /// is the id that follows it, counted where the batch's loss mask says.
    NextToken {
        /// Size of the tokenizer's vocabulary (the model's output width).
        vocab_size: usize,
    },
}

impl Labels {
    /// Number of model outputs (classes, or predicted values).
    pub fn outputs(self) -> usize {
        match self {
            Labels::Classification { num_classes } => num_classes,
            Labels::Regression { outputs } => outputs,
            Labels::NextToken { vocab_size } => vocab_size,
        }
    }
}

/// Which part of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training examples.
    Train,
    /// The held-out examples.
    Val,
}

/// The model input of one batch.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// Dense features, `[batch, …input_shape]`, f32.
    Dense(Tensor),
    /// Token sequences padded to the longest in the batch, each u32 `[batch, seq]`.
    Tokens {
        /// Token ids (padding: the tokenizer's pad id).
        ids: Tensor,
        /// Token type (segment) ids.
        type_ids: Tensor,
        /// 1 for a real token, 0 for padding.
        mask: Tensor,
    },
    /// Causal language modelling: token sequences (right-padded to the longest in the batch)
    /// whose targets are the next tokens (`targets[b, t]` = the id after `ids[b, t]`, u32
    /// `[batch, seq]`).
    Causal {
        /// Token ids, u32 `[batch, seq]` (padding: the tokenizer's pad id).
        ids: Tensor,
        /// 1 for a real token, 0 for padding, u32 `[batch, seq]` (attention never looks at
        /// padding).
        mask: Tensor,
        /// 1.0 where the target counts in the loss, 0.0 elsewhere (padding, prompt tokens of
        /// instruction data, a window's last position), f32 `[batch, seq]`.
        loss_mask: Tensor,
    },
}

/// One batch: inputs and targets (class indices, u32 `[batch]`, for classification; f32
/// `[batch, outputs]` for regression).
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs.
    pub inputs: Inputs,
    /// Targets.
    pub targets: Tensor,
}

/// A dataset error: bad file, bad row, empty data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A problem to report at a config field (e.g. `data.path`: a bad row of that file, named
    /// in the message).
    #[error("{0}")]
    Field(crate::FieldIssue),
    /// A tensor operation failed.
    #[error("building a batch: {0}")]
    Tensor(String),
}

impl DataError {
    /// A [`DataError::Field`].
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        DataError::Field(crate::FieldIssue::new(path, message))
    }
}

impl From<candle_core::Error> for DataError {
    fn from(e: candle_core::Error) -> Self {
        DataError::Tensor(crate::device::first_line(&e))
    }
}

/// A dataset ready for training: examples in memory, split, batchable.
pub trait Dataset: Send {
    /// The task the data poses.
    fn labels(&self) -> Labels;
    /// Shape of one input example as batched (e.g. `[64]`).
    fn input_shape(&self) -> &[usize];
    /// The `[channels, height, width]` of an example, when examples are images (convolutional
    /// models reshape their inputs to it). Default: not images.
    fn image_shape(&self) -> Option<[usize; 3]> {
        None
    }
    /// The names of the classes, in class-index order, when the data names them
    /// (`text_classification`'s `label_names`). Default: none (classes are indices).
    fn class_names(&self) -> &[String] {
        &[]
    }
    /// Number of examples in `split`.
    fn len(&self, split: Split) -> usize;
    /// Assembles the examples `indices` of `split` into a batch on `device`.
    fn batch(&self, split: Split, indices: &[usize], device: &Device) -> Result<Batch, DataError>;
    /// One line describing the data (for summaries).
    fn describe(&self) -> String;
}

/// The `data:` section of a run config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataConfig {
    /// scikit-learn's 8×8 handwritten digits (1797 images, 10 classes), embedded in the binary.
    Digits(digits::DigitsConfig),
    /// MNIST (28×28 handwritten digits, 60k train / 10k test) from its raw IDX files.
    Mnist(mnist::MnistConfig),
    /// Labelled texts from JSON, JSONL or CSV files, tokenized by the model's tokenizer.
    TextClassification(text::TextConfig),
    /// Numeric columns of a CSV or JSONL file: classification or regression.
    Tabular(tabular::TabularConfig),
    /// Plain text files for causal language modelling, tokenized and packed into blocks.
    Text(lm_text::LmTextConfig),
    /// Prompt/response pairs or conversations (JSONL) rendered with the model's chat template;
    /// the loss is on the response tokens only.
    Instruction(instruction::InstructionConfig),
}

/// Turns texts into token ids: the model's tokenizer (truncating to the model's `max_len`,
/// adding its special tokens, not padding: batches are padded to their longest sequence).
pub trait TextEncoder: Send + Sync {
    /// Encodes each text.
    fn encode(&self, texts: &[String]) -> Result<Vec<text::Encoded>, DataError>;
    /// Id and type id of the padding token.
    fn pad(&self) -> (u32, u32);
}

/// What the model asks of the data when it is loaded.
#[derive(Clone, Default)]
pub struct LoadContext {
    /// The model's tokenizer, for text data.
    pub encoder: Option<Arc<dyn TextEncoder>>,
    /// The number of classes the model predicts, when its config fixes it (`model.num_labels`):
    /// a label outside it is an error naming the file and row.
    pub num_labels: Option<usize>,
    /// The causal language model's tokenizer, for `text` and `instruction` data.
    #[cfg(feature = "hub")]
    pub lm_tokenizer: Option<Arc<crate::lm_tokenizer::LmTokenizer>>,
    /// The model's context length (`max_position_embeddings`): no block or sequence may be longer.
    pub max_context: Option<usize>,
}

impl DataConfig {
    /// Loads data that needs nothing from the model (reads files where the kind has any).
    pub fn load(&self) -> Result<Box<dyn Dataset>, DataError> {
        self.load_with(&LoadContext::default())
    }

    /// Loads the data for a model that asks `ctx`.
    pub fn load_with(&self, ctx: &LoadContext) -> Result<Box<dyn Dataset>, DataError> {
        match self {
            DataConfig::Digits(c) => Ok(Box::new(digits::Digits::load(c)?)),
            DataConfig::Mnist(c) => Ok(Box::new(mnist::Mnist::load(c)?)),
            DataConfig::TextClassification(c) => {
                let encoder = ctx.encoder.clone().ok_or_else(|| {
                    DataError::field(
                        "data.kind",
                        "text_classification needs a model with a tokenizer (model.kind = bert_classifier)",
                    )
                })?;
                Ok(Box::new(text::TextData::load(c, encoder, ctx.num_labels)?))
            }
            DataConfig::Tabular(c) => Ok(Box::new(tabular::Tabular::load(c)?)),
            DataConfig::Text(c) => lm_text::load_with(c, ctx),
            DataConfig::Instruction(c) => instruction::load_with(c, ctx),
        }
    }

    /// Whether the data is for a causal language model (`text`, `instruction`).
    pub fn is_lm(&self) -> bool {
        matches!(self, DataConfig::Text(_) | DataConfig::Instruction(_))
    }

    /// Whether the examples are texts (they need a model with a tokenizer).
    pub fn is_text(&self) -> bool {
        matches!(self, DataConfig::TextClassification(_))
    }

    /// Every problem of the section that needs no file, each with its field path.
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        match self {
            DataConfig::Digits(c) => {
                let mut out = Vec::new();
                check_fraction(&mut out, c.val_fraction);
                out
            }
            DataConfig::Mnist(c) => c.issues(),
            DataConfig::TextClassification(c) => c.issues(),
            DataConfig::Tabular(c) => c.issues(),
            DataConfig::Text(c) => c.issues(),
            DataConfig::Instruction(c) => c.issues(),
        }
    }
}

/// The causal LM tokenizer `kind` (`text`, `instruction`) data needs.
#[cfg(feature = "hub")]
pub(crate) fn lm_tokenizer<'a>(
    ctx: &'a LoadContext,
    kind: &str,
) -> Result<&'a crate::lm_tokenizer::LmTokenizer, DataError> {
    ctx.lm_tokenizer.as_deref().ok_or_else(|| {
        DataError::field(
            "data.kind",
            format!("{kind} needs model.kind: causal_lm (a causal language model and its tokenizer)"),
        )
    })
}

/// Without the `hub` feature there is no causal LM tokenizer: `kind` data is an error.
#[cfg(not(feature = "hub"))]
pub(crate) fn needs_hub(kind: &str) -> DataError {
    DataError::field(
        "data.kind",
        format!("{kind} needs the `hub` feature of the trainer crate (the cli enables it by default)"),
    )
}

/// `data.val_fraction` must lie in `(0, 1)`.
pub(crate) fn check_fraction(out: &mut Vec<crate::FieldIssue>, value: f64) {
    out.extend(sched::check::in_range("data", "val_fraction", value, (0.0, true), (1.0, true)).err());
}

/// Splits `0..n` into (train, val) index lists: a seeded shuffle, then the first
/// `round(n · val_fraction)` indices are held out.
pub fn split_indices(n: usize, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    split_count(n, ((n as f64) * val_fraction).round() as usize, seed)
}

/// Splits `0..n` into (train, val) index lists: a seeded shuffle, then the first `n_val`
/// indices (at most `n`) are held out.
pub fn split_count(n: usize, n_val: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order = crate::rng::Rng::derived(seed, 0x5eed_da7a).permutation(n);
    let train = order.split_off(n_val.min(n));
    (train, order)
}

/// How the held-out split is made: `val_path` files, or `val_size` rows, or `val_fraction` of
/// the rows (the kinds that read files share these fields).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Holdout<'a> {
    /// Read from these files.
    Files(&'a rows::PathList),
    /// Hold out this many rows.
    Count(usize),
    /// Hold out this fraction of the rows.
    Fraction(f64),
}

impl<'a> Holdout<'a> {
    /// The holdout of `val_path`, `val_size`, `val_fraction` (default: a fraction of 0.1).
    pub(crate) fn of(val_path: Option<&'a rows::PathList>, val_size: Option<usize>, val_fraction: Option<f64>) -> Self {
        match (val_path, val_size, val_fraction) {
            (Some(p), _, _) => Holdout::Files(p),
            (None, Some(n), _) => Holdout::Count(n),
            (None, None, f) => Holdout::Fraction(f.unwrap_or(0.1)),
        }
    }

    /// Checks the three fields: at most one given, each in range.
    pub(crate) fn issues(
        val_path: Option<&rows::PathList>,
        val_size: Option<usize>,
        val_fraction: Option<f64>,
    ) -> Vec<crate::FieldIssue> {
        let mut out = Vec::new();
        let given = [val_path.is_some(), val_size.is_some(), val_fraction.is_some()].iter().filter(|&&g| g).count();
        if given > 1 {
            let at = if val_fraction.is_some() { "data.val_fraction" } else { "data.val_size" };
            out.push(crate::FieldIssue::new(at, "give at most one of val_path, val_size and val_fraction"));
        }
        if let Some(f) = val_fraction {
            check_fraction(&mut out, f);
        }
        if val_size == Some(0) {
            out.push(crate::FieldIssue::new("data.val_size", "must be >= 1"));
        }
        if let Some(p) = val_path {
            rows::check_paths(&mut out, "data.val_path", p);
        }
        out
    }

    /// (train, val) indices of `n` rows read from `data.path`; `Files` holds out none of them.
    pub(crate) fn split(self, n: usize, seed: u64) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        match self {
            Holdout::Files(_) => Ok(((0..n).collect(), Vec::new())),
            Holdout::Count(k) if k >= n => Err(DataError::field(
                "data.val_size",
                format!("holds out {k} rows, but data.path has only {n} usable rows: nothing is left to train on"),
            )),
            Holdout::Count(k) => Ok(split_count(n, k, seed)),
            Holdout::Fraction(f) => Ok(split_indices(n, f, seed)),
        }
    }
}

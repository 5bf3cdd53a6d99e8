//! Models: built from the `model:` config section on a [`VarMap`] whose variables the optimizer
//! updates. Initial weights come from the run's [`Rng`], so a seed fixes them on every device;
//! pretrained weights come from files ([`pretrained`]), found by [`crate::hub`].

pub mod bert;
pub mod bert_encoder;
#[cfg(feature = "hub")]
pub mod bert_export;
pub mod causal_lm;
pub mod cnn;
mod error;
#[cfg(feature = "hub")]
pub(crate) mod export_dir;
#[cfg(feature = "hub")]
pub mod gguf;
pub mod init;
pub mod llama;
pub mod lora;
pub mod mlp;
pub mod pretrained;
pub mod size;

use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Inputs, Labels, TextEncoder};
use crate::hub::ModelFiles;
use crate::rng::Rng;
use crate::run::metric::{Metric, Metrics};
use crate::task::{Supervised, Task};

pub use error::ModelError;

/// A trainable model: inputs to logits (or, for regression, predicted values).
pub trait Model: Send {
    /// Forward pass; `train` enables dropout (masks drawn from `rng`).
    fn forward(&self, inputs: &Inputs, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor>;

    /// Whether parameter `name` trains. Frozen parameters stay in the checkpoints but get no
    /// gradient and no optimizer state. Default: every parameter trains.
    fn is_trainable(&self, _name: &str) -> bool {
        true
    }
}

/// What a model needs before the data is loaded: its files and its tokenizer (pretrained
/// models); nothing for models trained from scratch.
#[derive(Default, Clone)]
pub struct Prepared {
    /// The pretrained model's files.
    pub files: Option<ModelFiles>,
    /// The tokenizer, for text data.
    pub encoder: Option<Arc<dyn TextEncoder>>,
    /// A causal LM's config, tokenizer and weights.
    #[cfg(feature = "hub")]
    pub lm: Option<Arc<causal_lm::source::LmSource>>,
}

/// Activation function of hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// Gaussian error linear unit (tanh approximation).
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::Tanh => x.tanh(),
        }
    }
}

/// The `model:` section of a run config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// A multilayer perceptron on flat inputs.
    Mlp(mlp::MlpConfig),
    /// A small convolutional network on `[channels, height, width]` images.
    Cnn(cnn::CnnConfig),
    /// A pretrained BERT encoder (Hugging Face hub/cache or a folder) with a new
    /// classification head, for text data.
    BertClassifier(bert::BertClassifierConfig),
    /// A pretrained Llama-architecture causal language model (GGUF file, Hugging Face hub/cache
    /// or folder), fine-tuned in full or with LoRA, for text or instruction data.
    CausalLm(causal_lm::CausalLmConfig),
}

/// What the model is built for.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Shape of one input example as batched.
    pub input_shape: Vec<usize>,
    /// `[channels, height, width]` when the examples are images.
    pub image: Option<[usize; 3]>,
    /// Number of outputs (classes).
    pub outputs: usize,
}

impl ModelConfig {
    /// The section's problems that need no file, each at its field (`model.…`).
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        match self {
            ModelConfig::Mlp(c) => c.issues(),
            ModelConfig::Cnn(c) => c.issues(),
            ModelConfig::BertClassifier(c) => c.issues(),
            ModelConfig::CausalLm(c) => c.issues(),
        }
    }

    /// Whether the model reads text (token ids) rather than dense features.
    pub fn wants_text(&self) -> bool {
        matches!(self, ModelConfig::BertClassifier(_))
    }

    /// The number of classes the config fixes (`model.num_labels`), if it does.
    pub fn num_labels(&self) -> Option<usize> {
        match self {
            ModelConfig::BertClassifier(c) => Some(c.num_labels),
            _ => None,
        }
    }

    /// Finds a pretrained model's files and loads its tokenizer (nothing to do for the others).
    pub fn prepare(&self) -> Result<Prepared, ModelError> {
        match self {
            #[cfg(feature = "hub")]
            ModelConfig::CausalLm(c) => {
                let source = causal_lm::source::prepare(c, &Device::Cpu)?;
                Ok(Prepared { files: None, encoder: None, lm: Some(Arc::new(source)) })
            }
            #[cfg(not(feature = "hub"))]
            ModelConfig::CausalLm(_) => Err(ModelError::config(
                "model.kind",
                "causal_lm needs the `hub` feature of the trainer crate (the cli enables it by default)",
            )),
            #[cfg(feature = "hub")]
            ModelConfig::BertClassifier(c) => bert::prepare(c),
            #[cfg(not(feature = "hub"))]
            ModelConfig::BertClassifier(_) => Err(ModelError::config(
                "model.kind",
                "bert_classifier needs the `hub` feature of the trainer crate (the cli enables it by default)",
            )),
            _ => Ok(Prepared::default()),
        }
    }

    /// The metrics the model's task reports on data labelled as `labels` (known before the
    /// model is built, so config fields naming a metric are checked before any weight loads).
    pub fn metrics(&self, labels: Labels) -> Metrics {
        match self {
            ModelConfig::CausalLm(_) => {
                Metrics::new(vec![Metric::VAL_LOSS, Metric::VAL_PERPLEXITY, Metric::VAL_TOKEN_ACCURACY])
            }
            _ => Supervised::metrics_for(labels),
        }
    }

    /// Whether the model is a causal language model (it trains on `text` or `instruction` data).
    pub fn is_causal_lm(&self) -> bool {
        matches!(self, ModelConfig::CausalLm(_))
    }

    /// Builds the model's task for `data`: the network (variables created in `varmap`, initial
    /// values from `rng`, pretrained ones from `prepared`'s files) with its loss and metrics.
    pub fn build(
        &self,
        data: &dyn Dataset,
        prepared: &Prepared,
        varmap: &VarMap,
        rng: &mut Rng,
        device: &Device,
    ) -> Result<Box<dyn Task>, ModelError> {
        #[cfg(feature = "hub")]
        if let ModelConfig::CausalLm(c) = self {
            let source = prepared.lm.as_ref().ok_or_else(|| ModelError::Tensor("the model was not prepared".into()))?;
            return Ok(Box::new(causal_lm::task::CausalLm::load(c, source, varmap, rng, device)?));
        }
        let spec = ModelSpec {
            input_shape: data.input_shape().to_vec(),
            image: data.image_shape(),
            outputs: data.labels().outputs(),
        };
        let net = self.network(&spec, prepared, varmap, rng, device)?;
        Ok(Box::new(Supervised::new(net, data.labels()).with_class_names(data.class_names())))
    }

    /// Builds the network alone, creating its variables in `varmap` with initial values from
    /// `rng` (pretrained ones from `prepared`'s files).
    pub fn network(
        &self,
        spec: &ModelSpec,
        prepared: &Prepared,
        varmap: &VarMap,
        rng: &mut Rng,
        device: &Device,
    ) -> Result<Box<dyn Model>, ModelError> {
        let config_error = |e: candle_core::Error| ModelError::config("model", crate::device::first_line(&e));
        match self {
            ModelConfig::Mlp(c) => Ok(Box::new(mlp::Mlp::new(c, spec, varmap, rng, device).map_err(config_error)?)),
            ModelConfig::Cnn(c) => Ok(Box::new(cnn::Cnn::new(c, spec, varmap, rng, device).map_err(config_error)?)),
            #[cfg(feature = "hub")]
            ModelConfig::BertClassifier(c) => {
                let files =
                    prepared.files.as_ref().ok_or_else(|| ModelError::Tensor("the model was not prepared".into()))?;
                Ok(Box::new(bert::BertClassifier::load(c, files, varmap, rng, device)?))
            }
            #[cfg(not(feature = "hub"))]
            ModelConfig::BertClassifier(_) => {
                let _ = prepared;
                Err(ModelError::config("model.kind", "bert_classifier needs the `hub` feature of the trainer crate"))
            }
            ModelConfig::CausalLm(_) => Err(ModelError::config(
                "model.kind",
                "causal_lm is a language model, not a network from inputs to logits",
            )),
        }
    }
}

/// `model.dropout` must lie in `[0, 1)`.
pub(crate) fn dropout_issues(p: f64) -> Vec<crate::FieldIssue> {
    sched::check::in_range("model", "dropout", p, (0.0, false), (1.0, true)).err().into_iter().collect()
}

/// `x Wᵀ + b` of a candle-nn `Linear` for a `[rows, in]` batch, the bias through the fused
/// [`crate::ops::add_bias`] (other ranks: `Linear::forward`).
pub(crate) fn linear(layer: &candle_nn::Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    use candle_core::Module;
    match (x.rank(), layer.bias()) {
        (2, Some(b)) => crate::ops::add_bias(&x.matmul(&layer.weight().t()?)?, b),
        _ => layer.forward(x),
    }
}

/// Inverted dropout with a mask from `rng`: keeps each value with probability `1 − p` and scales
/// it by `1 / (1 − p)`. Identity when `p = 0` or not training.
pub fn dropout(x: &Tensor, p: f64, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor> {
    if !train || p <= 0.0 {
        return Ok(x.clone());
    }
    let scale = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..x.elem_count()).map(|_| if rng.next_f64() < p { 0.0 } else { scale }).collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    x * mask
}

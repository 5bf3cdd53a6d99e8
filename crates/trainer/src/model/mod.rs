//! Models: built from the `model:` config section on a [`VarMap`] whose variables the optimizer
//! updates. Initial weights come from the run's [`Rng`], so a seed fixes them on every device.

pub mod cnn;
pub mod init;
pub mod mlp;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::Inputs;
use crate::rng::Rng;

/// A trainable model: inputs to logits.
pub trait Model: Send {
    /// Forward pass; `train` enables dropout (masks drawn from `rng`).
    fn forward(&self, inputs: &Inputs, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor>;
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
}

/// What the model is built for.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Shape of one input example.
    pub input_shape: Vec<usize>,
    /// Number of outputs (classes).
    pub outputs: usize,
}

impl ModelConfig {
    /// Whether the model wants image-shaped inputs.
    pub fn wants_images(&self) -> bool {
        matches!(self, ModelConfig::Cnn(_))
    }

    /// Builds the model, creating its variables in `varmap` with initial values from `rng`.
    pub fn build(
        &self,
        spec: &ModelSpec,
        varmap: &VarMap,
        rng: &mut Rng,
        device: &Device,
    ) -> candle_core::Result<Box<dyn Model>> {
        match self {
            ModelConfig::Mlp(c) => Ok(Box::new(mlp::Mlp::new(c, spec, varmap, rng, device)?)),
            ModelConfig::Cnn(c) => Ok(Box::new(cnn::Cnn::new(c, spec, varmap, rng, device)?)),
        }
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

//! `model: {kind: cnn}`: a small convolutional network.

use candle_core::{Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear, VarMap};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use sched::check::at_least;

use super::{Activation, Model, ModelSpec, dropout, init};
use crate::data::Inputs;
use crate::rng::Rng;

/// `kind: cnn`: for each entry of `channels`, a 3×3 convolution (padding 1), the activation and
/// a 2×2 max-pool; then a hidden linear layer of `hidden` units and a linear `head`.
/// Parameters: `conv<i>.weight`, `conv<i>.bias`, `fc.weight`, `fc.bias`, `head.weight`, `head.bias`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CnnConfig {
    /// Output channels of the convolution blocks (default `[16, 32]`).
    #[serde(default = "default_channels")]
    pub channels: Vec<usize>,
    /// Width of the hidden linear layer (default 64).
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Activation (default `relu`).
    #[serde(default = "default_activation")]
    pub activation: Activation,
    /// Dropout probability before the head, in `[0, 1)` (default 0).
    #[serde(default)]
    pub dropout: f64,
}

fn default_channels() -> Vec<usize> {
    vec![16, 32]
}
fn default_hidden() -> usize {
    64
}
fn default_activation() -> Activation {
    Activation::Relu
}

impl CnnConfig {
    /// The section's problems, each at its field (`model.…`).
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        let mut out = super::dropout_issues(self.dropout);
        if self.channels.is_empty() {
            out.push(crate::FieldIssue::new("model.channels", "needs at least one convolution block"));
        }
        out.extend(
            self.channels
                .iter()
                .enumerate()
                .find_map(|(i, &c)| at_least("model", &format!("channels[{i}]"), c as u64, 1).err()),
        );
        out.extend(at_least("model", "hidden", self.hidden as u64, 1).err());
        out
    }
}

/// The built CNN.
pub struct Cnn {
    /// `[c, h, w]` of an input example (batches arrive flat).
    image: [usize; 3],
    convs: Vec<Conv2d>,
    fc: Linear,
    head: Linear,
    activation: Activation,
    dropout: f64,
}

impl Cnn {
    /// Builds the CNN for image inputs `[c, h, w]`.
    pub fn new(
        c: &CnnConfig,
        spec: &ModelSpec,
        varmap: &VarMap,
        rng: &mut Rng,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let Some(image @ [mut channels, mut h, mut w]) = spec.image else {
            return Err(candle_core::Error::Msg(format!(
                "model.kind = cnn needs image inputs [channels, height, width], got {:?}",
                spec.input_shape
            )));
        };
        let mut convs = Vec::with_capacity(c.channels.len());
        for (i, &out) in c.channels.iter().enumerate() {
            let fan_in = channels * 9;
            let weight =
                init::uniform(varmap, &format!("conv{i}.weight"), &[out, channels, 3, 3], fan_in, rng, device)?;
            let bias = init::uniform(varmap, &format!("conv{i}.bias"), &[out], fan_in, rng, device)?;
            convs.push(Conv2d::new(weight, Some(bias), Conv2dConfig { padding: 1, ..Default::default() }));
            channels = out;
            h /= 2;
            w /= 2;
        }
        if h == 0 || w == 0 {
            return Err(candle_core::Error::Msg(format!(
                "model.channels: {} pooling stages shrink a {:?} image to nothing",
                c.channels.len(),
                image
            )));
        }
        let fc = init::linear(varmap, "fc", channels * h * w, c.hidden, rng, device)?;
        let head = init::linear(varmap, "head", c.hidden, spec.outputs, rng, device)?;
        Ok(Self { image, convs, fc, head, activation: c.activation, dropout: c.dropout })
    }
}

impl Model for Cnn {
    fn forward(&self, inputs: &Inputs, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor> {
        let Inputs::Dense(x) = inputs else {
            return Err(candle_core::Error::Msg(
                "model.kind = cnn needs numeric features, not text (use bert_classifier for text)".into(),
            ));
        };
        let [c, h, w] = self.image;
        let mut x = x.reshape((x.dim(0)?, c, h, w))?;
        for conv in &self.convs {
            x = self.activation.apply(&conv.forward(&x)?)?.max_pool2d(2)?;
        }
        let x = self.activation.apply(&self.fc.forward(&x.flatten_from(1)?)?)?;
        let x = dropout(&x, self.dropout, train, rng)?;
        self.head.forward(&x)
    }
}

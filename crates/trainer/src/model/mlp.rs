//! `model: {kind: mlp}`: a multilayer perceptron.

use candle_core::{Device, Tensor};
use candle_nn::{Linear, VarMap};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use sched::check::at_least;

use super::{Activation, Model, ModelSpec, dropout, init};
use crate::data::Inputs;
use crate::rng::Rng;

/// `kind: mlp`: `hidden` layers with `activation` and `dropout`, then a linear `head`.
/// Parameters: `fc<i>.weight`, `fc<i>.bias`, `head.weight`, `head.bias`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Widths of the hidden layers (default `[128]`).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers (default `relu`).
    #[serde(default = "default_activation")]
    pub activation: Activation,
    /// Dropout probability after each hidden layer, in `[0, 1)` (default 0).
    #[serde(default)]
    pub dropout: f64,
}

fn default_hidden() -> Vec<usize> {
    vec![128]
}
fn default_activation() -> Activation {
    Activation::Relu
}

impl MlpConfig {
    /// The section's problems, each at its field (`model.…`).
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        let mut out = super::dropout_issues(self.dropout);
        out.extend(
            self.hidden
                .iter()
                .enumerate()
                .find_map(|(i, &h)| at_least("model", &format!("hidden[{i}]"), h as u64, 1).err()),
        );
        out
    }
}

/// The built MLP.
pub struct Mlp {
    layers: Vec<Linear>,
    head: Linear,
    activation: Activation,
    dropout: f64,
}

impl Mlp {
    /// Builds the MLP for `spec` (inputs are flattened).
    pub fn new(
        c: &MlpConfig,
        spec: &ModelSpec,
        varmap: &VarMap,
        rng: &mut Rng,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let mut width: usize = spec.input_shape.iter().product();
        let mut layers = Vec::with_capacity(c.hidden.len());
        for (i, &h) in c.hidden.iter().enumerate() {
            layers.push(init::linear(varmap, &format!("fc{i}"), width, h, rng, device)?);
            width = h;
        }
        let head = init::linear(varmap, "head", width, spec.outputs, rng, device)?;
        Ok(Self { layers, head, activation: c.activation, dropout: c.dropout })
    }
}

impl Model for Mlp {
    fn forward(&self, inputs: &Inputs, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor> {
        let Inputs::Dense(x) = inputs else {
            return Err(candle_core::Error::Msg(
                "model.kind = mlp needs numeric features, not text (use bert_classifier for text)".into(),
            ));
        };
        let mut x = x.flatten_from(1)?;
        for layer in &self.layers {
            x = self.activation.apply(&super::linear(layer, &x)?)?;
            x = dropout(&x, self.dropout, train, rng)?;
        }
        super::linear(&self.head, &x)
    }
}

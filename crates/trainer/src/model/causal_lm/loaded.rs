//! A causal LM ready for use outside training: the base model of a config, or a run's
//! checkpoint over it. It generates ([`LoadedLm::generate`]), scores text
//! ([`LoadedLm::perplexity`]) and exports ([`LoadedLm::export`], see [`super::export`]).

use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

use super::CausalLmConfig;
use super::source::{self, LmSource};
use super::task::{CausalLm, masked_nll};
use crate::checkpoint::MODEL_FILE;
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::lm_tokenizer::LmTokenizer;
use crate::model::ModelConfig;
use crate::model::llama::sample::{self, Sampling};
use crate::optim::average::{Weights, load_average, weights_problem};
use crate::rng::Rng;
use crate::{FieldIssue, device::first_line};

pub use super::export::ExportFormat;

/// A causal LM with its tokenizer, weights from its source and, optionally, a checkpoint.
pub struct LoadedLm {
    pub(super) lm: CausalLm,
    pub(super) source: Arc<LmSource>,
    pub(super) config: CausalLmConfig,
    device: Device,
}

/// The perplexity of a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perplexity {
    /// Mean negative log-likelihood per predicted token (nats).
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Predicted tokens (every id of a window but its first).
    pub tokens: usize,
}

/// Checks sampling settings: temperature finite and ≥ 0, `top_p` in `(0, 1]`.
pub fn sampling(temperature: f64, top_p: f64) -> Result<Sampling, String> {
    if !(temperature.is_finite() && temperature >= 0.0) {
        return Err(format!("--temperature must be >= 0 (0 is greedy; got {temperature})"));
    }
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(format!("--top-p must be in (0, 1] (got {top_p})"));
    }
    Ok(Sampling { temperature, top_p })
}

fn issue(path: &str, message: impl Into<String>) -> TrainError {
    TrainError::Config(vec![FieldIssue::new(path, message)])
}

impl LoadedLm {
    /// The model of `run` (`model.kind: causal_lm`) on the run's device, with the weights of
    /// `checkpoint` (a checkpoint directory) when given, else the untrained base model.
    pub fn open(run: &RunConfig, checkpoint: Option<&Path>, weights: Weights) -> Result<Self, TrainError> {
        let ModelConfig::CausalLm(c) = &run.model else {
            return Err(issue("model.kind", "generate, eval --text and export need model.kind: causal_lm"));
        };
        let issues = c.issues();
        if !issues.is_empty() {
            return Err(TrainError::Config(issues));
        }
        let device = run.device.open().map_err(|e| issue("device", e.to_string()))?;
        let source = Arc::new(source::prepare(c, &Device::Cpu)?);
        let varmap = VarMap::new();
        let lm = CausalLm::load(c, &source, &varmap, &mut Rng::new(run.seed), &device)?;
        match checkpoint {
            Some(dir) => {
                load_weights(&varmap, &dir.join(MODEL_FILE), |n| c.is_trainable(n), &device)?;
                load_average(&varmap, dir, weights)
                    .map_err(|why| TrainError::Tensor(weights_problem(weights, &why)))?;
            }
            None if weights != Weights::Raw => {
                return Err(TrainError::Tensor(weights_problem(weights, "a config file has no trained weights")));
            }
            None => {}
        }
        Ok(Self { lm, source, config: c.clone(), device })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &LmTokenizer {
        &self.source.tokenizer
    }

    /// The longest context the model takes (`max_position_embeddings`).
    pub fn max_context(&self) -> usize {
        self.source.config.max_position_embeddings
    }

    /// `text` as a user message in the model's chat template, ready for the assistant's answer.
    pub fn chat_prompt(&self, text: &str) -> Result<String, String> {
        let t = self.tokenizer();
        let template =
            t.chat_template.as_deref().ok_or("--chat needs the model's chat template; this model has none")?;
        let messages = [crate::data::chat::Message { role: "user".into(), content: text.into() }];
        let bos = t.bos.as_ref().map_or("", |b| b.0.as_str());
        crate::data::chat::render(template, &messages, true, bos, &t.eos.0)
    }

    /// The continuation of `prompt` (up to `max_new_tokens` tokens, stopping at the end of
    /// sequence), as text.
    pub fn generate(&self, prompt: &str, s: &Sampling, max_new_tokens: usize, seed: u64) -> Result<String, TrainError> {
        let t = self.tokenizer();
        let ids = t.encode(prompt, false).map_err(TrainError::Tensor)?;
        if ids.is_empty() {
            return Err(TrainError::Tensor("the prompt has no tokens".into()));
        }
        if ids.len() + max_new_tokens > self.max_context() {
            return Err(TrainError::Tensor(format!(
                "the prompt ({} tokens) and --max-new-tokens {max_new_tokens} exceed the model's context of {} tokens",
                ids.len(),
                self.max_context()
            )));
        }
        let mut eos = self.source.config.eos_ids();
        eos.push(t.eos.1);
        let out = sample::generate(self.lm.model(), &ids, max_new_tokens, s, &eos, &mut Rng::new(seed))?;
        t.decode(&out, true).map_err(TrainError::Tensor)
    }

    /// The perplexity of `text`: its ids (no special tokens) in consecutive non-overlapping
    /// windows of `block_size`, each scored alone; windows of fewer than 2 ids are skipped.
    pub fn perplexity(&self, text: &str, block_size: usize) -> Result<Perplexity, TrainError> {
        let ids = self.tokenizer().encode(text, false).map_err(TrainError::Tensor)?;
        let (mut total, mut tokens) = (0.0, 0usize);
        for window in ids.chunks(block_size.max(2)).filter(|w| w.len() >= 2) {
            let n = window.len() - 1;
            let input = Tensor::new(&window[..n], &self.device)?.unsqueeze(0)?;
            let target = Tensor::new(&window[1..], &self.device)?.unsqueeze(0)?;
            let logits = self.lm.model().forward(&input, None, false, &mut Rng::new(0))?;
            let ones = Tensor::ones((1, n), candle_core::DType::F32, &self.device)?;
            total += f64::from(masked_nll(&logits, &target, &ones)?.to_scalar::<f32>()?);
            tokens += n;
        }
        if tokens == 0 {
            return Err(TrainError::Tensor("the text has fewer than 2 tokens: nothing to predict".into()));
        }
        let loss = total / tokens as f64;
        Ok(Perplexity { loss, perplexity: loss.exp(), tokens })
    }
}

/// Sets the variables of `varmap` from the checkpoint file `path`: every tensor in it must be a
/// variable of the model with the same shape, and every trainable variable must be in it.
fn load_weights(
    varmap: &VarMap,
    path: &Path,
    trainable: impl Fn(&str) -> bool,
    device: &Device,
) -> Result<(), TrainError> {
    let bad = |m: String| TrainError::Tensor(format!("{}: {m}", path.display()));
    let tensors = candle_core::safetensors::load(path, device).map_err(|e| bad(first_line(&e)))?;
    let data = varmap.data().lock().map_err(|_| bad("variable map lock poisoned".into()))?;
    for (name, t) in &tensors {
        let var = data
            .get(name)
            .ok_or_else(|| bad(format!("holds `{name}`, which this model lacks (was the run's config changed?)")))?;
        if var.shape() != t.shape() {
            return Err(bad(format!("`{name}` has shape {:?}, the model's is {:?}", t.dims(), var.dims())));
        }
        var.set(t).map_err(|e| bad(first_line(&e)))?;
    }
    if let Some(missing) = data.keys().find(|n| trainable(n) && !tensors.contains_key(*n)) {
        return Err(bad(format!("lacks the trained parameter `{missing}`")));
    }
    Ok(())
}

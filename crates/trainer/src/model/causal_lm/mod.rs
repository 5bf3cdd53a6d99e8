//! `model: {kind: causal_lm}`: a Llama-architecture causal language model ([`super::llama`])
//! fine-tuned in full or with LoRA adapters ([`super::lora`]), with weights from a GGUF file
//! (`gguf:`) or a Hugging Face model folder (`hub:` + `revision:`, or `local_dir:`).
//!
//! ```yaml
//! model: {kind: causal_lm, gguf: assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf, lora: {r: 8}}
//! ```
//!
//! The task ([`CausalLm`], `hub` feature) is next-token prediction: the loss is the mean
//! negative log-likelihood over the targets the data marks (`loss_mask`), and evaluation reports
//! `val/loss` (mean token NLL) and `val/perplexity` (`exp` of it).

#[cfg(feature = "hub")]
pub mod export;
#[cfg(feature = "hub")]
pub mod loaded;
#[cfg(feature = "hub")]
pub mod source;
#[cfg(feature = "hub")]
pub mod task;

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::bert::Freeze;
use super::lora::LoraConfig;
use crate::FieldIssue;
use crate::hub::ModelSource;

fn default_revision() -> String {
    "main".to_owned()
}

/// `kind: causal_lm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CausalLmConfig {
    /// A GGUF file (every tensor dequantized to f32 at load; the tokenizer and chat template
    /// come from its metadata). Give this, `hub` or `local_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gguf: Option<PathBuf>,
    /// Hugging Face hub model id (`org/name`), looked up in the Hugging Face cache and
    /// downloaded into it when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
    /// Hub revision: a branch, a tag or a 40-hex commit (default `main`).
    #[serde(default = "default_revision")]
    pub revision: String,
    /// A folder in the Hugging Face layout (`config.json`, `model.safetensors` or shards with
    /// `model.safetensors.index.json`, `tokenizer.json`, `tokenizer_config.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_dir: Option<PathBuf>,
    /// Never use the network: only the Hugging Face cache (default false; `HF_HUB_OFFLINE=1`
    /// does the same).
    #[serde(default)]
    pub offline: bool,
    /// Keep only the first N decoder blocks (tests, quick runs); default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_hidden_layers: Option<usize>,
    /// Pretrained parameters left untrained in a full fine-tune: `embeddings`
    /// (`model.embed_tokens`, and the tied output projection), or k (the embeddings and the
    /// first k blocks). Not with `lora` (which freezes every base weight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<Freeze>,
    /// LoRA adapters; absent means a full fine-tune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraConfig>,
}

impl CausalLmConfig {
    /// Where the weights come from, and the config field that says so (GGUF files are read
    /// directly: `None`).
    pub fn source(&self) -> Option<(ModelSource, &'static str)> {
        match (&self.hub, &self.local_dir) {
            (Some(repo), None) => {
                Some((ModelSource::Hub { repo: repo.clone(), revision: self.revision.clone() }, "model.hub"))
            }
            (None, Some(dir)) => Some((ModelSource::Local(dir.clone()), "model.local_dir")),
            _ => None,
        }
    }

    /// Whether parameter `name` (a Hugging Face Llama name) trains.
    pub fn is_trainable(&self, name: &str) -> bool {
        if self.lora.is_some() {
            return name.contains(".lora_A.") || name.contains(".lora_B.");
        }
        !self.freeze.is_some_and(|f| freezes(f, name))
    }

    /// Problems found without reading the model.
    pub fn issues(&self) -> Vec<FieldIssue> {
        let mut out = Vec::new();
        let given = [self.gguf.is_some(), self.hub.is_some(), self.local_dir.is_some()];
        match given.iter().filter(|&&g| g).count() {
            0 => out.push(FieldIssue::new(
                "model.gguf",
                "give model.gguf (a GGUF file), model.hub (a hub model id) or model.local_dir (a folder)",
            )),
            1 => {}
            _ => out.push(FieldIssue::new("model.hub", "give only one of model.gguf, model.hub and model.local_dir")),
        }
        if let Some(Err(m)) = self.hub.as_deref().map(crate::hub::check_repo_id) {
            out.push(FieldIssue::new("model.hub", m));
        }
        if self.revision.trim().is_empty() || self.revision.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            out.push(FieldIssue::new("model.revision", format!("`{}` is not a branch, tag or commit", self.revision)));
        }
        if self.num_hidden_layers == Some(0) {
            out.push(FieldIssue::new("model.num_hidden_layers", "must be >= 1 (got 0)"));
        }
        if self.freeze == Some(Freeze::Encoder) {
            out.push(FieldIssue::new(
                "model.freeze",
                "`encoder` is for bert_classifier; a causal LM takes `embeddings` or a number of blocks (or use lora)",
            ));
        }
        if self.freeze.is_some() && self.lora.is_some() {
            out.push(FieldIssue::new("model.freeze", "not with model.lora: LoRA already freezes every base weight"));
        }
        if let Some(l) = &self.lora {
            out.extend(l.issues());
        }
        out
    }
}

/// Whether `freeze` covers Llama parameter `name`.
fn freezes(freeze: Freeze, name: &str) -> bool {
    let embeddings = name.starts_with("model.embed_tokens.");
    match freeze {
        Freeze::Embeddings => embeddings,
        Freeze::Layers(k) => {
            embeddings
                || name
                    .strip_prefix("model.layers.")
                    .and_then(|r| r.split('.').next())
                    .and_then(|i| i.parse::<usize>().ok())
                    .is_some_and(|i| i < k)
        }
        Freeze::Encoder => !name.starts_with("lm_head."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> CausalLmConfig {
        serde_saphyr::from_str(y).unwrap()
    }

    #[test]
    fn sources_and_field_issues() {
        let paths = |c: &CausalLmConfig| c.issues().into_iter().map(|i| i.path).collect::<Vec<_>>();
        assert_eq!(paths(&parse("{}")), ["model.gguf"]);
        assert_eq!(paths(&parse("{gguf: a.gguf, hub: a/b}")), ["model.hub"]);
        assert_eq!(
            paths(&parse("{gguf: a.gguf, num_hidden_layers: 0, freeze: 2, lora: {r: 0, dropout: 1}}")),
            ["model.num_hidden_layers", "model.freeze", "model.lora.r", "model.lora.dropout"]
        );
        assert!(parse("{hub: HuggingFaceTB/SmolLM2-135M, lora: {r: 8}}").issues().is_empty());
        assert_eq!(parse("{hub: a/b}").source().map(|s| s.1), Some("model.hub"));
    }

    #[test]
    fn lora_trains_only_adapters_and_freeze_covers_blocks() {
        let lora = parse("{gguf: a.gguf, lora: {r: 4}}");
        assert!(lora.is_trainable("model.layers.0.self_attn.q_proj.lora_A.weight"));
        assert!(!lora.is_trainable("model.layers.0.self_attn.q_proj.weight"));
        assert!(!lora.is_trainable("model.embed_tokens.weight"));
        let two = parse("{gguf: a.gguf, freeze: 2}");
        assert!(
            !two.is_trainable("model.embed_tokens.weight") && !two.is_trainable("model.layers.1.mlp.up_proj.weight")
        );
        assert!(two.is_trainable("model.layers.2.mlp.up_proj.weight") && two.is_trainable("model.norm.weight"));
        assert!(parse("{gguf: a.gguf}").is_trainable("model.embed_tokens.weight"));
    }
}

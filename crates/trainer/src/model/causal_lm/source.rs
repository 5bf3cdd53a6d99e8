//! Finding and reading a causal LM: its shape ([`LlamaConfig`]), tokenizer and weights, from a
//! GGUF file or a Hugging Face model folder (hub cache or `local_dir`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::CausalLmConfig;
use crate::hub::{self, CacheDir, Downloads, ModelFiles};
use crate::lm_tokenizer::LmTokenizer;
use crate::model::ModelError;
use crate::model::llama::LlamaConfig;
use crate::model::pretrained::{FrozenFn, Pretrained};

/// Where the weights are.
pub enum Weights {
    /// Read already (a GGUF file's tensors, dequantized, in Hugging Face names and layout).
    Loaded {
        /// The GGUF file.
        path: PathBuf,
        /// The tensors.
        tensors: HashMap<String, Tensor>,
    },
    /// One `model.safetensors`.
    Safetensors(PathBuf),
    /// Shards listed by a `model.safetensors.index.json`.
    Sharded(PathBuf),
}

/// A causal LM's config (truncated to `num_hidden_layers`), tokenizer and weights.
pub struct LmSource {
    /// The model's shape, with the blocks kept.
    pub config: LlamaConfig,
    /// Decoder blocks the pretrained model has.
    pub pretrained_layers: usize,
    /// The tokenizer with its special tokens and chat template.
    pub tokenizer: Arc<LmTokenizer>,
    /// The weights.
    pub weights: Weights,
    /// Where it came from, in words.
    pub origin: String,
}

impl LmSource {
    /// The weights as a variable source; `frozen` names the parameters that get no gradient.
    pub fn pretrained(&self, frozen: Arc<FrozenFn>) -> Result<Pretrained, ModelError> {
        match &self.weights {
            Weights::Loaded { path, tensors } => Ok(Pretrained::from_tensors(tensors.clone(), path, frozen)),
            Weights::Safetensors(path) => Pretrained::open(path, frozen),
            Weights::Sharded(index) => Pretrained::open_sharded(index, frozen),
        }
    }
}

/// Finds and reads the model `c` names (the Hugging Face cache from the environment), keeping
/// `num_hidden_layers` blocks.
pub fn prepare(c: &CausalLmConfig, device: &Device) -> Result<LmSource, ModelError> {
    let mut source = match (&c.gguf, c.source()) {
        (Some(path), _) => from_gguf(path, c.num_hidden_layers, device)?,
        (None, Some((src, field))) => {
            let downloads = Downloads::from_settings(c.offline);
            let files = resolve(&src, field, downloads, &CacheDir::from_env())?;
            from_hf(&files)?
        }
        (None, None) => return Err(ModelError::config("model.gguf", "give model.gguf, model.hub or model.local_dir")),
    };
    let layers = c.num_hidden_layers.unwrap_or(source.pretrained_layers);
    if layers > source.pretrained_layers {
        return Err(ModelError::config(
            "model.num_hidden_layers",
            format!("{layers} blocks asked, but the model has {}", source.pretrained_layers),
        ));
    }
    if let Some(super::Freeze::Layers(k)) = c.freeze.filter(|f| matches!(f, super::Freeze::Layers(k) if *k > layers)) {
        return Err(ModelError::config("model.freeze", format!("freezes {k} blocks, but the model has {layers}")));
    }
    source.config.num_hidden_layers = layers;
    Ok(source)
}

fn from_gguf(path: &Path, layers: Option<usize>, device: &Device) -> Result<LmSource, ModelError> {
    let g = crate::model::gguf::load(path, device, layers)?;
    Ok(LmSource {
        pretrained_layers: g.config.num_hidden_layers,
        config: g.config,
        tokenizer: Arc::new(g.tokenizer),
        weights: Weights::Loaded { path: path.to_owned(), tensors: g.tensors },
        origin: format!("{} (GGUF, dequantized to f32)", path.display()),
    })
}

/// The files of a Hugging Face model folder: config, tokenizer, and one weights file or the
/// shards of an index.
fn resolve(
    src: &hub::ModelSource,
    field: &str,
    downloads: Downloads,
    cache: &CacheDir,
) -> Result<ModelFiles, ModelError> {
    let hub_err = |e: Box<hub::HubError>| ModelError::Hub { path: field.to_owned(), source: e };
    let mut files = hub::resolve(src, &["config.json", "tokenizer.json", "tokenizer_config.json"], downloads, cache)
        .map_err(hub_err)?;
    match hub::resolve(src, &["model.safetensors"], downloads, cache) {
        Ok(w) => files.files.extend(w.files),
        Err(single) => {
            let index =
                hub::resolve(src, &["model.safetensors.index.json"], downloads, cache).map_err(|_| hub_err(single))?;
            let index_path = index.files[0].1.clone();
            let shards = shard_names(&index_path)?;
            let names: Vec<&str> = shards.iter().map(String::as_str).collect();
            files.files.extend(index.files);
            files.files.extend(hub::resolve(src, &names, downloads, cache).map_err(hub_err)?.files);
        }
    }
    Ok(files)
}

/// The shard file names of a `model.safetensors.index.json`, each once, sorted.
fn shard_names(index: &Path) -> Result<Vec<String>, ModelError> {
    let bad = |m: String| ModelError::File { path: index.to_owned(), message: m };
    let text = std::fs::read_to_string(index).map_err(|e| bad(format!("cannot read: {e}")))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = v.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| bad("has no `weight_map`".into()))?;
    let mut names: Vec<String> = map.values().filter_map(|f| f.as_str().map(str::to_owned)).collect();
    names.sort();
    names.dedup();
    if let Some(n) = names.iter().find(|n| n.contains('/') || n.contains('\\') || n.starts_with('.')) {
        return Err(bad(format!("shard `{n}` is not a plain file name")));
    }
    Ok(names)
}

fn from_hf(files: &ModelFiles) -> Result<LmSource, ModelError> {
    let get = |name: &str| files.get(name).ok_or_else(|| ModelError::Tensor(format!("{name} was not resolved")));
    let config_path = get("config.json")?;
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| ModelError::File { path: config_path.to_owned(), message: format!("cannot read: {e}") })?;
    let config: LlamaConfig = serde_json::from_str(&text).map_err(|e| ModelError::File {
        path: config_path.to_owned(),
        message: format!("not a Llama config.json: {e}"),
    })?;
    if config.model_type != "llama" {
        return Err(ModelError::File {
            path: config_path.to_owned(),
            message: format!("model_type `{}` is not supported; supported: llama", config.model_type),
        });
    }
    let dir = config_path.parent().unwrap_or(Path::new("."));
    let tokenizer = LmTokenizer::from_hf_dir(dir)?;
    let weights = match (files.get("model.safetensors"), files.get("model.safetensors.index.json")) {
        (Some(p), _) => Weights::Safetensors(p.to_owned()),
        (None, Some(index)) => Weights::Sharded(index.to_owned()),
        (None, None) => return Err(ModelError::Tensor("model weights were not resolved".into())),
    };
    Ok(LmSource {
        pretrained_layers: config.num_hidden_layers,
        config,
        tokenizer: Arc::new(tokenizer),
        weights,
        origin: files.origin.clone(),
    })
}

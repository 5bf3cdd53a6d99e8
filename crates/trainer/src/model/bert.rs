//! `model: {kind: bert_classifier}`: a BERT encoder with pretrained weights from the Hugging Face
//! hub/cache or a folder, and a new linear classification head on the mean-pooled (or `[CLS]`)
//! token states. The encoder is [`super::bert_encoder`], which computes what candle-transformers'
//! `BertModel` computes but can be trained (see there why candle-transformers' cannot).
//!
//! Parameters keep the Hugging Face names of the weights file (`embeddings.word_embeddings.weight`,
//! `encoder.layer.3.attention.self.query.weight`, …; a file with a `bert.` prefix keeps it), the
//! head is `classifier.weight`/`classifier.bias` (`N(0, initializer_range²)` and zeros, as
//! `transformers` initialises it), so a checkpoint's `model.safetensors` loads in Python.
//! In training the encoder applies the model's own dropout (`config.json`); `dropout` acts on
//! the pooled vector before the head.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::FieldIssue;
use crate::hub::ModelSource;
use crate::model::lora::LoraConfig;

/// How token states become one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean over the real (unpadded) tokens, as sentence-transformers does.
    #[default]
    Mean,
    /// The first token's (`[CLS]`) state.
    Cls,
}

/// Which pretrained parameters are not trained (left out of the optimizer, no gradients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freeze {
    /// The embeddings (`embeddings.*`).
    Embeddings,
    /// The embeddings and the first `k` encoder layers (`encoder.layer.0..k`).
    Layers(usize),
    /// The whole encoder: only the head trains (a linear probe).
    Encoder,
}

impl Serialize for Freeze {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Freeze::Embeddings => s.serialize_str("embeddings"),
            Freeze::Encoder => s.serialize_str("encoder"),
            Freeze::Layers(k) => s.serialize_u64(*k as u64),
        }
    }
}

impl<'de> Deserialize<'de> for Freeze {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Freeze;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`embeddings`, `encoder`, or a number k of layers (the embeddings and the first k layers)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Freeze, E> {
                match v {
                    "embeddings" => Ok(Freeze::Embeddings),
                    "encoder" => Ok(Freeze::Encoder),
                    other => other
                        .parse()
                        .map(Freeze::Layers)
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Freeze, E> {
                usize::try_from(v).map(Freeze::Layers).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Freeze, E> {
                usize::try_from(v).map(Freeze::Layers).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Freeze {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Freeze".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`embeddings`, `encoder` (only the head trains), or k: the embeddings and the first k encoder layers.",
            "anyOf": [{"enum": ["embeddings", "encoder"]}, {"type": "integer", "minimum": 0}]
        })
    }
}

impl Freeze {
    /// Whether parameter `name` (a Hugging Face BERT name, with or without a `bert.` prefix)
    /// is frozen.
    pub fn covers(self, name: &str) -> bool {
        let name = name.strip_prefix("bert.").unwrap_or(name);
        let embeddings = name.starts_with("embeddings.");
        match self {
            Freeze::Embeddings => embeddings,
            Freeze::Layers(k) => {
                embeddings || (name.starts_with("encoder.") && crate::optim::layer_index(name).is_some_and(|i| i < k))
            }
            Freeze::Encoder => embeddings || name.starts_with("encoder."),
        }
    }
}

/// `kind: bert_classifier`.
///
/// ```yaml
/// model: {kind: bert_classifier, hub: sentence-transformers/all-MiniLM-L6-v2, num_labels: 2}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BertClassifierConfig {
    /// Hugging Face hub model id (`org/name`), looked up in the Hugging Face cache and
    /// downloaded into it when missing. Give this or `local_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
    /// Hub revision: a branch, a tag or a 40-hex commit (default `main`).
    #[serde(default = "default_revision")]
    pub revision: String,
    /// A folder with `config.json`, `model.safetensors` and `tokenizer.json`, instead of `hub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_dir: Option<String>,
    /// Never use the network: only the Hugging Face cache (default false; `HF_HUB_OFFLINE=1`
    /// does the same).
    #[serde(default)]
    pub offline: bool,
    /// Number of classes of the new head (>= 2).
    pub num_labels: usize,
    /// `mean` (default) or `cls`.
    #[serde(default)]
    pub pooling: Pooling,
    /// Longest tokenized text, special tokens included (default 128; at most the model's
    /// `max_position_embeddings`); longer texts are truncated. Batches are padded to their
    /// longest text.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Keep only the first this many encoder layers (default: all of the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_hidden_layers: Option<usize>,
    /// Parameters left untrained: `embeddings`, `encoder`, or k (the embeddings and the first k
    /// layers). Default: everything trains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<Freeze>,
    /// Dropout on the pooled vector before the head, in `[0, 1)` (default: the model's
    /// `classifier_dropout`, else its `hidden_dropout_prob`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
    /// LoRA adapters on the encoder's linear layers (targets among `query`, `key`, `value`,
    /// `dense`; default `[query, value]`): the whole encoder is frozen (whatever `freeze`
    /// says) and only the adapters and the new head train. Absent: no adapters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraConfig>,
}

fn default_revision() -> String {
    "main".to_owned()
}
fn default_max_len() -> usize {
    128
}

/// The files a `bert_classifier` reads.
pub const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

impl BertClassifierConfig {
    /// Where the model comes from, and the config field that says so.
    pub fn source(&self) -> Option<(ModelSource, &'static str)> {
        match (&self.hub, &self.local_dir) {
            (Some(repo), None) => {
                Some((ModelSource::Hub { repo: repo.clone(), revision: self.revision.clone() }, "model.hub"))
            }
            (None, Some(dir)) => Some((ModelSource::Local(dir.into()), "model.local_dir")),
            _ => None,
        }
    }

    /// Whether parameter `name` is frozen by `freeze`.
    pub fn is_frozen(&self, name: &str) -> bool {
        self.freeze.is_some_and(|f| f.covers(name))
    }

    /// Problems found without reading the model.
    pub fn issues(&self) -> Vec<FieldIssue> {
        let mut out = Vec::new();
        match (&self.hub, &self.local_dir) {
            (None, None) => {
                out.push(FieldIssue::new("model.hub", "give model.hub (a hub model id) or model.local_dir (a folder)"))
            }
            (Some(_), Some(_)) => {
                out.push(FieldIssue::new("model.local_dir", "give either model.hub or model.local_dir, not both"))
            }
            (Some(id), None) => {
                if let Err(m) = crate::hub::check_repo_id(id) {
                    out.push(FieldIssue::new("model.hub", m));
                }
            }
            (None, Some(d)) if d.trim().is_empty() => out.push(FieldIssue::new("model.local_dir", "must not be empty")),
            (None, Some(_)) => {}
        }
        if self.revision.trim().is_empty() || self.revision.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            out.push(FieldIssue::new("model.revision", format!("`{}` is not a branch, tag or commit", self.revision)));
        }
        if self.num_labels < 2 {
            out.push(FieldIssue::new("model.num_labels", format!("must be >= 2 (got {})", self.num_labels)));
        }
        if self.max_len < 2 {
            out.push(FieldIssue::new(
                "model.max_len",
                format!("must be >= 2, room for [CLS] and [SEP] (got {})", self.max_len),
            ));
        }
        if self.num_hidden_layers == Some(0) {
            out.push(FieldIssue::new("model.num_hidden_layers", "must be >= 1"));
        }
        if let Some(p) = self.dropout.filter(|p| !(p.is_finite() && (0.0..1.0).contains(p))) {
            out.push(FieldIssue::new("model.dropout", format!("must be in [0, 1) (got {p})")));
        }
        if let Some(l) = &self.lora {
            out.extend(l.issues());
        }
        out
    }
}

#[cfg(feature = "hub")]
pub use imp::{BertClassifier, prepare, prepare_in};

#[cfg(feature = "hub")]
mod imp {
    use std::path::Path;
    use std::sync::Arc;

    use candle_core::{DType, Device, Module, Tensor};
    use candle_nn::{Linear, VarMap};

    use super::{BertClassifierConfig, FILES, Freeze, Pooling};
    use crate::data::Inputs;
    use crate::hub::{self, CacheDir, Downloads, ModelFiles};
    use crate::model::bert_encoder::{self, BertConfig as Config, BertEncoder};
    use crate::model::lora::{LoraBuilder, is_adapter_param};
    use crate::model::pretrained::{FrozenFn, Pretrained};
    use crate::model::{Model, ModelError, Prepared, dropout, init};
    use crate::rng::Rng;
    use crate::tokenize::TextTokenizer;

    fn file<'a>(files: &'a ModelFiles, name: &str) -> Result<&'a Path, ModelError> {
        files.get(name).ok_or_else(|| ModelError::Tensor(format!("{name} was not resolved")))
    }

    fn read_config(path: &Path) -> Result<Config, ModelError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ModelError::File { path: path.to_owned(), message: format!("cannot read: {e}") })?;
        let config: Config = serde_json::from_str(&text)
            .map_err(|e| ModelError::File { path: path.to_owned(), message: format!("not a BERT config.json: {e}") })?;
        match config.unsupported() {
            Some(what) => {
                Err(ModelError::File { path: path.to_owned(), message: format!("unsupported BERT variant: {what}") })
            }
            None => Ok(config),
        }
    }

    /// Finds the model's files (the Hugging Face cache from the environment) and loads its
    /// tokenizer; checks `max_len`, `num_hidden_layers` and `freeze` against its `config.json`.
    pub fn prepare(c: &BertClassifierConfig) -> Result<Prepared, ModelError> {
        prepare_in(c, &CacheDir::from_env(), Downloads::from_settings(c.offline))
    }

    /// [`prepare`] with an explicit cache and download policy.
    pub fn prepare_in(
        c: &BertClassifierConfig,
        cache: &CacheDir,
        downloads: Downloads,
    ) -> Result<Prepared, ModelError> {
        let (source, field) =
            c.source().ok_or_else(|| ModelError::config("model.hub", "give model.hub or model.local_dir"))?;
        let files = hub::resolve(&source, &FILES, downloads, cache)
            .map_err(|e| ModelError::Hub { path: field.to_owned(), source: e })?;
        let config = read_config(file(&files, "config.json")?)?;
        if c.max_len > config.max_position_embeddings {
            return Err(ModelError::config(
                "model.max_len",
                format!(
                    "{} is longer than the model's {} positions (max_position_embeddings)",
                    c.max_len, config.max_position_embeddings
                ),
            ));
        }
        let layers = c.num_hidden_layers.unwrap_or(config.num_hidden_layers);
        if layers > config.num_hidden_layers {
            return Err(ModelError::config(
                "model.num_hidden_layers",
                format!("{layers} layers asked, but the model has {}", config.num_hidden_layers),
            ));
        }
        if let Some(Freeze::Layers(k)) = c.freeze.filter(|f| matches!(f, Freeze::Layers(k) if *k > layers)) {
            return Err(ModelError::config(
                "model.freeze",
                format!("freezes {k} layers, but the encoder has {layers}"),
            ));
        }
        let tokenizer_path = file(&files, "tokenizer.json")?;
        let pad = u32::try_from(config.pad_token_id).unwrap_or(0);
        let tokenizer = TextTokenizer::from_file(tokenizer_path, c.max_len, pad)
            .map_err(|message| ModelError::File { path: tokenizer_path.to_owned(), message })?;
        Ok(Prepared { files: Some(files), encoder: Some(Arc::new(tokenizer)), ..Prepared::default() })
    }

    /// The built classifier.
    pub struct BertClassifier {
        bert: BertEncoder,
        classifier: Linear,
        pooling: Pooling,
        dropout: f64,
        freeze: Option<Freeze>,
        lora: bool,
        layers: usize,
        hidden: usize,
    }

    impl BertClassifier {
        /// Builds the encoder from `files` (truncated to `num_hidden_layers`), its weights
        /// registered in `varmap` under their file names, and a new head of `num_labels`
        /// outputs initialised from `rng`.
        pub fn load(
            c: &BertClassifierConfig,
            files: &ModelFiles,
            varmap: &VarMap,
            rng: &mut Rng,
            device: &Device,
        ) -> Result<Self, ModelError> {
            let mut config = read_config(file(files, "config.json")?)?;
            if let Some(n) = c.num_hidden_layers {
                config.num_hidden_layers = n;
            }
            let weights = file(files, "model.safetensors")?;
            let (freeze, lora) = (c.freeze, c.lora.is_some());
            // With LoRA the whole encoder (every tensor of the file) is frozen.
            let frozen: Arc<FrozenFn> = Arc::new(move |name: &str| lora || freeze.is_some_and(|f| f.covers(name)));
            let (vb, taken) = Pretrained::open(weights, frozen)?.builder(device);
            // A file whose names carry a `bert.` prefix (BertFor… checkpoints) keeps it.
            let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
            let mut adapters = match &c.lora {
                Some(l) => Some(LoraBuilder::new(
                    l,
                    &bert_encoder::LINEAR_MODULES,
                    &bert_encoder::DEFAULT_TARGETS,
                    varmap,
                    rng,
                )?),
                None => None,
            };
            let bert = BertEncoder::load_with_lora(&config, vb, adapters.as_mut())
                .map_err(|e| ModelError::File { path: weights.to_owned(), message: crate::device::first_line(&e) })?;
            taken.into_varmap(varmap)?;
            let h = config.hidden_size;
            let w =
                init::normal(varmap, "classifier.weight", &[c.num_labels, h], config.initializer_range, rng, device)?;
            let b = init::normal(varmap, "classifier.bias", &[c.num_labels], 0.0, rng, device)?;
            let dropout = c.dropout.or(config.classifier_dropout).unwrap_or(config.hidden_dropout_prob);
            Ok(Self {
                bert,
                classifier: Linear::new(w, Some(b)),
                pooling: c.pooling,
                dropout,
                freeze,
                lora,
                layers: config.num_hidden_layers,
                hidden: h,
            })
        }

        /// The pooled text vectors `[batch, hidden]` (mean over the mask, or `[CLS]`), before
        /// dropout and the head; `train` applies the encoder's dropout with masks from `rng`.
        pub fn pooled(
            &self,
            ids: &Tensor,
            type_ids: &Tensor,
            mask: &Tensor,
            train: bool,
            rng: &mut Rng,
        ) -> candle_core::Result<Tensor> {
            let states = self.bert.forward(ids, type_ids, mask, train, rng)?;
            match self.pooling {
                Pooling::Cls => states.narrow(1, 0, 1)?.squeeze(1),
                Pooling::Mean => {
                    let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                    let sum = states.broadcast_mul(&m)?.sum(1)?;
                    sum.broadcast_div(&m.sum(1)?.maximum(1e-9)?)
                }
            }
        }

        /// Encoder layers kept.
        pub fn layers(&self) -> usize {
            self.layers
        }

        /// Width of the pooled vector.
        pub fn hidden_size(&self) -> usize {
            self.hidden
        }
    }

    impl Model for BertClassifier {
        fn forward(&self, inputs: &Inputs, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor> {
            let Inputs::Tokens { ids, type_ids, mask } = inputs else {
                return Err(candle_core::Error::Msg(
                    "model.kind = bert_classifier needs text data (data.kind = text_classification)".into(),
                ));
            };
            let pooled = self.pooled(ids, type_ids, mask, train, rng)?;
            self.classifier.forward(&dropout(&pooled, self.dropout, train, rng)?)
        }

        fn is_trainable(&self, name: &str) -> bool {
            if self.lora {
                return is_adapter_param(name) || name.starts_with("classifier.");
            }
            !self.freeze.is_some_and(|f| f.covers(name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_parses_and_covers_the_right_parameters() {
        let f = |y: &str| {
            serde_saphyr::from_str::<BertClassifierConfig>(&format!("{{hub: a/b, num_labels: 2, freeze: {y}}}"))
                .map(|c| c.freeze)
        };
        assert_eq!(f("embeddings").unwrap(), Some(Freeze::Embeddings));
        assert_eq!(f("encoder").unwrap(), Some(Freeze::Encoder));
        assert_eq!(f("2").unwrap(), Some(Freeze::Layers(2)));
        let e = f("everything").unwrap_err().to_string();
        assert!(e.contains("`embeddings`, `encoder`, or a number k of layers"), "{e}");
        let l2 = Freeze::Layers(2);
        assert!(l2.covers("embeddings.word_embeddings.weight") && l2.covers("encoder.layer.1.output.dense.bias"));
        assert!(!l2.covers("encoder.layer.2.output.dense.bias") && !l2.covers("classifier.weight"));
        assert!(Freeze::Layers(1).covers("bert.encoder.layer.0.attention.self.query.weight"));
        assert!(
            Freeze::Encoder.covers("encoder.layer.5.output.LayerNorm.weight")
                && !Freeze::Encoder.covers("classifier.bias")
        );
        assert!(!Freeze::Embeddings.covers("encoder.layer.0.output.dense.bias"));
        assert_eq!(serde_json::to_string(&Freeze::Layers(3)).unwrap(), "3");
    }

    #[cfg(feature = "hub")]
    #[test]
    #[ignore = "needs assets: run scripts/fetch-assets.sh"]
    fn lora_freezes_the_encoder_and_trains_adapters_and_head() {
        use crate::hub::{CacheDir, Downloads, Offline};
        use crate::model::Model;
        use crate::rng::Rng;
        use candle_core::{Device, Tensor};
        use candle_nn::VarMap;

        let assets = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
        let cache = CacheDir { path: assets.join("hf/hub"), from: "HF_HUB_CACHE" };
        let c = |extra: &str| -> BertClassifierConfig {
            serde_saphyr::from_str(&format!(
                "{{hub: sentence-transformers/all-MiniLM-L6-v2, num_labels: 2, num_hidden_layers: 2{extra}}}"
            ))
            .unwrap()
        };
        let (plain, lora) = (c(""), c(", lora: {r: 4, alpha: 8, target_modules: [query, value, dense]}"));
        assert!(lora.issues().is_empty());
        let files = prepare_in(&lora, &cache, Downloads::Off(Offline::Config)).unwrap().files.unwrap();
        let base = BertClassifier::load(&plain, &files, &VarMap::new(), &mut Rng::new(0), &Device::Cpu).unwrap();
        let varmap = VarMap::new();
        let model = BertClassifier::load(&lora, &files, &varmap, &mut Rng::new(0), &Device::Cpu).unwrap();
        let ids = Tensor::new(&[[101u32, 1996, 4937, 102]], &Device::Cpu).unwrap();
        let (types, mask) = (ids.zeros_like().unwrap(), ids.ones_like().unwrap());
        let pooled = |m: &BertClassifier| m.pooled(&ids, &types, &mask, false, &mut Rng::new(1)).unwrap();
        let diff = (pooled(&base) - pooled(&model)).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "B = 0: the adapted encoder is the base encoder");
        let inputs = crate::data::Inputs::Tokens { ids: ids.clone(), type_ids: types.clone(), mask: mask.clone() };
        let out = Model::forward(&model, &inputs, true, &mut Rng::new(1)).unwrap();
        let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let data = varmap.data().lock().unwrap();
        // 2 layers x 5 adapted modules (query, value, 3 dense) x (A, B).
        assert_eq!(data.keys().filter(|n| n.contains(".lora_")).count(), 20);
        for (name, var) in data.iter() {
            let trains = name.contains(".lora_") || name.starts_with("classifier.");
            assert_eq!(model.is_trainable(name), trains, "{name}");
            // B = 0 gives A a zero gradient, but a gradient all the same.
            assert_eq!(grads.get(var.as_tensor()).is_some(), trains, "{name}");
        }
    }

    #[cfg(feature = "hub")]
    #[test]
    #[ignore = "needs assets: run scripts/fetch-assets.sh"]
    fn a_minilm_training_step_with_fused_ops_gives_the_composed_gradients() {
        use crate::hub::{CacheDir, Downloads, Offline};
        use crate::model::Model;
        use crate::rng::Rng;
        use candle_core::{Device, Tensor};
        use candle_nn::VarMap;

        // all-MiniLM-L6-v2 as the shipped fine-tune trains it (6 layers, embeddings frozen,
        // dropout on), one padded batch: every trainable gradient, fused against composed ops.
        let assets = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
        let cache = CacheDir { path: assets.join("hf/hub"), from: "HF_HUB_CACHE" };
        let c: BertClassifierConfig = serde_saphyr::from_str(
            "{hub: sentence-transformers/all-MiniLM-L6-v2, num_labels: 2, freeze: embeddings, dropout: 0.1}",
        )
        .unwrap();
        let files = prepare_in(&c, &cache, Downloads::Off(Offline::Config)).unwrap().files.unwrap();
        let varmap = VarMap::new();
        let model = BertClassifier::load(&c, &files, &varmap, &mut Rng::new(0), &Device::Cpu).unwrap();
        let ids = Tensor::new(
            &[[101u32, 1996, 4937, 2001, 2307, 102, 0], [101, 6659, 3185, 999, 2200, 2919, 102]],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]], &Device::Cpu).unwrap();
        let inputs = crate::data::Inputs::Tokens { ids: ids.clone(), type_ids: ids.zeros_like().unwrap(), mask };
        let step = || {
            let out = Model::forward(&model, &inputs, true, &mut Rng::new(3)).unwrap();
            let w = Tensor::new(&[[0.7f32, -1.3], [-0.4, 1.1]], &Device::Cpu).unwrap();
            (out * w).unwrap().sum_all().unwrap().backward().unwrap()
        };
        let fused = step();
        let composed = crate::ops::composed_only(step);
        let data = varmap.data().lock().unwrap();
        let trained: Vec<_> = data.iter().filter(|(name, _)| model.is_trainable(name)).collect();
        assert!(trained.len() > 90, "{} trainable tensors", trained.len());
        let worst = crate::ops::testing::worst_gradient_difference(&fused, &composed, trained);
        eprintln!("worst MiniLM gradient rel err, fused against composed: {worst:?}");
        assert!(worst.0 <= 1e-5, "{worst:?}");
    }

    #[test]
    fn config_issues_have_field_paths() {
        let c: BertClassifierConfig =
            serde_saphyr::from_str("{num_labels: 1, max_len: 1, num_hidden_layers: 0, dropout: 1.5, revision: ''}")
                .unwrap();
        let paths: Vec<String> = c.issues().into_iter().map(|i| i.path).collect();
        assert_eq!(
            paths,
            [
                "model.hub",
                "model.revision",
                "model.num_labels",
                "model.max_len",
                "model.num_hidden_layers",
                "model.dropout"
            ]
        );
        let c: BertClassifierConfig =
            serde_saphyr::from_str("{hub: 'not a/valid/id', local_dir: x, num_labels: 2}").unwrap();
        assert_eq!(c.issues()[0].path, "model.local_dir");
        let c: BertClassifierConfig =
            serde_saphyr::from_str("{hub: sentence-transformers/all-MiniLM-L6-v2, num_labels: 2}").unwrap();
        assert!(c.issues().is_empty());
        assert_eq!((c.revision.as_str(), c.max_len, c.pooling), ("main", 128, Pooling::Mean));
    }
}

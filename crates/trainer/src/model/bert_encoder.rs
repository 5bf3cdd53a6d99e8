//! A trainable BERT encoder (Hugging Face `BertModel` without the pooler), parameter for
//! parameter and name for name the model of `transformers` and of candle-transformers.
//!
//! Why not candle-transformers' `BertModel`: it normalises with candle-nn's fused `LayerNorm`,
//! a custom op without a backward pass (`apply_op3_no_bwd`), so no gradient reaches any encoder
//! weight below the last normalisation: fine-tuning it trains only the head (measured: every
//! encoder weight bit-identical after 300 steps). This encoder computes the same function
//! (checked against candle-transformers to 1e-5 in the tests) with a differentiable layer norm,
//! and applies the model's own dropout (`hidden_dropout_prob`,
//! `attention_probs_dropout_prob`) in training, as `transformers` does.
//!
//! Layer norm, the attention softmax and the erf GELU run as the trainer's fused ops
//! ([`crate::ops`]: one kernel and a hand-written backward each on f32 CPU tensors, the composed
//! primitives elsewhere); the tests check a training step's gradients against the composed path.
//!
//! With LoRA ([`BertEncoder::load_with_lora`]) every pretrained weight is held detached
//! (frozen) and the targeted linear layers (`query`, `key`, `value`, `dense`: the last name
//! component, as PEFT matches them) carry trainable adapters.

use candle_core::{D, DType, Module, Tensor};
use candle_nn::{Embedding, VarBuilder};
use serde::Deserialize;

use super::dropout;
use super::lora::{LoraBuilder, LoraLinear};
use crate::ops;
use crate::rng::Rng;

/// The linear modules of a BERT layer LoRA may target (`dense` names the attention output,
/// intermediate and output layers alike).
pub const LINEAR_MODULES: [&str; 4] = ["query", "key", "value", "dense"];

/// LoRA's default targets on BERT (PEFT's default for `bert`).
pub const DEFAULT_TARGETS: [&str; 2] = ["query", "value"];

/// The fields of a BERT `config.json` the encoder uses (others are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the token states.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// `gelu` (erf), `gelu_new`/`gelu_pytorch_tanh` (tanh approximation) or `relu`.
    #[serde(default)]
    pub hidden_act: HiddenAct,
    /// Dropout on embeddings and layer outputs in training.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention probabilities in training.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Positions the model knows.
    pub max_position_embeddings: usize,
    /// Token types (segments).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Standard deviation of the initialisation of new weights (the head).
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// Layer norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Dropout before a classification head (`None`: `hidden_dropout_prob`).
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    /// `absolute` (the only kind supported).
    #[serde(default = "default_position_kind")]
    pub position_embedding_type: String,
}

/// The feed-forward activation of `config.json`'s `hidden_act`, parsed once at load.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(from = "String")]
pub enum HiddenAct {
    /// `gelu`: the exact (erf) GELU.
    #[default]
    Gelu,
    /// `gelu_new` or `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
    /// Any other name: the model is refused ([`BertConfig::unsupported`]).
    Unsupported(String),
}

impl From<String> for HiddenAct {
    fn from(name: String) -> Self {
        match name.as_str() {
            "gelu" => HiddenAct::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => HiddenAct::GeluTanh,
            "relu" => HiddenAct::Relu,
            _ => HiddenAct::Unsupported(name),
        }
    }
}

impl From<&str> for HiddenAct {
    fn from(name: &str) -> Self {
        HiddenAct::from(name.to_owned())
    }
}
fn default_dropout() -> f64 {
    0.1
}
fn default_type_vocab() -> usize {
    2
}
fn default_init_range() -> f64 {
    0.02
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_kind() -> String {
    "absolute".to_owned()
}

impl BertConfig {
    /// What this encoder cannot run, if anything.
    pub fn unsupported(&self) -> Option<String> {
        if self.position_embedding_type != "absolute" {
            return Some(format!(
                "position_embedding_type `{}` (only `absolute` is supported)",
                self.position_embedding_type
            ));
        }
        if let HiddenAct::Unsupported(name) = &self.hidden_act {
            return Some(format!("hidden_act `{name}` (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)"));
        }
        if self.num_attention_heads == 0
            || self.hidden_size / self.num_attention_heads * self.num_attention_heads != self.hidden_size
        {
            return Some(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        None
    }
}

/// Layer norm over the last dimension with a backward pass ([`crate::ops::layer_norm`]).
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn load(size: usize, eps: f64, vb: VarBuilder, frozen: bool) -> candle_core::Result<Self> {
        let hold = |t: Tensor| if frozen { t.detach() } else { t };
        let weight = hold(vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?);
        Ok(Self { weight, bias: hold(vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?), eps })
    }

    fn forward(&self, x: &Tensor, fused: bool) -> candle_core::Result<Tensor> {
        if fused {
            ops::layer_norm(x, &self.weight, &self.bias, self.eps)
        } else {
            ops::layer_norm::layer_norm_composed(x, &self.weight, &self.bias, self.eps)
        }
    }
}

/// One encoder layer: self-attention and feed-forward, each with a residual and a layer norm.
struct Layer {
    query: LoraLinear,
    key: LoraLinear,
    value: LoraLinear,
    attn_out: LoraLinear,
    attn_norm: LayerNorm,
    intermediate: LoraLinear,
    output: LoraLinear,
    out_norm: LayerNorm,
}

impl Layer {
    fn load(c: &BertConfig, vb: VarBuilder, mut lora: Option<&mut LoraBuilder>) -> candle_core::Result<Self> {
        let (h, i, eps, frozen) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps, lora.is_some());
        let (att, out) = (vb.pp("attention"), vb.pp("output"));
        let mut linear =
            |vb: VarBuilder, inputs, outputs| LoraLinear::load(vb, inputs, outputs, true, lora.as_deref_mut());
        Ok(Self {
            query: linear(att.pp("self").pp("query"), h, h)?,
            key: linear(att.pp("self").pp("key"), h, h)?,
            value: linear(att.pp("self").pp("value"), h, h)?,
            attn_out: linear(att.pp("output").pp("dense"), h, h)?,
            attn_norm: LayerNorm::load(h, eps, att.pp("output").pp("LayerNorm"), frozen)?,
            intermediate: linear(vb.pp("intermediate").pp("dense"), h, i)?,
            output: linear(out.pp("dense"), i, h)?,
            out_norm: LayerNorm::load(h, eps, out.pp("LayerNorm"), frozen)?,
        })
    }

    fn linears(&self) -> [&LoraLinear; 6] {
        [&self.query, &self.key, &self.value, &self.attn_out, &self.intermediate, &self.output]
    }
}

/// The encoder: embeddings and `num_hidden_layers` layers.
pub struct BertEncoder {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    act: HiddenAct,
    hidden_dropout: f64,
    attention_dropout: f64,
    /// The fused ops (always, outside the tests that compare them with the composed ones).
    fused: bool,
}

impl BertEncoder {
    /// Builds the encoder from `vb` under the Hugging Face names (`embeddings.*`,
    /// `encoder.layer.<i>.*`).
    pub fn load(c: &BertConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        Self::load_with_lora(c, vb, None)
    }

    /// [`BertEncoder::load`] with LoRA adapters on the modules `lora` targets (their variables
    /// created by the builder); with `lora`, every pretrained weight is held detached.
    pub fn load_with_lora(
        c: &BertConfig,
        vb: VarBuilder,
        mut lora: Option<&mut LoraBuilder>,
    ) -> candle_core::Result<Self> {
        let (h, frozen) = (c.hidden_size, lora.is_some());
        let emb = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::load(c, vb.pp(format!("encoder.layer.{i}")), lora.as_deref_mut()))
            .collect::<candle_core::Result<_>>()?;
        let embedding = |n: usize, name: &str| -> candle_core::Result<Embedding> {
            let w = emb.pp(name).get_with_hints((n, h), "weight", candle_nn::Init::Randn { mean: 0.0, stdev: 1.0 })?;
            Ok(Embedding::new(if frozen { w.detach() } else { w }, h))
        };
        Ok(Self {
            word: embedding(c.vocab_size, "word_embeddings")?,
            position: embedding(c.max_position_embeddings, "position_embeddings")?,
            token_type: embedding(c.type_vocab_size, "token_type_embeddings")?,
            embed_norm: LayerNorm::load(h, c.layer_norm_eps, emb.pp("LayerNorm"), frozen)?,
            layers,
            heads: c.num_attention_heads,
            act: c.hidden_act.clone(),
            hidden_dropout: c.hidden_dropout_prob,
            attention_dropout: c.attention_probs_dropout_prob,
            fused: true,
        })
    }

    /// The weights of the layers that carry an adapter, with it folded in (`W + s · B A`), under
    /// their file names (`encoder.layer.0.attention.self.query.weight`, …): what replaces the
    /// frozen base weights in a merged export. Empty without LoRA.
    pub fn merged_adapted_weights(&self) -> candle_core::Result<Vec<(String, Tensor)>> {
        let adapted = self.layers.iter().flat_map(Layer::linears).filter(|l| l.adapter().is_some());
        adapted.map(|l| Ok((format!("{}.weight", l.name()), l.merged()?))).collect()
    }

    fn act(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self.act {
            HiddenAct::Relu => x.relu(),
            HiddenAct::GeluTanh => x.gelu(),
            HiddenAct::Gelu | HiddenAct::Unsupported(_) if self.fused => ops::gelu_erf(x),
            HiddenAct::Gelu | HiddenAct::Unsupported(_) => x.gelu_erf(),
        }
    }

    /// Token states `[batch, seq, hidden]` of `ids`, `type_ids` and `mask` (u32 `[batch, seq]`,
    /// mask 1 = token, 0 = padding); `train` applies dropout with masks from `rng`.
    pub fn forward(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
        train: bool,
        rng: &mut Rng,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let positions = Tensor::arange(0u32, t as u32, ids.device())?;
        let x = self
            .word
            .forward(ids)?
            .add(&self.token_type.forward(type_ids)?)?
            .broadcast_add(&self.position.forward(&positions)?)?;
        let mut x =
            cut_graph(dropout(&self.embed_norm.forward(&x, self.fused)?, self.hidden_dropout, train, rng)?, train);
        // Additive mask over the keys: 0 for tokens, f32::MIN for padding, as candle-transformers.
        let bias = ((mask.to_dtype(DType::F32)?.affine(-1.0, 1.0)?) * f64::from(f32::MIN))?.reshape((b, 1, 1, t))?;
        let hd = x.dim(D::Minus1)? / self.heads;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in &self.layers {
            let split = |y: Tensor| y.reshape((b, t, self.heads, hd))?.transpose(1, 2)?.contiguous();
            let q = split(l.query.forward(&x, train, rng)?)?;
            let k = split(l.key.forward(&x, train, rng)?)?;
            let v = split(l.value.forward(&x, train, rng)?)?;
            let scores = q.matmul(&k.t()?)?;
            let probs = if self.fused {
                ops::masked_softmax(&scores, scale, &bias)?
            } else {
                candle_nn::ops::softmax(&(scores * scale)?.broadcast_add(&bias)?, D::Minus1)?
            };
            let probs = dropout(&probs, self.attention_dropout, train, rng)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, t, self.heads * hd))?;
            let attn_out = l.attn_out.forward(&ctx, train, rng)?;
            let attn =
                l.attn_norm.forward(&(dropout(&attn_out, self.hidden_dropout, train, rng)? + &x)?, self.fused)?;
            let ff = l.output.forward(&self.act(&l.intermediate.forward(&attn, train, rng)?)?, train, rng)?;
            let out = l.out_norm.forward(&(dropout(&ff, self.hidden_dropout, train, rng)? + &attn)?, self.fused)?;
            x = cut_graph(out, train);
        }
        Ok(x)
    }
}

/// Outside training, drops the backprop graph behind a layer's output. candle has no `no_grad`:
/// every op on a weight records its inputs, so an evaluation would otherwise keep every
/// intermediate tensor of every layer alive until the logits are dropped (measured: 3.6 GB peak
/// RSS for MiniLM at eval batch 100, against about one layer's worth with the cut).
fn cut_graph(x: Tensor, train: bool) -> Tensor {
    if train { x } else { x.detach() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    fn tiny() -> BertConfig {
        serde_json::from_str(
            r#"{"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
                "intermediate_size": 16, "max_position_embeddings": 12, "hidden_act": "gelu"}"#,
        )
        .unwrap()
    }

    fn batch() -> (Tensor, Tensor, Tensor) {
        let ids = Tensor::new(&[[2u32, 7, 9, 3], [2, 5, 3, 0]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 1], [1, 1, 1, 0]], &Device::Cpu).unwrap();
        (ids.clone(), ids.zeros_like().unwrap(), mask)
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        // The point of this encoder: candle-transformers' BERT passes none below its last
        // LayerNorm (candle-nn's fused layer norm has no backward pass).
        let varmap = VarMap::new();
        let enc = BertEncoder::load(&tiny(), VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        let (ids, types, mask) = batch();
        let out = enc.forward(&ids, &types, &mask, true, &mut Rng::new(1)).unwrap();
        assert_eq!(out.dims(), &[2, 4, 8]);
        let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let data = varmap.data().lock().unwrap();
        assert_eq!(data.len(), 5 + 2 * 16);
        for (name, var) in data.iter() {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            // Only the rows of tokens in the batch get gradient; every tensor gets some.
            assert!(norm > 0.0, "zero gradient for {name}");
        }
    }

    #[test]
    fn a_training_step_with_fused_ops_gives_the_composed_gradients() {
        // Wider than tiny(): rows of 24 (not a multiple of 8), 3 heads, one padded sequence.
        let mut c = tiny();
        (c.hidden_size, c.num_attention_heads, c.intermediate_size) = (24, 3, 40);
        let varmap = VarMap::new();
        let mut enc = BertEncoder::load(&c, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        let (ids, types, mask) = batch();
        let step = |enc: &BertEncoder| {
            let out = enc.forward(&ids, &types, &mask, true, &mut Rng::new(7)).unwrap();
            let w = Tensor::arange(0f32, out.elem_count() as f32, &Device::Cpu).unwrap().reshape(out.shape()).unwrap();
            let loss = (out * (w * 0.37).unwrap().sin().unwrap()).unwrap().sum_all().unwrap();
            loss.backward().unwrap()
        };
        let fused = step(&enc);
        enc.fused = false;
        let composed = step(&enc);
        let data = varmap.data().lock().unwrap();
        let worst = crate::ops::testing::worst_gradient_difference(&fused, &composed, data.iter());
        eprintln!("worst encoder gradient rel err, fused against composed: {worst:?}");
        assert!(worst.0 <= 1e-5, "{worst:?}");
    }

    #[test]
    fn evaluation_keeps_no_graph_behind_the_last_layer() {
        let varmap = VarMap::new();
        let enc = BertEncoder::load(&tiny(), VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        let (ids, types, mask) = batch();
        let mut rng = Rng::new(1);
        let trained = enc.forward(&ids, &types, &mask, true, &mut rng).unwrap();
        let evaluated = enc.forward(&ids, &types, &mask, false, &mut rng).unwrap();
        let data = varmap.data().lock().unwrap();
        let first = data["encoder.layer.0.attention.self.query.weight"].as_tensor();
        let last = data["encoder.layer.1.output.dense.weight"].as_tensor();
        let train_grads = trained.sum_all().unwrap().backward().unwrap();
        assert!(train_grads.get(first).is_some() && train_grads.get(last).is_some());
        // Cut after every layer: nothing reaches back, so intermediates are freed as it goes.
        let eval_grads = evaluated.sum_all().unwrap().backward().unwrap();
        assert!(eval_grads.get(first).is_none() && eval_grads.get(last).is_none());
    }

    #[test]
    fn padding_does_not_change_the_states_of_real_tokens_and_eval_is_deterministic() {
        let varmap = VarMap::new();
        let enc = BertEncoder::load(&tiny(), VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        let (ids, types, mask) = batch();
        let padded = enc.forward(&ids, &types, &mask, false, &mut Rng::new(1)).unwrap();
        let one = |t: &Tensor| t.narrow(0, 1, 1).unwrap().narrow(1, 0, 3).unwrap();
        let alone = enc.forward(&one(&ids), &one(&types), &one(&mask), false, &mut Rng::new(2)).unwrap();
        let diff = (one(&padded) - alone).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn lora_starts_equal_and_trains_only_the_adapters() {
        use crate::model::lora::{LoraBuilder, LoraConfig};
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let plain = BertEncoder::load(&tiny(), vb.clone()).unwrap();
        let lora = LoraConfig { r: 2, alpha: None, dropout: 0.1, target_modules: None, rslora: false };
        let mut rng = Rng::new(3);
        let mut builder = LoraBuilder::new(&lora, &LINEAR_MODULES, &DEFAULT_TARGETS, &varmap, &mut rng).unwrap();
        // The same base variables (already in the map), now with adapters on query and value.
        let adapted = BertEncoder::load_with_lora(&tiny(), vb, Some(&mut builder)).unwrap();
        let (ids, types, mask) = batch();
        let base = plain.forward(&ids, &types, &mask, false, &mut Rng::new(1)).unwrap();
        let same = adapted.forward(&ids, &types, &mask, false, &mut Rng::new(1)).unwrap();
        assert_eq!((base - same).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
        let out = adapted.forward(&ids, &types, &mask, true, &mut Rng::new(1)).unwrap();
        let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let data = varmap.data().lock().unwrap();
        assert_eq!(data.len(), 5 + 2 * 16 + 2 * 2 * 2);
        assert!(data.contains_key("encoder.layer.1.attention.self.value.lora_A.weight"));
        for (name, var) in data.iter() {
            // B is zero at init, so A gets none yet; B does.
            let wants = name.ends_with("lora_B.weight");
            assert_eq!(grads.get(var.as_tensor()).is_some(), wants || name.ends_with("lora_A.weight"), "{name}");
            if wants {
                let g = grads.get(var.as_tensor()).unwrap().abs().unwrap().sum_all().unwrap();
                assert!(g.to_scalar::<f32>().unwrap() > 0.0, "{name}");
            }
        }
        drop(data);
        let merged = adapted.merged_adapted_weights().unwrap();
        assert_eq!(merged.len(), 4);
        assert_eq!(merged[0].0, "encoder.layer.0.attention.self.query.weight");
        let mut rng = Rng::new(3);
        let all = LoraConfig { target_modules: Some(vec!["dense".into()]), ..lora };
        let other = VarMap::new();
        let mut builder = LoraBuilder::new(&all, &LINEAR_MODULES, &DEFAULT_TARGETS, &other, &mut rng).unwrap();
        let dense = BertEncoder::load_with_lora(
            &tiny(),
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
            Some(&mut builder),
        );
        assert_eq!(dense.unwrap().layers[0].linears().iter().filter(|l| l.adapter().is_some()).count(), 3);
    }

    #[test]
    fn unsupported_variants_are_named() {
        let mut c = tiny();
        assert_eq!(c.unsupported(), None);
        c.hidden_act = "swish".into();
        assert!(c.unsupported().unwrap().contains("hidden_act `swish`"));
        c = tiny();
        c.position_embedding_type = "relative_key".into();
        assert!(c.unsupported().unwrap().contains("relative_key"));
    }
}

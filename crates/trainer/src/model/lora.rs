//! LoRA (Hu et al. 2021, as Hugging Face PEFT implements it): a frozen linear layer `W x` gains
//! a trainable low-rank update, `y = W x + s · B (A x)` with `A: [r, in]` (Kaiming-uniform, as
//! PEFT initialises it), `B: [out, r]` (zeros, so the adapted model starts equal to the base),
//! and scale `s = alpha / r` (`alpha / sqrt(r)` with rsLoRA). Dropout (`dropout`) acts on `x`
//! before `A` in training.

use candle_core::{Device, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ModelError, dropout, init};
use crate::FieldIssue;
use crate::rng::Rng;

/// The `lora:` section under `model:`. Absent means a full fine-tune.
///
/// ```yaml
/// lora: {r: 8, alpha: 16, dropout: 0.05, target_modules: [q_proj, v_proj]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank of the update (>= 1).
    pub r: usize,
    /// Scale numerator: the update is multiplied by `alpha / r` (default: `r`, a scale of 1).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Dropout on the adapter's input in training, in `[0, 1)` (default 0).
    #[serde(default)]
    pub dropout: f64,
    /// The linear layers that get an adapter, by their last name component (`q_proj`, `v_proj`
    /// for Llama; `query`, `value` for BERT). Default: the attention query and value projections.
    #[serde(default)]
    pub target_modules: Option<Vec<String>>,
    /// rsLoRA: scale `alpha / sqrt(r)` instead of `alpha / r` (default false).
    #[serde(default)]
    pub rslora: bool,
}

impl LoraConfig {
    /// `alpha` (default `r`).
    pub fn alpha(&self) -> f64 {
        self.alpha.unwrap_or(self.r as f64)
    }

    /// The update's scale: `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    pub fn scale(&self) -> f64 {
        let r = self.r.max(1) as f64;
        if self.rslora { self.alpha() / r.sqrt() } else { self.alpha() / r }
    }

    /// The section's problems that need no file, at `model.lora.…`.
    pub fn issues(&self) -> Vec<FieldIssue> {
        let mut out = Vec::new();
        if self.r == 0 {
            out.push(FieldIssue::new("model.lora.r", "must be >= 1 (got 0)"));
        }
        if let Some(a) = self.alpha {
            out.extend(sched::check::positive("model.lora", "alpha", a).err());
        }
        out.extend(sched::check::in_range("model.lora", "dropout", self.dropout, (0.0, false), (1.0, true)).err());
        if self.target_modules.as_ref().is_some_and(Vec::is_empty) {
            out.push(FieldIssue::new("model.lora.target_modules", "names no module; give at least one"));
        }
        out
    }
}

/// Whether parameter `name` belongs to a LoRA adapter (`….lora_A.weight` / `….lora_B.weight`).
pub fn is_adapter_param(name: &str) -> bool {
    name.contains(".lora_A.") || name.contains(".lora_B.")
}

/// What a model needs to attach adapters while it loads: the config, the resolved target
/// module names, and where the new variables go (the run's [`VarMap`], initial values from the
/// run's [`Rng`], in load order, so a seed fixes them).
pub struct LoraBuilder<'a> {
    config: &'a LoraConfig,
    targets: Vec<String>,
    varmap: &'a VarMap,
    rng: &'a mut Rng,
}

impl<'a> LoraBuilder<'a> {
    /// Resolves `config.target_modules` (default `default`) against `existing`, the linear
    /// module names the architecture has (last name component, as PEFT matches them). A name
    /// that matches none is a [`ModelError::Config`] at `model.lora.target_modules` listing them.
    pub fn new(
        config: &'a LoraConfig,
        existing: &[&str],
        default: &[&str],
        varmap: &'a VarMap,
        rng: &'a mut Rng,
    ) -> Result<Self, ModelError> {
        if config.r == 0 {
            return Err(ModelError::config("model.lora.r", "must be >= 1 (got 0)"));
        }
        let targets: Vec<String> = match &config.target_modules {
            Some(t) => t.clone(),
            None => default.iter().map(|s| (*s).to_owned()).collect(),
        };
        if targets.is_empty() {
            return Err(ModelError::config("model.lora.target_modules", "names no module; give at least one"));
        }
        if let Some(bad) = targets.iter().find(|t| !existing.contains(&t.as_str())) {
            return Err(ModelError::config(
                "model.lora.target_modules",
                format!("`{bad}` matches no module of this model; its linear modules are: {}", existing.join(", ")),
            ));
        }
        Ok(Self { config, targets, varmap, rng })
    }

    /// The resolved target module names.
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// Whether the module at `prefix` (a full name such as `model.layers.0.self_attn.q_proj`)
    /// gets an adapter.
    pub fn wants(&self, prefix: &str) -> bool {
        let last = prefix.rsplit('.').next().unwrap_or(prefix);
        self.targets.iter().any(|t| t == last)
    }

    /// Creates the adapter of module `prefix` (`in_dim` → `out_dim`): `<prefix>.lora_A.weight`
    /// `[r, in]` uniform in `±1/√in` (PEFT's `kaiming_uniform_(a=√5)`) and `<prefix>.lora_B.weight`
    /// `[out, r]` zeros.
    fn adapter(
        &mut self,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        device: &Device,
    ) -> candle_core::Result<Adapter> {
        let r = self.config.r;
        let a = init::uniform(self.varmap, &format!("{prefix}.lora_A.weight"), &[r, in_dim], in_dim, self.rng, device)?;
        let b = init::normal(self.varmap, &format!("{prefix}.lora_B.weight"), &[out_dim, r], 0.0, self.rng, device)?;
        Ok(Adapter { a, b, scale: self.config.scale(), dropout: self.config.dropout })
    }
}

/// A LoRA adapter's trainable pair and its scale.
struct Adapter {
    a: Tensor,
    b: Tensor,
    scale: f64,
    dropout: f64,
}

/// A linear layer `y = x Wᵀ (+ bias)`, with a LoRA update `+ s · dropout(x) Aᵀ Bᵀ` when its
/// module is a target. With a [`LoraBuilder`] the base weight and bias are held detached (no
/// gradient reaches them), whether or not the module is a target.
pub struct LoraLinear {
    name: String,
    base: Linear,
    adapter: Option<Adapter>,
}

impl LoraLinear {
    /// Loads `<vb prefix>.weight` `[out, in]` (and `.bias` `[out]` when `bias`) from `vb`, and
    /// creates the adapter when `lora` targets this module.
    pub fn load(
        vb: VarBuilder,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        lora: Option<&mut LoraBuilder>,
    ) -> candle_core::Result<Self> {
        let name = vb.prefix();
        // The hints (candle-nn's `linear` defaults) only matter to a builder that creates
        // variables (`VarBuilder::from_varmap` in tests); pretrained backends ignore them.
        let mut weight = vb.get_with_hints((out_dim, in_dim), "weight", candle_nn::init::DEFAULT_KAIMING_NORMAL)?;
        let bound = 1.0 / (in_dim.max(1) as f64).sqrt();
        let mut b = if bias {
            Some(vb.get_with_hints(out_dim, "bias", candle_nn::Init::Uniform { lo: -bound, up: bound })?)
        } else {
            None
        };
        let adapter = match lora {
            Some(builder) => {
                weight = weight.detach();
                b = b.map(|t| t.detach());
                if builder.wants(&name) { Some(builder.adapter(&name, in_dim, out_dim, vb.device())?) } else { None }
            }
            None => None,
        };
        Ok(Self { name, base: Linear::new(weight, b), adapter })
    }

    /// `x Wᵀ + b + s · dropout(x) Aᵀ Bᵀ` (`train` enables the adapter's dropout, masks from `rng`).
    pub fn forward(&self, x: &Tensor, train: bool, rng: &mut Rng) -> candle_core::Result<Tensor> {
        // Leading dimensions folded into one: 2-D products, so backprop never builds a
        // per-batch copy of a weight's gradient (as a broadcast weight would).
        let dims = x.dims().to_vec();
        let (last, lead) = dims.split_last().ok_or_else(|| candle_core::Error::Msg("linear of a scalar".into()))?;
        let x = x.reshape((lead.iter().product::<usize>(), *last))?;
        let mut y = x.matmul(&self.base.weight().t()?)?;
        if let Some(b) = self.base.bias() {
            y = crate::ops::add_bias(&y, b)?;
        }
        if let Some(ad) = &self.adapter {
            let x = dropout(&x, ad.dropout, train, rng)?;
            y = (y + (x.matmul(&ad.a.t()?)?.matmul(&ad.b.t()?)? * ad.scale)?)?;
        }
        let mut out = lead.to_vec();
        out.push(y.dim(1)?);
        y.reshape(out)
    }

    /// The module's full name (`model.layers.0.self_attn.q_proj`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base weight `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        self.base.weight()
    }

    /// The base bias, when the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.base.bias()
    }

    /// The adapter's `(A [r, in], B [out, r])`, when the module has one.
    pub fn adapter(&self) -> Option<(&Tensor, &Tensor)> {
        self.adapter.as_ref().map(|a| (&a.a, &a.b))
    }

    /// The weight with the adapter folded in, `W + s · B A` (detached; `W` without an adapter).
    pub fn merged(&self) -> candle_core::Result<Tensor> {
        let w = self.base.weight().detach();
        match &self.adapter {
            Some(ad) => w + (ad.b.detach().matmul(&ad.a.detach())? * ad.scale)?,
            None => Ok(w),
        }
    }
}

/// A checkpoint's tensors with every adapter folded into its module's weight: each
/// `<m>.lora_A.weight` / `<m>.lora_B.weight` pair becomes `<m>.weight += scale · B A`, and the
/// adapter tensors are dropped. An adapter without its pair or its base weight is an error.
pub fn fold_adapters(
    mut tensors: std::collections::HashMap<String, Tensor>,
    scale: f64,
) -> Result<std::collections::HashMap<String, Tensor>, String> {
    let modules: Vec<String> =
        tensors.keys().filter_map(|k| k.strip_suffix(".lora_A.weight").map(str::to_owned)).collect();
    for m in modules {
        let mut take = |suffix: &str| {
            tensors.remove(&format!("{m}.{suffix}")).ok_or_else(|| format!("adapter `{m}` has no `{m}.{suffix}`"))
        };
        let (a, b) = (take("lora_A.weight")?, take("lora_B.weight")?);
        let w = tensors.get(&format!("{m}.weight")).ok_or_else(|| format!("adapter `{m}` has no base weight"))?;
        let merged = (b.matmul(&a).and_then(|ba| ba * scale).and_then(|d| w + d)).map_err(|e| e.to_string())?;
        tensors.insert(format!("{m}.weight"), merged);
    }
    if let Some(k) = tensors.keys().find(|k| is_adapter_param(k)) {
        return Err(format!("adapter tensor `{k}` has no lora_A pair"));
    }
    Ok(tensors)
}

#[cfg(test)]
mod fold_tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn folding_adds_the_scaled_product_and_drops_the_adapters() {
        let dev = Device::Cpu;
        let t = |v: &[f32], s: (usize, usize)| Tensor::from_slice(v, s, &dev).unwrap();
        let map = std::collections::HashMap::from([
            ("l.weight".to_owned(), t(&[1.0, 0.0, 0.0, 1.0], (2, 2))),
            ("l.bias".to_owned(), t(&[5.0, 6.0], (1, 2))),
            ("l.lora_A.weight".to_owned(), t(&[1.0, 2.0], (1, 2))),
            ("l.lora_B.weight".to_owned(), t(&[3.0, 4.0], (2, 1))),
        ]);
        let out = fold_adapters(map.clone(), 0.5).unwrap();
        let mut keys: Vec<&String> = out.keys().collect();
        keys.sort();
        assert_eq!(keys, ["l.bias", "l.weight"]);
        // W + 0.5 · [[3], [4]] [[1, 2]] = [[1 + 1.5, 3], [2, 1 + 4]]
        assert_eq!(out["l.weight"].to_vec2::<f32>().unwrap(), [[2.5, 3.0], [2.0, 5.0]]);
        let mut broken = map;
        broken.remove("l.lora_B.weight");
        assert!(fold_adapters(broken, 1.0).unwrap_err().contains("has no `l.lora_B.weight`"));
    }
}

//! The `optimizer:` section of a run config: serde types that are the single source of truth for
//! names, defaults (PyTorch's) and docs (which become the JSON schema descriptions).
//!
//! ```yaml
//! optimizer: {kind: adamw, lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01}
//! optimizer: {kind: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5e-4}
//! ```

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An optimizer: one `kind` with its hyperparameters and parameter groups.
///
/// Each kind means exactly the PyTorch optimizer of the same name (`torch.optim.SGD`, `Adam`,
/// `AdamW`; non-fused, without `amsgrad`/`maximize`), and its defaults are PyTorch's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// `torch.optim.SGD`: stochastic gradient descent with optional (Nesterov) momentum.
    Sgd(SgdConfig),
    /// `torch.optim.Adam`: weight decay is an L2 term added to the gradient.
    Adam(AdamConfig),
    /// `torch.optim.AdamW`: decoupled weight decay (`p *= 1 − lr·weight_decay` before the update).
    #[serde(rename = "adamw")]
    AdamW(AdamWConfig),
}

/// `kind: sgd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Base learning rate (> 0; default 0.001). The schedule scales it step by step.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Momentum factor in `[0, 1]` (default 0: no momentum buffer). A schedule that cycles
    /// momentum (`cyclic`, `one_cycle`) overrides it step by step.
    #[serde(default)]
    pub momentum: f64,
    /// Dampening of the momentum, in `[0, 1]` (default 0): `buf = momentum·buf + (1 − dampening)·g`
    /// (the first step sets `buf = g`).
    #[serde(default)]
    pub dampening: f64,
    /// Nesterov momentum: step along `g + momentum·buf` (default false; needs `momentum > 0` and
    /// `dampening = 0`).
    #[serde(default)]
    pub nesterov: bool,
    /// L2 penalty added to the gradient, `g + weight_decay·p` (≥ 0; default 0).
    #[serde(default)]
    pub weight_decay: f64,
    /// Parameter groups with their own LR or weight decay (default none: every parameter in the
    /// `default` group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupConfig>,
}

/// `kind: adam` ([`AdamConfig`]) and `kind: adamw` ([`AdamWConfig`]): the same fields, the
/// variant `V` ([`L2`] or [`Decoupled`]) says how weight decay applies and its default.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdamFields<V: AdamVariant> {
    /// Base learning rate (> 0; default 0.001). The schedule scales it step by step.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Decay rates `[beta1, beta2]` of the first and second moment averages, each in `[0, 1)`
    /// (default `[0.9, 0.999]`). A schedule that cycles momentum overrides `beta1` step by step.
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    /// Term added to the denominator for numerical stability (> 0; default 1e-8).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Weight decay (≥ 0): Adam adds the L2 term `g + weight_decay·p` (default 0), AdamW first
    /// does `p *= 1 − lr·weight_decay` with the step's LR (default 0.01). The schema describes
    /// it per kind ([`AdamVariant::WEIGHT_DECAY_DOC`]).
    #[serde(default = "V::default_weight_decay")]
    #[schemars(description = V::WEIGHT_DECAY_DOC)]
    pub weight_decay: f64,
    /// Parameter groups with their own LR or weight decay (default none: every parameter in the
    /// `default` group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupConfig>,
    /// Which of Adam and AdamW: a type-level marker, not a config field.
    #[serde(skip)]
    #[schemars(skip)]
    pub variant: PhantomData<V>,
}

/// `kind: adam`: weight decay is an L2 term added to the gradient (default 0).
pub type AdamConfig = AdamFields<L2>;

/// `kind: adamw`: decoupled weight decay (default 0.01).
pub type AdamWConfig = AdamFields<Decoupled>;

/// How an [`AdamFields`] config applies weight decay: [`L2`] (Adam) or [`Decoupled`] (AdamW).
/// Sealed: these two are the only variants.
pub trait AdamVariant:
    sealed::Sealed + std::fmt::Debug + Clone + Copy + PartialEq + Default + Send + Sync + 'static
{
    /// The `kind:` name (`adam`, `adamw`).
    const KIND: &'static str;
    /// Decoupled weight decay (`p *= 1 − lr·wd`) rather than an L2 term in the gradient.
    const DECOUPLED: bool;
    /// Default `weight_decay` (PyTorch's).
    const DEFAULT_WEIGHT_DECAY: f64;
    /// The JSON schema description of `weight_decay` for this kind.
    const WEIGHT_DECAY_DOC: &'static str;

    /// [`Self::DEFAULT_WEIGHT_DECAY`], as a function for serde's `default`.
    fn default_weight_decay() -> f64 {
        Self::DEFAULT_WEIGHT_DECAY
    }
}

/// Adam's weight decay: an L2 term added to the gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L2;

/// AdamW's decoupled weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decoupled;

mod sealed {
    /// Seals [`super::AdamVariant`]: unnameable on purpose, so no other crate implements it.
    #[allow(unnameable_types)]
    pub trait Sealed {}
    impl Sealed for super::L2 {}
    impl Sealed for super::Decoupled {}
}

impl AdamVariant for L2 {
    const KIND: &'static str = "adam";
    const DECOUPLED: bool = false;
    const DEFAULT_WEIGHT_DECAY: f64 = 0.0;
    const WEIGHT_DECAY_DOC: &'static str = "L2 penalty added to the gradient, `g + weight_decay·p` (≥ 0; default 0).";
}

impl AdamVariant for Decoupled {
    const KIND: &'static str = "adamw";
    const DECOUPLED: bool = true;
    const DEFAULT_WEIGHT_DECAY: f64 = 1e-2;
    const WEIGHT_DECAY_DOC: &'static str = "Decoupled weight decay: each step first does `p *= 1 − lr·weight_decay` (≥ 0; default\n0.01), with the step's LR.";
}

/// A parameter group: the parameters whose name starts with one of its prefixes (and with no
/// prefix of an earlier group) get its LR and weight decay. Parameters matching no group form the
/// `default` group (`optimizer.lr`, `optimizer.weight_decay`).
///
/// In YAML: `{name: encoder, prefix: "encoder.", lr_scale: 0.1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group name, unique, not `default`; letters, digits, `_`, `-`, `.` (logged as
    /// `train/lr/<name>`).
    pub name: String,
    /// Parameter-name prefix (plain string prefix, e.g. `"encoder."`). Give this or `prefixes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Several parameter-name prefixes (non-empty list). Give this or `prefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Vec<String>>,
    /// Absolute base LR of the group (> 0). At most one of `lr` and `lr_scale`; with neither the
    /// group uses `optimizer.lr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Base LR of the group relative to `optimizer.lr` (> 0): `lr_scale × optimizer.lr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_scale: Option<f64>,
    /// Weight decay of the group (≥ 0), overriding `optimizer.weight_decay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Layer-wise LR decay `d` in `(0, 1]` (default none), the ELECTRA/BEiT rule: the group is
    /// split by depth into `<name>.layer_<i>` (parameters whose name holds `layer.<i>.` or
    /// `layers.<i>.`) and `<name>.embeddings` (the group's parameters without a layer index).
    /// With `L` = the highest layer index + 1, layer `i` gets `lr · d^(L − i)` and the
    /// embeddings `lr · d^(L + 1)`, `lr` being the group's base LR (the LR of depth `L + 1`,
    /// where the head sits). Each part is its own group, logged as `train/lr/<name>.layer_<i>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_decay: Option<f64>,
}

fn default_lr() -> f64 {
    1e-3
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}

fn default_eps() -> f64 {
    1e-8
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self { lr: default_lr(), momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0, groups: Vec::new() }
    }
}

impl<V: AdamVariant> Default for AdamFields<V> {
    fn default() -> Self {
        Self {
            lr: default_lr(),
            betas: default_betas(),
            eps: default_eps(),
            weight_decay: V::DEFAULT_WEIGHT_DECAY,
            groups: Vec::new(),
            variant: PhantomData,
        }
    }
}

/// As the two structs this type replaces printed (`AdamConfig { lr: …, … }`), without the marker.
impl<V: AdamVariant> std::fmt::Debug for AdamFields<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(if V::DECOUPLED { "AdamWConfig" } else { "AdamConfig" })
            .field("lr", &self.lr)
            .field("betas", &self.betas)
            .field("eps", &self.eps)
            .field("weight_decay", &self.weight_decay)
            .field("groups", &self.groups)
            .finish()
    }
}

impl GroupConfig {
    /// The group's prefixes (`prefix` and/or `prefixes`, in that order).
    pub fn prefix_list(&self) -> Vec<&str> {
        self.prefix.iter().map(String::as_str).chain(self.prefixes.iter().flatten().map(String::as_str)).collect()
    }

    /// Base LR of the group given `optimizer.lr`: `lr`, else `lr_scale × optimizer_lr`, else
    /// `optimizer_lr`.
    pub fn base_lr(&self, optimizer_lr: f64) -> f64 {
        match (self.lr, self.lr_scale) {
            (Some(lr), _) => lr,
            (None, Some(scale)) => scale * optimizer_lr,
            (None, None) => optimizer_lr,
        }
    }
}

impl OptimizerConfig {
    /// The `kind:` name as written in configs.
    pub fn kind_name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
            OptimizerConfig::AdamW(_) => "adamw",
        }
    }

    /// Base learning rate (`optimizer.lr`), the base of the `default` group and of the schedule.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::AdamW(c) => c.lr,
        }
    }

    /// Weight decay of the `default` group (`optimizer.weight_decay`).
    pub fn weight_decay(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.weight_decay,
            OptimizerConfig::Adam(c) => c.weight_decay,
            OptimizerConfig::AdamW(c) => c.weight_decay,
        }
    }

    /// The configured parameter groups (without the implicit `default` group).
    pub fn groups(&self) -> &[GroupConfig] {
        match self {
            OptimizerConfig::Sgd(c) => &c.groups,
            OptimizerConfig::Adam(c) => &c.groups,
            OptimizerConfig::AdamW(c) => &c.groups,
        }
    }

    /// The momentum the optimizer uses when the schedule does not set one: SGD `momentum`, or
    /// Adam/AdamW `betas[0]`.
    pub fn base_momentum(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.momentum,
            OptimizerConfig::Adam(c) => c.betas[0],
            OptimizerConfig::AdamW(c) => c.betas[0],
        }
    }
}

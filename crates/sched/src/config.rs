//! The `schedule:` section of a run config: serde types that are the single source of truth for
//! names, defaults and docs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kinds::{
    constant::ConstantConfig, cosine::CosineConfig, cosine_restarts::CosineRestartsConfig, cyclic::CyclicConfig,
    exponential::ExponentialConfig, inverse_sqrt::InverseSqrtConfig, linear::Linear, linear::LinearConfig,
    multistep::MultiStepConfig, one_cycle::OneCycleConfig, plateau::PlateauConfig, polynomial::PolynomialConfig,
    step::StepConfig, swa::SwaConfig, wsd::WsdConfig,
};
use crate::{FieldIssue, check};

/// A schedule: one `kind` with its parameters, optionally preceded by a linear warmup.
///
/// In YAML: `{kind: cosine, t_max: 100, eta_min: 0.0, warmup: {steps: 10, start_factor: 0.1}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleConfig {
    /// The schedule kind and its parameters.
    #[serde(flatten)]
    pub kind: Kind,
    /// Linear warmup before the kind starts (the kind then starts at its own step 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupConfig>,
}

/// `warmup: {steps: W, start_factor: s}` means exactly PyTorch's
/// `SequentialLR([LinearLR(start_factor=s, end_factor=1, total_iters=W), <kind>], milestones=[W])`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    /// Warmup length in optimizer steps (≥ 1).
    pub steps: u64,
    /// Factor of the base LR at step 0, in `(0, 1]` (default 1/3, as `LinearLR`).
    #[serde(default = "crate::kinds::linear::third")]
    pub start_factor: f64,
}

/// Every schedule kind, tagged by `kind:`. Parameter names and meanings follow
/// `torch.optim.lr_scheduler` (Hugging Face's `get_scheduler` for `inverse_sqrt` and
/// `warmup_stable_decay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// `ConstantLR`.
    Constant(ConstantConfig),
    /// `StepLR`.
    Step(StepConfig),
    /// `MultiStepLR`.
    Multistep(MultiStepConfig),
    /// `ExponentialLR`.
    Exponential(ExponentialConfig),
    /// `LinearLR`.
    Linear(LinearConfig),
    /// `PolynomialLR`.
    Polynomial(PolynomialConfig),
    /// `CosineAnnealingLR`.
    Cosine(CosineConfig),
    /// `CosineAnnealingWarmRestarts` (+ `cycle_decay`, `cycle_limit`).
    CosineRestarts(CosineRestartsConfig),
    /// `CyclicLR`.
    Cyclic(CyclicConfig),
    /// `OneCycleLR`.
    OneCycle(OneCycleConfig),
    /// `ReduceLROnPlateau` (+ `monitor`).
    Plateau(PlateauConfig),
    /// `SequentialLR`.
    Sequential(SequentialConfig),
    /// `ChainedScheduler`.
    Chained(ChainedConfig),
    /// Hugging Face `inverse_sqrt`.
    InverseSqrt(InverseSqrtConfig),
    /// Hugging Face `warmup_stable_decay`.
    WarmupStableDecay(WsdConfig),
    /// `torch.optim.swa_utils.SWALR`, stepped once per optimizer step.
    Swa(SwaConfig),
}

/// `SequentialLR`: child `k` runs from `milestones[k-1]` (0 for the first) and starts at its own
/// step 0: `lr(t) = child_k.lr(t − milestones[k−1])`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SequentialConfig {
    /// The children, in order (at least one).
    pub schedules: Vec<ScheduleConfig>,
    /// Steps at which the next child takes over: one fewer than `schedules`, sorted.
    pub milestones: Vec<u64>,
}

/// `ChainedScheduler`: `lr(t) = base · Π_k (child_k.lr(t) / base)`, the product of the
/// children's factors. The last child that cycles momentum sets the momentum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainedConfig {
    /// The children (at least one).
    pub schedules: Vec<ScheduleConfig>,
}

impl WarmupConfig {
    /// Validates the config (its fields at `path.<name>`, `path` being the `warmup:` section's)
    /// into the ramp it stands for: `LinearLR(start_factor, 1, steps)`.
    pub fn build(&self, path: &str) -> Result<Linear, FieldIssue> {
        check::at_least(path, "steps", self.steps, 1)?;
        check::in_range(path, "start_factor", self.start_factor, (0.0, true), (1.0, false))?;
        LinearConfig { start_factor: self.start_factor, end_factor: 1.0, total_iters: self.steps }.build(path)
    }
}

impl Kind {
    /// The `kind:` name as written in configs.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Constant(_) => "constant",
            Kind::Step(_) => "step",
            Kind::Multistep(_) => "multistep",
            Kind::Exponential(_) => "exponential",
            Kind::Linear(_) => "linear",
            Kind::Polynomial(_) => "polynomial",
            Kind::Cosine(_) => "cosine",
            Kind::CosineRestarts(_) => "cosine_restarts",
            Kind::Cyclic(_) => "cyclic",
            Kind::OneCycle(_) => "one_cycle",
            Kind::Plateau(_) => "plateau",
            Kind::Sequential(_) => "sequential",
            Kind::Chained(_) => "chained",
            Kind::InverseSqrt(_) => "inverse_sqrt",
            Kind::WarmupStableDecay(_) => "warmup_stable_decay",
            Kind::Swa(_) => "swa",
        }
    }
}

//! `train.precision` and `train.loss_scale`: mixed-precision training. Parameters and optimizer
//! moments stay f32 (the master weights, what checkpoints hold); forward and backward run on
//! low-precision copies of the weights ([`crate::run`]'s working model), and f16 scales the loss
//! dynamically ([`crate::optim::loss_scale`]).

use candle_core::DType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use sched::check::{at_least, positive};

use crate::FieldIssue;

/// The precision of the forward and backward passes (`train.precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Everything in f32 (the default).
    #[default]
    F32,
    /// bfloat16 forward/backward (f32's range, 8 bits of mantissa): no loss scaling needed.
    Bf16,
    /// float16 forward/backward with dynamic loss scaling (`train.loss_scale`).
    F16,
}

impl Precision {
    /// The dtype of the forward/backward pass, `None` for f32 (no working copy).
    pub fn low_dtype(self) -> Option<DType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(DType::BF16),
            Precision::F16 => Some(DType::F16),
        }
    }

    /// Its name as written in a config.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

/// `train.loss_scale`: dynamic loss scaling of `precision: f16`, PyTorch's `GradScaler`
/// (growth factor 2, backoff factor 0.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossScaleConfig {
    /// The first scale (default 65536 = 2^16, PyTorch's `init_scale`).
    #[serde(default = "default_init")]
    pub init: f64,
    /// Consecutive steps without overflow after which the scale doubles (default 2000).
    #[serde(default = "default_growth_interval")]
    pub growth_interval: u64,
}

fn default_init() -> f64 {
    65536.0
}
fn default_growth_interval() -> u64 {
    2000
}

impl Default for LossScaleConfig {
    fn default() -> Self {
        Self { init: default_init(), growth_interval: default_growth_interval() }
    }
}

/// The problems of `train.precision` with `train.loss_scale` (`loss_scale` only means something
/// with f16), each at its field.
pub fn issues(precision: Precision, loss_scale: Option<&LossScaleConfig>) -> Vec<FieldIssue> {
    let Some(s) = loss_scale else { return Vec::new() };
    let mut out = Vec::new();
    if precision != Precision::F16 {
        out.push(FieldIssue::new(
            "train.loss_scale",
            format!("only applies to train.precision: f16 (precision is {})", precision.name()),
        ));
    }
    out.extend(positive("train.loss_scale", "init", s.init).err());
    if s.init.is_finite() && s.init > f64::from(f32::MAX) {
        out.push(FieldIssue::new("train.loss_scale.init", format!("must be at most {:e} (f32's largest)", f32::MAX)));
    }
    out.extend(at_least("train.loss_scale", "growth_interval", s.growth_interval, 1).err());
    out
}

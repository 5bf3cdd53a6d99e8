//! LoRA (Hu et al. 2021, as Hugging Face PEFT implements it): a frozen linear layer `W x` gains
//! a trainable low-rank update, `y = W x + s · B (A x)` with `A: [r, in]` (Kaiming-uniform, as
//! PEFT initialises it), `B: [out, r]` (zeros, so the adapted model starts equal to the base),
//! and scale `s = alpha / r` (`alpha / sqrt(r)` with rsLoRA). Dropout (`dropout`) acts on `x`
//! before `A` in training.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::FieldIssue;

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

//! What a [`Llama`] exports: its weights under Hugging Face names with the LoRA adapters folded
//! in, and the adapters alone under PEFT's key names.

use candle_core::Tensor;

use super::model::Llama;
use crate::model::lora::LoraLinear;

/// PEFT's prefix of adapter keys (`base_model.model.<module>.lora_A.weight`).
pub const PEFT_PREFIX: &str = "base_model.model.";

impl Llama {
    fn linears(&self) -> impl Iterator<Item = &LoraLinear> {
        self.blocks.iter().flat_map(|b| b.linears())
    }

    /// Full names of the modules that carry an adapter (`model.layers.0.self_attn.q_proj`, …).
    pub fn lora_modules(&self) -> Vec<String> {
        self.linears().filter(|l| l.adapter().is_some()).map(|l| l.name().to_owned()).collect()
    }

    /// Every weight under its Hugging Face name, adapters folded in (`W + s · B A`), detached;
    /// `lm_head.weight` only when untied.
    pub fn merged_weights(&self) -> candle_core::Result<Vec<(String, Tensor)>> {
        let mut out = vec![("model.embed_tokens.weight".to_owned(), self.embed.detach())];
        for (i, block) in self.blocks.iter().enumerate() {
            for l in block.linears() {
                out.push((format!("{}.weight", l.name()), l.merged()?));
                if let Some(b) = l.bias() {
                    out.push((format!("{}.bias", l.name()), b.detach()));
                }
            }
            let p = format!("model.layers.{i}");
            out.push((format!("{p}.input_layernorm.weight"), block.input_norm.weight().detach()));
            out.push((format!("{p}.post_attention_layernorm.weight"), block.post_norm.weight().detach()));
        }
        out.push(("model.norm.weight".to_owned(), self.norm.weight().detach()));
        if let Some(w) = &self.lm_head {
            out.push(("lm_head.weight".to_owned(), w.detach()));
        }
        Ok(out)
    }

    /// The adapters under PEFT's key names
    /// (`base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`, `….lora_B.weight`),
    /// detached. Empty without LoRA.
    pub fn adapter_weights(&self) -> candle_core::Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for l in self.linears() {
            if let Some((a, b)) = l.adapter() {
                out.push((format!("{PEFT_PREFIX}{}.lora_A.weight", l.name()), a.detach()));
                out.push((format!("{PEFT_PREFIX}{}.lora_B.weight", l.name()), b.detach()));
            }
        }
        Ok(out)
    }
}

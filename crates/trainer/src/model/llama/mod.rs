//! `model: {kind: causal_lm}`: the Llama architecture (SmolLM/SmolLM2, TinyLlama, Llama 3.x and
//! other `model_type: llama` checkpoints), differentiable end to end (candle-nn's fused
//! rms_norm/softmax/rope have no backward pass), with weights from a GGUF file or a Hugging
//! Face model directory, and optional LoRA adapters ([`super::lora`]).
//!
//! Parameters keep Hugging Face's names and layout (`model.embed_tokens.weight`,
//! `model.layers.{i}.self_attn.q_proj.weight`, …, `model.norm.weight`, `lm_head.weight` when
//! untied): GGUF weights are renamed and their Q/K rows permuted to that layout at load.
//!
//! - [`Llama::load`] builds the model from any `VarBuilder` with those names;
//!   [`Llama::forward`] gives the logits of a (right-padded) batch, [`Llama::forward_cached`]
//!   those of new tokens after a [`KvCache`];
//! - [`Llama::merged_weights`] / [`Llama::adapter_weights`] export (HF names, adapters folded
//!   in / PEFT key names);
//! - [`generate`] decodes with [`Sampling`] (greedy, temperature, top-p).

mod attention;
mod block;
pub mod cache;
pub mod config;
pub mod model;
mod ops;
mod rope;
pub mod sample;
mod weights;

#[cfg(test)]
mod tests;

pub use cache::KvCache;
pub use config::{LlamaConfig, RopeScaling, TokenIds};
pub use model::{DEFAULT_TARGETS, LINEAR_MODULES, Llama};
pub use sample::{Sampling, generate, sample};
pub use weights::PEFT_PREFIX;

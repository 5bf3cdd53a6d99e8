//! `model: {kind: causal_lm}`: the Llama architecture (SmolLM/SmolLM2, TinyLlama, Llama 3.x and
//! other `model_type: llama` checkpoints), differentiable end to end (candle-nn's fused
//! rms_norm/softmax/rope have no backward pass), with weights from a GGUF file or a Hugging
//! Face model directory, and optional LoRA adapters ([`super::lora`]).
//!
//! Parameters keep Hugging Face's names and layout (`model.embed_tokens.weight`,
//! `model.layers.{i}.self_attn.q_proj.weight`, …, `model.norm.weight`, `lm_head.weight` when
//! untied): GGUF weights are renamed and their Q/K rows permuted to that layout at load.

pub mod config;

pub use config::{LlamaConfig, RopeScaling, TokenIds};

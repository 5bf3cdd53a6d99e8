//! [`CausalLm`]: next-token prediction on a Llama model, as a [`Task`]: the mean negative
//! log-likelihood of the targets the data marks, `val/loss` and `val/perplexity`.

use std::sync::Arc;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarMap;

use super::CausalLmConfig;
use super::source::LmSource;
use crate::data::{Batch, Inputs};
use crate::model::ModelError;
use crate::model::llama::Llama;
use crate::model::pretrained::FrozenFn;
use crate::rng::Rng;
use crate::run::metric::{Metric, Metrics};
use crate::task::{Tally, Task};

/// A causal language model with its loss.
pub struct CausalLm {
    model: Llama,
    config: CausalLmConfig,
}

impl CausalLm {
    /// Builds the model of `source` (its blocks kept by `c.num_hidden_layers`), its pretrained
    /// weights registered in `varmap` under their Hugging Face names (frozen ones detached) and
    /// its LoRA adapters, if any, initialised from `rng`.
    pub fn load(
        c: &CausalLmConfig,
        source: &LmSource,
        varmap: &VarMap,
        rng: &mut Rng,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let rule = c.clone();
        let frozen: Arc<FrozenFn> = Arc::new(move |name: &str| !rule.is_trainable(name));
        let (vb, taken) = source.pretrained(frozen)?.builder(device);
        let model = Llama::load(&source.config, vb, c.lora.as_ref(), varmap, rng)?;
        taken.into_varmap(varmap)?;
        Ok(Self { model, config: c.clone() })
    }

    /// The network.
    pub fn model(&self) -> &Llama {
        &self.model
    }

    /// `(Σ NLL of the marked targets, number of marked targets)` of `batch`, the logits
    /// computed in training mode when `train`.
    fn nll(&self, batch: &Batch, train: bool, rng: &mut Rng) -> candle_core::Result<(Tensor, f64)> {
        self.scored(batch, train, rng).map(|(total, count, _)| (total, count))
    }

    /// [`CausalLm::nll`] with the logits.
    fn scored(&self, batch: &Batch, train: bool, rng: &mut Rng) -> candle_core::Result<(Tensor, f64, Tensor)> {
        let Inputs::Causal { ids, mask, loss_mask } = &batch.inputs else {
            return Err(candle_core::Error::Msg(
                "model.kind = causal_lm needs language-model data (data.kind = text or instruction)".into(),
            ));
        };
        let logits = self.model.forward(ids, Some(mask), train, rng)?;
        let total = masked_nll(&logits, &batch.targets, loss_mask)?;
        let count = f64::from(loss_mask.sum_all()?.to_scalar::<f32>()?);
        Ok((total, count, logits))
    }
}

/// The marked targets of `batch` that are the most likely token under `logits` (its argmax).
fn token_hits(logits: &Tensor, batch: &Batch) -> candle_core::Result<f64> {
    let Inputs::Causal { loss_mask, .. } = &batch.inputs else { return Ok(0.0) };
    let right = logits.argmax(D::Minus1)?.eq(&batch.targets)?.to_dtype(DType::F32)?;
    (right * loss_mask)?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()
}

/// `Σ −log softmax(logits)[target] · loss_mask` over every position (logits `[b, t, vocab]`,
/// targets u32 `[b, t]`, loss_mask f32 `[b, t]`): [`crate::ops::masked_nll`] (a fused kernel with
/// its backward on the CPU, differentiable plain ops elsewhere).
pub fn masked_nll(logits: &Tensor, targets: &Tensor, loss_mask: &Tensor) -> candle_core::Result<Tensor> {
    crate::ops::masked_nll(logits, targets, loss_mask)
}

impl Task for CausalLm {
    fn metrics(&self) -> Metrics {
        Metrics::new(vec![Metric::VAL_LOSS, Metric::VAL_PERPLEXITY, Metric::VAL_TOKEN_ACCURACY])
    }

    fn loss(&self, batch: &Batch, rng: &mut Rng) -> candle_core::Result<Tensor> {
        let (total, count) = self.nll(batch, true, rng)?;
        total.affine(1.0 / count.max(1.0), 0.0)
    }

    fn tally(&self, batch: &Batch) -> candle_core::Result<Tally> {
        // Evaluation draws no random numbers (no dropout); the generator is a placeholder.
        let (total, count, logits) = self.scored(batch, false, &mut Rng::new(0))?;
        let hits = token_hits(&logits, batch)?;
        Ok(Tally { count, sums: vec![total.to_dtype(DType::F64)?.to_scalar::<f64>()?, hits] })
    }

    fn finish(&self, total: &Tally) -> Vec<f64> {
        let n = total.count.max(1.0);
        let loss = total.sums.first().copied().unwrap_or(0.0) / n;
        vec![loss, loss.exp(), total.sums.get(1).copied().unwrap_or(0.0) / n]
    }

    fn is_trainable(&self, name: &str) -> bool {
        self.config.is_trainable(name)
    }

    fn tokens(&self, batch: &Batch) -> candle_core::Result<Option<usize>> {
        match &batch.inputs {
            Inputs::Causal { mask, .. } => Ok(Some(mask.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()? as usize)),
            _ => Ok(None),
        }
    }

    fn checkpoints_frozen(&self) -> bool {
        self.config.lora.is_none()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_nn::VarBuilder;

    use super::*;
    use crate::data::Split;
    use crate::data::instruction::{self, InstructionConfig};
    use crate::lm_tokenizer::LmTokenizer;
    use crate::model::llama::LlamaConfig;

    /// The tiny Llama of `tests/data/tiny-llama` with seeded random weights, as a task.
    fn tiny_task() -> (CausalLm, LmTokenizer) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/tiny-llama");
        let tok = LmTokenizer::from_hf_dir(&dir).unwrap();
        let cfg: LlamaConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        let (h, kv, i) = (cfg.hidden_size, cfg.kv_heads() * cfg.head_dim(), cfg.intermediate_size);
        let mut rng = Rng::new(1);
        let mut t = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            Tensor::from_vec((0..n).map(|_| (0.2 * rng.normal()) as f32).collect::<Vec<_>>(), shape, &Device::Cpu)
                .unwrap()
        };
        let mut map = HashMap::from([
            ("model.embed_tokens.weight".to_owned(), t(&[cfg.vocab_size, h])),
            ("model.norm.weight".to_owned(), Tensor::ones(h, DType::F32, &Device::Cpu).unwrap()),
        ]);
        for l in 0..cfg.num_hidden_layers {
            for (m, shape) in [
                ("self_attn.q_proj", [h, h]),
                ("self_attn.k_proj", [kv, h]),
                ("self_attn.v_proj", [kv, h]),
                ("self_attn.o_proj", [h, h]),
                ("mlp.gate_proj", [i, h]),
                ("mlp.up_proj", [i, h]),
                ("mlp.down_proj", [h, i]),
            ] {
                map.insert(format!("model.layers.{l}.{m}.weight"), t(&shape));
            }
            for n in ["input_layernorm", "post_attention_layernorm"] {
                map.insert(format!("model.layers.{l}.{n}.weight"), Tensor::ones(h, DType::F32, &Device::Cpu).unwrap());
            }
        }
        let vb = VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
        let model = Llama::load(&cfg, vb, None, &VarMap::new(), &mut Rng::new(0)).unwrap();
        let config: CausalLmConfig = serde_json::from_value(serde_json::json!({"local_dir": dir})).unwrap();
        (CausalLm { model, config }, tok)
    }

    #[test]
    fn the_instruction_loss_ignores_every_target_outside_the_response() {
        let (task, tok) = tiny_task();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.jsonl");
        let rows = [
            r#"{"prompt": "the cat sat on", "response": "the mat"}"#,
            r#"{"messages": [{"role": "user", "content": "where did the dog run?"}, {"role": "assistant", "content": "in the sun"}]}"#,
            r#"{"prompt": "x", "response": "y"}"#,
        ];
        std::fs::write(&path, rows.join("\n")).unwrap();
        let c: InstructionConfig =
            serde_json::from_value(serde_json::json!({"path": path, "val_size": 1, "max_len": 64})).unwrap();
        let data = instruction::load(&c, &tok, Some(128)).unwrap();
        let batch = crate::data::Dataset::batch(&data, Split::Train, &[0, 1], &Device::Cpu).unwrap();
        let Inputs::Causal { loss_mask, .. } = &batch.inputs else { panic!("a causal batch") };
        let loss = |b: &Batch| task.loss(b, &mut Rng::new(0)).unwrap().to_scalar::<f32>().unwrap();
        let base = loss(&batch);
        let weights = loss_mask.to_vec2::<f32>().unwrap();
        let targets = batch.targets.to_vec2::<u32>().unwrap();
        let changed = |counted: bool| {
            let t: Vec<Vec<u32>> = targets
                .iter()
                .zip(&weights)
                .map(|(row, w)| {
                    row.iter().zip(w).map(|(&id, &m)| if (m > 0.0) == counted { (id + 7) % 264 } else { id }).collect()
                })
                .collect();
            Batch { targets: Tensor::new(t, &Device::Cpu).unwrap(), ..batch.clone() }
        };
        // Any target the mask leaves out (prompt, template markers, padding) changes nothing.
        assert_eq!(loss(&changed(false)), base);
        assert_ne!(loss(&changed(true)), base);
        let counted = weights.iter().flatten().filter(|&&m| m > 0.0).count();
        assert!(counted > 0 && counted < weights.iter().flatten().count());
        // Token accuracy: targets set to the model's own argmax where counted score 1, and the
        // uncounted positions never matter.
        let Inputs::Causal { ids, mask, .. } = &batch.inputs else { panic!("a causal batch") };
        let best = task.model().forward(ids, Some(mask), false, &mut Rng::new(0)).unwrap().argmax(D::Minus1).unwrap();
        let best = best.to_vec2::<u32>().unwrap();
        let mixed: Vec<Vec<u32>> = best
            .iter()
            .zip(&weights)
            .map(|(row, w)| row.iter().zip(w).map(|(&id, &m)| if m > 0.0 { id } else { (id + 1) % 264 }).collect())
            .collect();
        let perfect = Batch { targets: Tensor::new(mixed, &Device::Cpu).unwrap(), ..batch.clone() };
        let values = task.finish(&task.tally(&perfect).unwrap());
        assert_eq!(values[2], 1.0, "{values:?}");
        assert!(task.finish(&task.tally(&changed(true)).unwrap())[2] < 1.0);
    }

    #[test]
    fn masked_nll_counts_only_marked_targets() {
        let dev = Device::Cpu;
        // One sequence of 3 positions over a vocabulary of 2.
        let logits = Tensor::new(&[[[0.0f32, 0.0], [2.0, 0.0], [0.0, 5.0]]], &dev).unwrap();
        let targets = Tensor::new(&[[1u32, 0, 0]], &dev).unwrap();
        let mask = Tensor::new(&[[1.0f32, 1.0, 0.0]], &dev).unwrap();
        let got = masked_nll(&logits, &targets, &mask).unwrap().to_scalar::<f32>().unwrap();
        let want = 2.0f64.ln() + (1.0 + (-2.0f64).exp()).ln();
        assert!((f64::from(got) - want).abs() < 1e-6, "{got} vs {want}");
    }
}

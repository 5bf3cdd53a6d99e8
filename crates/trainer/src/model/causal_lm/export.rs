//! Exports of a causal LM: a PEFT LoRA adapter (`adapter_config.json` +
//! `adapter_model.safetensors`, which `peft.PeftModel.from_pretrained(base, DIR)` loads), or a
//! Hugging Face model folder with the adapters folded in (`config.json`, `model.safetensors`,
//! the tokenizer files, `generation_config.json`), which `AutoModelForCausalLM` and
//! `AutoTokenizer.from_pretrained(DIR)` load. The folder is written under a temporary name next
//! to it and renamed when complete.

use std::path::Path;

use serde_json::{Value, json};

use super::loaded::LoadedLm;
use crate::error::TrainError;
use crate::model::export_dir::{write_folder, write_json, write_safetensors};

/// What [`LoadedLm::export`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A PEFT LoRA adapter.
    Peft,
    /// A Hugging Face model folder, adapters folded in.
    Merged,
}

impl LoadedLm {
    /// Writes the export `format` into the new folder `out` (which must not exist, or be
    /// empty); returns the file names written.
    pub fn export(&self, format: ExportFormat, out: &Path) -> Result<Vec<String>, TrainError> {
        if format == ExportFormat::Peft && self.config.lora.is_none() {
            return Err(TrainError::Tensor(
                "--format peft needs a LoRA run (model.lora); this run is a full fine-tune: use --format merged".into(),
            ));
        }
        write_folder(out, |dir| match format {
            ExportFormat::Peft => self.write_peft(dir),
            ExportFormat::Merged => self.write_merged(dir),
        })
    }

    fn write_peft(&self, dir: &Path) -> Result<Vec<String>, TrainError> {
        let lora = self.config.lora.as_ref().ok_or_else(|| TrainError::Tensor("not a LoRA run".into()))?;
        let model = self.lm.model();
        let mut targets: Vec<String> =
            model.lora_modules().iter().filter_map(|m| m.rsplit('.').next().map(str::to_owned)).collect();
        targets.sort();
        targets.dedup();
        let config = json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "r": lora.r,
            "lora_alpha": lora.alpha(),
            "lora_dropout": lora.dropout,
            "target_modules": targets,
            "use_rslora": lora.rslora,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "base_model_name_or_path": self.base_name(),
        });
        write_json(&dir.join("adapter_config.json"), &config)?;
        write_safetensors(&dir.join("adapter_model.safetensors"), model.adapter_weights()?)?;
        Ok(vec!["adapter_config.json".into(), "adapter_model.safetensors".into()])
    }

    fn write_merged(&self, dir: &Path) -> Result<Vec<String>, TrainError> {
        let model = self.lm.model();
        write_json(&dir.join("config.json"), &self.hf_config())?;
        write_safetensors(&dir.join("model.safetensors"), model.merged_weights()?)?;
        let t = self.tokenizer();
        let mut generation =
            json!({"bos_token_id": t.bos.as_ref().map(|b| b.1), "eos_token_id": t.eos.1, "pad_token_id": t.pad});
        if let Some(eos) = &self.source.config.eos_token_id {
            generation["eos_token_id"] = json!(eos.to_vec());
        }
        write_json(&dir.join("generation_config.json"), &generation)?;
        let mut files: Vec<String> =
            vec!["config.json".into(), "model.safetensors".into(), "generation_config.json".into()];
        t.save_hf(dir, self.source.config.max_position_embeddings)?;
        files.extend(["tokenizer.json".into(), "tokenizer_config.json".into()]);
        Ok(files)
    }

    /// `config.json` of the model as exported: Hugging Face's `LlamaConfig` fields with the
    /// blocks kept, every derived value written out.
    fn hf_config(&self) -> Value {
        let c = &self.source.config;
        let t = self.tokenizer();
        let mut v = serde_json::to_value(c).unwrap_or_else(|_| json!({}));
        v["architectures"] = json!(["LlamaForCausalLM"]);
        v["model_type"] = json!("llama");
        v["num_key_value_heads"] = json!(c.kv_heads());
        v["head_dim"] = json!(c.head_dim());
        v["torch_dtype"] = json!("float32");
        if c.bos_token_id.is_none() {
            v["bos_token_id"] = json!(t.bos.as_ref().map(|b| b.1));
        }
        if c.eos_token_id.is_none() {
            v["eos_token_id"] = json!(t.eos.1);
        }
        v["pad_token_id"] = json!(t.pad);
        v
    }

    /// The base model's name for `base_model_name_or_path`: the hub id, or the folder / file.
    fn base_name(&self) -> String {
        match (&self.config.hub, &self.config.local_dir, &self.config.gguf) {
            (Some(h), _, _) => h.clone(),
            (_, Some(d), _) => d.display().to_string(),
            (_, _, Some(g)) => g.display().to_string(),
            _ => String::new(),
        }
    }
}

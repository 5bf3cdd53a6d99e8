//! Exports of a causal LM: a PEFT LoRA adapter (`adapter_config.json` +
//! `adapter_model.safetensors`, which `peft.PeftModel.from_pretrained(base, DIR)` loads), or a
//! Hugging Face model folder with the adapters folded in (`config.json`, `model.safetensors`,
//! the tokenizer files, `generation_config.json`), which `AutoModelForCausalLM` and
//! `AutoTokenizer.from_pretrained(DIR)` load. The folder is written under a temporary name next
//! to it and renamed when complete.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use serde_json::{Value, json};

use super::loaded::LoadedLm;
use crate::error::TrainError;

/// What [`LoadedLm::export`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A PEFT LoRA adapter.
    Peft,
    /// A Hugging Face model folder, adapters folded in.
    Merged,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Tensor(format!("{}: {e}", path.display()))
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
        let tmp = staging_dir(out)?;
        let written = match format {
            ExportFormat::Peft => self.write_peft(&tmp),
            ExportFormat::Merged => self.write_merged(&tmp),
        };
        match written {
            Ok(files) => {
                if out.exists() {
                    fs::remove_dir(out).map_err(|e| io_err(out, e))?;
                }
                fs::rename(&tmp, out).map_err(|e| io_err(out, e))?;
                Ok(files)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
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

/// A new temporary folder next to `out`; `out` itself must not exist or be empty.
fn staging_dir(out: &Path) -> Result<PathBuf, TrainError> {
    if out.exists() {
        let empty = fs::read_dir(out).map_err(|e| io_err(out, e))?.next().is_none();
        if !out.is_dir() || !empty {
            return Err(TrainError::Tensor(format!(
                "{} exists and is not an empty folder: choose a new --out",
                out.display()
            )));
        }
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| io_err(&tmp, e))?;
    Ok(tmp)
}

fn write_json(path: &Path, value: &Value) -> Result<(), TrainError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| io_err(path, e))?;
    fs::write(path, text + "\n").map_err(|e| io_err(path, e))
}

/// Writes `tensors` (contiguous f32 on the CPU) with the metadata PyTorch's loaders expect.
fn write_safetensors(path: &Path, tensors: Vec<(String, Tensor)>) -> Result<(), TrainError> {
    let mut map = HashMap::with_capacity(tensors.len());
    for (name, t) in tensors {
        map.insert(name, t.to_device(&candle_core::Device::Cpu)?.contiguous()?);
    }
    let metadata = Some(HashMap::from([("format".to_owned(), "pt".to_owned())]));
    safetensors::serialize_to_file(map, metadata, path).map_err(|e| io_err(path, e))
}

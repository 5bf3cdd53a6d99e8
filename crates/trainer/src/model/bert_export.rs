//! `export --format merged` of a `bert_classifier` run: the checkpoint's weights (Hugging Face
//! names, the new head as `classifier.*`) with any LoRA adapters folded in, next to the
//! model's `config.json` and `tokenizer.json`.

use std::path::Path;

use super::bert::{BertClassifierConfig, prepare};
use super::export_dir::{write_folder, write_safetensors};
use crate::checkpoint::MODEL_FILE;
use crate::error::TrainError;
use crate::optim::average::{Weights, average_tensors, weights_problem};

/// Writes the merged export of `checkpoint` (a checkpoint directory of a run of `c`) with the
/// weights `weights` (an average replaces the trainable tensors it holds) into the new folder
/// `out`; returns the file names.
pub fn export_merged(
    c: &BertClassifierConfig,
    checkpoint: &Path,
    weights: Weights,
    out: &Path,
) -> Result<Vec<String>, TrainError> {
    let path = checkpoint.join(MODEL_FILE);
    let bad = |m: String| TrainError::Tensor(format!("{}: {m}", path.display()));
    let mut tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
        .map_err(|e| bad(crate::device::first_line(&e)))?;
    if weights != Weights::Raw {
        let averaged =
            average_tensors(checkpoint, weights).map_err(|why| TrainError::Tensor(weights_problem(weights, &why)))?;
        for (name, t) in averaged {
            if !tensors.contains_key(&name) {
                return Err(TrainError::Tensor(weights_problem(weights, &format!("`{name}` is not in {MODEL_FILE}"))));
            }
            tensors.insert(name, t);
        }
    }
    let scale = c.lora.as_ref().map_or(1.0, super::lora::LoraConfig::scale);
    let merged = super::lora::fold_adapters(tensors, scale).map_err(bad)?;
    let files = prepare(c)?.files.ok_or_else(|| TrainError::Tensor("the model's files were not resolved".into()))?;
    write_folder(out, |dir| {
        let mut named: Vec<_> = merged.into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        write_safetensors(&dir.join(MODEL_FILE), named)?;
        let mut written = vec![MODEL_FILE.to_owned()];
        for name in ["config.json", "tokenizer.json"] {
            if let Some(src) = files.get(name) {
                std::fs::copy(src, dir.join(name))
                    .map_err(|e| TrainError::Tensor(format!("{}: {e}", src.display())))?;
                written.push(name.to_owned());
            }
        }
        Ok(written)
    })
}

//! `export RUN_DIR --format peft|merged --out DIR`: for a causal LM, a PEFT LoRA adapter or a
//! Hugging Face model folder with the adapters folded in; for a `bert_classifier`, its
//! checkpoint's weights with the adapters folded in (`merged`).

use trainer::model::ModelConfig;
use trainer::model::causal_lm::loaded::{ExportFormat as Kind, LoadedLm};

use crate::args::{ExportArgs, ExportFormat};
use crate::error::{CliError, locate};
use crate::target::resolve;

/// Runs `export`.
pub fn export(a: &ExportArgs) -> Result<(), CliError> {
    if !a.run_dir.is_dir() {
        return Err(CliError::Other(format!("{} is not a run directory", a.run_dir.display())));
    }
    let target = resolve(&a.run_dir, &a.checkpoint, &[])?;
    let checkpoint = target.checkpoint.as_deref().ok_or_else(|| CliError::Other("no checkpoint".into()))?;
    let files = match (&target.loaded.value.model, a.format) {
        (ModelConfig::BertClassifier(c), ExportFormat::Merged) => {
            trainer::model::bert_export::export_merged(c, checkpoint, target.weights, &a.out)
                .map_err(|e| locate(e, &target.loaded))?
        }
        (ModelConfig::BertClassifier(_), ExportFormat::Peft) => {
            return Err(CliError::Other(
                "--format peft is for causal LMs; export a bert_classifier run with --format merged".into(),
            ));
        }
        (_, format) => {
            let lm = LoadedLm::open(&target.loaded.value, Some(checkpoint), target.weights)
                .map_err(|e| locate(e, &target.loaded))?;
            let kind = match format {
                ExportFormat::Peft => Kind::Peft,
                ExportFormat::Merged => Kind::Merged,
            };
            lm.export(kind, &a.out).map_err(CliError::Train)?
        }
    };
    crate::output::say(format_args!("exported {} → {}: {}", target.describe(), a.out.display(), files.join(", ")));
    Ok(())
}

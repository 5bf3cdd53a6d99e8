//! `export RUN_DIR --format peft|merged --out DIR`: a PEFT LoRA adapter, or a Hugging Face
//! model folder with the adapter folded in.

use trainer::model::causal_lm::loaded::{ExportFormat as Kind, LoadedLm};

use crate::args::{ExportArgs, ExportFormat};
use crate::error::{CliError, locate};
use crate::target::resolve;

/// Runs `export`.
pub fn export(a: &ExportArgs) -> Result<(), CliError> {
    if !a.run_dir.is_dir() {
        return Err(CliError::Other(format!("{} is not a run directory", a.run_dir.display())));
    }
    let target = resolve(&a.run_dir, a.checkpoint.checkpoint.as_deref(), &[])?;
    let lm =
        LoadedLm::open(&target.loaded.value, target.checkpoint.as_deref()).map_err(|e| locate(e, &target.loaded))?;
    let kind = match a.format {
        ExportFormat::Peft => Kind::Peft,
        ExportFormat::Merged => Kind::Merged,
    };
    let files = lm.export(kind, &a.out).map_err(CliError::Train)?;
    println!("exported {} → {}: {}", target.describe(), a.out.display(), files.join(", "));
    Ok(())
}

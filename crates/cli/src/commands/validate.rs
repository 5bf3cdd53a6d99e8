//! `validate CONFIG`: every check `train` makes, then the resolved config and the schedule's key
//! points, without creating anything.

use trainer::{RunConfig, Trainer};

use crate::args::ValidateArgs;
use crate::error::{CliError, locate};
use crate::load::{Loaded, load};
use crate::output::{line, text};

/// Runs `validate`.
pub fn validate(args: &ValidateArgs) -> Result<(), CliError> {
    let loaded: Loaded<RunConfig> = load(&args.config, &args.overrides.set)?;
    let trainer = Trainer::build(loaded.value.clone()).map_err(|e| locate(e, &loaded))?;
    let yaml = serde_saphyr::to_string(&loaded.value).map_err(|e| CliError::Other(e.to_string()))?;
    line(format_args!("# {}: valid. Resolved config (defaults filled in):", args.config.display()))?;
    text(&yaml)?;
    if args.origins {
        origins(&loaded)?;
    }
    let total = trainer.total_steps();
    line(format_args!("\n# {} | {} parameters", trainer.data_description(), trainer.parameter_count()))?;
    line(format_args!("# {total} optimizer steps ({} per epoch)", trainer.steps_per_epoch()))?;
    for g in trainer.optimizer().groups() {
        line(format_args!("# group {}: base lr {} ({} tensors)", g.name(), g.base_lr(), g.param_names().len()))?;
    }
    let s = trainer.schedule();
    line(format_args!(
        "# lr: step 0 = {:.6e}, last step {} = {:.6e}",
        s.lr(0),
        total.saturating_sub(1),
        s.lr(total.saturating_sub(1))
    ))?;
    let points = s.key_points(total);
    if points.is_empty() {
        line(format_args!("# schedule key points: none"))?;
    }
    for k in points.iter().take(50) {
        line(format_args!("# {k}"))?;
    }
    let count = s.key_point_count(total);
    if count > 50 {
        line(format_args!("# … {count} key points in all"))?;
    }
    Ok(())
}

/// Each value written in the config (its bases merged, the overrides applied) and where.
fn origins(loaded: &Loaded<RunConfig>) -> Result<(), CliError> {
    line(format_args!("\n# Where each value was written:"))?;
    for (path, value) in crate::yaml::extends::leaves(&loaded.tree) {
        line(format_args!("# {path} = {value}  ({})", loaded.origin(&path)))?;
    }
    Ok(())
}

//! `schedule CONFIG --steps N [--metrics FILE] [--format table|csv]`: the schedule without
//! training.

use std::io::Write;

use serde::{Deserialize, Serialize};
use trainer::optim::OptimizerConfig;

use crate::args::{Format, ScheduleArgs};
use crate::error::CliError;
use crate::load::{Loaded, load};
use crate::preview;

/// The sections `schedule` reads; every other section is ignored.
#[derive(Debug, Deserialize, Serialize)]
struct PreviewConfig {
    optimizer: OptimizerConfig,
    schedule: sched::ScheduleConfig,
    #[serde(default)]
    train: Option<PreviewTrain>,
}

#[derive(Debug, Deserialize, Serialize)]
struct PreviewTrain {
    #[serde(default)]
    max_steps: Option<u64>,
}

/// Runs `schedule`.
pub fn schedule(args: &ScheduleArgs) -> Result<(), CliError> {
    let loaded: Loaded<PreviewConfig> = load(&args.config, &args.overrides.set)?;
    let c = &loaded.value;
    if let Err(e) = c.optimizer.validate() {
        return Err(loaded.error_at(&e.path, e.message).into());
    }
    let mut schedule =
        sched::Schedule::new(&c.schedule, c.optimizer.lr()).map_err(|e| loaded.error_at(&e.path, e.message))?;
    let steps = args.steps.or_else(|| c.train.as_ref().and_then(|t| t.max_steps)).ok_or_else(|| {
        CliError::Other("give the number of steps with --steps N (the config has no train.max_steps)".into())
    })?;
    if steps == 0 {
        return Err(CliError::Other("--steps must be at least 1 (got 0)".into()));
    }
    if let Some(png) = &args.png
        && !png.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        return Err(CliError::Other(format!("--png {}: give the PNG file a .png extension", png.display())));
    }
    let metrics = match &args.metrics {
        Some(path) => preview::read_metrics(path).map_err(CliError::Other)?,
        None => Vec::new(),
    };
    if !metrics.is_empty() && schedule.monitors().is_empty() {
        crate::output::note(format_args!(
            "note: --metrics given but the schedule has no plateau; the values are not used"
        ));
    }
    let momentum = c.optimizer.base_momentum();
    if let Some(png) = &args.png {
        // A separate schedule: the walk below must start from the same (fresh) state.
        let mut fresh =
            sched::Schedule::new(&c.schedule, c.optimizer.lr()).map_err(|e| loaded.error_at(&e.path, e.message))?;
        let title =
            format!("{} schedule ({}, lr {})", c.schedule.kind.name(), c.optimizer.kind_name(), c.optimizer.lr());
        crate::report::plot::render(png, &preview::charts(&mut fresh, momentum, steps, &metrics, &title))
            .map_err(CliError::Other)?;
        crate::output::note(format_args!("wrote {}", png.display()));
    }
    match args.format {
        Format::Csv => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            // Stops at the first failed write; a closed pipe ends quietly (CliError::Stdout).
            preview::write_csv(&mut out, &mut schedule, momentum, steps, &metrics)
                .and_then(|()| out.flush())
                .map_err(CliError::Stdout)
        }
        Format::Table => crate::output::text(preview::render_table(&mut schedule, momentum, steps, &metrics)),
    }
}

//! `train` and `resume`.

use std::path::Path;

use trainer::{RunConfig, Session, StopReason, Summary, Trainer};

use crate::args::{ResumeArgs, TrainArgs};
use crate::error::{CliError, locate};
use crate::load::{Loaded, load};
use crate::progress::Progress;

/// The resolved config file written into every run directory.
pub const RUN_CONFIG: &str = "config.yaml";

/// `train CONFIG`: checks everything, then creates the run directory and trains.
pub fn train(args: &TrainArgs) -> Result<(), CliError> {
    let loaded: Loaded<RunConfig> = load(&args.config, &args.overrides.set)?;
    let trainer = Trainer::build(loaded.value.clone()).map_err(|e| locate(e, &loaded))?;
    let root = Path::new(&loaded.value.logging.dir);
    let run_dir = crate::runs::create_version_dir(root, &loaded.value.name).map_err(|e| {
        CliError::Other(format!("cannot create a run directory under {}: {e}", root.join(&loaded.value.name).display()))
    })?;
    crate::runs::write_config(&run_dir, &loaded.value)?;
    let mut session = trainer.start(&run_dir).map_err(CliError::Train)?;
    println!("run {} → {}", loaded.value.name, run_dir.display());
    describe(session.trainer());
    run_to_end(&mut session, args.quiet)
}

/// Prints what the run trains: the model's origin, the data, the parameters and the steps.
fn describe(trainer: &Trainer) {
    if let Some(origin) = trainer.model_origin() {
        println!("  model: {origin}");
    }
    let frozen = match trainer.frozen_parameter_count() {
        0 => String::new(),
        n => format!(" ({n} frozen)"),
    };
    println!(
        "  {} | {} trainable parameters{frozen} | {} | {} steps ({} per epoch)",
        trainer.data_description(),
        trainer.parameter_count(),
        trainer.device_description(),
        trainer.total_steps(),
        trainer.steps_per_epoch()
    );
}

/// `resume RUN_DIR`: rebuilds the run from its `config.yaml` and continues from the newest
/// valid checkpoint.
pub fn resume(args: &ResumeArgs) -> Result<(), CliError> {
    let config_path = args.run_dir.join(RUN_CONFIG);
    let loaded: Loaded<RunConfig> = load(&config_path, &args.overrides.set)?;
    let trainer = Trainer::build(loaded.value.clone()).map_err(|e| locate(e, &loaded))?;
    let (mut session, info) = trainer.resume(&args.run_dir, args.allow_config_change).map_err(CliError::Train)?;
    for s in &info.skipped {
        println!("skipped a checkpoint that does not load: {s}");
    }
    for c in &info.accepted_changes {
        println!("config changed (accepted with --allow-config-change): {c}");
    }
    if !args.overrides.set.is_empty() {
        crate::runs::write_config(&args.run_dir, &loaded.value)?;
    }
    println!(
        "resuming {} at step {}/{} from {}",
        args.run_dir.display(),
        info.step,
        session.trainer().total_steps(),
        info.checkpoint.display()
    );
    describe(session.trainer());
    run_to_end(&mut session, args.quiet)
}

fn run_to_end(session: &mut Session, quiet: bool) -> Result<(), CliError> {
    let stop = crate::interrupt::stop_flag();
    let mut progress = Progress::new(session.trainer().total_steps(), session.steps_done(), quiet);
    let result = session.run(&mut progress, &stop);
    progress.finish();
    let summary = result.map_err(CliError::Train)?;
    print_summary(&summary);
    Ok(())
}

/// Prints the end-of-run summary.
pub fn print_summary(s: &Summary) {
    let how = match s.stop {
        StopReason::Completed => "completed",
        StopReason::EarlyStopping => "stopped early (early stopping)",
        StopReason::Plateau => "stopped on a plateau (hooks.on_plateau)",
        StopReason::Interrupted => "interrupted",
    };
    println!("{how}: {}/{} steps in {:.2} s", s.steps_done, s.total_steps, s.elapsed.as_secs_f64());
    if let Some(e) = &s.final_eval {
        if let Some(acc) = e.accuracy() {
            let best =
                s.best_of("val/accuracy").map(|(v, st)| format!(", best {v:.4} (step {st})")).unwrap_or_default();
            println!("  val/accuracy: final {acc:.4}{best}");
        }
        let best = s.best_of("val/loss").map(|(v, st)| format!(", best {v:.4} (step {st})")).unwrap_or_default();
        println!("  val/loss:     final {:.4}{best}", e.loss());
        if let Some(ppl) = e.named("val/perplexity") {
            let best =
                s.best_of("val/perplexity").map(|(v, st)| format!(", best {v:.4} (step {st})")).unwrap_or_default();
            println!("  val/perplexity: final {ppl:.4}{best}");
        }
    }
    println!("  run directory: {}", s.run_dir.display());
    if let Some(c) = &s.last_checkpoint {
        println!("  checkpoint:    {}", c.display());
    }
    if s.stop == StopReason::Interrupted {
        println!("continue with: cargo run -p cli -- resume {}", s.run_dir.display());
    }
    let logdir = s.run_dir.parent().and_then(Path::parent).map_or_else(|| "runs".into(), |p| p.display().to_string());
    println!("watch it: tensorboard --logdir {logdir}   (add --samples_per_plugin scalars=0 to see every step)");
}

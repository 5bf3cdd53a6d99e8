//! `train` and `resume`.

use std::path::Path;

use trainer::checkpoint::Kind;
use trainer::{ResumeInfo, RunConfig, Session, StopReason, Summary, Trainer};

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
    write_config(&run_dir, &loaded.value)?;
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
/// valid checkpoint; says which one when it falls back, and what it removed. The run's
/// `config.yaml` is rewritten (with the `--set` overrides) only once the resume has started.
pub fn resume(args: &ResumeArgs) -> Result<(), CliError> {
    let config_path = args.run_dir.join(RUN_CONFIG);
    if args.run_dir.is_dir() && !config_path.exists() {
        return Err(crate::target::not_a_run_dir(&args.run_dir, ""));
    }
    let loaded: Loaded<RunConfig> = load(&config_path, &args.overrides.set)?;
    let trainer = Trainer::build(loaded.value.clone()).map_err(|e| locate(e, &loaded))?;
    let (mut session, info) = trainer.resume(&args.run_dir, args.allow_config_change).map_err(CliError::Train)?;
    report_resume(&info);
    if !args.overrides.set.is_empty() {
        write_config(&args.run_dir, &loaded.value)?;
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

/// What a resume skipped, fell back to, accepted and removed.
fn report_resume(info: &ResumeInfo) {
    for s in &info.skipped {
        println!("skipped a checkpoint that does not load: {s}");
    }
    let name = info.checkpoint.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    if info.kind != Kind::Step {
        println!("resuming from checkpoints/{name} (step {}): no newer step checkpoint loads", info.step);
    }
    if info.unverified {
        println!("note: checkpoints/{name} has no manifest (written by an older version): its files are not verified");
    }
    for c in &info.accepted_changes {
        println!("config changed (accepted with --allow-config-change): {c}");
    }
    for r in &info.invalidated {
        println!("set aside {r}: it does not load, and this resume continues from the older step {}", info.step);
    }
}

pub(crate) fn write_config(run_dir: &Path, config: &RunConfig) -> Result<(), CliError> {
    let text = serde_saphyr::to_string(config)
        .map_err(|e| CliError::Other(format!("cannot write the resolved config: {e}")))?;
    let header = "# The resolved run config (defaults filled in); `cli resume <this directory>` reads it.\n";
    let path = run_dir.join(RUN_CONFIG);
    let tmp = run_dir.join(".config.yaml.tmp");
    std::fs::write(&tmp, format!("{header}{text}"))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))
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

//! `train` and `resume`.

use std::path::Path;

use trainer::checkpoint::Kind;
use trainer::{ResumeInfo, RunConfig, Session, StopReason, Summary, Trainer};

use crate::args::{ResumeArgs, TrainArgs};
use crate::error::{CliError, locate};
use crate::load::{Loaded, load};
use crate::output::say;
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
    // Locked first: nothing is written in a directory another process trains in.
    let mut session = trainer.start(&run_dir).map_err(CliError::Train)?;
    crate::runs::write_config(&run_dir, &loaded.value)?;
    if !args.quiet {
        say(format_args!("run {} → {}", loaded.value.name, run_dir.display()));
        describe(session.trainer());
        say(format_args!("  watch it: {}", watch_command(&run_dir, session.trainer())));
    }
    run_to_end(&mut session, args.quiet)
}

/// Prints what the run trains: the model's origin, the data, the parameters and the steps.
fn describe(trainer: &Trainer) {
    if let Some(origin) = trainer.model_origin() {
        say(format_args!("  model: {origin}"));
    }
    let frozen = match trainer.frozen_parameter_count() {
        0 => String::new(),
        n => format!(" ({n} frozen)"),
    };
    say(format_args!(
        "  {} | {} trainable parameters{frozen} | {} | {} steps ({} per epoch)",
        trainer.data_description(),
        trainer.parameter_count(),
        trainer.device_description(),
        trainer.total_steps(),
        trainer.steps_per_epoch()
    ));
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
        crate::runs::write_config(&args.run_dir, &loaded.value)?;
    }
    say(format_args!(
        "resuming {} at step {}/{} from {}",
        args.run_dir.display(),
        info.step,
        session.trainer().total_steps(),
        info.checkpoint.display()
    ));
    describe(session.trainer());
    run_to_end(&mut session, args.quiet)
}

/// What a resume skipped, fell back to, accepted and removed.
fn report_resume(info: &ResumeInfo) {
    for s in &info.skipped {
        say(format_args!("skipped a checkpoint that does not load: {s}"));
    }
    let name = info.checkpoint.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    if info.kind != Kind::Step {
        say(format_args!("resuming from checkpoints/{name} (step {}): no newer step checkpoint loads", info.step));
    }
    if info.unverified {
        say(format_args!(
            "note: checkpoints/{name} has no manifest (written by an older version): its files are not verified"
        ));
    }
    for c in &info.accepted_changes {
        say(format_args!("config changed (accepted with --allow-config-change): {c}"));
    }
    for r in &info.invalidated {
        say(format_args!(
            "set aside {r}: it does not load, and this resume continues from the older step {}",
            info.step
        ));
    }
}

/// Trains to the end and prints the summary. Stdout write failures are ignored (training goes
/// on to the end, writing its run directory, when nobody reads its progress). A clean stop on a
/// signal is [`CliError::Interrupted`] (exit 128 + the signal), after the summary.
fn run_to_end(session: &mut Session, quiet: bool) -> Result<(), CliError> {
    let stop = crate::interrupt::stop_flag();
    let mut progress = Progress::new(session.trainer().total_steps(), session.steps_done(), quiet);
    let result = session.run(&mut progress, &stop);
    progress.finish();
    let summary = result.map_err(CliError::Train)?;
    print_summary(&summary, &watch_command(&summary.run_dir, session.trainer()));
    match summary.stop {
        StopReason::Interrupted => {
            Err(CliError::Interrupted { signal: crate::interrupt::signal().unwrap_or(crate::interrupt::CTRL_C) })
        }
        _ => Ok(()),
    }
}

/// The best value and step of metric `name`, as `, best V (step S)`.
fn best(s: &Summary, name: &str) -> String {
    s.best_of(name).map(|(v, st)| format!(", best {v:.4} (step {st})")).unwrap_or_default()
}

/// The TensorBoard command that shows every point of the run in `run_dir` (see
/// [`crate::tensorboard::command`]): `--logdir` is the runs folder, `runs/<name>/<version>/../..`.
fn watch_command(run_dir: &Path, trainer: &Trainer) -> String {
    let logdir = run_dir.parent().and_then(Path::parent).map_or_else(|| "runs".into(), |p| p.display().to_string());
    let points = crate::tensorboard::points_per_tag(trainer.config(), trainer.total_steps());
    crate::tensorboard::command(&crate::invocation::shell_word(&logdir), points)
}

/// Prints the end-of-run summary (write failures ignored), ending with `watch`, the
/// TensorBoard command for the run.
pub fn print_summary(s: &Summary, watch: &str) {
    let how = match s.stop {
        StopReason::Completed => "completed",
        StopReason::EarlyStopping => "stopped early (early stopping)",
        StopReason::Plateau => "stopped on a plateau (hooks.on_plateau)",
        StopReason::Interrupted => "interrupted",
    };
    say(format_args!("{how}: {}/{} steps in {:.2} s", s.steps_done, s.total_steps, s.elapsed.as_secs_f64()));
    if let Some(e) = &s.final_eval {
        if let Some(acc) = e.accuracy() {
            say(format_args!("  val/accuracy: final {acc:.4}{}", best(s, "val/accuracy")));
        }
        say(format_args!("  val/loss:     final {:.4}{}", e.loss(), best(s, "val/loss")));
        if let Some(ppl) = e.named("val/perplexity") {
            say(format_args!("  val/perplexity: final {ppl:.4}{}", best(s, "val/perplexity")));
        }
        // The weight averages' headline metric (accuracy, else loss), when the run keeps any.
        for avg in ["val_ema", "val_swa"] {
            let name = ["accuracy", "loss"].map(|m| format!("{avg}/{m}")).into_iter().find(|n| e.named(n).is_some());
            if let Some(name) = name {
                let value = e.named(&name).unwrap_or(f64::NAN);
                say(format_args!("  {name}: final {value:.4}{}", best(s, &name)));
            }
        }
    }
    say(format_args!("  run directory: {}", s.run_dir.display()));
    if let Some(c) = &s.last_checkpoint {
        say(format_args!("  checkpoint:    {}", c.display()));
    }
    if s.stop == StopReason::Interrupted {
        let dir = crate::invocation::shell_word(&s.run_dir.to_string_lossy());
        say(format_args!("continue with: {} resume {dir}", crate::invocation::program()));
    }
    say(format_args!("watch it: {watch}"));
}

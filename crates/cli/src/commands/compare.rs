//! `compare CONFIG --schedules a.yaml b.yaml …`: the same model, data and seed trained once per
//! schedule into `runs/<name>/compare-<n>/<label>/`, then a table (printed, and written as CSV and
//! Markdown) and a PNG of the LR and validation curves.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use trainer::{Observer, RunConfig, Silent, StopReason, Trainer};

use crate::args::CompareArgs;
use crate::error::{CliError, locate};
use crate::load::{Loaded, load};
use crate::report::compare::{self as report, Status, Target};

/// A file read for its `schedule:` section only.
#[derive(Debug, Deserialize, Serialize)]
struct ScheduleOnly {
    schedule: sched::ScheduleConfig,
}

/// One schedule to compare, built once when checked and kept until it runs.
pub(crate) struct Entry {
    /// Its directory in the comparison (or sweep).
    pub(crate) label: String,
    /// Its config.
    pub(crate) config: RunConfig,
    /// Its trainer, built from `config`.
    pub(crate) trainer: Trainer,
}

/// Prints a run's events with its label.
struct Labelled<'a> {
    label: &'a str,
}

impl Observer for Labelled<'_> {
    fn on_eval(&mut self, r: &trainer::Evaluation) {
        let acc = r.accuracy().map(|a| format!(" val/accuracy {a:.4}")).unwrap_or_default();
        crate::output::say(format_args!("[{}] step {}: val/loss {:.4}{acc}", self.label, r.step, r.loss()));
    }
}

/// Names in a comparison directory that are not runs.
const RESERVED: [&str; 3] = ["summary.csv", "summary.md", "compare.png"];

/// `label`, or `label-2`, `label-3`… if taken, compared as a case-insensitive file system
/// would (so `X` and `x` get different directories everywhere); the report files' names are
/// taken too.
fn unique(label: String, taken: &[Entry]) -> String {
    let clash = |l: &str| {
        let l = l.to_lowercase();
        taken.iter().any(|e| e.label.to_lowercase() == l) || RESERVED.contains(&l.as_str())
    };
    let mut out = label.clone();
    let mut n = 2;
    while clash(&out) {
        out = format!("{label}-{n}");
        n += 1;
    }
    out
}

/// The label of the run of `path`, a `--schedules` file: its file stem, which must be a
/// directory name (see [`trainer::paths::dir_name_problem`]).
fn file_label(path: &Path) -> Result<String, Box<crate::yaml::ConfigFileError>> {
    let stem = path.file_stem().map_or_else(|| "schedule".to_owned(), |s| s.to_string_lossy().into_owned());
    match trainer::paths::dir_name_problem(&stem) {
        None => Ok(stem),
        Some(problem) => Err(Box::new(crate::yaml::ConfigFileError::plain(
            &path.display().to_string(),
            format!("this file's name gives its run the label {stem:?}, which {problem}: rename the file"),
        ))),
    }
}

/// Builds `config`, which checks it. Problems go to `errors`, those in the schedule placed by
/// `place(path, message)`; returns the trainer when it is valid.
fn check(
    config: &RunConfig,
    base: &Loaded<RunConfig>,
    place: impl Fn(&str, String) -> crate::yaml::ConfigFileError,
    errors: &mut Vec<crate::yaml::ConfigFileError>,
) -> Result<Option<Trainer>, CliError> {
    let e = match Trainer::build(config.clone()) {
        Ok(trainer) => return Ok(Some(trainer)),
        Err(e) => e,
    };
    match locate(e, base) {
        CliError::Config(list) => errors.extend(list.into_iter().map(|err| match err.field.clone() {
            Some(f) if f.starts_with("schedule") => place(&f, err.message),
            _ => err,
        })),
        other => return Err(other),
    }
    Ok(None)
}

/// The runs: one per `--schedules` file, else one per entry of the config's `compare:` list.
/// Every run is checked fully first, so nothing starts unless every run can.
fn entries(args: &CompareArgs, base: &Loaded<RunConfig>) -> Result<Vec<Entry>, CliError> {
    let mut out: Vec<Entry> = Vec::new();
    let mut errors = Vec::new();
    let with_schedule = |schedule: &sched::ScheduleConfig| RunConfig {
        schedule: schedule.clone(),
        compare: Vec::new(),
        seeds: Vec::new(),
        ..base.value.clone()
    };
    if args.schedules.is_empty() {
        if base.value.compare.is_empty() {
            return Err(CliError::Other(
                "give the schedules to compare: --schedules a.yaml b.yaml …, or a `compare:` list in the config".into(),
            ));
        }
        for (i, c) in base.value.compare.iter().enumerate() {
            let config = with_schedule(&c.schedule);
            let place = |f: &str, m| base.error_at(&format!("compare[{i}].{f}"), m);
            let label = c.label.clone().unwrap_or_else(|| c.schedule.kind.name().to_owned());
            let bad_label = trainer::paths::dir_name_problem(&label);
            if let Some(problem) = &bad_label {
                errors.push(base.error_at(&format!("compare[{i}].label"), problem.clone()));
            }
            if let Some(trainer) = check(&config, base, place, &mut errors)?
                && bad_label.is_none()
            {
                out.push(Entry { label: unique(label, &out), config, trainer });
            }
        }
    }
    for path in &args.schedules {
        let loaded: Loaded<ScheduleOnly> = match load(path, &[]) {
            Ok(l) => l,
            Err(e) => {
                errors.push(*e);
                continue;
            }
        };
        let config = with_schedule(&loaded.value.schedule);
        let label = file_label(path).map_err(|e| errors.push(*e)).ok();
        if let Some(trainer) = check(&config, base, |f, m| loaded.error_at(f, m), &mut errors)?
            && let Some(label) = label
        {
            out.push(Entry { label: unique(label, &out), config, trainer });
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(CliError::Config(errors)) }
}

/// Refuses a `--target` on a metric the runs' task never produces.
fn check_target(target: &Target, runs: &[Entry]) -> Result<(), CliError> {
    let Some(first) = runs.first() else { return Ok(()) };
    let metrics = first.trainer.metrics();
    if metrics.find(&target.metric).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = metrics.all().iter().map(|m| m.name).collect();
    Err(CliError::Other(format!(
        "--target {}: these runs never produce `{}`; their evaluation produces {}",
        target.metric,
        target.metric,
        names.join(", ")
    )))
}

/// Runs `compare`. Every run is checked (and `--target`) before any directory is created.
/// Fails with [`CliError::Interrupted`] after Ctrl-C and [`CliError::RunsFailed`] when a run
/// failed, once the table (which says which) is written.
pub fn compare(args: &CompareArgs) -> Result<(), CliError> {
    let target = args.target.as_deref().map(Target::parse).transpose().map_err(CliError::Other)?;
    let base: Loaded<RunConfig> = load(&args.config, &args.overrides.set)?;
    let runs = entries(args, &base)?;
    let seeds = seed_list(args.seeds, &base.value);
    let schedules: Vec<String> = runs.iter().map(|e| e.label.clone()).collect();
    let runs = match &seeds {
        Some(seeds) => with_seeds(runs, seeds, &base)?,
        None => runs,
    };
    if let Some(t) = &target {
        check_target(t, &runs)?;
    }
    let root = base.value.logging.dir.join(&base.value.name);
    let dir = crate::runs::create_numbered_dir(&root, "compare-")
        .map_err(|e| CliError::Other(format!("cannot create a compare directory under {}: {e}", root.display())))?;
    crate::output::say(format_args!(
        "comparing {} schedules → {} ({} at a time)",
        schedules.len(),
        dir.display(),
        args.jobs.max(1)
    ));
    if let Some(seeds) = &seeds {
        crate::output::say(format_args!("seeds: {}", seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")));
        for label in &schedules {
            std::fs::create_dir(dir.join(label))
                .map_err(|e| CliError::Other(format!("cannot create {}: {e}", dir.join(label).display())))?;
        }
    }

    let labels: Vec<String> = runs.iter().map(|e| e.label.clone()).collect();
    let stop = crate::interrupt::stop_flag();
    let results = run_all(runs, &dir, args.jobs, &stop)?;
    let mut rows = Vec::new();
    for (label, result) in labels.iter().zip(results) {
        let (status, seconds) = match result {
            Some(Ok((seconds, reason))) => (Status::of(reason), Some(seconds)),
            Some(Err(e)) => {
                crate::output::note(format_args!("[{label}] failed: {e}"));
                (Status::Failed, None)
            }
            None => {
                crate::output::note(format_args!("[{label}] not started: interrupted"));
                (Status::Interrupted, None)
            }
        };
        rows.push(report::row(label, &dir.join(label), target.as_ref(), status, seconds).map_err(CliError::Other)?);
    }
    match &seeds {
        Some(_) => crate::report::seeds::write_all(&dir, "schedule", &grouped(&schedules, &rows), target.as_ref())?,
        None => report::write_all(&dir, "schedule", &rows, target.as_ref())?,
    }
    if stop.load(Ordering::SeqCst) || rows.iter().any(|r| r.status == Status::Interrupted) {
        return Err(CliError::Interrupted { signal: crate::interrupt::signal().unwrap_or(crate::interrupt::CTRL_C) });
    }
    match rows.iter().filter(|r| r.status == Status::Failed).count() {
        0 => Ok(()),
        n => Err(CliError::RunsFailed(n)),
    }
}

/// The seeds each schedule runs with: `--seeds N` (the config's seed and the N − 1 after it),
/// else the config's `seeds:` list (each seed once); `None` for one run per schedule (no seed folders).
pub(crate) fn seed_list(n: Option<u64>, config: &RunConfig) -> Option<Vec<u64>> {
    match n {
        Some(n) => Some((0..n).map(|i| config.seed.wrapping_add(i)).collect()),
        None if !config.seeds.is_empty() => {
            let mut seen = std::collections::BTreeSet::new();
            Some(config.seeds.iter().copied().filter(|s| seen.insert(*s)).collect())
        }
        None => None,
    }
}

/// Each run once per seed, in `<label>/seed-<s>`; each built (and so checked) with its seed.
pub(crate) fn with_seeds(runs: Vec<Entry>, seeds: &[u64], base: &Loaded<RunConfig>) -> Result<Vec<Entry>, CliError> {
    let mut out = Vec::new();
    for entry in runs {
        for &seed in seeds {
            let config = RunConfig { seed, ..entry.config.clone() };
            let trainer = Trainer::build(config.clone()).map_err(|e| locate(e, base))?;
            out.push(Entry { label: format!("{}/seed-{seed}", entry.label), config, trainer });
        }
    }
    Ok(out)
}

/// The rows of the runs (labelled `<schedule>/seed-<s>`) grouped by schedule.
pub(crate) fn grouped(schedules: &[String], rows: &[report::Row]) -> Vec<crate::report::seeds::Group> {
    schedules
        .iter()
        .map(|label| {
            let prefix = format!("{label}/seed-");
            let runs =
                rows.iter().filter_map(|r| Some((r.label.strip_prefix(&prefix)?.parse().ok()?, r.clone()))).collect();
            crate::report::seeds::Group { label: label.clone(), runs }
        })
        .collect()
}

/// What a run returns: its wall time and why it stopped, or why it failed.
pub(crate) type RunResult = Result<(f64, StopReason), String>;

/// Trains the runs, `jobs` at a time, each in `dir/<label>`, starting none once `stop` is set;
/// returns, in the runs' order, each one's result (`None` if it did not start).
pub(crate) fn run_all(
    runs: Vec<Entry>,
    dir: &Path,
    jobs: usize,
    stop: &AtomicBool,
) -> Result<Vec<Option<RunResult>>, CliError> {
    let workers = jobs.clamp(1, runs.len().max(1));
    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(runs.iter().map(|_| None).collect());
    let queue = Mutex::new(runs.into_iter().enumerate());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                // The guard is dropped at the end of the statement: the run holds no lock.
                while let Some((i, entry)) =
                    queue.lock().ok().filter(|_| !stop.load(Ordering::SeqCst)).and_then(|mut q| q.next())
                {
                    let run_dir = dir.join(&entry.label);
                    let result = run_one(entry, &run_dir, stop, jobs > 1);
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(result);
                    }
                }
            });
        }
    });
    results.into_inner().map_err(|_| CliError::Other("a run panicked".into()))
}

/// Trains one schedule in `dir`, a new directory (an existing one is an error, never reused);
/// returns its wall time in seconds and why it stopped.
fn run_one(entry: Entry, dir: &Path, stop: &AtomicBool, quiet: bool) -> RunResult {
    let Entry { label, config, trainer } = entry;
    std::fs::create_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    crate::runs::write_config(dir, &config).map_err(|e| e.to_string())?;
    let mut session = trainer.start(dir).map_err(|e| e.to_string())?;
    crate::output::say(format_args!("[{label}] training {} steps", session.trainer().total_steps()));
    let summary =
        if quiet { session.run(&mut Silent, stop) } else { session.run(&mut Labelled { label: &label }, stop) }
            .map_err(|e| e.to_string())?;
    let seconds = summary.elapsed.as_secs_f64();
    crate::output::say(format_args!("[{label}] {} in {seconds:.1} s", Status::of(summary.stop).as_str()));
    Ok((seconds, summary.stop))
}

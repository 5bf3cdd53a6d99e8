//! What `generate`, `eval` and `export` act on: a run directory (its config and one of its
//! checkpoints: the newest periodic one, `best`, or a step) or a config file (the untrained base
//! model).

use std::path::{Path, PathBuf};

use trainer::RunConfig;
use trainer::checkpoint::{Checkpointer, MODEL_FILE, STATE_FILE, manifest, step_label};
use trainer::optim::average::Weights;

use crate::args::{CheckpointArg, WeightsArg};
use crate::commands::train::RUN_CONFIG;
use crate::error::CliError;
use crate::load::{Loaded, load};

/// A resolved target.
pub struct Target {
    /// The run's (or the file's) config.
    pub loaded: Loaded<RunConfig>,
    /// The checkpoint whose weights to use; `None` for a config file.
    pub checkpoint: Option<PathBuf>,
    /// Which of the checkpoint's weights: the trained ones or an average.
    pub weights: Weights,
}

impl Target {
    /// What the target is, in words (for messages).
    pub fn describe(&self) -> String {
        match (&self.checkpoint, self.weights) {
            (Some(c), Weights::Raw) => format!("checkpoint {}", c.display()),
            (Some(c), w) => format!("checkpoint {} ({} weights)", c.display(), w.name().to_uppercase()),
            (None, _) => "the untrained base model of the config".to_owned(),
        }
    }
}

/// Resolves `target` (a run directory or a config file) and `which` (`--checkpoint`: `best`,
/// `last` or a step number, default `last`, and `--weights`; only for run directories), with
/// `--set` overrides.
pub fn resolve(target: &Path, which: &CheckpointArg, sets: &[String]) -> Result<Target, CliError> {
    if target.is_dir() {
        let config = target.join(RUN_CONFIG);
        if !config.is_file() {
            return Err(not_a_run_dir(target, " or a config file"));
        }
        let loaded: Loaded<RunConfig> = load(&config, sets)?;
        let name = which.checkpoint.as_deref().unwrap_or("last");
        let checkpoint = Some(choose(target, name)?);
        let weights = match which.weights {
            Some(w) => w.weights(),
            None if name == "best" => monitored_weights(&loaded.value.train.best_monitor),
            None => Weights::Raw,
        };
        return Ok(Target { loaded, checkpoint, weights });
    }
    if !target.is_file() {
        return Err(CliError::Other(format!("{} is neither a run directory nor a config file", target.display())));
    }
    let flag = match (&which.checkpoint, which.weights) {
        (Some(c), _) => Some(format!("--checkpoint {c}")),
        (None, Some(w)) if w != WeightsArg::Raw => Some(format!("--weights {}", w.weights().name())),
        _ => None,
    };
    if let Some(flag) = flag {
        return Err(CliError::Other(format!(
            "{flag} needs a run directory; {} is a config file (its untrained base model)",
            target.display()
        )));
    }
    Ok(Target { loaded: load(target, sets)?, checkpoint: None, weights: Weights::Raw })
}

/// The weights on which the metric `monitor` is measured (`val_ema/…` → EMA).
fn monitored_weights(monitor: &str) -> Weights {
    [Weights::Ema, Weights::Swa]
        .into_iter()
        .find(|w| monitor.starts_with(&format!("val_{}/", w.name())))
        .unwrap_or(Weights::Raw)
}

/// The run directories (`version_<n>` holding a `config.yaml`) directly under `dir`, newest
/// (highest `n`) first.
pub fn version_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_str()?.strip_prefix("version_")?.parse().ok()?;
            let path = e.path();
            path.join(RUN_CONFIG).is_file().then_some((n, path))
        })
        .collect();
    found.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    found.into_iter().map(|(_, p)| p).collect()
}

/// `dir is not a run directory`, suggesting the run directories under it when it holds some
/// (`runs/<name>` instead of `runs/<name>/version_<n>`).
pub fn not_a_run_dir(dir: &Path, what: &str) -> CliError {
    let versions = version_dirs(dir);
    let Some(newest) = versions.first() else {
        if dir.join(trainer::run::lock::LOCK_FILE).is_file() {
            // `train` locks its new directory first, then writes config.yaml: it was stopped in
            // between, before training started.
            return CliError::Other(format!(
                "{} holds a run stopped before it wrote its {RUN_CONFIG} (nothing was trained); start it again with `cli train <config>`",
                dir.display()
            ));
        }
        return CliError::Other(format!(
            "{} is not a run directory (it has no {RUN_CONFIG}); give a run directory (runs/<name>/<version>){what}",
            dir.display()
        ));
    };
    let list: Vec<String> = versions.iter().take(5).map(|p| p.display().to_string()).collect();
    let more = if versions.len() > 5 { format!(" and {} more", versions.len() - 5) } else { String::new() };
    CliError::Other(format!(
        "{} is not a run directory but holds {} run(s); give one of them, e.g. {} (newest first: {}{more})",
        dir.display(),
        versions.len(),
        newest.display(),
        list.join(", ")
    ))
}

/// The checkpoint `which` of the run in `run_dir`.
fn choose(run_dir: &Path, which: &str) -> Result<PathBuf, CliError> {
    let checkpoints = Checkpointer::new(run_dir, 1);
    let dir = checkpoints.dir();
    let complete = |p: &Path| p.join(MODEL_FILE).is_file() && p.join(STATE_FILE).is_file();
    let found = match which {
        "last" => checkpoints.periodic().into_iter().map(|(_, p)| p).find(|p| complete(p) && verified(p).is_ok()),
        "best" => Some(dir.join("best")).filter(|p| complete(p)),
        step => {
            let n: u64 = step
                .parse()
                .map_err(|_| CliError::Other(format!("--checkpoint `{step}`: expected best, last or a step number")))?;
            Some(dir.join(step_label(n))).filter(|p| complete(p))
        }
    };
    if let Some(p) = &found {
        verified(p)?;
    }
    found.ok_or_else(|| {
        let have = available(dir, complete);
        let have = if have.is_empty() { "none".to_owned() } else { have.join(", ") };
        CliError::Other(format!("no complete checkpoint `{which}` in {} (there: {have})", dir.display()))
    })
}

/// Checks the checkpoint's files against its manifest (one without a manifest, written by an
/// older version, is used as it is).
fn verified(checkpoint: &Path) -> Result<(), CliError> {
    manifest::verify(checkpoint, &[MODEL_FILE, STATE_FILE])
        .map(|_| ())
        .map_err(|why| CliError::Other(format!("checkpoint {} is damaged: {why}", checkpoint.display())))
}

fn available(dir: &Path, complete: impl Fn(&Path) -> bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter(|e| complete(&e.path()))
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Train and fine-tune with PyTorch-exact learning-rate schedules on candle.
///
/// `cli CONFIG.yaml` is short for `cli train CONFIG.yaml`.
#[derive(Debug, Parser)]
#[command(name = "cli", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a run config: writes runs/<name>/<version>/ (config, event files, metrics.jsonl,
    /// checkpoints).
    Train(TrainArgs),
    /// Continue the run in RUN_DIR from its newest valid checkpoint.
    Resume(ResumeArgs),
    /// Print a schedule step by step without training (needs only `optimizer:` and `schedule:`).
    Schedule(ScheduleArgs),
    /// Check a config and print it resolved (defaults filled in) with the schedule's key points.
    Validate(ValidateArgs),
    /// Print the JSON Schema of run configs (for editor completion and checking).
    Schema,
}

/// `train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The run config (YAML).
    pub config: PathBuf,
    /// Override a config field, e.g. `--set train.max_steps=200` (repeatable; the value is YAML).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Plain line log instead of a progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The run directory (runs/<name>/<version>).
    pub run_dir: PathBuf,
    /// Override a field of the run's config (e.g. `train.max_steps` to train longer).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Continue even if the schedule or optimizer config differs from the checkpoint's.
    #[arg(long)]
    pub allow_config_change: bool,
    /// Plain line log instead of a progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Output format of `schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table of sampled steps and a terminal chart.
    Table,
    /// `step,lr[,momentum]`, one row per step, full precision.
    Csv,
}

/// `schedule`.
#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// A YAML file with `optimizer:` and `schedule:` sections (other sections are ignored).
    pub config: PathBuf,
    /// Number of optimizer steps to print (default: the config's train.max_steps).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Monitored values for plateau schedules: line i is observed right after step i.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also draw the schedule (and momentum) into this PNG file.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Override a config field (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The run config (YAML).
    pub config: PathBuf,
    /// Override a config field (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// The subcommand names, to recognise `cli CONFIG.yaml` as `cli train CONFIG.yaml`.
pub const SUBCOMMANDS: &[&str] = &["train", "resume", "schedule", "validate", "schema", "help"];

/// Inserts `train` when the first argument is not a subcommand or an option.
pub fn with_default_subcommand(mut args: Vec<String>) -> Vec<String> {
    if let Some(first) = args.get(1) {
        if !first.starts_with('-') && !SUBCOMMANDS.contains(&first.as_str()) {
            args.insert(1, "train".to_owned());
        }
    }
    args
}

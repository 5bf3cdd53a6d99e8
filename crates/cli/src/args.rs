//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use trainer::optim::average::Weights;

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
    /// Leslie Smith's LR range test: suggests a learning rate for the config.
    #[command(name = "lr-find")]
    LrFind(LrFindArgs),
    /// Train the same model, data and seed once per schedule and compare them.
    Compare(CompareArgs),
    /// Train one run per point of a grid of `--set` values and compare them.
    Sweep(SweepArgs),
    /// Continue a prompt with a causal language model (a run's checkpoint, or a config's base
    /// model); prints the continuation only.
    Generate(GenerateArgs),
    /// A checkpoint's metrics on the run's validation (or training) data, another data file, or
    /// (`--text`) the perplexity of a text file under a causal language model.
    Eval(EvalArgs),
    /// Predict each row of a data file with a classification or regression run (a checkpoint,
    /// or a config's untrained model).
    Predict(PredictArgs),
    /// Export a causal LM run: a PEFT LoRA adapter, or a merged Hugging Face model folder.
    Export(ExportArgs),
    /// A run at a glance without TensorBoard: config, status, metrics, checkpoints and charts
    /// (a run directory), or one line per run (a compare folder, runs/<name>/, runs/).
    Show(ShowArgs),
}

/// `show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A run directory (runs/<name>/<version>), or a folder of runs.
    pub path: PathBuf,
    /// Also draw the charts into this PNG file.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
}

/// Which weights of a run directory: `last` (the newest periodic checkpoint), `best`, or a step;
/// the trained weights or one of the run's weight averages.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CheckpointArg {
    /// `best`, `last` (the newest step checkpoint; the default) or a step number.
    #[arg(long, value_name = "best|last|STEP")]
    pub checkpoint: Option<String>,
    /// The checkpoint's trained weights (`raw`) or one of its averages (`ema`: train.ema, `swa`:
    /// train.swa). Default: `raw`, except for `--checkpoint best` of a run whose
    /// train.best_monitor is measured on an average (`val_ema/…`, `val_swa/…`): that average.
    #[arg(long, value_enum)]
    pub weights: Option<WeightsArg>,
}

/// `--weights`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WeightsArg {
    /// The weights the optimizer trained.
    Raw,
    /// The exponential moving average (train.ema).
    Ema,
    /// The stochastic weight average (train.swa).
    Swa,
}

impl WeightsArg {
    /// The trainer's name for these weights.
    pub fn weights(self) -> Weights {
        match self {
            WeightsArg::Raw => Weights::Raw,
            WeightsArg::Ema => Weights::Ema,
            WeightsArg::Swa => Weights::Swa,
        }
    }
}

/// `generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// A run directory (runs/<name>/<version>) or a config file (its untrained base model).
    pub target: PathBuf,
    /// The text to continue.
    #[arg(long)]
    pub prompt: String,
    /// Most tokens to generate (stops earlier at the end-of-sequence token).
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy (the most likely token each time).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Nucleus sampling: draw from the most likely tokens whose probabilities sum to this.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Seed of the sampler (temperature > 0).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wrap the prompt in the model's chat template as a user message.
    #[arg(long)]
    pub chat: bool,
    /// Which checkpoint of a run directory.
    #[command(flatten)]
    pub checkpoint: CheckpointArg,
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// Output format of `eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    /// Readable lines.
    Text,
    /// `{"loss": …, "perplexity": …, "tokens": …}`.
    Json,
}

/// Which split `eval` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalSplit {
    /// The validation examples (what the run logged).
    Val,
    /// The training examples.
    Train,
}

/// Output format of `predict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PredictFormat {
    /// A header row, then one row per example.
    Csv,
    /// One JSON object per example.
    Jsonl,
}

/// `predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A run directory (runs/<name>/<version>) or a config file (its untrained model).
    pub target: PathBuf,
    /// The rows to predict: a file in the format and with the fields of the run's data
    /// (tabular or text_classification); the target column may be absent.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Write the predictions to this file (replaced atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PredictFormat::Csv)]
    pub format: PredictFormat,
    /// Which checkpoint of a run directory.
    #[command(flatten)]
    pub checkpoint: CheckpointArg,
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// `eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A run directory (runs/<name>/<version>) or a config file (its untrained base model).
    pub target: PathBuf,
    /// A UTF-8 text file: its perplexity under a causal LM, in consecutive non-overlapping
    /// windows, each scored alone. Without it: the task's metrics on the run's data.
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// Evaluate on these files instead of the run's validation data (tabular and
    /// text_classification data; same format and fields as training).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["text", "split"])]
    pub data_path: Vec<PathBuf>,
    /// Which split of the run's data.
    #[arg(long, value_enum)]
    pub split: Option<EvalSplit>,
    /// Tokens per window.
    #[arg(long, default_value_t = 256)]
    pub block_size: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EvalFormat::Text)]
    pub format: EvalFormat,
    /// Which checkpoint of a run directory.
    #[command(flatten)]
    pub checkpoint: CheckpointArg,
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A PEFT LoRA adapter: `adapter_config.json` + `adapter_model.safetensors`.
    Peft,
    /// A Hugging Face model folder with the adapter folded into the weights.
    Merged,
}

/// `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The run directory (runs/<name>/<version>).
    pub run_dir: PathBuf,
    /// What to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The folder to create (it must not exist, or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Which checkpoint.
    #[command(flatten)]
    pub checkpoint: CheckpointArg,
}

/// `--set KEY=VALUE`, declared once for every command that reads a config.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Override a config field, e.g. `--set train.max_steps=200` (repeatable; the value is YAML).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// `train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The run config (YAML).
    pub config: PathBuf,
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
    /// Print only errors and the final summary (no progress bar or progress lines).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The run directory (runs/<name>/<version>).
    pub run_dir: PathBuf,
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
    /// Continue even if the config differs from the checkpoint's in what decides the remaining
    /// steps (schedule, optimizer, model, data, seed, batch size, accumulation, clipping).
    #[arg(long)]
    pub allow_config_change: bool,
    /// Print only errors and the final summary (no progress bar or progress lines).
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
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The run config (YAML).
    pub config: PathBuf,
    /// Also list each value written in the config and the file (or `--set`) it came from.
    #[arg(long)]
    pub origins: bool,
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// `lr-find`.
#[derive(Debug, clap::Args)]
pub struct LrFindArgs {
    /// The run config (YAML); its schedule is replaced by the exponential sweep.
    pub config: PathBuf,
    /// First learning rate.
    #[arg(long, default_value_t = 1e-7)]
    pub min: f64,
    /// Last learning rate.
    #[arg(long, default_value_t = 10.0)]
    pub max: f64,
    /// Number of optimizer steps of the sweep.
    #[arg(long, default_value_t = 100)]
    pub steps: u64,
    /// Smoothing of the loss: exponential moving average factor, with bias correction. Its lag
    /// is about 1/(1 − beta) steps, so keep it well below the number of steps per decade × 10.
    #[arg(long, default_value_t = 0.9)]
    pub beta: f64,
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// `compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The run config (YAML): model, data, seed and everything but the schedule.
    pub config: PathBuf,
    /// YAML files whose `schedule:` section is compared (a full run config works too). Without
    /// it, the config's own `compare:` list is used.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub schedules: Vec<PathBuf>,
    /// Report the step at which a metric first reaches a value, e.g. `val/accuracy=0.95`.
    #[arg(long, value_name = "METRIC=VALUE")]
    pub target: Option<String>,
    /// Runs at once (default 1: one after the other).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Run each schedule with N seeds (the config's seed, seed + 1, …; default: the config's
    /// `seeds:` list, else its seed alone) and report mean ± standard deviation.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub seeds: Option<u64>,
    /// `--set KEY=VALUE` overrides of config fields.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// `sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The run config (YAML); not given with `--resume`.
    #[arg(required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// `KEY=V1,V2,…`: the values of one field (any `--set` path, each value typed as by `--set`);
    /// the sweep runs every combination of the grids. Repeatable.
    #[arg(long, value_name = "KEY=V1,V2,…")]
    pub grid: Vec<String>,
    /// Run each point with N seeds (the config's seed, seed + 1, …) and report mean ± std.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub seeds: Option<u64>,
    /// Runs at once (default 1: one after the other).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Continue the sweep in this directory (runs/<name>/sweep-<n>): completed points are kept,
    /// the others run again from the start.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "grid", "seeds", "set"])]
    pub resume: Option<PathBuf>,
    /// `--set KEY=VALUE` overrides of config fields, for every point.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// The subcommand names, to recognise `cli CONFIG.yaml` as `cli train CONFIG.yaml`.
pub const SUBCOMMANDS: &[&str] = &[
    "train", "resume", "schedule", "validate", "schema", "lr-find", "compare", "sweep", "generate", "eval", "predict",
    "export", "show", "help",
];

/// Inserts `train` when the first argument is not a subcommand or an option.
pub fn with_default_subcommand(mut args: Vec<String>) -> Vec<String> {
    if let Some(first) = args.get(1)
        && !first.starts_with('-')
        && !SUBCOMMANDS.contains(&first.as_str())
    {
        args.insert(1, "train".to_owned());
    }
    args
}

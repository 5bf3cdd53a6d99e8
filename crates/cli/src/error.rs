//! [`CliError`]: everything a command can fail with, printed once by `main`, and the exit
//! status it maps to ([`CliError::exit_status`]).

use std::fmt;
use std::io;

use trainer::TrainError;

use crate::load::Loaded;
use crate::yaml::ConfigFileError;

/// A command's failure.
#[derive(Debug)]
pub enum CliError {
    /// Config problems, each placed in its file (or `--set`).
    Config(Vec<ConfigFileError>),
    /// Training failed.
    Train(TrainError),
    /// Anything else (files, arguments).
    Other(String),
    /// A run stopped cleanly on a signal (SIGINT, SIGTERM, SIGHUP; its summary says so and how to
    /// continue): exit status 128 + the signal's number, nothing more printed.
    Interrupted {
        /// The signal's number.
        signal: i32,
    },
    /// Writing to standard output failed. A closed pipe (the reader is gone, as with `| head`)
    /// ends the command quietly with status 141, as a process killed by SIGPIPE; any other
    /// failure (a full disk) is reported with status 1.
    Stdout(io::Error),
    /// This many runs of a `compare` failed (exit status 1); what failed is already printed.
    RunsFailed(usize),
}

impl CliError {
    /// The process's exit status: 128 + N for a stop by signal N, 141 for a closed standard
    /// output, 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        match self {
            CliError::Interrupted { signal } => crate::interrupt::exit_status(*signal),
            CliError::Stdout(e) if e.kind() == io::ErrorKind::BrokenPipe => 141,
            _ => 1,
        }
    }

    /// Whether `main` prints it as `error: …` (not for a run stopped by a signal, whose summary
    /// said so, nor for a closed pipe, which nobody would read).
    pub fn is_printed(&self) -> bool {
        match self {
            CliError::Interrupted { .. } => false,
            CliError::Stdout(e) => e.kind() != io::ErrorKind::BrokenPipe,
            _ => true,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Config(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            CliError::Train(e) => write!(f, "{e}"),
            CliError::Other(m) => write!(f, "{m}"),
            CliError::Interrupted { signal } => write!(f, "interrupted by signal {signal}"),
            CliError::Stdout(e) => write!(f, "cannot write to standard output: {e}"),
            CliError::RunsFailed(1) => write!(f, "1 run failed"),
            CliError::RunsFailed(n) => write!(f, "{n} runs failed"),
        }
    }
}

impl From<ConfigFileError> for CliError {
    fn from(e: ConfigFileError) -> Self {
        CliError::Config(vec![e])
    }
}

impl From<Box<ConfigFileError>> for CliError {
    fn from(e: Box<ConfigFileError>) -> Self {
        CliError::Config(vec![*e])
    }
}

/// [`locate`], except that a data problem in one of `files` (given on the command line as
/// `flag`, e.g. `predict --input`) is reported against the flag, not the run's config (whose
/// `data:` never named that file).
pub fn locate_input<T>(e: TrainError, loaded: &Loaded<T>, flag: &str, files: &[String]) -> CliError {
    match e {
        TrainError::Config(issues)
            if issues.len() == 1
                && issues[0].path.starts_with("data")
                && files.iter().any(|f| issues[0].message.contains(f.as_str())) =>
        {
            let message = issues.into_iter().map(|i| i.message).collect::<String>();
            CliError::Other(format!("{flag}: {message}"))
        }
        other => locate(other, loaded),
    }
}

/// Turns a training error into a CLI error, placing config issues in the file.
pub fn locate<T>(e: TrainError, loaded: &Loaded<T>) -> CliError {
    match e {
        TrainError::Config(issues) => {
            CliError::Config(issues.into_iter().map(|i| loaded.error_at(&i.path, i.message)).collect())
        }
        other => CliError::Train(other),
    }
}

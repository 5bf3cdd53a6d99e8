//! [`CliError`]: everything a command can fail with, printed once by `main`.

use std::fmt;

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
    /// Ctrl-C stopped the command (exit status 130).
    Interrupted,
    /// This many runs failed (exit status 1); what failed is already printed.
    RunsFailed(usize),
}

impl CliError {
    /// The process exit status for this error: 130 when interrupted, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Interrupted => 130,
            _ => 1,
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
            CliError::Interrupted => write!(f, "interrupted"),
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

/// Turns a training error into a CLI error, placing config issues in the file.
pub fn locate<T>(e: TrainError, loaded: &Loaded<T>) -> CliError {
    match e {
        TrainError::Config(issues) => {
            CliError::Config(issues.into_iter().map(|i| loaded.error_at(&i.path, i.message)).collect())
        }
        other => CliError::Train(other),
    }
}

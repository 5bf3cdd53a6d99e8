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

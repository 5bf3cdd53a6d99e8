//! [`ModelError`]: why a model could not be built or its pretrained weights not loaded.

use std::path::PathBuf;

use crate::hub::HubError;

/// A model build failure.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A config value the model cannot use (reported at its field: `model.max_len`,
    /// `model.num_hidden_layers`, `model`).
    #[error("{0}")]
    Config(crate::FieldIssue),
    /// The model's files are not in a local folder or the Hugging Face cache and could not be
    /// downloaded (reported at field `path`: `model.hub` or `model.local_dir`).
    #[error("{path}: {source}")]
    Hub {
        /// `model.hub` or `model.local_dir`.
        path: String,
        /// Where it looked and what to do.
        source: Box<HubError>,
    },
    /// A model file is unreadable or malformed (a corrupt safetensors file, a `config.json` or
    /// `tokenizer.json` that does not parse, a missing or misshapen tensor).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Tensor(String),
}

impl ModelError {
    /// A [`ModelError::Config`].
    pub fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Config(crate::FieldIssue::new(path, message))
    }
}

impl From<candle_core::Error> for ModelError {
    fn from(e: candle_core::Error) -> Self {
        ModelError::Tensor(crate::device::first_line(&e))
    }
}

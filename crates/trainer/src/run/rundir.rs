//! [`RunDir`]: one run's directory and its layout. Every file of a run lives here:
//!
//! ```text
//! <run dir>/config.yaml                   the resolved config (`cli resume` reads it)
//! <run dir>/metrics.jsonl                 every scalar, one JSON object per line
//! <run dir>/events.out.tfevents.<…>       TensorBoard event files (one per session)
//! <run dir>/checkpoints/step-<n>/         periodic checkpoints; best/, cycle-<k>/ beside them
//! ```

use std::path::{Path, PathBuf};

use crate::checkpoint::Checkpointer;
use crate::logging::{LogError, Scalars, jsonl};

/// The resolved config file of a run.
pub const CONFIG_FILE: &str = "config.yaml";

/// A run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path` (nothing is created).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Creates the directory (and its parents) if missing.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self, LogError> {
        let dir = Self::new(path);
        std::fs::create_dir_all(&dir.path).map_err(|e| LogError::CreateDir { path: dir.path.clone(), source: e })?;
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `config.yaml`.
    pub fn config_file(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// `metrics.jsonl`.
    pub fn metrics_file(&self) -> PathBuf {
        self.path.join(jsonl::FILE_NAME)
    }

    /// The checkpoints, keeping the newest `keep` periodic ones.
    pub fn checkpoints(&self, keep: usize) -> Checkpointer {
        Checkpointer::new(&self.path, keep)
    }

    /// Opens the scalar logs: a new TensorBoard event file if `tensorboard`, `metrics.jsonl`
    /// (appended to) if `jsonl`.
    pub fn scalars(&self, tensorboard: bool, jsonl: bool) -> Result<Scalars, LogError> {
        Scalars::open(&self.path, tensorboard, jsonl)
    }
}

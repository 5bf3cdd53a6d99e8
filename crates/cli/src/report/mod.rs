//! What `compare`, `lr-find` and `show` show and write: tables as text, CSV and Markdown, PNG charts, and
//! the printed suggestions. The commands only orchestrate.

pub mod compare;
pub mod lr_find;
pub mod plot;
pub mod seeds;
pub mod show;
pub mod stats;
pub mod terminal;

use std::path::Path;

use crate::error::CliError;

/// Writes `text` to `path`, naming the file in the error.
fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| CliError::Other(format!("{}: {e}", path.display())))
}

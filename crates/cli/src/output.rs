//! Standard output for the commands. Rust ignores SIGPIPE, so a write to a closed pipe or a full
//! disk fails with an error instead of killing the process: [`line`] and [`text`] turn it into
//! [`CliError::Stdout`] (the command stops at the first failed write); [`say`] ignores it, for
//! training, which goes on writing its run directory when nobody reads its progress.

use std::fmt::Display;
use std::io::Write;

use crate::error::CliError;

/// Writes `text` and a newline to standard output.
pub fn line(text: impl Display) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(CliError::Stdout)
}

/// Writes `text` as it is to standard output.
pub fn text(text: impl Display) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    write!(out, "{text}").and_then(|()| out.flush()).map_err(CliError::Stdout)
}

/// Writes `text` and a newline to standard output, ignoring a failure (a closed pipe, a full
/// disk): training's progress and summary are a courtesy, its files are the record.
pub fn say(text: impl Display) {
    let _ = line(text);
}

/// Writes `text` and a newline to standard error, ignoring a failure (`eprintln!` panics when
/// standard error is closed): warnings and per-run failures that the exit status also reports.
pub fn note(text: impl Display) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}").and_then(|()| err.flush());
}

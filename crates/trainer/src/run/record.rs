//! [`RunRecord`]: how a training invocation ended, written atomically as
//! `<run dir>/summary.json` when [`super::Session::run`] returns (completed, stopped early,
//! interrupted, or failed with the error). A resume replaces it when it ends. A run killed
//! outright (`kill -9`, power loss) leaves the previous one (or none): readers compare it with
//! the newest checkpoint ([`super::inspect`]).

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::observer::{StopReason, Summary};
use crate::safe_fs;

/// The record's file name inside a run directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// Why an invocation ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Every planned step done.
    Completed,
    /// Early stopping ended it.
    EarlyStopping,
    /// `hooks.on_plateau: {action: stop}` ended it.
    Plateau,
    /// A stop was requested (a signal); a checkpoint of the last completed step was saved.
    Interrupted,
    /// An error ended it (`error` says which).
    Failed,
}

impl From<StopReason> for Ending {
    fn from(r: StopReason) -> Self {
        match r {
            StopReason::Completed => Ending::Completed,
            StopReason::EarlyStopping => Ending::EarlyStopping,
            StopReason::Plateau => Ending::Plateau,
            StopReason::Interrupted => Ending::Interrupted,
        }
    }
}

/// The content of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// How it ended.
    pub stop: Ending,
    /// Optimizer steps done.
    pub steps_done: u64,
    /// Steps the run was planned for.
    pub total_steps: u64,
    /// Wall time of the invocation's training, seconds.
    pub elapsed_s: f64,
    /// The error, for [`Ending::Failed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it ended, seconds since the Unix epoch.
    pub ended_at: f64,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl RunRecord {
    /// The record of a run that returned `summary`.
    pub fn of(summary: &Summary) -> Self {
        Self {
            stop: summary.stop.into(),
            steps_done: summary.steps_done,
            total_steps: summary.total_steps,
            elapsed_s: summary.elapsed.as_secs_f64(),
            error: None,
            ended_at: now(),
        }
    }

    /// The record of a run that failed with `error` after `steps_done` steps.
    pub fn failed(steps_done: u64, total_steps: u64, elapsed: Duration, error: &dyn std::fmt::Display) -> Self {
        Self {
            stop: Ending::Failed,
            steps_done,
            total_steps,
            elapsed_s: elapsed.as_secs_f64(),
            error: Some(error.to_string()),
            ended_at: now(),
        }
    }

    /// Writes `<dir>/summary.json` atomically (see [`safe_fs::write_atomic`]).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        text.push('\n');
        safe_fs::write_atomic(&dir.join(SUMMARY_FILE), text.as_bytes())
    }

    /// Reads `<dir>/summary.json`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> io::Result<Option<Self>> {
        let path = dir.join(SUMMARY_FILE);
        match safe_fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunRecord::read(dir.path()).unwrap(), None);
        let r = RunRecord::failed(12, 40, Duration::from_millis(1500), &"loss is NaN");
        r.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(SUMMARY_FILE)).unwrap();
        assert!(text.contains("\"stop\": \"failed\"") && text.contains("\"error\": \"loss is NaN\""), "{text}");
        assert_eq!(RunRecord::read(dir.path()).unwrap(), Some(r));
        std::fs::write(dir.path().join(SUMMARY_FILE), "{").unwrap();
        assert!(RunRecord::read(dir.path()).is_err());
    }
}

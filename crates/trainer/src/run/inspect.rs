//! Reading a run directory from outside the process that trains in it (`cli show`): its status
//! (training, ended and how, or stopped without a record), its checkpoints and its
//! `metrics.jsonl`. Nothing is created or changed (the lock file is only probed).

use std::io;
use std::path::{Path, PathBuf};

use super::lock::{Holder, probe};
use super::record::RunRecord;
use crate::checkpoint::STATE_FILE;
use crate::logging::jsonl;
use crate::safe_fs;

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStatus {
    /// A process holds the run's lock: it is training now (its pid, when readable).
    Running {
        /// The training process.
        pid: Option<u32>,
    },
    /// The last invocation ended and recorded how (`summary.json`).
    Ended(RunRecord),
    /// No process trains and no record covers the newest checkpoint: the process was killed
    /// outright or crashed (or the run predates `summary.json`).
    Unfinished {
        /// The newest periodic checkpoint's step (where a resume continues).
        checkpoint: Option<u64>,
    },
}

/// A checkpoint directory of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointEntry {
    /// Its name (`step-00000100`, `best`, `cycle-000`).
    pub name: String,
    /// The steps done when it was saved (from its `state.json`), when readable.
    pub step: Option<u64>,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The step.
    pub step: u64,
    /// The tag, e.g. `train/loss`.
    pub tag: String,
    /// The value (`None`: logged as `null`, a NaN or an infinity).
    pub value: Option<f64>,
}

/// The run's status: training when its lock is held, else its record if it covers the newest
/// checkpoint, else unfinished.
pub fn status(dir: &Path) -> io::Result<RunStatus> {
    if let Holder::Process(pid) = probe(dir)? {
        return Ok(RunStatus::Running { pid });
    }
    let newest = checkpoints(dir).iter().filter(|c| c.name.starts_with("step-")).filter_map(|c| c.step).max();
    match RunRecord::read(dir)? {
        Some(r) if newest.is_none_or(|n| n <= r.steps_done) => Ok(RunStatus::Ended(r)),
        _ => Ok(RunStatus::Unfinished { checkpoint: newest }),
    }
}

/// The checkpoint directories under `<dir>/checkpoints` (temporary ones left out), sorted by
/// name.
pub fn checkpoints(dir: &Path) -> Vec<CheckpointEntry> {
    let Ok(entries) = std::fs::read_dir(dir.join("checkpoints")) else { return Vec::new() };
    let mut out: Vec<CheckpointEntry> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok().map(|name| (name, e.path())))
        .filter(|(name, _)| !name.starts_with('.'))
        .map(|(name, path)| CheckpointEntry { step: saved_step(&path), name })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The `step` of a checkpoint's `state.json`.
fn saved_step(checkpoint: &Path) -> Option<u64> {
    let text = safe_fs::read_to_string(&checkpoint.join(STATE_FILE)).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?.get("step")?.as_u64()
}

/// Every line of `<dir>/metrics.jsonl` in file order (empty when there is none). A line that
/// does not parse is skipped: the last one may be half written while the run trains.
pub fn metrics(dir: &Path) -> io::Result<Vec<Point>> {
    let path: PathBuf = dir.join(jsonl::FILE_NAME);
    let text = match safe_fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some(Point { step: v["step"].as_u64()?, tag: v["tag"].as_str()?.to_owned(), value: v["value"].as_f64() })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::lock::RunLock;
    use crate::run::record::Ending;

    fn checkpoint(dir: &Path, name: &str, step: u64) {
        let c = dir.join("checkpoints").join(name);
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(c.join(STATE_FILE), format!("{{\"format\": 1, \"step\": {step}}}")).unwrap();
    }

    #[test]
    fn status_is_running_ended_or_unfinished() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(status(d).unwrap(), RunStatus::Unfinished { checkpoint: None });
        checkpoint(d, "step-00000020", 20);
        checkpoint(d, "best", 10);
        std::fs::create_dir_all(d.join("checkpoints/.tmp-x")).unwrap();
        assert_eq!(status(d).unwrap(), RunStatus::Unfinished { checkpoint: Some(20) });
        let record = RunRecord {
            stop: Ending::Interrupted,
            steps_done: 20,
            total_steps: 50,
            ..RunRecord::failed(0, 0, Default::default(), &"")
        };
        let record = RunRecord { error: None, ..record };
        record.write(d).unwrap();
        assert_eq!(status(d).unwrap(), RunStatus::Ended(record.clone()));
        {
            let _lock = RunLock::acquire(d).unwrap();
            assert_eq!(status(d).unwrap(), RunStatus::Running { pid: Some(std::process::id()) });
        }
        // A newer checkpoint than the record (a resume killed outright): unfinished.
        checkpoint(d, "step-00000030", 30);
        assert_eq!(status(d).unwrap(), RunStatus::Unfinished { checkpoint: Some(30) });
        let names: Vec<_> = checkpoints(d).into_iter().map(|c| (c.name, c.step)).collect();
        assert_eq!(
            names,
            [("best".into(), Some(10)), ("step-00000020".into(), Some(20)), ("step-00000030".into(), Some(30))]
        );
    }

    #[test]
    fn metrics_skip_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(jsonl::FILE_NAME),
            "{\"step\": 0, \"tag\": \"train/loss\", \"value\": 1.5, \"wall_time\": 1.0}\n{\"step\": 1, \"tag\": \"val/loss\", \"value\": null, \"wall_time\": 1.0}\n{\"step\": 2, \"ta",
        )
        .unwrap();
        let m = metrics(dir.path()).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], Point { step: 0, tag: "train/loss".into(), value: Some(1.5) });
        assert_eq!(m[1].value, None);
    }
}

//! Checkpoints: a directory per checkpoint holding `model.safetensors`, `optimizer.safetensors`
//! and `state.json`, written atomically (into a temporary directory, synced, then renamed), so a
//! kill during a save never leaves a broken checkpoint under a final name.
//!
//! Layout under `<run>/checkpoints/`: `step-<8 digits>/` (periodic, the newest `keep` kept),
//! `best/` (best monitored metric), `cycle-<k>/` (snapshot at the end of restart cycle `k`).
//! Temporary `.tmp-*` directories are ignored (and cleaned up) on resume.

use std::fs;
use std::path::{Path, PathBuf};

use candle_nn::VarMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::optim::Optimizer;

/// File names inside a checkpoint directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// Optimizer state file.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Loop state file.
pub const STATE_FILE: &str = "state.json";

/// A checkpoint could not be written or none could be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Writing failed.
    #[error("writing {}: {message}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// No checkpoint in the directory could be loaded.
    #[error("no valid checkpoint in {}{}", dir.display(), if reasons.is_empty() { String::new() } else { format!(":\n  {}", reasons.join("\n  ")) })]
    NoneValid {
        /// The checkpoints directory.
        dir: PathBuf,
        /// Why each candidate was rejected.
        reasons: Vec<String>,
    },
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Write { path: path.to_owned(), message: crate::device::first_line(&e) }
}

/// Writes, rotates and finds the checkpoints of one run.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    dir: PathBuf,
    keep: usize,
}

/// Name of the periodic checkpoint taken when `step` optimizer steps are done.
pub fn step_label(step: u64) -> String {
    format!("step-{step:08}")
}

fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    fs::File::open(dir).and_then(|f| f.sync_all()).map_err(|e| write_err(dir, e))
}

impl Checkpointer {
    /// The checkpoints of the run in `run_dir`, keeping the newest `keep` periodic ones.
    pub fn new(run_dir: &Path, keep: usize) -> Self {
        Self { dir: run_dir.join("checkpoints"), keep: keep.max(1) }
    }

    /// The checkpoints directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves the model, the optimizer state and `state` as checkpoint `label`, atomically: an
    /// existing checkpoint of that name is replaced only once the new one is complete.
    pub fn save<S: Serialize>(
        &self,
        label: &str,
        varmap: &VarMap,
        optimizer: &Optimizer,
        state: &S,
    ) -> Result<PathBuf, CheckpointError> {
        fs::create_dir_all(&self.dir).map_err(|e| write_err(&self.dir, e))?;
        let tmp = self.dir.join(format!(".tmp-{label}-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| write_err(&tmp, e))?;
        }
        fs::create_dir(&tmp).map_err(|e| write_err(&tmp, e))?;
        let model = tmp.join(MODEL_FILE);
        varmap.save(&model).map_err(|e| write_err(&model, e))?;
        let opt = tmp.join(OPTIMIZER_FILE);
        optimizer.save_state(&opt).map_err(|e| write_err(&opt, e))?;
        let state_path = tmp.join(STATE_FILE);
        let json = serde_json::to_vec_pretty(state).map_err(|e| write_err(&state_path, e))?;
        fs::write(&state_path, json).map_err(|e| write_err(&state_path, e))?;
        for f in [&model, &opt, &state_path] {
            fs::File::open(f).and_then(|f| f.sync_all()).map_err(|e| write_err(f, e))?;
        }
        sync_dir(&tmp)?;
        let target = self.dir.join(label);
        let old = self.dir.join(format!(".old-{label}-{}", std::process::id()));
        if target.exists() {
            fs::rename(&target, &old).map_err(|e| write_err(&target, e))?;
        }
        fs::rename(&tmp, &target).map_err(|e| write_err(&target, e))?;
        sync_dir(&self.dir)?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| write_err(&old, e))?;
        }
        Ok(target)
    }

    /// Periodic checkpoints, newest first: `(steps done, path)`.
    pub fn periodic(&self) -> Vec<(u64, PathBuf)> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out: Vec<(u64, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let step = name.strip_prefix("step-")?.parse().ok()?;
                Some((step, e.path()))
            })
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.0));
        out
    }

    /// Deletes periodic checkpoints beyond the newest `keep`.
    pub fn rotate(&self) -> Result<(), CheckpointError> {
        for (_, path) in self.periodic().into_iter().skip(self.keep) {
            fs::remove_dir_all(&path).map_err(|e| write_err(&path, e))?;
        }
        Ok(())
    }

    /// Removes leftovers of interrupted saves (`.tmp-*`, `.old-*`).
    pub fn clean_temporaries(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") || name.starts_with(".old-") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    /// Loads the newest periodic checkpoint that loads completely into `varmap` and
    /// `optimizer`, returning its path and state. Broken ones (truncated, corrupt) are skipped,
    /// with the reason reported in the error when none loads.
    pub fn load_latest<S: DeserializeOwned>(
        &self,
        varmap: &mut VarMap,
        optimizer: &mut Optimizer,
    ) -> Result<(PathBuf, S, Vec<String>), CheckpointError> {
        let mut reasons = Vec::new();
        for (_, path) in self.periodic() {
            match load_one(&path, varmap, optimizer) {
                Ok(state) => return Ok((path, state, reasons)),
                Err(why) => reasons.push(format!("{}: {why}", path.display())),
            }
        }
        Err(CheckpointError::NoneValid { dir: self.dir.clone(), reasons })
    }
}

fn load_one<S: DeserializeOwned>(dir: &Path, varmap: &mut VarMap, optimizer: &mut Optimizer) -> Result<S, String> {
    let state_path = dir.join(STATE_FILE);
    let text = fs::read(&state_path).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    let state: S = serde_json::from_slice(&text).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    varmap.load(dir.join(MODEL_FILE)).map_err(|e| format!("{MODEL_FILE}: {}", crate::device::first_line(&e)))?;
    optimizer
        .load_state(dir.join(OPTIMIZER_FILE))
        .map_err(|e| format!("{OPTIMIZER_FILE}: {}", crate::device::first_line(&e)))?;
    Ok(state)
}

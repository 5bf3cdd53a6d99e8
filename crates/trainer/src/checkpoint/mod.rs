//! Checkpoints: a directory per checkpoint holding `model.safetensors`, `optimizer.safetensors`,
//! `state.json`, the weight averages the run keeps (`ema.safetensors`, `swa.safetensors`) and
//! `manifest.json` (size and CRC-32C of the others, written last), written
//! atomically (into a fresh temporary directory, synced, then renamed), so a kill during a save
//! never leaves a broken checkpoint under a final name, and damage on disk is detected on load.
//!
//! Layout under `<run>/checkpoints/`: `step-<8 digits>/` (periodic, the newest `keep` kept),
//! `best/` (best monitored metric), `cycle-<k>/` (snapshot at the end of restart cycle `k`).
//! Temporary `.tmp-*` and `.old-*` directories are ignored (and cleaned up) on resume;
//! `stale/` holds the checkpoints a resume set aside (newer than its starting point).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use candle_nn::VarMap;
use serde::Serialize;

use crate::optim::Optimizer;

mod load;
pub mod manifest;

pub use load::{Candidate, Kind, Loaded};
pub use manifest::MANIFEST_FILE;

/// File names inside a checkpoint directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// Where checkpoints newer than a resume point are moved (`checkpoints/stale/`).
pub const STALE_DIR: &str = "stale";
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
    /// The run stopped before it wrote any checkpoint.
    #[error(
        "no checkpoint was written before this run stopped ({}); start it again with `cli train <config>` (this run's resolved config is {})",
        match checkpoint_every { 0 => "checkpoint_every: 0 saves only at the end or on Ctrl-C".to_owned(), n => format!("checkpoint_every: {n}: it stopped before step {n}") },
        config.display()
    )]
    NoneWritten {
        /// The run's `train.checkpoint_every`.
        checkpoint_every: u64,
        /// The run's resolved config file.
        config: PathBuf,
    },
}

/// A name for a temporary entry in the checkpoints directory, unique per process and call.
fn unique(prefix: &str, label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{label}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
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

/// Writes `bytes` to a new file at `path` (never an existing entry or a link).
fn create_new(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    use std::io::Write;
    crate::safe_fs::create_new(path).and_then(|mut f| f.write_all(bytes)).map_err(|e| write_err(path, e))
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

    /// Saves the model, the optimizer state, `state` and the manifest as checkpoint `label`,
    /// atomically: written into a fresh temporary directory (created new under a name unique to
    /// this process and call), then renamed; an existing checkpoint of that name is replaced only
    /// once the new one is complete.
    pub fn save<S: Serialize>(
        &self,
        label: &str,
        varmap: &VarMap,
        optimizer: &Optimizer,
        state: &S,
    ) -> Result<PathBuf, CheckpointError> {
        self.save_with(label, varmap, optimizer, state, &[])
    }

    /// [`Checkpointer::save`] with `extra` files (`(name, bytes)`: the weight averages,
    /// `ema.safetensors`, `swa.safetensors`), written and listed in the manifest like the others.
    pub fn save_with<S: Serialize>(
        &self,
        label: &str,
        varmap: &VarMap,
        optimizer: &Optimizer,
        state: &S,
        extra: &[(&str, Vec<u8>)],
    ) -> Result<PathBuf, CheckpointError> {
        // A `checkpoints` that is a link (to somewhere outside the run) is refused, not followed.
        crate::safe_fs::ensure_dir(&self.dir).map_err(|e| write_err(&self.dir, e))?;
        let tmp = crate::safe_fs::create_temporary_dir(&self.dir.join(label)).map_err(|e| write_err(&self.dir, e))?;
        let model = tmp.join(MODEL_FILE);
        varmap.save(&model).map_err(|e| write_err(&model, e))?;
        let opt = tmp.join(OPTIMIZER_FILE);
        optimizer.save_state(&opt).map_err(|e| write_err(&opt, e))?;
        let state_path = tmp.join(STATE_FILE);
        let json = serde_json::to_vec_pretty(state).map_err(|e| write_err(&state_path, e))?;
        create_new(&state_path, &json)?;
        let mut names = vec![MODEL_FILE, OPTIMIZER_FILE, STATE_FILE];
        for (name, bytes) in extra {
            create_new(&tmp.join(name), bytes)?;
            names.push(name);
        }
        for f in &names {
            let f = tmp.join(f);
            fs::File::open(&f).and_then(|f| f.sync_all()).map_err(|e| write_err(&f, e))?;
        }
        manifest::write(&tmp, &names).map_err(|e| write_err(&tmp.join(MANIFEST_FILE), e))?;
        sync_dir(&tmp)?;
        let target = self.dir.join(label);
        let old = self.dir.join(unique(".old", label));
        if target.symlink_metadata().is_ok() {
            fs::rename(&target, &old).map_err(|e| write_err(&target, e))?;
        }
        fs::rename(&tmp, &target).map_err(|e| write_err(&target, e))?;
        sync_dir(&self.dir)?;
        if old.symlink_metadata().is_ok() {
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

    /// Moves checkpoint `path` (inside this directory) into `stale/`, where neither a resume nor
    /// `generate`/`eval`/`export` look; returns its new path. One rename: it disappears at once
    /// under its name, and nothing is lost if it was set aside by mistake.
    pub fn set_aside(&self, path: &Path) -> Result<PathBuf, CheckpointError> {
        let stale = self.dir.join(STALE_DIR);
        match fs::create_dir(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(write_err(&stale, e)),
            _ => {}
        }
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let aside = stale.join(unique(&name, &secs.to_string()));
        fs::rename(path, &aside).map_err(|e| write_err(path, e))?;
        sync_dir(&self.dir)?;
        Ok(aside)
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
}

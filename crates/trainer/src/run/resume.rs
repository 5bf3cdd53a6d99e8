//! Resuming a run: [`Trainer::resume`] attaches a built trainer to an existing run directory at
//! its newest checkpoint that verifies, passes the range checks and loads; [`ResumeInfo`] says
//! what it found, skipped and set aside.

use std::path::PathBuf;

use super::lock::RunLock;
use super::rundir::RunDir;
use super::session::Session;
use super::state::{Expected, Fingerprint, LoopState};
use super::{Trainer, one_issue};
use crate::checkpoint::{Candidate, CheckpointError, Checkpointer, Kind, Loaded};
use crate::data::Split;
use crate::error::TrainError;
use crate::logging::jsonl;

/// What a resume found.
#[derive(Debug, Clone)]
pub struct ResumeInfo {
    /// The checkpoint it continues from.
    pub checkpoint: PathBuf,
    /// Steps already done.
    pub step: u64,
    /// Its kind: a `best` or `cycle-*` one when no newer step checkpoint loads.
    pub kind: Kind,
    /// Newer checkpoints that could not be loaded, with the reason.
    pub skipped: Vec<String>,
    /// Whether it has no manifest (written by an older version), so was not verified.
    pub unverified: bool,
    /// The skipped checkpoints (none older than it), set aside into `checkpoints/stale/`:
    /// `checkpoints/<name> (step n) → <new path>`.
    pub invalidated: Vec<String>,
    /// Config changes accepted with `allow_config_change`.
    pub accepted_changes: Vec<String>,
}

impl Trainer {
    /// Continues the run in `dir` (locked first with [`RunLock`]: while another process trains in
    /// it, nothing is touched) from its newest checkpoint of any kind (`step-*`, `best`,
    /// `cycle-*`, by the step in its state) that verifies against its manifest, whose state is in
    /// range, and that loads completely; the others are skipped with their reason. Refuses a
    /// config that differs from the checkpoint's in what decides the remaining steps (schedule,
    /// optimizer, model, data, seed, batch size, accumulation, clipping) unless
    /// `allow_config_change`. The skipped checkpoints (as new as or newer than the one it continues
    /// from: a timeline this resume replaces) are moved to `checkpoints/stale/`. Metrics logged after the checkpoint are dropped from
    /// `metrics.jsonl`, and a new event file starts with a session START at the resume step so
    /// TensorBoard drops its stale points.
    pub fn resume(
        mut self,
        dir: impl Into<PathBuf>,
        allow_config_change: bool,
    ) -> Result<(Session, ResumeInfo), TrainError> {
        let dir = RunDir::new(dir);
        let lock = RunLock::acquire(dir.path())?;
        let checkpoints = dir.checkpoints(self.config.train.keep_checkpoints);
        checkpoints.clean_temporaries();
        if !checkpoints.any_written() {
            let (checkpoint_every, config) = (self.config.train.checkpoint_every, dir.path().join("config.yaml"));
            return Err(CheckpointError::NoneWritten { checkpoint_every, config }.into());
        }
        let current = Fingerprint::of(&self.config);
        let loaded = self.load_checkpoint(&checkpoints, &current)?;
        let state = loaded.state;
        let changes = state.fingerprint.changes(&current);
        if !changes.is_empty() && !allow_config_change {
            return Err(TrainError::ConfigChanged(changes));
        }
        if state.fingerprint.schedule != current.schedule {
            self.schedule
                .restore(&state.schedule)
                .map_err(|e| one_issue("schedule", format!("cannot restore the checkpoint's schedule state: {e}")))?;
        }
        let step = state.step;
        let invalidated = set_aside_skipped(&checkpoints, &loaded.skipped)?;
        if self.config.logging.jsonl {
            jsonl::truncate_from(dir.path(), step)?;
        }
        let mut scalars = dir.scalars(self.config.logging.tensorboard, self.config.logging.jsonl)?;
        scalars.session_start(step)?;
        let loss_scale = super::low_precision::scaler(&self.config.train, state.loss_scale);
        let state = LoopState { fingerprint: current, loss_scale, ..state };
        let session = Session::new(self, dir, scalars, checkpoints, state, lock)?;
        let info = ResumeInfo {
            checkpoint: loaded.candidate.path,
            kind: loaded.candidate.kind,
            step,
            skipped: loaded.skipped.iter().map(|(c, why)| format!("{}: {why}", c.path.display())).collect(),
            unverified: loaded.unverified,
            invalidated,
            accepted_changes: changes,
        };
        Ok((session, info))
    }

    /// Loads the newest checkpoint whose state passes the range checks for this run (and whose
    /// schedule state restores, when the schedule is unchanged).
    fn load_checkpoint(
        &mut self,
        checkpoints: &Checkpointer,
        current: &Fingerprint,
    ) -> Result<Loaded<LoopState>, CheckpointError> {
        let t = &self.config.train;
        let micro_per_epoch = self.data.len(Split::Train).div_ceil(t.batch_size.max(1)) as u64;
        let (total_steps, accum, schedule) = (self.total_steps, t.grad_accum_steps, &mut self.schedule);
        let averages = &mut self.averages;
        checkpoints.load_latest(&mut self.varmap, &mut self.optimizer, |c: &Candidate, s: &LoopState| {
            let exact_position = !s.fingerprint.changes_sample_order(current);
            s.check(&Expected { dir_step: c.dir_step, total_steps, micro_per_epoch, accum, exact_position })?;
            if s.fingerprint.schedule == current.schedule {
                schedule.restore(&s.schedule).map_err(|e| format!("schedule state: {e}"))?;
            }
            averages.load(&c.path)
        })
    }
}

/// Sets aside (into `checkpoints/stale/`) the checkpoints a resume skipped (damaged, out of
/// range: all as new as or newer than the one it continues from, so from a timeline it
/// replaces) and the `best`/`cycle-*` ones whose step cannot be read. Returns
/// `checkpoints/<name> (step n) → <new path>` of each.
fn set_aside_skipped(checkpoints: &Checkpointer, skipped: &[(Candidate, String)]) -> Result<Vec<String>, TrainError> {
    let unreadable = checkpoints.candidates().into_iter().filter(|c| c.step.is_none());
    let mut moved = Vec::new();
    for c in skipped.iter().map(|(c, _)| c.clone()).chain(unreadable) {
        if !c.path.exists() {
            continue;
        }
        let aside = checkpoints.set_aside(&c.path)?;
        let step = c.step.map_or_else(|| "damaged state.json".to_owned(), |s| format!("step {s}"));
        moved.push(format!("{} ({step}) → {}", c.short(), aside.display()));
    }
    Ok(moved)
}

//! Attaching a built trainer to its run directory: a fresh start, or a resume from the newest
//! valid checkpoint.

use std::path::Path;

use super::state::{Fingerprint, LoopState, STATE_FORMAT};
use super::{Attached, Trainer};
use crate::checkpoint::Checkpointer;
use crate::error::TrainError;
use crate::logging::{LogError, Scalars, jsonl};

/// What a resume found.
#[derive(Debug, Clone)]
pub struct ResumeInfo {
    /// The checkpoint it continues from.
    pub checkpoint: std::path::PathBuf,
    /// Steps already done.
    pub step: u64,
    /// Newer checkpoints that could not be loaded, with the reason.
    pub skipped: Vec<String>,
    /// Config changes accepted with `allow_config_change`.
    pub accepted_changes: Vec<String>,
}

impl Trainer {
    /// Starts the run in `run_dir` (created if missing): opens the logs.
    pub fn start(&mut self, run_dir: &Path) -> Result<(), TrainError> {
        std::fs::create_dir_all(run_dir).map_err(|e| LogError::CreateDir { path: run_dir.to_owned(), source: e })?;
        let scalars = Scalars::open(run_dir, self.config.logging.tensorboard, self.config.logging.jsonl)?;
        self.attached = Some(Attached {
            dir: run_dir.to_owned(),
            scalars,
            checkpoints: Checkpointer::new(run_dir, self.config.train.keep_checkpoints),
        });
        Ok(())
    }

    /// Continues the run in `run_dir` from its newest checkpoint that loads completely (broken
    /// or half-written ones are skipped). Refuses a schedule or optimizer config that differs
    /// from the checkpoint's unless `allow_config_change`. Metrics logged after the checkpoint
    /// are dropped from `metrics.jsonl`, and a new event file starts with a session START at the
    /// resume step so TensorBoard drops its stale points.
    pub fn resume(&mut self, run_dir: &Path, allow_config_change: bool) -> Result<ResumeInfo, TrainError> {
        let checkpoints = Checkpointer::new(run_dir, self.config.train.keep_checkpoints);
        checkpoints.clean_temporaries();
        let (path, state, skipped) = checkpoints.load_latest::<LoopState>(&mut self.varmap, &mut self.optimizer)?;
        if state.format != STATE_FORMAT {
            return Err(TrainError::Checkpoint(crate::checkpoint::CheckpointError::NoneValid {
                dir: checkpoints.dir().to_owned(),
                reasons: vec![format!(
                    "{}: state format {} (this build reads {STATE_FORMAT})",
                    path.display(),
                    state.format
                )],
            }));
        }
        let current = Fingerprint::of(&self.config);
        let changes = state.fingerprint.changes(&current);
        if !changes.is_empty() && !allow_config_change {
            return Err(TrainError::ConfigChanged(changes));
        }
        self.schedule.restore(&state.schedule).map_err(|e| {
            TrainError::Config(vec![crate::ConfigIssue::new(
                "schedule",
                format!("cannot restore the checkpoint's schedule state: {e}"),
            )])
        })?;
        if let (Some(p), Some(s)) = (&mut self.plateau_hook, &state.plateau_hook) {
            p.set_state(s.clone(), 0)
                .map_err(|e| TrainError::Config(vec![crate::ConfigIssue::new("hooks.on_plateau", e.to_string())]))?;
        }
        let step = state.step;
        self.state = LoopState { fingerprint: current, ..state };
        if self.config.logging.jsonl {
            jsonl::truncate_from(run_dir, step)?;
        }
        let mut scalars = Scalars::open(run_dir, self.config.logging.tensorboard, self.config.logging.jsonl)?;
        scalars.session_start(step)?;
        self.attached = Some(Attached { dir: run_dir.to_owned(), scalars, checkpoints });
        Ok(ResumeInfo { checkpoint: path, step, skipped, accepted_changes: changes })
    }
}

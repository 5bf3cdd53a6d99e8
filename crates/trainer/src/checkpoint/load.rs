//! Finding and loading checkpoints: every complete checkpoint of any kind (`step-*`, `best`,
//! `cycle-*`), newest first by the step in its state, each verified against its manifest and
//! checked by the caller before its weights are loaded.

use std::fs;
use std::path::{Path, PathBuf};

use candle_nn::VarMap;
use serde::de::DeserializeOwned;

use super::manifest::{self, Verified};
use super::{CheckpointError, Checkpointer, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE};
use crate::optim::Optimizer;

/// The kind of a checkpoint, from its directory name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `step-<n>`: periodic, at the end, or on a clean stop.
    Step,
    /// `best`: the best monitored metric.
    Best,
    /// `cycle-<k>`: the end of a warm-restart cycle.
    Cycle,
}

/// A checkpoint directory found on disk, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its directory.
    pub path: PathBuf,
    /// Its kind.
    pub kind: Kind,
    /// The step its name claims (`step-<n>` only).
    pub dir_step: Option<u64>,
    /// The step it holds: the name's for `step-<n>`, else its `state.json`'s (`None` when that
    /// cannot be read).
    pub step: Option<u64>,
}

impl Candidate {
    /// `checkpoints/<name>` for messages.
    pub fn short(&self) -> String {
        let name = self.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        format!("checkpoints/{name}")
    }
}

/// A checkpoint that loaded.
#[derive(Debug)]
pub struct Loaded<S> {
    /// Which one.
    pub candidate: Candidate,
    /// Its state.
    pub state: S,
    /// The checkpoints tried before it that did not load (as new or newer), each with the
    /// reason.
    pub skipped: Vec<(Candidate, String)>,
    /// Whether it had no manifest (written by an older version), so was not verified.
    pub unverified: bool,
}

/// The `step` field of `dir/state.json`, when readable and, if the checkpoint has a manifest,
/// matching its size and checksum there (so a damaged step never decides the order).
fn peek_step(dir: &Path) -> Option<u64> {
    let text = fs::read(dir.join(STATE_FILE)).ok()?;
    if let Some(listed) = manifest::listed(dir, STATE_FILE)
        && listed != manifest::bytes_sum(&text)
    {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v.get("step")?.as_u64()
}

/// The kind and claimed step of a checkpoint directory name; `None` for other entries.
fn classify(name: &str) -> Option<(Kind, Option<u64>)> {
    if let Some(n) = name.strip_prefix("step-") {
        return n.bytes().all(|b| b.is_ascii_digit()).then(|| n.parse().ok().map(|s| (Kind::Step, Some(s))))?;
    }
    if name == "best" {
        return Some((Kind::Best, None));
    }
    let k = name.strip_prefix("cycle-")?;
    (!k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())).then_some((Kind::Cycle, None))
}

impl Checkpointer {
    /// Every checkpoint directory, newest first: by step (unknown last), then `step-*` before
    /// `best` before `cycle-*`. Symbolic links are not followed.
    pub fn candidates(&self) -> Vec<Candidate> {
        let Ok(entries) = fs::read_dir(self.dir()) else { return Vec::new() };
        let mut out: Vec<Candidate> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let (kind, dir_step) = classify(&name)?;
                let path = e.path();
                let step = dir_step.or_else(|| peek_step(&path));
                Some(Candidate { path, kind, dir_step, step })
            })
            .collect();
        out.sort_by(|a, b| b.step.cmp(&a.step).then(a.kind.cmp(&b.kind)).then(b.path.cmp(&a.path)));
        out
    }

    /// Whether any checkpoint directory exists (complete or not).
    pub fn any_written(&self) -> bool {
        !self.candidates().is_empty()
    }

    /// The newest checkpoint (any kind) holding the state before step `step` ran, i.e. whose
    /// step is below `step`, with its model and state files present.
    pub fn newest_before(&self, step: u64) -> Option<PathBuf> {
        self.candidates()
            .into_iter()
            .filter(|c| c.step.is_some_and(|s| s < step))
            .find(|c| c.path.join(MODEL_FILE).is_file() && c.path.join(STATE_FILE).is_file())
            .map(|c| c.path)
    }

    /// Loads the newest checkpoint of any kind that verifies against its manifest, whose state
    /// parses and passes `check`, and whose weights and optimizer state load into `varmap` and
    /// `optimizer`. The ones that fail are skipped, each with its reason (in the error when none
    /// loads).
    pub fn load_latest<S: DeserializeOwned>(
        &self,
        varmap: &mut VarMap,
        optimizer: &mut Optimizer,
        mut check: impl FnMut(&Candidate, &S) -> Result<(), String>,
    ) -> Result<Loaded<S>, CheckpointError> {
        let mut skipped = Vec::new();
        for candidate in self.candidates() {
            match load_one(&candidate, varmap, optimizer, &mut check) {
                Ok((state, verified)) => {
                    let unverified = verified == Verified::NoManifest;
                    return Ok(Loaded { candidate, state, skipped, unverified });
                }
                Err(why) => skipped.push((candidate, why)),
            }
        }
        let reasons = skipped.iter().map(|(c, why)| format!("{}: {why}", c.path.display())).collect();
        Err(CheckpointError::NoneValid { dir: self.dir().to_owned(), reasons })
    }
}

fn load_one<S: DeserializeOwned>(
    c: &Candidate,
    varmap: &mut VarMap,
    optimizer: &mut Optimizer,
    check: &mut impl FnMut(&Candidate, &S) -> Result<(), String>,
) -> Result<(S, Verified), String> {
    let verified = manifest::verify(&c.path, &[MODEL_FILE, OPTIMIZER_FILE, STATE_FILE])?;
    let text = fs::read(c.path.join(STATE_FILE)).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    let state: S = serde_json::from_slice(&text).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    check(c, &state).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    varmap.load(c.path.join(MODEL_FILE)).map_err(|e| format!("{MODEL_FILE}: {}", crate::device::first_line(&e)))?;
    optimizer
        .load_state(c.path.join(OPTIMIZER_FILE))
        .map_err(|e| format!("{OPTIMIZER_FILE}: {}", crate::device::first_line(&e)))?;
    Ok((state, verified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_checkpoint_names() {
        assert_eq!(classify("step-00000042"), Some((Kind::Step, Some(42))));
        assert_eq!(classify("best"), Some((Kind::Best, None)));
        assert_eq!(classify("cycle-003"), Some((Kind::Cycle, None)));
        for other in ["step-", "step-1x", "step--1", "cycle-", "cycle-a", ".tmp-step-00000001-1-0", "bestx"] {
            assert_eq!(classify(other), None, "{other}");
        }
    }

    #[test]
    fn orders_by_the_step_in_the_state_then_kind() {
        let d = tempfile::tempdir().unwrap();
        let ck = Checkpointer::new(d.path(), 3);
        for (name, step) in [("step-00000010", 10), ("best", 12), ("cycle-000", 10), ("step-00000005", 5)] {
            let p = ck.dir().join(name);
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join(STATE_FILE), format!("{{\"step\": {step}}}")).unwrap();
            fs::write(p.join(MODEL_FILE), b"").unwrap();
        }
        fs::create_dir_all(ck.dir().join("cycle-001")).unwrap(); // no state: unknown step, last
        let names: Vec<String> = ck.candidates().iter().map(Candidate::short).collect();
        assert_eq!(
            names,
            [
                "checkpoints/best",
                "checkpoints/step-00000010",
                "checkpoints/cycle-000",
                "checkpoints/step-00000005",
                "checkpoints/cycle-001"
            ]
        );
        assert_eq!(ck.newest_before(12), Some(ck.dir().join("step-00000010")));
        assert_eq!(ck.newest_before(10), Some(ck.dir().join("step-00000005")));
        assert_eq!(ck.newest_before(5), None);
    }
}

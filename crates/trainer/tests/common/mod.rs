//! Helpers shared by the trainer's integration tests.
#![allow(dead_code)] // each test file uses some of these

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use trainer::{Observer, StepReport};

/// `(step, value bits)` of every `tag` point in the run's `metrics.jsonl`, in file order: bit
/// patterns, so that two runs compare exactly.
pub(crate) fn series(dir: &Path, tag: &str) -> Vec<(u64, u64)> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["tag"] == tag).then(|| (v["step"].as_u64().unwrap(), v["value"].as_f64().unwrap().to_bits()))
        })
        .collect()
}

/// An observer that requests a stop after step `at`.
pub(crate) struct StopAt<'a> {
    /// The step after which to stop.
    pub(crate) at: u64,
    /// The run's stop flag.
    pub(crate) flag: &'a AtomicBool,
}

impl Observer for StopAt<'_> {
    fn on_step(&mut self, r: &StepReport) {
        if r.step == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

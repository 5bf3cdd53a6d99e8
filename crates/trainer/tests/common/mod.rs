//! Helpers shared by the trainer's integration tests.

use std::path::Path;

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

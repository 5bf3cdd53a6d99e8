//! Parity with PyTorch: every schedule case (`*.json` without the `optim_` prefix) from
//! `PARITY_REF_DIR`, or the repo's copy in `tests/data/torch`, checked at every step.

use std::path::{Path, PathBuf};

use sched::{Schedule, ScheduleConfig};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    optimizer: serde_json::Value,
    schedule: ScheduleConfig,
    steps: u64,
    lr: Vec<f64>,
    #[serde(default)]
    momentum: Option<Vec<f64>>,
    #[serde(default)]
    metrics: Option<Vec<f64>>,
}

fn reference_dir() -> PathBuf {
    match std::env::var_os("PARITY_REF_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/torch"),
    }
}

/// Relative 1e-9, or absolute 1e-15 near zero.
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(got.abs()) || (got - want).abs() <= 1e-15
}

fn check_case(path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read: {e}"))?;
    let case: Case = serde_json::from_str(&text).map_err(|e| format!("parse: {e}"))?;
    let base_lr = case.optimizer["lr"].as_f64().ok_or("optimizer.lr missing")?;
    let mut schedule = Schedule::new(&case.schedule, base_lr).map_err(|e| e.to_string())?;
    if case.lr.len() as u64 != case.steps {
        return Err(format!("lr has {} values for {} steps", case.lr.len(), case.steps));
    }
    let monitors: Vec<String> = schedule.monitors().iter().map(|s| s.to_string()).collect();
    let mut errors = Vec::new();
    for t in 0..case.steps {
        let i = t as usize;
        let lr = schedule.lr(t);
        if !close(lr, case.lr[i]) {
            errors.push(format!("step {t}: lr {lr} != torch {}", case.lr[i]));
        }
        if let Some(momentum) = &case.momentum {
            match schedule.momentum(t) {
                Some(m) if close(m, momentum[i]) => {}
                got => errors.push(format!("step {t}: momentum {got:?} != torch {}", momentum[i])),
            }
        }
        if let Some(metrics) = &case.metrics {
            for m in &monitors {
                schedule.observe(t, m, metrics[i]);
            }
        }
    }
    if errors.is_empty() {
        Ok(case.steps as usize)
    } else {
        let shown = errors.iter().take(5).cloned().collect::<Vec<_>>().join("\n    ");
        Err(format!("{} mismatches, first:\n    {shown}", errors.len()))
    }
}

#[test]
fn every_schedule_case_matches_pytorch() {
    let dir = reference_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read reference dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".json") && !name.starts_with("optim_")
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no schedule case (*.json without optim_ prefix) in {}", dir.display());

    let mut failures = Vec::new();
    let mut steps = 0;
    for path in &cases {
        match check_case(path) {
            Ok(n) => steps += n,
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ from PyTorch:\n{}", failures.len(), cases.len(), failures.join("\n"));
    eprintln!("{} schedule cases, {steps} steps, all within 1e-9 of PyTorch", cases.len());
}

//! Weight averages through the real binary: a run keeping an EMA and an SWA average (under an
//! `swa` schedule) killed with SIGKILL mid-run and resumed logs the same `val_ema/…` and
//! `val_swa/…` values, bit for bit, as the uninterrupted run.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_same, cli, run, series, text};

const CONFIG: &str = "
name: avg
seed: 7
model: {kind: mlp, hidden: [16], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}
schedule:
  kind: sequential
  milestones: [100]
  schedules:
    - {kind: cosine, t_max: 200}
    - {kind: swa, swa_lr: 0.02, anneal_steps: 20, anneal_strategy: linear}
train: {max_steps: 240, batch_size: 32, eval_every: 20, checkpoint_every: 7,
        ema: {decay: 0.99}, swa: {start_step: 100, every: 5}}
logging: {tensorboard: false}
";

/// The newest step a `train/loss` line of `run_dir`'s metrics.jsonl has (0 before any).
fn logged_step(run_dir: &Path) -> u64 {
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("\"train/loss\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["step"].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_killed_and_resumed_run_evaluates_the_same_averages() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("avg.yaml"), CONFIG).unwrap();
    let out = run(dir.path(), &["train", "avg.yaml", "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let whole = dir.path().join("runs/avg/version_0");

    let mut child = cli(dir.path()).args(["train", "avg.yaml", "-q"]).stdout(Stdio::null()).spawn().unwrap();
    let killed = dir.path().join("runs/avg/version_1");
    let start = Instant::now();
    // Past the first checkpoints, the EMA's first evaluation and the SWA's start.
    while logged_step(&killed) < 130 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!killed.join("summary.json").exists(), "the kill landed after the run finished");

    let out = run(dir.path(), &["resume", "runs/avg/version_1", "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    for tag in ["val_ema/loss", "val_ema/accuracy", "val_swa/loss", "val_swa/accuracy", "val/loss", "train/lr"] {
        let want = series(&whole, tag);
        assert!(!want.is_empty(), "{tag} logged");
        assert_same(&series(&killed, tag), &want, tag);
    }
    // EMA evaluated at every evaluation, SWA from the one after step 100 (logged at step 99).
    assert_eq!(series(&whole, "val_ema/loss").len(), 12);
    assert_eq!(series(&whole, "val_swa/loss").first().map(|p| p.0), Some(99));
}

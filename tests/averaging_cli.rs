//! Weight averages through the real binary: a run keeping an EMA and an SWA average (under an
//! `swa` schedule) killed with SIGKILL mid-run and resumed logs the same `val_ema/…` and
//! `val_swa/…` values, bit for bit, as the uninterrupted run.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_same, cli, metrics, run, series, text};

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

/// A run keeping both averages whose `best/` follows the EMA's accuracy, and whose early
/// stopping watches the SWA loss (absent until the SWA starts: those evaluations do not count).
const MONITORED: &str = "
name: monitored
seed: 7
model: {kind: mlp, hidden: [16], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}
schedule: {kind: cosine, t_max: 120}
train: {max_steps: 120, batch_size: 32, eval_every: 20, checkpoint_every: 20, keep_checkpoints: 6,
        best_monitor: val_ema/accuracy, early_stopping: {monitor: val_swa/loss, patience: 2},
        ema: {decay: 0.99}, swa: {start_step: 60, every: 5}}
logging: {tensorboard: false}
";

/// The metrics `eval … --format json` reports, by name.
fn eval_metrics(dir: &Path, args: &[&str]) -> (serde_json::Value, Vec<(String, f64)>) {
    let json = common::eval_json(dir, args);
    let metrics = json["metrics"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap())).collect();
    (json, metrics)
}

/// What the run logged at `step` under `prefix` (`val_ema/`), by name without it.
fn logged_at(run_dir: &Path, step: u64, prefix: &str) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = metrics(run_dir)
        .into_iter()
        .filter(|(s, tag, _)| *s == step && tag.starts_with(prefix))
        .map(|(_, tag, v)| (tag[prefix.len()..].to_owned(), v))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Every value of `logged` is in `reported`, bit for bit (eval reports per-class scores too).
fn assert_reproduces(reported: &[(String, f64)], logged: &[(String, f64)], what: &str) {
    assert!(logged.len() >= 6, "{what}: {logged:?}");
    for (name, want) in logged {
        let got = reported.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(got.map(f64::to_bits), Some(want.to_bits()), "{what}: {name}");
    }
}

#[test]
fn best_eval_and_early_stopping_use_the_averaged_weights_they_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("monitored.yaml"), MONITORED).unwrap();
    let out = run(dir.path(), &["train", "monitored.yaml", "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // Three evaluations before the SWA starts had no SWA loss: early stopping (patience 2)
    // counted none of them, so the run went on to the end.
    assert!(stdout.contains("120/120 steps"), "{stdout}");
    assert!(stdout.contains("  val_ema/accuracy: final ") && stdout.contains("  val_swa/accuracy: final "), "{stdout}");
    let run_dir = dir.path().join("runs/monitored/version_0");
    let ema_acc: Vec<(u64, f64)> =
        metrics(&run_dir).into_iter().filter(|(_, t, _)| t == "val_ema/accuracy").map(|(s, _, v)| (s, v)).collect();
    assert_eq!(ema_acc.len(), 6);
    let best = ema_acc.iter().fold(ema_acc[0], |b, p| if p.1 > b.1 { *p } else { b });

    // `--checkpoint best` is the EMA's best, and uses the EMA weights by default.
    let rel = "runs/monitored/version_0";
    let (json, got) = eval_metrics(dir.path(), &[rel, "--checkpoint", "best"]);
    assert_eq!((json["weights"].as_str(), json["step"].as_u64()), (Some("ema"), Some(best.0)), "{json}");
    assert_reproduces(&got, &logged_at(&run_dir, best.0, "val_ema/"), "best, EMA");
    let (_, raw) = eval_metrics(dir.path(), &[rel, "--checkpoint", "best", "--weights", "raw"]);
    assert_reproduces(&raw, &logged_at(&run_dir, best.0, "val/"), "best, raw");
    // The last checkpoint's SWA average, as logged at the last step.
    let (json, swa) = eval_metrics(dir.path(), &[rel, "--weights", "swa"]);
    assert_eq!((json["weights"].as_str(), json["step"].as_u64()), (Some("swa"), Some(119)), "{json}");
    assert_reproduces(&swa, &logged_at(&run_dir, 119, "val_swa/"), "last, SWA");

    // A checkpoint saved before the SWA started has no SWA weights; a config has no averages.
    for (args, says) in [
        (vec!["eval", rel, "--checkpoint", "40", "--weights", "swa"], "--weights swa: "),
        (vec!["eval", "monitored.yaml", "--weights", "ema"], "--weights ema needs a run directory"),
    ] {
        let out = run(dir.path(), &args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    }
}

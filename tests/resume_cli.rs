//! `resume` through the real binary: the version directories of `runs/<name>`, a run killed
//! before its first checkpoint, the fallback to `best`, newer checkpoints set aside, and a refused
//! resume that leaves the run's `config.yaml` as it was.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{cli, run, text, wait_for};

const TINY: &str = "
name: tiny
seed: 5
model: {kind: mlp, hidden: [16], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: adamw, lr: 0.003}
schedule: {kind: cosine, t_max: 40}
train: {max_steps: 40, batch_size: 32, eval_every: 10, checkpoint_every: 7}
logging: {tensorboard: false}
";

/// Writes the tiny config into `dir` and trains it once as `name`; returns the run directory
/// (relative to `dir`).
fn trained(dir: &Path, name: &str) -> String {
    std::fs::write(dir.join("tiny.yaml"), TINY).unwrap();
    let out = run(dir, &["train", "tiny.yaml", "--set", &format!("name={name}"), "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    format!("runs/{name}/version_0")
}

#[test]
fn resume_of_a_name_directory_suggests_its_versions_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    trained(dir.path(), "tiny");
    let again = run(dir.path(), &["train", "tiny.yaml", "--set", "train.max_steps=3", "-q"]);
    assert!(again.status.success());
    let out = run(dir.path(), &["resume", "runs/tiny"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr.trim_end(),
        "error: runs/tiny is not a run directory but holds 2 run(s); give one of them, e.g. runs/tiny/version_1 (newest first: runs/tiny/version_1, runs/tiny/version_0)"
    );
}

#[test]
fn a_run_killed_before_its_first_checkpoint_says_how_to_start_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.yaml"), TINY).unwrap();
    let mut child = cli(dir.path())
        // No evaluation either: it would save `best/`, a checkpoint to resume from.
        .args([
            "train",
            "tiny.yaml",
            "--set",
            "train.checkpoint_every=0",
            "--set",
            "train.eval_every=100000000",
            "--set",
            "train.max_steps=100000000",
            "-q",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let run_dir = dir.path().join("runs/tiny/version_0");
    // config.yaml comes after the lock and the log files: wait for it (and a logged step).
    assert!(wait_for(&run_dir.join("config.yaml"), Duration::from_secs(60)));
    assert!(wait_for(&run_dir.join("metrics.jsonl"), Duration::from_secs(60)));
    child.kill().unwrap();
    child.wait().unwrap();
    let config = std::fs::read(run_dir.join("config.yaml")).unwrap();
    for _ in 0..2 {
        let out = run(dir.path(), &["resume", "runs/tiny/version_0", "--set", "logging.every=2"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("no checkpoint was written before this run stopped (checkpoint_every: 0 saves only at the end or on Ctrl-C); start it again with `cli train <config>`"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert_eq!(std::fs::read(run_dir.join("config.yaml")).unwrap(), config, "a failed resume leaves config.yaml");
}

#[test]
fn a_refused_resume_leaves_config_yaml_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained(dir.path(), "tiny");
    let config = std::fs::read(dir.path().join(&run_dir).join("config.yaml")).unwrap();
    for set in ["seed=6", "train.batch_size=16", "model.dropout=0.2", "data.val_fraction=0.3"] {
        let out = run(dir.path(), &["resume", &run_dir, "--set", set, "--set", "train.max_steps=50", "-q"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{set} was accepted: {stderr}");
        assert!(stderr.contains("the config differs from the checkpoint's in:"), "{stderr}");
        assert!(stderr.contains("--allow-config-change"), "{stderr}");
        assert_eq!(std::fs::read(dir.path().join(&run_dir).join("config.yaml")).unwrap(), config, "{set}");
    }
}

fn flip_middle_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let at = b.len() / 2;
    b[at] ^= 1;
    std::fs::write(p, b).unwrap();
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_to_best_and_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained(dir.path(), "tiny");
    let ck = dir.path().join(&run_dir).join("checkpoints");
    let best: serde_json::Value = serde_json::from_slice(&std::fs::read(ck.join("best/state.json")).unwrap()).unwrap();
    assert_eq!(best["step"], 40, "the final evaluation is the best");
    // The final checkpoint loses its last byte: best (the same step) is the fallback.
    let model = ck.join("step-00000040/model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() - 1]).unwrap();
    let out = run(dir.path(), &["resume", &run_dir, "--set", "train.max_steps=45", "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let skipped =
        format!("skipped a checkpoint that does not load: {run_dir}/checkpoints/step-00000040: model.safetensors: ");
    assert!(stdout.contains(&skipped), "{stdout}");
    assert!(stdout.contains("resuming from checkpoints/best (step 40): no newer step checkpoint loads"), "{stdout}");
    assert!(stdout.contains("set aside checkpoints/step-00000040 (step 40) → "), "{stdout}");
    assert!(!ck.join("step-00000040").exists());

    // One flipped byte in the optimizer state of the newest (step 45) and in best's weights: the
    // resume continues from step 42.
    flip_middle_byte(&ck.join("step-00000045/optimizer.safetensors"));
    flip_middle_byte(&ck.join("best/model.safetensors"));
    let out = run(dir.path(), &["resume", &run_dir, "--set", "train.max_steps=46", "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("checkpoints/step-00000045: optimizer.safetensors: checksum mismatch"), "{stdout}");
    assert!(stdout.contains("resuming runs/tiny/version_0 at step 42/46"), "{stdout}");
    assert!(stdout.contains("set aside checkpoints/step-00000045 (step 45) → "), "{stdout}");
    assert!(ck.join("stale").read_dir().unwrap().count() >= 2);
}

#[test]
fn generate_eval_and_export_refuse_a_damaged_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained(dir.path(), "tiny");
    let ck = dir.path().join(&run_dir).join("checkpoints");
    flip_middle_byte(&ck.join("best/model.safetensors"));
    let out = run(dir.path(), &["eval", &run_dir, "--checkpoint", "best", "--text", "tiny.yaml"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "checkpoint {run_dir}/checkpoints/best is damaged: model.safetensors: checksum mismatch"
        )),
        "{stderr}"
    );
}

//! The main command and the run lifecycle through the real binary: run directories, `--set`,
//! `resume`, Ctrl-C (SIGINT), a killed process resumed exactly, and every shipped config.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_same, cli, root, run, series, text, versions, wait_for};

fn config(name: &str) -> String {
    root().join("configs").join(name).to_string_lossy().into_owned()
}

#[test]
fn the_main_command_trains_and_writes_a_versioned_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[&config("cosine_restart.yaml")]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let runs = versions(dir.path(), "cosine_restart");
    assert_eq!(runs.len(), 1);
    let run_dir = &runs[0];
    assert!(run_dir.ends_with("runs/cosine_restart/version_0"));
    for f in
        ["config.yaml", "metrics.jsonl", "checkpoints/best/model.safetensors", "checkpoints/step-00000770/state.json"]
    {
        assert!(run_dir.join(f).exists(), "{f}");
    }
    for k in 0..3 {
        assert!(run_dir.join(format!("checkpoints/cycle-{k:03}")).exists(), "snapshot of cycle {k}");
    }
    let events: Vec<_> = std::fs::read_dir(run_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("events.out.tfevents."))
        .collect();
    assert_eq!(events.len(), 1);
    // The summary states the held-out accuracy, which is well above 90 %.
    let line = stdout.lines().find(|l| l.contains("val/accuracy: final")).unwrap_or_else(|| panic!("{stdout}"));
    let acc: f64 = line.split_whitespace().nth(2).unwrap().trim_end_matches(',').parse().unwrap();
    assert!(acc > 0.93, "{line}");
    assert!(stdout.contains("tensorboard --logdir runs"), "{stdout}");
    assert_eq!(series(run_dir, "train/lr").len(), 770);

    // A second run never overwrites the first.
    let out = run(dir.path(), &[&config("cosine_restart.yaml"), "--set", "train.max_steps=30", "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(versions(dir.path(), "cosine_restart").len(), 2);
    assert_eq!(series(run_dir, "train/lr").len(), 770, "version_0 untouched");
}

#[test]
fn set_overrides_are_typed_validated_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "train",
            &config("cosine_restart.yaml"),
            "--set",
            "train.max_steps=40",
            "--set",
            "schedule.t_0=10",
            "--set",
            "name=tuned",
            "-q",
        ],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let run_dir = &versions(dir.path(), "tuned")[0];
    let resolved = std::fs::read_to_string(run_dir.join("config.yaml")).unwrap();
    assert!(resolved.contains("t_0: 10") && resolved.contains("max_steps: 40"), "{resolved}");
    let lr = series(run_dir, "train/lr");
    assert_eq!(lr.len(), 40);
    assert_eq!(f64::from_bits(lr[30].1), 0.1, "restart after 20 warmup + 10 steps");
}

const LONG: &[&str] =
    &["--set", "train.max_steps=1000", "--set", "train.checkpoint_every=100", "--set", "train.eval_every=200", "-q"];

fn long_args(extra: &[&str]) -> Vec<String> {
    let mut v = vec![config("cosine_restart.yaml")];
    v.extend(LONG.iter().map(|s| s.to_string()));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn a_killed_run_resumes_to_exactly_the_uninterrupted_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let whole = cli(dir.path()).args(long_args(&["--set", "name=whole"])).output().unwrap();
    assert!(whole.status.success(), "{}", text(&whole).1);
    let whole_dir = &versions(dir.path(), "whole")[0];

    let mut child = cli(dir.path()).args(long_args(&["--set", "name=killed"])).stdout(Stdio::null()).spawn().unwrap();
    let killed_dir: PathBuf = dir.path().join("runs/killed/version_0");
    assert!(
        wait_for(&killed_dir.join("checkpoints/step-00000200"), Duration::from_secs(120)),
        "no checkpoint appeared"
    );
    child.kill().unwrap(); // SIGKILL: no clean stop
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it could be killed; make it longer");
    let logged = series(&killed_dir, "train/lr").len();
    assert!(logged < 1000, "killed mid-run ({logged} steps logged)");

    let out = run(dir.path(), &["resume", killed_dir.to_str().unwrap(), "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("resuming"), "{stdout}");
    for tag in ["train/lr", "train/loss", "val/loss", "val/accuracy"] {
        assert_same(&series(&killed_dir, tag), &series(whole_dir, tag), tag);
    }
    let events = std::fs::read_dir(&killed_dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("events."))
        .count();
    assert_eq!(events, 2, "the resume writes a new event file");
}

#[test]
fn ctrl_c_stops_cleanly_with_a_checkpoint_and_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = cli(dir.path())
        .args(long_args(&["--set", "train.max_steps=200000"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run_dir = dir.path().join("runs/cosine_restart/version_0");
    assert!(wait_for(&run_dir.join("checkpoints/step-00000200"), Duration::from_secs(120)));
    common::send_signal(child.id(), "INT");
    let start = Instant::now();
    let out = loop {
        if let Some(_status) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stdout.contains("interrupted:"), "{stdout}");
    assert!(stdout.contains(&format!("resume {}", Path::new("runs/cosine_restart/version_0").display())), "{stdout}");
    let steps = series(&run_dir, "train/lr").len() as u64;
    let newest = trainer::checkpoint::Checkpointer::new(&run_dir, 3).periodic()[0].0;
    assert_eq!(newest, steps, "a checkpoint at the stop step");
    // It resumes (here only a little further, by lowering max_steps).
    let target = (steps + 20).to_string();
    let out =
        run(dir.path(), &["resume", run_dir.to_str().unwrap(), "--set", &format!("train.max_steps={target}"), "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(series(&run_dir, "train/lr").len() as u64, steps + 20);
}

#[test]
fn every_shipped_config_validates_and_runs_a_few_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(root().join("configs"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 12, "{names:?}");
    // Configs reading the downloaded assets (assets/…) run in finetune_cli's and data_cli's
    // ignored tests, which have them.
    let needs_assets = |path: &str| std::fs::read_to_string(path).is_ok_and(|t| t.contains("assets/"));
    for name in names {
        let path = config(&name);
        if needs_assets(&path) {
            continue;
        }
        let out = run(dir.path(), &["validate", &path]);
        assert!(out.status.success(), "{name}: {}", text(&out).1);
        // A few steps past any warmup, so the run-length checks still hold.
        let yaml: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let warmup = yaml["schedule"]["warmup"]["steps"].as_u64().unwrap_or(0);
        let steps = (warmup + 10).to_string();
        let out = run(
            dir.path(),
            &[&path, "--set", &format!("train.max_steps={steps}"), "--set", "train.eval_every=5", "-q"],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(stdout.contains(&format!("completed: {steps}/{steps} steps")), "{name}: {stdout}");
    }
}

#[test]
fn the_committed_json_schema_is_current() {
    let out = run(&root(), &["schema"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(root().join("schema/run-config.schema.json")).unwrap();
    assert!(
        text(&out).0 == committed,
        "schema/run-config.schema.json is stale: regenerate it with `cargo run -p cli -- schema > schema/run-config.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    for section in ["name", "model", "data", "optimizer", "schedule", "train", "hooks", "logging"] {
        assert!(schema["properties"][section].is_object(), "{section}");
    }
}

fn tensorboard_python() -> PathBuf {
    std::env::var_os("TB_PYTHON").map_or_else(|| root().join("assets/venv-tb/bin/python"), PathBuf::from)
}

/// Runs `scripts/tb_read.py RUN_DIR` (TensorBoard's EventAccumulator, checked against
/// metrics.jsonl) and returns the number of points per tag.
fn tensorboard_points(run_dir: &Path) -> std::collections::BTreeMap<String, usize> {
    let out = std::process::Command::new(tensorboard_python())
        .arg(root().join("scripts/tb_read.py"))
        .arg(run_dir)
        .output()
        .expect("run tb_read.py (scripts/fetch-assets.sh installs TensorBoard)");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "TensorBoard and metrics.jsonl disagree for {}:\n{stderr}", run_dir.display());
    let scalars: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    scalars.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_array().unwrap().len())).collect()
}

/// Runs `scripts/tb_images.py RUN_DIR` (TensorBoard's EventAccumulator): every image tag with
/// its images' `{step, width, height, png}`.
fn tensorboard_images(run_dir: &Path) -> serde_json::Value {
    let out = std::process::Command::new(tensorboard_python())
        .arg(root().join("scripts/tb_images.py"))
        .arg(run_dir)
        .output()
        .expect("run tb_images.py (scripts/fetch-assets.sh installs TensorBoard)");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "tb_images.py failed for {}:\n{stderr}", run_dir.display());
    serde_json::from_str(&stdout).unwrap()
}

#[test]
#[ignore = "needs Python with tensorboard: scripts/fetch-assets.sh"]
fn a_digits_run_logs_its_confusion_matrices_as_images() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["train.max_steps=40", "train.eval_every=20", "train.ema={decay: 0.9}", "name=cm"];
    let mut args = vec![config("cosine_restart.yaml"), "-q".to_owned()];
    args.extend(sets.iter().flat_map(|s| ["--set".to_owned(), (*s).to_owned()]));
    let out = run(dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out).1);
    let run_dir = dir.path().join("runs/cm/version_0");
    let images = tensorboard_images(&run_dir);
    let tags: Vec<&String> = images.as_object().unwrap().keys().collect();
    assert_eq!(tags, ["val/confusion_matrix", "val_ema/confusion_matrix"]);
    let eval_steps: Vec<u64> = series(&run_dir, "val/accuracy").iter().map(|(s, _)| *s).collect();
    assert_eq!(eval_steps.len(), 2, "{eval_steps:?}");
    for tag in tags {
        let list = images[tag].as_array().unwrap();
        let steps: Vec<u64> = list.iter().map(|i| i["step"].as_u64().unwrap()).collect();
        assert_eq!(steps, eval_steps, "{tag}: one image per evaluation");
        for image in list {
            // Ten classes: cells of 384 / 10 = 38 pixels and a 1-pixel grid.
            assert_eq!((image["width"].as_u64(), image["height"].as_u64()), (Some(381), Some(381)), "{tag}");
            assert!(image["png"].as_str().unwrap().starts_with("89504e470d0a1a0a"), "{tag}: a PNG");
        }
    }
    // The scalars still agree with metrics.jsonl, which has no image; digits name no classes.
    let points = tensorboard_points(&run_dir);
    assert_eq!(points["val/precision/9"], 2);
    assert!(!points.keys().any(|t| t.contains("confusion")), "{points:?}");
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh (installs the tensorboard package)"]
fn real_tensorboard_reads_the_main_run_and_a_resumed_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[&config("cosine_restart.yaml")]);
    assert!(out.status.success(), "{}", text(&out).1);
    let points = tensorboard_points(&dir.path().join("runs/cosine_restart/version_0"));
    assert_eq!(points["train/loss"], 770);
    assert_eq!(points["train/lr"], 770);
    assert_eq!(points["val/accuracy"], 16);

    // A resume from an older checkpoint re-logs steps 200..299: TensorBoard must drop the stale
    // points of the first event file (the resume's session START) and agree with metrics.jsonl.
    let args = [
        &config("cosine_restart.yaml"),
        "--set",
        "train.max_steps=300",
        "--set",
        "train.checkpoint_every=100",
        "--set",
        "name=r",
        "-q",
    ];
    assert!(run(dir.path(), &args).status.success());
    let run_dir = dir.path().join("runs/r/version_0");
    common::remove_checkpoints_from(&run_dir, 300);
    let out = run(dir.path(), &["resume", run_dir.to_str().unwrap(), "--set", "train.max_steps=400", "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("at step 200/400"), "{}", text(&out).0);
    let points = tensorboard_points(&run_dir);
    assert_eq!(points["train/lr"], 400, "each step once");
}

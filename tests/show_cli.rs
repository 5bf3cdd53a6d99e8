//! `cli show` through the real binary: a finished run, a run while it trains, the same run
//! interrupted with SIGINT (exit 130, a checkpoint), a run killed outright, a failed run, and
//! folders of runs (a compare folder, `runs/<name>/`).

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{cli, metrics, newest_checkpoint, root, run, text, wait_for};

fn config() -> String {
    root().join("configs/cosine_restart.yaml").to_string_lossy().into_owned()
}

/// `cli show args…` in `dir`: its stdout (it must succeed with nothing on stderr).
fn show(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["show"];
    all.extend_from_slice(args);
    let out = run(dir, &all);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success() && stderr.is_empty(), "show {args:?}: {stderr}\n{stdout}");
    stdout
}

/// The value after `key:` in `show`'s key lines.
fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    let prefix = format!("  {key}:");
    let line = stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {key}: in\n{stdout}"));
    line[prefix.len()..].trim()
}

/// `final V (step S), best B (step T)` of `tag`, recomputed from metrics.jsonl.
fn expected(run_dir: &Path, tag: &str, higher_is_better: bool) -> String {
    let points: Vec<(u64, f64)> = metrics(run_dir).into_iter().filter(|p| p.1 == tag).map(|p| (p.0, p.2)).collect();
    let last = points.last().unwrap();
    let best = points
        .iter()
        .copied()
        .reduce(|b, p| if (higher_is_better && p.1 > b.1) || (!higher_is_better && p.1 < b.1) { p } else { b })
        .unwrap();
    format!("final {:.4} (step {}), best {:.4} (step {})", last.1, last.0, best.1, best.0)
}

#[test]
fn a_finished_run_at_a_glance_and_as_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["train", &config(), "--set", "train.max_steps=200", "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let run_dir = dir.path().join("runs/cosine_restart/version_0");
    let stdout = show(dir.path(), &["runs/cosine_restart/version_0", "--png", "show.png"]);
    assert_eq!(stdout.lines().next(), Some("runs/cosine_restart/version_0"));
    assert_eq!(field(&stdout, "name"), "cosine_restart");
    assert_eq!(field(&stdout, "model"), "mlp");
    assert_eq!(field(&stdout, "data"), "digits");
    assert_eq!(field(&stdout, "optimizer"), "sgd, lr 0.1");
    assert_eq!(field(&stdout, "schedule"), "cosine_restarts");
    assert_eq!(field(&stdout, "steps"), "200 (train.max_steps)");
    assert!(field(&stdout, "status").starts_with("completed: 200/200 steps in "), "{stdout}");
    assert_eq!(field(&stdout, "val/loss"), expected(&run_dir, "val/loss", false));
    assert_eq!(field(&stdout, "val/accuracy"), expected(&run_dir, "val/accuracy", true));
    assert!(field(&stdout, "train/loss").ends_with("(step 199)"), "{stdout}");
    let best = field(&stdout, "val/loss").split("(step ").nth(2).unwrap().trim_end_matches(')');
    let best: u64 = best.parse::<u64>().unwrap() + 1;
    assert_eq!(
        field(&stdout, "checkpoints"),
        format!("best ({best} steps), cycle-000 (70 steps), cycle-001 (170 steps), step-00000200 (200 steps)")
    );
    assert!(!stdout.contains("continue with"), "{stdout}");
    for chart in ["train/loss (200 points)", "train/lr (200 points)", "val/loss (4 points)", "val/accuracy (4 points)"]
    {
        assert!(stdout.lines().any(|l| l == chart), "{chart}:\n{stdout}");
    }
    assert!(stdout.ends_with("wrote show.png\n"), "{stdout}");
    let png = std::fs::read(dir.path().join("show.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let record = std::fs::read_to_string(run_dir.join("summary.json")).unwrap();
    assert!(record.contains("\"stop\": \"completed\"") && record.contains("\"steps_done\": 200"), "{record}");

    // A reader that is gone: quiet exit 141 (as by SIGPIPE), no panic; a full disk: one error.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = cli(dir.path()).args(["show", "runs/cosine_restart/version_0"]).stdout(writer).output().unwrap();
    assert_eq!((out.status.code(), text(&out).1.as_str()), (Some(141), ""));
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = cli(dir.path()).args(["show", "runs/cosine_restart/version_0"]).stdout(full).output().unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.starts_with("error: cannot write to standard output") && stderr.lines().count() == 1, "{stderr}");
}

/// A long run started in `dir` (never finishes here), once its metrics are on disk.
fn start_long_run(dir: &Path) -> Child {
    let args = ["train", &config(), "--set", "train.max_steps=1000000", "--set", "train.checkpoint_every=100", "-q"];
    let child = cli(dir).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let run_dir = dir.join("runs/cosine_restart/version_0");
    assert!(wait_for(&run_dir.join("checkpoints/step-00000100"), Duration::from_secs(60)));
    child
}

#[test]
fn a_running_run_then_interrupted_with_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_long_run(dir.path());
    let path = "runs/cosine_restart/version_0";
    let stdout = show(dir.path(), &[path]);
    let status = field(&stdout, "status");
    let running = format!("running (process {}), at step ", child.id());
    assert!(status.starts_with(&running) && status.ends_with("/1000000"), "{stdout}");

    common::send_signal(child.id(), "INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let run_dir = dir.path().join(path);
    let step = newest_checkpoint(&run_dir);
    let stdout = show(dir.path(), &[path]);
    assert_eq!(field(&stdout, "status"), format!("interrupted at step {step}/1000000"));
    assert!(field(&stdout, "continue with").ends_with(&format!("resume {path}")), "{stdout}");
    assert!(field(&stdout, "checkpoints").contains(&format!("step-{step:08} ({step} steps)")), "{stdout}");
}

#[test]
fn a_run_killed_outright_and_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_long_run(dir.path());
    child.kill().unwrap();
    child.wait().unwrap();
    let path = "runs/cosine_restart/version_0";
    let step = newest_checkpoint(&dir.path().join(path));
    let stdout = show(dir.path(), &[path]);
    assert_eq!(
        field(&stdout, "status"),
        format!("stopped without finishing (killed or crashed), newest checkpoint at step {step}/1000000")
    );
    assert!(field(&stdout, "continue with").ends_with(&format!("resume {path}")), "{stdout}");

    let out = run(dir.path(), &["train", &config(), "--set", "optimizer.lr=1e6", "--set", "name=nan", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = show(dir.path(), &["runs/nan/version_0"]);
    assert_eq!(
        field(&stdout, "status"),
        "failed at step 5/770: the training loss is NaN at step 5: stopped. No checkpoint was saved before it."
    );
    assert!(!stdout.contains("continue with"), "no checkpoint to continue from: {stdout}");
}

#[test]
fn folders_of_runs_get_one_line_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let schedules = [root().join("configs/cosine.yaml"), root().join("configs/step_decay.yaml")];
    let mut args = vec!["compare".to_owned(), config(), "--schedules".to_owned()];
    args.extend(schedules.iter().map(|p| p.to_string_lossy().into_owned()));
    args.extend(["--set", "train.max_steps=60", "--set", "train.eval_every=30"].map(str::to_owned));
    let out = cli(dir.path()).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let stdout = show(dir.path(), &["runs/cosine_restart/compare-0", "--png", "cmp.png"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "runs/cosine_restart/compare-0 (2 runs)");
    let labels: Vec<&str> = lines[1..3].iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    let mut dirs: Vec<String> = std::fs::read_dir(dir.path().join("runs/cosine_restart/compare-0"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(labels, dirs, "{stdout}");
    for (line, label) in lines[1..3].iter().zip(labels) {
        let run_dir = dir.path().join("runs/cosine_restart/compare-0").join(label);
        let want = format!(
            "completed: 60/60 steps in {} | val/loss {} | val/accuracy {}",
            line.split(" steps in ").nth(1).unwrap().split(" |").next().unwrap(),
            expected(&run_dir, "val/loss", false),
            expected(&run_dir, "val/accuracy", true)
        );
        assert_eq!(line.split_once("  ").unwrap().1.trim_start(), want);
    }
    assert_eq!(lines[3], "wrote cmp.png");
    assert!(dir.path().join("cmp.png").exists());

    let out = run(dir.path(), &["train", &config(), "--set", "train.max_steps=30", "-q"]);
    assert!(out.status.success());
    let stdout = show(dir.path(), &["runs/cosine_restart"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "runs/cosine_restart (1 run)", "compare-0 holds no run itself: {stdout}");
    assert!(lines[1].starts_with("version_0  completed: 30/30 steps in "), "{stdout}");

    let out = run(dir.path(), &["show", "runs/nothing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.starts_with("error: runs/nothing: not a directory"), "{}", text(&out).1);
}

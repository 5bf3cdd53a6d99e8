//! `sweep` through the real binary: a 2×2 grid writes 4 runs and a table, its best point
//! re-trains to the same metrics from the printed `--set` line, and `--resume` runs again only
//! the points that did not complete.

mod common;

use common::{run, series, text};

const CONFIG: &str = "name: sw
seed: 0
model: {kind: mlp, hidden: [16]}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}
schedule: {kind: cosine, t_max: 20}
train: {max_steps: 20, batch_size: 32, eval_every: 10}
";

#[test]
fn a_two_by_two_sweep_runs_four_points_and_its_best_retrains_the_same() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), CONFIG).unwrap();
    let args = ["sweep", "c.yaml", "--grid", "optimizer.lr=0.01,0.1", "--grid", "schedule.t_max=10,20"];
    let out = run(dir.path(), &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let sweep = dir.path().join("runs/sw/sweep-0");
    let points = ["lr=0.01,t_max=10", "lr=0.01,t_max=20", "lr=0.1,t_max=10", "lr=0.1,t_max=20"];
    for p in points {
        assert_eq!(series(&sweep.join(p), "train/lr").len(), 20, "{p}");
        assert!(stdout.lines().any(|l| l.starts_with(p) && l.ends_with("completed")), "{p}: {stdout}");
    }
    let csv = std::fs::read_to_string(sweep.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // The best point: the highest best val/accuracy of the table, with its --set line.
    let best_acc = |p: &str| {
        let m = common::metrics(&sweep.join(p));
        m.iter().filter(|x| x.1 == "val/accuracy").map(|x| x.2).fold(f64::NEG_INFINITY, f64::max)
    };
    let best = points.iter().copied().max_by(|a, b| best_acc(a).total_cmp(&best_acc(b))).unwrap();
    let line = stdout.lines().find(|l| l.contains("train it:")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let sets: Vec<&str> = words.windows(2).filter(|w| w[0] == "--set").map(|w| w[1]).collect();
    let lr = best.split(',').next().unwrap().trim_start_matches("lr=");
    assert!(sets.contains(&format!("optimizer.lr={lr}").as_str()), "{best}: {line}");
    let mut train = vec!["train", "c.yaml", "-q"];
    for s in &sets {
        train.extend(["--set", s]);
    }
    let out = run(dir.path(), &train);
    assert!(out.status.success(), "{}", text(&out).1);
    let again = dir.path().join("runs/sw/version_0");
    assert_eq!(series(&again, "val/loss"), series(&sweep.join(best), "val/loss"));
    assert_eq!(series(&again, "val/accuracy"), series(&sweep.join(best), "val/accuracy"));

    // An unfinished point (no summary.json) runs again on --resume; the others are kept.
    std::fs::remove_file(sweep.join(points[1]).join("summary.json")).unwrap();
    let kept = std::fs::read(sweep.join(points[0]).join("metrics.jsonl")).unwrap();
    let sweep_dir = sweep.to_string_lossy().into_owned();
    let out = run(dir.path(), &["sweep", "--resume", &sweep_dir]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("3 runs already completed; 1 to run"), "{stdout}");
    assert_eq!(std::fs::read(sweep.join(points[0]).join("metrics.jsonl")).unwrap(), kept);
    assert!(sweep.join(points[1]).join("summary.json").exists());
    assert!(sweep.join(format!("{}.unfinished-1", points[1])).exists());
    assert_eq!(std::fs::read_to_string(sweep.join("summary.csv")).unwrap().lines().count(), 5);
}

/// The config's `seeds:` give every point its seed runs; a point whose runs fail (the loss turns
/// NaN at a huge LR) fails the sweep with exit status 1, after the others ran and the table
/// (first column `point`) was written, and the best point is among the ones that completed.
#[test]
fn a_failing_point_fails_the_sweep_after_the_rest_and_config_seeds_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG.replace("hidden: [16]", "hidden: [64, 64, 64]");
    std::fs::write(dir.path().join("c.yaml"), format!("{config}seeds: [4, 5]\n")).unwrap();
    let out = run(dir.path(), &["sweep", "c.yaml", "--grid", "optimizer.lr=0.1,1e6"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let sweep = dir.path().join("runs/sw/sweep-0");
    for seed in [4, 5] {
        assert_eq!(series(&sweep.join(format!("lr=0.1/seed-{seed}")), "train/lr").len(), 20);
        assert!(stderr.contains(&format!("[lr=1e6/seed-{seed}] failed: ")), "{stderr}");
    }
    let csv = std::fs::read_to_string(sweep.join("summary.csv")).unwrap();
    assert!(csv.starts_with("point,seeds,completed,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("lr=0.1,4 5,2,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("lr=1e6,4 5,0,")), "{csv}");
    assert!(stdout.lines().any(|l| l.starts_with("point ")), "{stdout}");
    assert!(stdout.contains("best point: optimizer.lr=0.1"), "{stdout}");
}

/// SIGTERM stops a sweep with status 128 + 15 and the command that continues it; `--resume`
/// then runs the rest and succeeds.
#[test]
fn a_terminated_sweep_exits_143_and_resumes_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), CONFIG.replace("max_steps: 20", "max_steps: 3000")).unwrap();
    let child = common::cli(dir.path())
        .args(["sweep", "c.yaml", "--grid", "optimizer.lr=0.01,0.1,0.05"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = dir.path().join("runs/sw/sweep-0/lr=0.01/metrics.jsonl");
    assert!(common::wait_for(&first, std::time::Duration::from_secs(120)), "the first point started");
    common::send_signal(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(143), "{stdout}\n{stderr}");
    assert!(stdout.contains("continue the sweep: "), "{stdout}");
    let sweep = dir.path().join("runs/sw/sweep-0").to_string_lossy().into_owned();
    let out = run(dir.path(), &["sweep", "--resume", &sweep]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for p in ["lr=0.01", "lr=0.1", "lr=0.05"] {
        assert_eq!(series(&dir.path().join("runs/sw/sweep-0").join(p), "train/lr").len(), 3000, "{p}");
    }
}

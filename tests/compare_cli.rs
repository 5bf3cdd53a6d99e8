//! `compare` and `lr-find` through the real binary on the embedded digits.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{cli, root, run, text, wait_for};

fn config(name: &str) -> String {
    root().join("configs").join(name).to_string_lossy().into_owned()
}

/// Best and final val/loss, best val/accuracy, first step with val/accuracy ≥ 0.95, recomputed
/// here from a run's metrics.jsonl.
fn from_metrics(run_dir: &std::path::Path) -> (f64, f64, f64, Option<u64>) {
    let m = common::metrics(run_dir);
    let loss: Vec<(u64, f64)> = m.iter().filter(|x| x.1 == "val/loss").map(|x| (x.0, x.2)).collect();
    let acc: Vec<(u64, f64)> = m.iter().filter(|x| x.1 == "val/accuracy").map(|x| (x.0, x.2)).collect();
    let best_loss = loss.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    let best_acc = acc.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
    let reached = acc.iter().find(|x| x.1 >= 0.95).map(|x| x.0);
    (best_loss, loss.last().unwrap().1, best_acc, reached)
}

#[test]
fn compare_three_schedules_writes_runs_a_matching_table_and_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "compare",
            &config("cosine_restart.yaml"),
            "--schedules",
            &config("cosine.yaml"),
            &config("step_decay.yaml"),
            &config("cyclic.yaml"),
            "--target",
            "val/accuracy=0.95",
            "--set",
            "train.max_steps=300",
            "--set",
            "train.eval_every=50",
            "--jobs",
            "2",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let cmp = dir.path().join("runs/cosine_restart/compare-0");
    let csv = std::fs::read_to_string(cmp.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "schedule,best_val_loss,best_val_loss_step,final_val_loss,best_val_accuracy,best_val_accuracy_step,target_step,wall_seconds,status"
    );
    let mut labels = Vec::new();
    for line in lines {
        let c: Vec<&str> = line.split(',').collect();
        labels.push(c[0].to_owned());
        let run_dir = cmp.join(c[0]);
        assert!(run_dir.join("config.yaml").exists());
        assert_eq!(common::series(&run_dir, "train/lr").len(), 300, "{}", c[0]);
        let (best_loss, final_loss, best_acc, reached) = from_metrics(&run_dir);
        assert_eq!(c[1].parse::<f64>().unwrap(), best_loss, "{line}");
        assert_eq!(c[3].parse::<f64>().unwrap(), final_loss, "{line}");
        assert_eq!(c[4].parse::<f64>().unwrap(), best_acc, "{line}");
        assert_eq!(c[6].parse::<u64>().ok(), reached, "{line}");
        assert!(c[7].parse::<f64>().unwrap() > 0.0);
        assert_eq!(c[8], "completed", "{line}");
        assert!(stdout.contains(&format!("{best_loss:.4}")), "printed table: {stdout}");
    }
    assert_eq!(labels, vec!["cosine", "step_decay", "cyclic"]);
    // Each run used its own schedule: the cyclic run's LR starts at its base_lr.
    assert_eq!(f64::from_bits(common::series(&cmp.join("cyclic"), "train/lr")[0].1), 0.005);
    let md = std::fs::read_to_string(cmp.join("summary.md")).unwrap();
    assert!(md.starts_with("| schedule | best val/loss |"), "{md}");
    let png = std::fs::read(cmp.join("compare.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn compare_rejects_a_bad_schedule_file_before_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "schedule:\n  kind: step\n  step_size: 0\n").unwrap();
    let out =
        run(dir.path(), &["compare", &config("cosine.yaml"), "--schedules", &config("step_decay.yaml"), "bad.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("bad.yaml:3:3: schedule.step_size: must be >= 1"), "{}", text(&out).1);
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn lr_find_suggests_a_sensible_lr_that_trains() {
    let dir = tempfile::tempdir().unwrap();
    // As from a shell, not under cargo (which sets CARGO for the test and its children).
    let args = ["lr-find", &config("constant.yaml"), "--min", "1e-6", "--max", "10", "--steps", "100"];
    let out = cli(dir.path()).args(args).env_remove("CARGO").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let pick = |label: &str| -> f64 {
        let line = stdout.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{stdout}"));
        line.split(':').nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
    };
    let (steep, tenth) = (pick("steepest descent"), pick("minimum of the smoothed loss / 10"));
    // The command to try it is the program that ran (the binary here, not `cargo run`).
    let try_it = format!("try it: {} {} --set optimizer.lr=", env!("CARGO_BIN_EXE_cli"), config("constant.yaml"));
    assert!(stdout.lines().any(|l| l.starts_with(&try_it)), "{stdout}");
    for lr in [steep, tenth] {
        assert!((1e-3..=1.0).contains(&lr), "suggested {lr}: {stdout}");
    }
    let out_dir = dir.path().join("runs/constant/lr-find-0");
    let csv = std::fs::read_to_string(out_dir.join("lr_find.csv")).unwrap();
    assert!(csv.starts_with("step,lr,loss,smoothed_loss\n"));
    let rows = csv.lines().count() - 1;
    assert!((10..=100).contains(&rows), "{rows} rows");
    assert!(out_dir.join("lr_find.png").exists());
    assert_eq!(std::fs::read_dir(dir.path().join("runs/constant")).unwrap().count(), 1, "only its own output");

    // Training at the suggestion converges.
    let out = run(dir.path(), &[&config("constant.yaml"), "--set", &format!("optimizer.lr={steep}"), "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let line = stdout.lines().find(|l| l.contains("val/accuracy: final")).unwrap();
    let acc: f64 = line.split_whitespace().nth(2).unwrap().trim_end_matches(',').parse().unwrap();
    assert!(acc > 0.9, "{line}");
}

#[test]
fn compare_reads_the_configs_own_list_and_places_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["compare", &config("compare_schedules.yaml"), "--set", "train.max_steps=100", "--set", "train.eval_every=50"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let cmp = dir.path().join("runs/compare_schedules/compare-0");
    for label in ["constant", "step", "cosine", "sgdr", "one_cycle"] {
        assert_eq!(common::series(&cmp.join(label), "train/lr").len(), 100, "{label}");
        assert!(stdout.contains(label));
    }
    std::fs::write(
        dir.path().join("c.yaml"),
        std::fs::read_to_string(config("compare_schedules.yaml")).unwrap().replace("step_size: 200", "step_size: 0"),
    )
    .unwrap();
    // The file extends base/digits.yaml, relative to itself.
    std::fs::create_dir(dir.path().join("base")).unwrap();
    std::fs::copy(config("base/digits.yaml"), dir.path().join("base/digits.yaml")).unwrap();
    let out = run(dir.path(), &["compare", "c.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("c.yaml:16:42: compare[1].schedule.step_size: must be >= 1"), "{}", text(&out).1);
}

/// A tiny digits config named `cmp` (an MLP of 16, `steps` steps) with `compare` appended.
fn tiny(dir: &Path, steps: u64, compare: &str) -> String {
    let text = format!(
        "name: cmp\nseed: 0\nmodel: {{kind: mlp, hidden: [16]}}\ndata: {{kind: digits}}\noptimizer: {{kind: sgd, lr: 0.1}}\nschedule: {{kind: constant}}\ntrain: {{max_steps: {steps}, batch_size: 16, eval_every: 10}}\n{compare}"
    );
    std::fs::write(dir.join("c.yaml"), text).unwrap();
    "c.yaml".into()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn compare_refuses_labels_that_are_not_directory_names_before_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let list = format!(
        "compare:\n  - {{label: {}, schedule: {{kind: constant}}}}\n  - {{label: ../../x, schedule: {{kind: constant}}}}\n  - {{label: '', schedule: {{kind: constant}}}}\n  - {{label: \"a\\nb\", schedule: {{kind: constant}}}}\n  - {{label: '..', schedule: {{kind: constant}}}}\n  - {{label: fine, schedule: {{kind: constant}}}}\n",
        outside.display()
    );
    let config = tiny(dir.path(), 10, &list);
    let out = run(dir.path(), &["compare", &config]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (i, why) in
        [(0, "contains `/`"), (1, "contains `/`"), (2, "is empty"), (3, "control character"), (4, "`.` or `..`")]
    {
        let line = 9 + i;
        let at = format!("c.yaml:{line}:");
        let field = format!("compare[{i}].label: must be a single directory name");
        assert!(
            stderr.lines().any(|l| l.contains(&at) && l.contains(&field) && l.contains(why)),
            "compare[{i}] ({why}) at line {line}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("compare[5]"), "{stderr}");
    assert_eq!(listing(dir.path()), ["c.yaml"], "no directory for a refused config");
}

#[test]
fn compare_refuses_a_schedule_file_whose_name_is_not_a_label() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(dir.path(), 10, "");
    for name in ["...yaml", "a\tb.yaml"] {
        std::fs::write(dir.path().join(name), "schedule: {kind: constant}\n").unwrap();
        let out = run(dir.path(), &["compare", &config, "--schedules", name]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&format!("error: {name}: this file's name gives its run the label")), "{stderr}");
        assert!(stderr.contains("rename the file"), "{stderr}");
        assert!(!dir.path().join("runs").exists(), "{name}");
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    assert_eq!(listing(dir.path()), ["c.yaml"]);
}

#[test]
fn compare_gives_colliding_labels_their_own_directories() {
    let dir = tempfile::tempdir().unwrap();
    let list = "compare:\n  - {label: x, schedule: {kind: constant}}\n  - {label: X, schedule: {kind: constant}}\n  - {label: x, schedule: {kind: constant}}\n  - {label: summary.csv, schedule: {kind: constant}}\n";
    let config = tiny(dir.path(), 10, list);
    let out = run(dir.path(), &["compare", &config]);
    assert!(out.status.success(), "{}", text(&out).1);
    let cmp = dir.path().join("runs/cmp/compare-0");
    assert_eq!(listing(&cmp), ["X-2", "compare.png", "summary.csv", "summary.csv-2", "summary.md", "x", "x-3"]);
    let csv = std::fs::read_to_string(cmp.join("summary.csv")).unwrap();
    let labels: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(labels, ["x", "X-2", "x-3", "summary.csv-2"]);
    for label in labels {
        assert_eq!(common::series(&cmp.join(label), "train/lr").len(), 10, "{label}");
    }
}

#[test]
fn compare_target_must_name_a_metric_the_runs_produce_and_a_finite_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(dir.path(), 10, "compare:\n  - {label: a, schedule: {kind: constant}}\n");
    for (target, says) in [
        (
            "val/perplexity=5",
            "these runs never produce `val/perplexity`; their evaluation produces val/loss, val/accuracy",
        ),
        ("val/bogus=0.5", "unknown metric `val/bogus`"),
        ("val/loss=nan", "must be a finite number"),
        ("val/accuracy=inf", "must be a finite number"),
        ("val/loss=-inf", "must be a finite number"),
    ] {
        let out = run(dir.path(), &["compare", &config, "--target", target]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{target}: {stderr}");
        assert!(stderr.contains(says), "{target}: {stderr}");
        assert_eq!(listing(dir.path()), ["c.yaml"], "{target}: no directory");
    }
}

#[test]
fn compare_exits_1_and_marks_a_failed_run_in_every_table() {
    let dir = tempfile::tempdir().unwrap();
    // An LR of 1e6 passes the config checks (the largest accepted) but makes this GELU network's
    // loss NaN within a few steps; `ok` keeps it at 0.1 for the whole run.
    let yaml = "name: cmp\nseed: 0\nmodel: {kind: mlp, hidden: [16], activation: gelu}\ndata: {kind: digits}\n\
        optimizer: {kind: sgd, lr: 1.0e+6, momentum: 0.9}\ntrain: {max_steps: 20, batch_size: 16, eval_every: 10}\n\
        schedule: {kind: constant}\ncompare:\n  - {label: ok, schedule: {kind: constant, factor: 1.0e-7, total_iters: 100}}\n\
        \x20 - {label: boom, schedule: {kind: constant, factor: 1.0}}\n";
    std::fs::write(dir.path().join("c.yaml"), yaml).unwrap();
    let config = "c.yaml";
    let out = run(dir.path(), &["compare", config]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("[boom] failed: "), "{stderr}");
    assert!(stderr.trim_end().ends_with("error: 1 run failed"), "{stderr}");
    let cmp = dir.path().join("runs/cmp/compare-0");
    let csv = std::fs::read_to_string(cmp.join("summary.csv")).unwrap();
    let status: Vec<(&str, &str)> =
        csv.lines().skip(1).map(|l| (l.split(',').next().unwrap(), l.rsplit(',').next().unwrap())).collect();
    assert_eq!(status, [("ok", "completed"), ("boom", "failed")]);
    assert!(csv.lines().nth(2).unwrap().starts_with("boom,,,,,,,"), "no values for the failed run: {csv}");
    let md = std::fs::read_to_string(cmp.join("summary.md")).unwrap();
    assert!(md.lines().any(|l| l.starts_with("| boom |") && l.ends_with("| failed |")), "{md}");
    let printed = stdout.lines().find(|l| l.starts_with("boom ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(printed.ends_with("failed"), "{printed}");
}

#[cfg(unix)]
#[test]
fn compare_after_ctrl_c_exits_130_and_marks_the_runs_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let list =
        "compare:\n  - {label: first, schedule: {kind: constant}}\n  - {label: second, schedule: {kind: constant}}\n";
    let config = tiny(dir.path(), 1_000_000, list);
    let child = cli(dir.path())
        .args(["compare", &config, "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = dir.path().join("runs/cmp/compare-0/first");
    assert!(wait_for(&first.join("metrics.jsonl"), Duration::from_secs(60)), "the first run did not start");
    common::send_signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("[second] not started: interrupted"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let csv = std::fs::read_to_string(dir.path().join("runs/cmp/compare-0/summary.csv")).unwrap();
    let status: Vec<(&str, &str)> =
        csv.lines().skip(1).map(|l| (l.split(',').next().unwrap(), l.rsplit(',').next().unwrap())).collect();
    assert_eq!(status, [("first", "interrupted"), ("second", "interrupted")], "{csv}");
    assert!(!dir.path().join("runs/cmp/compare-0/second").exists(), "no run starts after Ctrl-C");
}

#[test]
fn compare_with_seeds_prints_mean_and_std_for_every_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name: seeded\nseed: 5\nmodel: {kind: mlp, hidden: [16]}\ndata: {kind: digits}\n\
        optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}\nschedule: {kind: constant}\n\
        train: {max_steps: 12, batch_size: 32, eval_every: 6}\n\
        compare:\n  - {label: flat, schedule: {kind: constant}}\n  - {label: cos, schedule: {kind: cosine, t_max: 12}}\n";
    std::fs::write(dir.path().join("c.yaml"), base).unwrap();
    let out = run(dir.path(), &["compare", "c.yaml", "--seeds", "3"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("seeds: 5, 6, 7"), "{stdout}");
    let cmp = dir.path().join("runs/seeded/compare-0");
    let table: Vec<&str> = stdout.lines().filter(|l| l.starts_with("flat ") || l.starts_with("cos ")).collect();
    assert_eq!(table.len(), 2, "{stdout}");
    for (line, label) in table.iter().zip(["flat", "cos"]) {
        // Best val/loss, final val/loss, best val/accuracy and wall time: each mean ± std.
        assert_eq!(line.matches(" ± ").count(), 4, "{line}");
        assert!(line.contains("3/3 completed"), "{line}");
        // The mean and std printed are those of the seeds' runs.
        let finals: Vec<f64> = (5..8).map(|s| from_metrics(&cmp.join(format!("{label}/seed-{s}"))).1).collect();
        let mean = finals.iter().sum::<f64>() / 3.0;
        let std = (finals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!(line.contains(&format!("{mean:.4} ± {std:.4}")), "{line}: {finals:?}");
        let seed_6: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(cmp.join(format!("{label}/seed-6/config.yaml"))).unwrap())
                .unwrap();
        assert_eq!(seed_6["seed"], 6);
    }
    assert!(stdout.contains("best") && stdout.contains("Welch"), "{stdout}");
    let csv = std::fs::read_to_string(cmp.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("flat,5 6 7,3,"), "{csv}");
    assert!(cmp.join("compare.png").exists() && cmp.join("summary.md").exists());
    // Different seeds give different runs.
    assert_ne!(
        common::series(&cmp.join("flat/seed-5"), "train/loss"),
        common::series(&cmp.join("flat/seed-6"), "train/loss")
    );
    // `seeds:` in the config, without --seeds.
    std::fs::write(dir.path().join("c.yaml"), format!("{base}seeds: [1, 9]\n")).unwrap();
    let out = run(dir.path(), &["compare", "c.yaml"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(dir.path().join("runs/seeded/compare-1/cos/seed-9/metrics.jsonl").exists());
}

//! `cli schedule … --format csv` through the real binary reproduces every PyTorch reference case
//! (the case files are JSON, which is YAML; their extra keys are ignored by `schedule`).

mod common;

use std::path::Path;

use common::{root, run, text};

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(got.abs()) || (got - want).abs() <= 1e-15
}

fn check_dir(dir: &Path) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.starts_with("optim_") {
            continue;
        }
        let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let steps = case["steps"].as_u64().unwrap().to_string();
        let mut args = vec!["schedule", path.to_str().unwrap(), "--steps", &steps, "--format", "csv"];
        let metrics_file = tmp.path().join(format!("{name}.metrics"));
        if let Some(m) = case["metrics"].as_array() {
            let lines: Vec<String> = m.iter().map(|v| v.as_f64().unwrap().to_string()).collect();
            std::fs::write(&metrics_file, lines.join("\n")).unwrap();
            args.extend(["--metrics", metrics_file.to_str().unwrap()]);
        }
        let out = run(tmp.path(), &args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stderr}");
        let mut lines = stdout.lines();
        let momentum = case.get("momentum").and_then(|m| m.as_array());
        assert_eq!(lines.next().unwrap(), if momentum.is_some() { "step,lr,momentum" } else { "step,lr" }, "{name}");
        let lr = case["lr"].as_array().unwrap();
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), lr.len(), "{name}: one row per step");
        for (t, row) in rows.iter().enumerate() {
            let cols: Vec<&str> = row.split(',').collect();
            assert_eq!(cols[0], t.to_string());
            let got: f64 = cols[1].parse().unwrap();
            assert!(close(got, lr[t].as_f64().unwrap()), "{name} step {t}: {got} vs {}", lr[t]);
            if let Some(m) = momentum {
                let got: f64 = cols[2].parse().unwrap();
                assert!(close(got, m[t].as_f64().unwrap()), "{name} step {t}: momentum {got} vs {}", m[t]);
            }
        }
        checked += 1;
    }
    checked
}

#[test]
fn csv_preview_matches_every_reference_case() {
    assert_eq!(check_dir(&root().join("tests/data/torch")), 14);
    assert_eq!(check_dir(&root().join("tests/data/torch-extra")), 21);
}

#[test]
fn table_preview_marks_restarts_and_reads_other_sections() {
    let out = run(&root(), &["schedule", "configs/cosine_restart.yaml"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("warmup ends") && stdout.contains("restart (cycle 1)"), "{stdout}");
    assert!(stdout.contains("W = warmup ends, R = warm restart"), "{stdout}");
}

#[test]
fn preview_errors_name_the_field_and_line_and_exit_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.yaml");
    std::fs::write(&cfg, "optimizer: {kind: sgd, lr: 0.1}\nschedule:\n  kind: cosine_restarts\n  t_0: 0\n").unwrap();
    let out = run(tmp.path(), &["schedule", "bad.yaml", "--steps", "10"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("bad.yaml:4:3: schedule.t_0: must be >= 1 (got 0)"), "{stderr}");

    std::fs::write(&cfg, "optimizer: {kind: sgd, lr: 0.1}\nschedule: {kind: plateau}\n").unwrap();
    std::fs::write(tmp.path().join("m.txt"), "0.5\nfast\n").unwrap();
    let out = run(tmp.path(), &["schedule", "bad.yaml", "--steps", "10", "--metrics", "m.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("m.txt:2: `fast` is not a number"), "{}", text(&out).1);

    let out = run(tmp.path(), &["schedule", "bad.yaml"]);
    assert!(text(&out).1.contains("--steps"), "{}", text(&out).1);
}

#[test]
fn validate_counts_every_key_point_not_the_listing_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let config = "name: k\nmodel: {kind: mlp, hidden: [4]}\ndata: {kind: digits}\noptimizer: {kind: sgd, lr: 0.1}\n\
                  schedule: {kind: cosine_restarts, t_0: 1}\ntrain: {max_steps: 20001, batch_size: 8}\n";
    std::fs::write(tmp.path().join("k.yaml"), config).unwrap();
    let out = run(tmp.path(), &["validate", "k.yaml"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("# … 20000 key points in all"), "{}", stdout.lines().last().unwrap_or(""));
}

#[test]
fn lr_find_that_diverges_within_a_few_steps_warns_instead_of_suggesting_confidently() {
    let tmp = tempfile::tempdir().unwrap();
    let config = root().join("configs/constant.yaml");
    let args = ["lr-find", config.to_str().unwrap(), "--min", "1", "--max", "1e5", "--steps", "100"];
    let out = run(tmp.path(), &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: the loss diverged after ") && stderr.contains(" of 100 steps"), "{stderr}");
    assert!(stdout.contains("suggested learning rate (unreliable: the loss diverged early):"), "{stdout}");
}

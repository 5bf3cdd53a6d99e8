//! `extends: base.yaml` through the real binary: merged configs, errors placed in the file that
//! wrote the value (base or child), cycles refused, `validate --origins`, `--set` on top, and a
//! run directory whose config.yaml is the merged config (resume needs no base file).

mod common;

use std::path::Path;

use common::{run, text};

const BASE: &str = "name: base
seed: 3
model: {kind: mlp, hidden: [16, 8]}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.0005}
schedule: {kind: cosine, t_max: 20}
train: {max_steps: 20, batch_size: 32, eval_every: 10}
";

/// `base.yaml` (BASE with `from` replaced by `to`) in `dir/bases/`, and `child.yaml` in `dir`.
fn files(dir: &Path, from: &str, to: &str, child: &str) -> String {
    std::fs::create_dir_all(dir.join("bases")).unwrap();
    std::fs::write(dir.join("bases/base.yaml"), BASE.replace(from, to)).unwrap();
    std::fs::write(dir.join("child.yaml"), format!("extends: bases/base.yaml\n{child}")).unwrap();
    "child.yaml".into()
}

const CHILD: &str = "name: child
model: {hidden: [12]}
optimizer: {weight_decay: null}
";

#[test]
fn the_child_is_merged_over_its_base_and_origins_name_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let child = files(dir.path(), "", "", CHILD);
    let out = run(dir.path(), &["validate", &child, "--origins", "--set", "train.max_steps=30"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // Lists replaced, maps merged, null removed (the default, 0, comes back).
    assert!(stdout.contains("hidden:\n  - 12\n"), "{stdout}");
    assert!(stdout.contains("momentum: 0.9") && stdout.contains("weight_decay: 0.0\n"), "{stdout}");
    for line in [
        "# name = \"child\"  (child.yaml:2:1)",
        "# model.hidden[0] = 12  (child.yaml:3:18)",
        "# model.kind = \"mlp\"  (bases/base.yaml:3:9)",
        "# optimizer.momentum = 0.9  (bases/base.yaml:5:33)",
        "# seed = 3  (bases/base.yaml:2:1)",
        "# train.max_steps = 30  (--set train.max_steps=30)",
    ] {
        assert!(stdout.contains(line), "{line} in\n{stdout}");
    }
    assert!(!stdout.contains("optimizer.weight_decay ="), "{stdout}");
}

#[test]
fn errors_name_the_file_and_line_that_wrote_the_value() {
    let dir = tempfile::tempdir().unwrap();
    // A typo in the base: the base's line.
    let child = files(dir.path(), "batch_size", "batch_sise", CHILD);
    let (_, stderr) = text(&run(dir.path(), &["validate", &child]));
    assert!(stderr.contains("bases/base.yaml:7:") && stderr.contains("did you mean `batch_size`?"), "{stderr}");
    // A value the checks refuse, written in the base: the base's line.
    let child = files(dir.path(), "lr: 0.1", "lr: -0.1", CHILD);
    let (_, stderr) = text(&run(dir.path(), &["validate", &child]));
    assert!(stderr.contains("bases/base.yaml:5:") && stderr.contains("optimizer.lr"), "{stderr}");
    // The same value written in the child: the child's line.
    let child = files(dir.path(), "", "", &format!("{CHILD}schedule: {{t_max: ten}}\n"));
    let (_, stderr) = text(&run(dir.path(), &["validate", &child]));
    assert!(stderr.contains("child.yaml:5:") && stderr.contains("schedule.t_max"), "{stderr}");
    let child = files(dir.path(), "", "", &CHILD.replace("weight_decay: null", "lr: -1.0"));
    let (_, stderr) = text(&run(dir.path(), &["validate", &child]));
    assert!(stderr.contains("child.yaml:4:") && stderr.contains("optimizer.lr"), "{stderr}");
    // A bad `--set` on top names the `--set`.
    let child = files(dir.path(), "", "", CHILD);
    let (_, stderr) = text(&run(dir.path(), &["validate", &child, "--set", "optimizer.lr=-2"]));
    assert!(stderr.contains("--set optimizer.lr=-2") && stderr.contains("optimizer.lr"), "{stderr}");
}

#[test]
fn cycles_and_missing_bases_are_refused_at_the_extends_line() {
    let dir = tempfile::tempdir().unwrap();
    let child = files(dir.path(), "name: base", "extends: ../child.yaml", CHILD);
    let out = run(dir.path(), &["validate", &child]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bases/base.yaml:1:1") && stderr.contains("cycle"), "{stderr}");
    assert!(stderr.contains("child.yaml → bases/base.yaml → bases/../child.yaml"), "{stderr}");
    std::fs::write(dir.path().join("child.yaml"), "name: c\nextends: nowhere.yaml\n").unwrap();
    let stderr = text(&run(dir.path(), &["validate", &child])).1;
    assert!(stderr.contains("child.yaml:2:1") && stderr.contains("cannot read `nowhere.yaml`"), "{stderr}");
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn the_run_keeps_the_merged_config_and_resumes_without_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let child = files(dir.path(), "", "", CHILD);
    let out = run(dir.path(), &[&child, "--set", "train.max_steps=10", "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let run_dir = dir.path().join("runs/child/version_0");
    let saved: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(run_dir.join("config.yaml")).unwrap()).unwrap();
    assert_eq!(saved["model"]["hidden"], serde_json::json!([12]));
    assert_eq!(saved["optimizer"]["momentum"], 0.9);
    assert_eq!(saved["seed"], 3);
    assert!(saved.get("extends").is_none(), "{saved}");
    std::fs::remove_dir_all(dir.path().join("bases")).unwrap();
    let out = run(dir.path(), &["resume", run_dir.to_str().unwrap(), "--set", "train.max_steps=20", "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("completed: 20/20 steps"), "{stdout}");
}

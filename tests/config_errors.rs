//! Bad configs through the real binary: each gives a clear one-screen error naming the field and
//! the line, a non-zero exit, no panic, and creates nothing.

mod common;

use std::time::Instant;

use common::{run, text};

const GOOD: &str = "name: e
model: {kind: mlp, hidden: [16]}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}
schedule: {kind: cosine, t_max: 100}
train: {max_steps: 100, batch_size: 32}
";

/// (what, config text, words the error must contain)
type Case = (&'static str, String, Vec<&'static str>);

/// `GOOD` with `from` replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    GOOD.replace(from, to)
}

/// Every case: the file's syntax and fields, then the checks of values and of the run.
fn cases() -> Vec<Case> {
    let mut all = syntax_cases();
    all.extend(check_cases());
    all
}

/// Typos, unknown names, wrong types and broken YAML.
fn syntax_cases() -> Vec<Case> {
    vec![
        (
            "typo in a section name",
            edit("schedule:", "schedul:"),
            vec!["c.yaml:5:1", "unknown field `schedul`", "did you mean `schedule`?"],
        ),
        (
            "typo in a nested key",
            edit("momentum: 0.9", "momentun: 0.9"),
            vec!["c.yaml:4:", "optimizer.momentun", "did you mean `momentum`?"],
        ),
        (
            "typo in a schedule parameter",
            edit("t_max: 100", "t_maxx: 100"),
            vec!["c.yaml:5:", "schedule.t_maxx", "did you mean `t_max`?"],
        ),
        (
            "unknown kind",
            edit("kind: cosine", "kind: cosin"),
            vec!["c.yaml:5:", "unknown variant `cosin`", "did you mean `cosine`?"],
        ),
        ("wrong type", edit("max_steps: 100", "max_steps: ten"), vec!["c.yaml:6:", "train.max_steps", "invalid"]),
        ("duplicate key", format!("{GOOD}seed: 1\nseed: 2\n"), vec!["c.yaml:8:1", "duplicate"]),
        ("broken YAML", edit("data: {kind: digits}", "data: {kind: digits"), vec!["c.yaml:"]),
    ]
}

/// Values out of range, contradictions, and checks that need the data or the run's length.
fn check_cases() -> Vec<Case> {
    vec![
        ("negative lr", edit("lr: 0.1", "lr: -0.1"), vec!["c.yaml:4:", "optimizer.lr", "> 0"]),
        ("out-of-range schedule value", edit("t_max: 100", "t_max: 0"), vec!["c.yaml:5:", "schedule.t_max", ">= 1"]),
        (
            "max_steps and epochs",
            edit("max_steps: 100", "max_steps: 100, epochs: 2"),
            vec!["c.yaml:6:", "train.epochs", "not both"],
        ),
        ("no length", edit("max_steps: 100, ", ""), vec!["c.yaml:6:", "train.max_steps", "train.epochs"]),
        (
            "warmup longer than the run",
            edit("t_max: 100}", "t_max: 100, warmup: {steps: 100}}"),
            vec!["c.yaml:5:", "schedule.warmup.steps", "not shorter than the run (100 steps)"],
        ),
        (
            "one_cycle shorter than the run",
            edit("{kind: cosine, t_max: 100}", "{kind: one_cycle, max_lr: 0.1, total_steps: 50}"),
            vec!["c.yaml:5:", "schedule.total_steps", "shorter than the run (100 steps)"],
        ),
        (
            "a monitor never produced",
            edit("{kind: cosine, t_max: 100}", "{kind: plateau, monitor: val/acc}"),
            vec!["c.yaml:5:", "schedule.monitor", "`val/acc` is never produced", "val/accuracy"],
        ),
        (
            "a group matching no parameter",
            edit("momentum: 0.9}", "momentum: 0.9, groups: [{name: enc, prefix: encoder.}]}"),
            vec!["c.yaml:4:", "optimizer.groups[0]: group `enc`", "matches no parameter", "head.weight"],
        ),
        (
            "unknown key inside a sequential child",
            edit(
                "{kind: cosine, t_max: 100}",
                "\n  kind: sequential\n  milestones: [10]\n  schedules:\n    - {kind: constant}\n    - kind: step\n      step_sze: 5",
            ),
            vec!["c.yaml:11:7", "schedule.schedules[1].step_sze", "did you mean `step_size`?"],
        ),
        (
            "milestones mismatch",
            edit(
                "{kind: cosine, t_max: 100}",
                "{kind: sequential, milestones: [5, 9], schedules: [{kind: constant}, {kind: constant}]}",
            ),
            vec!["c.yaml:5:", "schedule.milestones", "one milestone fewer"],
        ),
        ("cuda in a CPU build", format!("{GOOD}device: cuda:0\n"), vec!["c.yaml:7:1", "device", "--features cuda"]),
        (
            "reduce without a plateau",
            format!("{GOOD}hooks: {{on_plateau: {{action: reduce}}}}\n"),
            vec!["c.yaml:7:", "hooks.on_plateau.action", "no `plateau`"],
        ),
        (
            "zero clipping norm",
            edit("batch_size: 32", "batch_size: 32, max_grad_norm: 0"),
            vec!["c.yaml:6:", "train.max_grad_norm", "> 0"],
        ),
        ("a name with a slash", edit("name: e", "name: a/b"), vec!["c.yaml:1:1", "name", "directory name"]),
    ]
}

#[test]
fn every_bad_config_gives_a_located_one_screen_error_and_creates_nothing() {
    let mut failures = Vec::new();
    for (what, yaml, words) in cases() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.yaml"), &yaml).unwrap();
        for command in ["train", "validate"] {
            let out = run(dir.path(), &[command, "c.yaml"]);
            let (stdout, stderr) = text(&out);
            let problems: Vec<String> = [
                (out.status.code() != Some(1)).then(|| format!("exit {:?}", out.status.code())),
                stderr.contains("panicked").then(|| "panicked".to_owned()),
                (stderr.lines().count() > 20).then(|| format!("{} lines", stderr.lines().count())),
                dir.path().join("runs").exists().then(|| "created runs/".to_owned()),
            ]
            .into_iter()
            .flatten()
            .chain(words.iter().filter(|w| !stderr.contains(*w)).map(|w| format!("missing `{w}`")))
            .collect();
            if !problems.is_empty() {
                failures.push(format!(
                    "{what} ({command}): {}\n--- stderr:\n{stderr}--- stdout:\n{stdout}",
                    problems.join(", ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_missing_file_and_a_bad_set_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["nope.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("nope.yaml: cannot read the config file"), "{}", text(&out).1);

    std::fs::write(dir.path().join("c.yaml"), GOOD).unwrap();
    let out = run(dir.path(), &["c.yaml", "--set", "schedule.t_max=zero"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("--set schedule.t_max=zero"), "{stderr}");
    let out = run(dir.path(), &["c.yaml", "--set", "schedule.t_max=0"]);
    assert!(text(&out).1.contains("--set schedule.t_max=0: schedule.t_max: must be >= 1"), "{}", text(&out).1);
    let out = run(dir.path(), &["c.yaml", "--set", "train"]);
    assert!(text(&out).1.contains("expected KEY=VALUE"), "{}", text(&out).1);
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn an_alias_bomb_fails_fast() {
    let mut yaml = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (i, c) in "bcdefghijk".chars().enumerate() {
        let prev = (b'a' + i as u8) as char;
        yaml.push_str(&format!(
            "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    yaml.push_str(GOOD);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), yaml).unwrap();
    let started = Instant::now();
    // With --set the whole document is read into a tree first: the alias budget must stop it.
    let out = run(dir.path(), &["validate", "c.yaml", "--set", "seed=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("budget"), "{}", text(&out).1);
    assert!(started.elapsed().as_secs_f64() < 5.0, "took {:?}", started.elapsed());
    assert!(!text(&out).1.contains("panicked"));
}

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
            "bf16 on the CPU",
            edit("batch_size: 32}", "batch_size: 32, precision: bf16}"),
            vec!["c.yaml:6:", "train.precision", "bf16 runs on a GPU"],
        ),
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
        (
            "a model too large to allocate",
            edit("hidden: [16]", "hidden: [100000, 100000]"),
            vec!["c.yaml:2:", "model: the model has at least 10000400001 parameters", "2^31"],
        ),
        (
            "a model too large for its data",
            // A lower bound of 402653205 from the config; 2516582520 with the 64 inputs and 10 classes.
            edit("hidden: [16]", "hidden: [33554432, 10]"),
            vec!["c.yaml:2:", "model: the model has", "parameters"],
        ),
    ]
    .into_iter()
    .chain(horizon_cases())
    .chain(typing_cases())
    .collect()
}

/// Schedules whose LR or momentum leaves the usable range somewhere in the run (issue 13).
fn horizon_cases() -> Vec<Case> {
    let schedule = |s: &str| edit("{kind: cosine, t_max: 100}", s);
    vec![
        (
            "exponential growing past any usable LR",
            schedule("{kind: exponential, gamma: 1.05}").replace("max_steps: 100", "max_steps: 20000"),
            vec!["c.yaml:5:", "schedule.gamma", "at step 331 (1.05^331 × 0.1)", "above the largest accepted"],
        ),
        (
            "cyclic exp_range growing",
            schedule("{kind: cyclic, base_lr: 0.01, max_lr: 0.1, step_size_up: 10, mode: exp_range, gamma: 2}"),
            vec!["c.yaml:5:", "schedule.gamma", "exp_range scales the cycle by 2^"],
        ),
        (
            "one_cycle with a tiny div_factor",
            schedule("{kind: one_cycle, max_lr: 0.1, total_steps: 100, div_factor: 1e-300}"),
            vec!["c.yaml:5:", "schedule.div_factor", "LR reaches 1e299", "at step 0"],
        ),
        (
            "a nested schedule that overflows",
            schedule(
                "{kind: sequential, milestones: [50], schedules: [{kind: constant}, {kind: step, step_size: 1, gamma: 2}]}",
            ),
            vec!["c.yaml:5:", "schedule.schedules[1].gamma", "at step 24, step 74 of the run"],
        ),
    ]
}

/// Values the YAML types differently from the field (issues 14 and 19).
fn typing_cases() -> Vec<Case> {
    let kinds = "expected one of constant, step";
    vec![
        (
            "a schedule kind given as a number",
            edit("kind: cosine, t_max: 100", "kind: 6"),
            vec!["c.yaml:5:12", "unknown variant `6`", kinds],
        ),
        (
            "a schedule kind given as a boolean",
            edit("kind: cosine, t_max: 100", "kind: true"),
            vec!["c.yaml:5:", "unknown variant `true`", kinds],
        ),
        (
            "a nested schedule kind given as a number",
            edit("{kind: cosine, t_max: 100}", "{kind: chained, schedules: [{kind: 0}]}"),
            vec!["c.yaml:5:", "schedule.schedules[0].kind", "unknown variant `0`", kinds],
        ),
        (
            "an optimizer kind given as a number",
            edit("kind: sgd", "kind: 1"),
            vec!["c.yaml:4:", "optimizer.kind", "unknown variant `1`", "sgd, adam, adamw"],
        ),
        (
            "a model kind given as a number",
            edit("kind: mlp", "kind: 0"),
            vec!["c.yaml:2:", "model.kind", "unknown variant `0`", "mlp, cnn"],
        ),
        (
            "a data kind given as a number",
            edit("kind: digits", "kind: 0"),
            vec!["c.yaml:3:", "data.kind", "unknown variant `0`", "digits, mnist"],
        ),
        (
            "a plateau mode given as a number",
            edit("{kind: cosine, t_max: 100}", "{kind: plateau, monitor: val/loss, mode: 0}"),
            vec!["c.yaml:5:", "schedule.mode", "unknown variant `0`", "min, max"],
        ),
        (
            "a cyclic mode given as a number",
            edit("{kind: cosine, t_max: 100}", "{kind: cyclic, base_lr: 0.01, max_lr: 0.1, mode: 1}"),
            vec!["c.yaml:5:", "schedule.mode", "unknown variant `1`", "triangular, triangular2, exp_range"],
        ),
        (
            "an activation given as a number",
            edit("kind: mlp,", "kind: mlp, activation: 1,"),
            vec!["c.yaml:2:", "model.activation", "unknown variant `1`", "relu"],
        ),
        (
            "an early-stopping mode given as a number",
            edit("batch_size: 32", "batch_size: 32, early_stopping: {monitor: val/loss, mode: 1}"),
            vec!["c.yaml:6:", "train.early_stopping.mode", "unknown variant `1`", "min, max"],
        ),
        (
            "a hook action given as a number",
            format!("{GOOD}hooks: {{on_plateau: {{action: 0}}}}\n"),
            vec!["c.yaml:7:", "hooks.on_plateau.action", "unknown variant `0`"],
        ),
        (
            "a quoted number for an integer",
            edit("max_steps: 100", "max_steps: '100'"),
            vec!["c.yaml:6:9", "train.max_steps", "quoted", "without quotes"],
        ),
        ("a NaN", edit("lr: 0.1", "lr: .nan"), vec!["c.yaml:4:", "optimizer.lr", "`.nan` is not a finite number"]),
        (
            "a quoted number for a float",
            edit("lr: 0.1", "lr: \"0.1\""),
            vec!["c.yaml:4:", "optimizer", "string \"0.1\", expected f64"],
        ),
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
fn set_values_are_typed_like_file_values() {
    let dir = tempfile::tempdir().unwrap();
    // A quoted number in the file is refused in the file, with or without an unrelated --set.
    std::fs::write(dir.path().join("c.yaml"), GOOD.replace("max_steps: 100", "max_steps: '100'")).unwrap();
    for extra in [&[][..], &["--set", "seed=1"][..]] {
        let out = run(dir.path(), &[&["validate", "c.yaml"][..], extra].concat());
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("c.yaml:6:9: train.max_steps: `\"100\"` is quoted"), "{stderr}");
    }
    std::fs::write(dir.path().join("c.yaml"), GOOD).unwrap();
    // A quoted number given with --set is refused at the --set; an integer kind likewise.
    for (set, words) in [
        ("train.max_steps='100'", "--set train.max_steps='100': train.max_steps: `\"100\"` is quoted"),
        ("schedule.kind=6", "--set schedule.kind=6: schedule.kind: unknown variant `6`, expected one of constant"),
        ("optimizer.kind=1", "--set optimizer.kind=1: optimizer.kind: unknown variant `1`, expected one of sgd"),
        (
            "optimizer.lr=.inf",
            "--set optimizer.lr=.inf: `.inf` is not a finite number: NaN and infinities are not accepted",
        ),
    ] {
        let out = run(dir.path(), &["validate", "c.yaml", "--set", set]);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out).1.contains(words), "{set}: {}", text(&out).1);
    }
    // A number for a text field reads the same from the file and from --set.
    let out = run(dir.path(), &["validate", "c.yaml", "--set", "name=123"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).0.contains("name: \"123\""), "{}", text(&out).0);
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

#[test]
fn oversized_inputs_are_refused_with_their_size_and_errors_speak_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let stderr_of = |args: &[&str]| {
        let out = run(dir.path(), args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    #[cfg(unix)]
    {
        let e = stderr_of(&["validate", "/dev/zero"]);
        assert!(e.contains("/dev/zero: cannot read the config file: it holds more than the 16777216 bytes"), "{e}");
        let data = GOOD.replace(
            "{kind: digits}",
            "{kind: tabular, path: /dev/zero, target: t, task: classification, format: csv}",
        );
        std::fs::write(dir.path().join("z.yaml"), data).unwrap();
        let e = stderr_of(&["train", "z.yaml"]);
        assert!(e.contains("data.path: cannot read /dev/zero: not a regular file"), "{e}");
        std::fs::write(dir.path().join("p.yaml"), GOOD.replace("{kind: cosine, t_max: 100}", "{kind: plateau}"))
            .unwrap();
        let e = stderr_of(&["schedule", "p.yaml", "--metrics", "/dev/zero"]);
        assert!(e.contains("/dev/zero: cannot read the metrics: it holds more than"), "{e}");
    }
    // A 500 kB line: refused by the reader's budget, quoted cut to ~200 characters, in plain words.
    let huge = format!("{GOOD}extra: [{}1]\n", "1,".repeat(250_000));
    std::fs::write(dir.path().join("h.yaml"), huge).unwrap();
    let e = stderr_of(&["validate", "h.yaml"]);
    assert!(
        e.contains("exceeds the config reader's budget") && !e.contains("Events {") && !e.contains("Nodes {"),
        "{e}"
    );
    assert!(e.len() < 2000, "{} bytes of error", e.len());
    std::fs::write(dir.path().join("d.yaml"), format!("{GOOD}seed: 1\nseed: 2\n")).unwrap();
    let e = stderr_of(&["validate", "d.yaml"]);
    assert!(
        e.contains("d.yaml:8:1: seed: duplicate key `seed` (first at line 7)") && !e.contains("DuplicateKeyPolicy"),
        "{e}"
    );
    // schedule: no chart of zero steps, no PNG without its extension.
    std::fs::write(dir.path().join("c.yaml"), GOOD).unwrap();
    let e = stderr_of(&["schedule", "c.yaml", "--steps", "0"]);
    assert!(e.contains("--steps must be at least 1"), "{e}");
    let e = stderr_of(&["schedule", "c.yaml", "--png", "out"]);
    assert!(e.contains("give the PNG file a .png extension") && !e.contains("ImageError"), "{e}");
    assert!(!dir.path().join("out").exists() && !dir.path().join("runs").exists());
}

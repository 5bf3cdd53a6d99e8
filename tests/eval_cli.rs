//! `eval` and `predict` on classification/regression runs through the real binary: a run
//! directory's checkpoint reproduces the validation metrics the run logged at its step, and
//! predictions agree with `eval`.

mod common;

use std::path::Path;

use common::{eval_json, metrics, run, text};

const TINY: &str = "
name: tiny
seed: 3
model: {kind: mlp, hidden: [16], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: adamw, lr: 0.003}
schedule: {kind: cosine, t_max: 20}
train: {max_steps: 20, batch_size: 32, eval_every: 10, checkpoint_every: 10, eval_batch_size: 50}
logging: {tensorboard: false}
";

/// Trains `config` in `dir` as `config.yaml`; returns the run directory (relative to `dir`).
fn trained(dir: &Path, config: &str) -> String {
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let out = run(dir, &["train", "config.yaml", "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let name = config.lines().find_map(|l| l.strip_prefix("name: ")).unwrap();
    format!("runs/{name}/version_0")
}

/// The `val/…` values the run logged at `step`, without the prefix.
fn logged(run_dir: &Path, step: u64) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = metrics(run_dir)
        .into_iter()
        .filter(|(s, tag, _)| *s == step && tag.starts_with("val/"))
        .map(|(_, tag, v)| (tag["val/".len()..].to_owned(), v))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn reported(json: &serde_json::Value) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> =
        json["metrics"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn eval_of_a_checkpoint_reproduces_the_logged_validation_metrics_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained(dir.path(), TINY);
    let abs = dir.path().join(&run_dir);
    for (checkpoint, steps_done) in [("last", 20), ("10", 10)] {
        let got = eval_json(dir.path(), &[&run_dir, "--checkpoint", checkpoint]);
        assert_eq!(got["steps_done"].as_u64(), Some(steps_done), "{got}");
        assert_eq!(got["step"].as_u64(), Some(steps_done - 1), "{got}");
        assert_eq!(got["split"], "val");
        let want = logged(&abs, steps_done - 1);
        let names: Vec<&str> = want.iter().map(|(n, _)| n.as_str()).filter(|n| !n.contains('/')).collect();
        assert_eq!(names, ["accuracy", "f1_macro", "loss", "precision_macro", "recall_macro", "top5_accuracy"]);
        assert_eq!(want.len(), 6 + 3 * 10, "precision, recall and F1 of each of the 10 classes: {want:?}");
        // Bit for bit: the same weights, data, batches and summation order as the run.
        assert_eq!(reported(&got), want, "checkpoint {checkpoint}");
    }
    // The training split is measured too (a different number of examples, same metrics).
    let train = eval_json(dir.path(), &[&run_dir, "--split", "train"]);
    assert_eq!(train["split"], "train");
    assert!(train["examples"].as_u64().unwrap() > got_examples(dir.path(), &run_dir));
    // The untrained model of the config: chance-level accuracy.
    let base = eval_json(dir.path(), &["config.yaml"]);
    assert!(base["checkpoint"].is_null());
    let acc = base["metrics"]["accuracy"].as_f64().unwrap();
    assert!(acc < 0.4, "{base}");
}

fn got_examples(dir: &Path, run_dir: &str) -> u64 {
    eval_json(dir, &[run_dir])["examples"].as_u64().unwrap()
}

#[test]
fn eval_text_output_names_the_checkpoint_and_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained(dir.path(), TINY);
    let out = run(dir.path(), &["eval", &run_dir]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with(&format!("checkpoint {run_dir}/checkpoints/step-00000020 after 20 steps, val split (")),
        "{stdout}"
    );
    assert!(stdout.contains("accuracy 0."), "{stdout}");
    // A data file that is not there: one error naming it.
    let out = run(dir.path(), &["eval", &run_dir, "--data-path", "x.csv"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.starts_with("error: ") && stderr.contains("x.csv"), "{stderr}");
}

/// Three noisy clusters in the plane: `n` rows `x,y,class` (class `i % 3`), deterministic.
fn clusters(n: usize, offset: usize, with_class: bool) -> String {
    let mut s = String::from(if with_class { "x,y,class\n" } else { "x,y\n" });
    for i in 0..n {
        let c = i % 3;
        let j = (i + offset) as f64;
        let (x, y) = ([0.0, 2.0, -2.0][c] + (j * 0.7).sin(), [2.0, -1.0, -1.0][c] + (j * 1.3).cos());
        if with_class {
            s.push_str(&format!("{x},{y},{c}\n"));
        } else {
            s.push_str(&format!("{x},{y}\n"));
        }
    }
    s
}

const TABULAR: &str = "
name: tab
seed: 1
model: {kind: mlp, hidden: [8]}
data: {kind: tabular, path: train.csv, val_path: val.csv, target: class, task: classification}
optimizer: {kind: adamw, lr: 0.01}
schedule: {kind: constant}
train: {max_steps: 15, batch_size: 16, eval_every: 5, eval_batch_size: 7}
logging: {tensorboard: false}
";

#[test]
fn predict_on_the_validation_rows_agrees_with_eval_and_needs_no_target() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.csv"), clusters(90, 0, true)).unwrap();
    std::fs::write(dir.path().join("val.csv"), clusters(31, 1000, true)).unwrap();
    std::fs::write(dir.path().join("unlabelled.csv"), clusters(31, 1000, false)).unwrap();
    let run_dir = trained(dir.path(), TABULAR);
    let eval = eval_json(dir.path(), &[&run_dir]);
    let accuracy = eval["metrics"]["accuracy"].as_f64().unwrap();
    assert_eq!(eval["examples"].as_u64(), Some(31));

    let out = run(dir.path(), &["predict", &run_dir, "--input", "val.csv", "--output", "preds.csv"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "", "--output writes nothing to stdout");
    let preds = std::fs::read_to_string(dir.path().join("preds.csv")).unwrap();
    let mut lines = preds.lines();
    assert_eq!(lines.next(), Some("label,p_0,p_1,p_2"));
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 31);
    for r in &rows {
        assert!((r[1..].iter().sum::<f64>() - 1.0).abs() < 1e-5, "probabilities sum to 1: {r:?}");
        let best = (1..4).fold(1, |b, k| if r[k] > r[b] { k } else { b });
        assert_eq!(r[0] as usize, best - 1, "{r:?}");
    }
    let correct = rows.iter().enumerate().filter(|(i, r)| r[0] as usize == i % 3).count();
    assert_eq!(correct as f64 / 31.0, accuracy, "predict agrees with eval's accuracy");
    // Macro F1 from the predictions by hand (scikit-learn: 2·TP / (predicted + actual), 0 when
    // a class is neither), against eval's.
    let f1: f64 = (0..3)
        .map(|c| {
            let tp = rows.iter().enumerate().filter(|(i, r)| i % 3 == c && r[0] as usize == c).count() as f64;
            let predicted = rows.iter().filter(|r| r[0] as usize == c).count() as f64;
            let actual = (0..31).filter(|i| i % 3 == c).count() as f64;
            if predicted + actual > 0.0 { 2.0 * tp / (predicted + actual) } else { 0.0 }
        })
        .sum::<f64>()
        / 3.0;
    let logged_f1 = eval["metrics"]["f1_macro"].as_f64().unwrap();
    assert!((f1 - logged_f1).abs() < 1e-12, "{f1} vs {logged_f1}");

    // The same rows without their target column, as JSON lines on stdout: the same predictions.
    let out = run(dir.path(), &["predict", &run_dir, "--input", "unlabelled.csv", "--format", "jsonl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let labels: Vec<u64> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["label"].as_u64().unwrap())
        .collect();
    assert_eq!(labels, rows.iter().map(|r| r[0] as u64).collect::<Vec<_>>());
}

#[test]
fn any_declared_metric_can_be_monitored_and_an_undeclared_one_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), TINY).unwrap();
    let set = ["--set", "train.max_steps=10", "--set", "train.early_stopping={monitor: val/recall_macro, patience: 5}"];
    let mut args = vec!["train", "config.yaml", "-q", "--set", "train.best_monitor=val/f1_macro"];
    args.extend(set);
    let out = run(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out).1);
    let best = eval_json(dir.path(), &["runs/tiny/version_0", "--checkpoint", "best"]);
    assert!(best["metrics"]["f1_macro"].as_f64().unwrap() > 0.0, "{best}");

    let out = run(dir.path(), &["train", "config.yaml", "-q", "--set", "train.best_monitor=val/r2"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "train.best_monitor: monitor `val/r2` is never produced; evaluation produces val/loss, val/accuracy, val/top5_accuracy, val/precision_macro, val/recall_macro, val/f1_macro"
        ),
        "{stderr}"
    );
}

/// The first `n` images of the digits data (64 pixel values 0–16, then the label), as lines.
fn digits_rows(n: usize) -> Vec<String> {
    let gz = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../trainer/data/digits.csv.gz")).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut text).unwrap();
    text.lines().take(n).map(str::to_owned).collect()
}

#[test]
fn digits_images_from_a_file_are_measured_by_eval_and_predicted_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained(dir.path(), TINY);
    let rows = digits_rows(150);
    let labels: Vec<u64> = rows.iter().map(|r| r.rsplit(',').next().unwrap().parse().unwrap()).collect();
    std::fs::write(dir.path().join("labelled.csv"), rows.join("\n")).unwrap();
    // Without labels, space-separated, with a comment: the same images.
    let bare: Vec<String> = rows.iter().map(|r| r.split(',').take(64).collect::<Vec<_>>().join(" ")).collect();
    std::fs::write(dir.path().join("bare.txt"), format!("# 8x8 digits\n{}\n", bare.join("\n"))).unwrap();

    let eval = eval_json(dir.path(), &[&run_dir, "--data-path", "labelled.csv"]);
    assert_eq!(eval["examples"].as_u64(), Some(150), "{eval}");
    let accuracy = eval["metrics"]["accuracy"].as_f64().unwrap();
    let out = run(dir.path(), &["predict", &run_dir, "--input", "bare.txt", "--format", "jsonl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let predicted: Vec<u64> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["label"].as_u64().unwrap())
        .collect();
    assert_eq!(predicted.len(), 150);
    let correct = predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
    assert_eq!(correct as f64 / 150.0, accuracy, "predict agrees with eval on the same images");
    assert!(accuracy > 0.2, "above chance (0.1) after 20 steps: {accuracy}");

    // Unlabelled images cannot be measured; a short row is refused with its line.
    for (args, says) in [
        (
            vec!["eval", &run_dir, "--data-path", "bare.txt"],
            "error: --data-path: bare.txt: line 2: no label after the 64",
        ),
        (
            vec!["predict", &run_dir, "--input", "short.csv"],
            "error: --input: short.csv: line 1: 3 values; want 64 pixel",
        ),
    ] {
        std::fs::write(dir.path().join("short.csv"), "1,2,3\n").unwrap();
        let out = run(dir.path(), &args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with(says) && stderr.lines().count() == 1, "{stderr}");
    }
}

#[test]
fn predict_refuses_a_row_missing_a_feature_instead_of_dropping_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.csv"), clusters(90, 0, true)).unwrap();
    std::fs::write(dir.path().join("val.csv"), clusters(31, 1000, true)).unwrap();
    let run_dir = trained(dir.path(), TABULAR);
    let mut rows: Vec<String> = clusters(5, 1000, false).lines().map(str::to_owned).collect();
    // Row 3 loses its second feature: predictions are one per row, so it is an error.
    let mut cells: Vec<&str> = rows[3].split(',').collect();
    cells[1] = "";
    rows[3] = cells.join(",");
    std::fs::write(dir.path().join("holes.csv"), rows.join("\n")).unwrap();
    let out = run(dir.path(), &["predict", &run_dir, "--input", "holes.csv"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("holes.csv") && stderr.contains("is missing or empty; predict needs every feature"),
        "{stderr}"
    );
    assert_eq!(stdout, "");
}

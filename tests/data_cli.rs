//! Data kinds that read files, through the real binary: MNIST with the shipped config (needs
//! the assets), tabular regression and classification from CSV/JSONL, and their errors.

mod common;

use std::path::Path;

use common::{assets, cli, final_accuracy, metrics, root, run, text, versions};

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh"]
fn mnist_with_the_shipped_one_cycle_config_reaches_95_percent_test_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let config = root().join("configs/mnist_one_cycle.yaml");
    let dir_set = format!("data.dir={}", assets().join("mnist").display());
    // Not --quiet: the data's description line is checked.
    let out = run(dir.path(), &[config.to_str().unwrap(), "--set", &dir_set]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("MNIST 28×28: 60000 train / 10000 test images as validation"), "{stdout}");
    let acc = final_accuracy(&stdout);
    assert!(acc >= 0.95, "test accuracy {acc}\n{stdout}");
    let run_dir = &versions(dir.path(), "mnist_one_cycle")[0];
    assert_eq!(metrics(run_dir).iter().filter(|(_, t, _)| t == "train/lr").count(), 938, "two epochs");
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

fn write_config(dir: &Path, data: &str, extra: &str) -> String {
    let yaml = format!(
        "name: tab\nseed: 0\nmodel: {{kind: mlp, hidden: [32]}}\ndata: {data}\noptimizer: {{kind: adam, lr: 0.01}}\nschedule: {{kind: constant}}\ntrain: {{max_steps: 300, batch_size: 32, eval_every: 100{extra}}}\n"
    );
    write(dir, "c.yaml", &yaml)
}

/// `y = 2a − b + 0.5` (regression) and `class = [a > b]`, over a deterministic grid.
fn table() -> String {
    let mut csv = String::from("a,b,y,class\n");
    for i in 0..400 {
        let a = (i % 20) as f64 / 10.0 - 1.0;
        let b = ((i * 7) % 23) as f64 / 11.0 - 1.0;
        csv.push_str(&format!("{a},{b},{},{}\n", 2.0 * a - b + 0.5, u8::from(a > b)));
    }
    csv.push_str("0.5,,1.0,1\n"); // a missing feature: skipped and counted
    csv
}

#[test]
fn tabular_regression_learns_and_reports_only_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "t.csv", &table());
    let cfg = write_config(
        dir.path(),
        &format!("{{kind: tabular, path: '{data}', target: 'y', features: [a, b], task: regression, val_size: 80}}"),
        "",
    );
    // Not --quiet: the data's description line is checked.
    let out = run(dir.path(), &[&cfg]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("tabular regression: 320 train / 80 val rows × 2 features")
            && stdout.contains("skipped 1 row with a missing value"),
        "{stdout}"
    );
    let m = metrics(&versions(dir.path(), "tab")[0]);
    assert!(!m.iter().any(|(_, t, _)| t == "val/accuracy"), "no accuracy for regression");
    let losses: Vec<f64> = m.iter().filter(|(_, t, _)| t == "val/loss").map(|(_, _, v)| *v).collect();
    assert!(*losses.last().unwrap() < 0.01, "val MSE {losses:?} (the targets' variance is ~1.7)");

    // A monitor regression never produces is a located error, before anything runs.
    let cfg = write_config(
        dir.path(),
        &format!("{{kind: tabular, path: '{data}', target: 'y', task: regression}}"),
        ", best_monitor: val/accuracy",
    );
    let out = run(dir.path(), &[&cfg]);
    let stderr = text(&out).1;
    assert!(!out.status.success());
    assert!(
        stderr.contains("c.yaml:7:58")
            && stderr
                .contains("train.best_monitor: monitor `val/accuracy` is never produced; evaluation produces val/loss"),
        "{stderr}"
    );
}

#[test]
fn tabular_classification_from_jsonl_with_a_validation_file() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = table()
        .lines()
        .skip(1)
        .filter(|l| !l.contains(",,"))
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            format!("{{\"a\": {}, \"b\": {}, \"class\": {}}}", v[0], v[1], v[3])
        })
        .collect();
    let train = write(dir.path(), "train.jsonl", &(rows[..320].join("\n") + "\n"));
    let val = write(dir.path(), "val.jsonl", &(rows[320..].join("\n") + "\n"));
    let cfg = write_config(
        dir.path(),
        &format!("{{kind: tabular, path: '{train}', val_path: '{val}', target: class, task: classification}}"),
        "",
    );
    let out = run(dir.path(), &[&cfg]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("tabular classification, 2 classes: 320 train / 80 val rows × 2 features"), "{stdout}");
    assert!(final_accuracy(&stdout) >= 0.95, "{stdout}");
}

#[test]
fn data_file_errors_are_located_and_name_the_file_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "t.csv", "a,y\n1,2\nx,3\n");
    let cfg =
        write_config(dir.path(), &format!("{{kind: tabular, path: '{data}', target: 'y', task: regression}}"), "");
    let out = cli(dir.path()).arg(&cfg).output().unwrap();
    let stderr = text(&out).1;
    assert!(!out.status.success());
    assert!(
        stderr.contains("c.yaml:4:")
            && stderr.contains(&format!("data.path: {data}, line 3: column `a` is `\"x\"`, expected a number")),
        "{stderr}"
    );

    let cfg = write_config(dir.path(), "{kind: mnist, dir: no/such/folder}", "");
    let out = cli(dir.path()).arg(&cfg).output().unwrap();
    let stderr = text(&out).1;
    assert!(
        stderr.contains("data.dir: no/such/folder is not a folder") && stderr.contains("scripts/fetch-assets.sh"),
        "{stderr}"
    );
    assert!(!dir.path().join("runs").exists());
}

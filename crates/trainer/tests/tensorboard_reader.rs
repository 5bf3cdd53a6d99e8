//! The real-reader check: TensorBoard's own `EventAccumulator` (via `scripts/tb_read.py`) reads
//! what `Scalars` wrote, including a resume with a session START, and agrees with
//! `metrics.jsonl`; and it reads the images (`scripts/tb_images.py`) byte for byte.
//!
//! Needs Python with the `tensorboard` package: `$TB_PYTHON`, default `<workspace>/assets/venv-tb/bin/python`
//! (`scripts/fetch-assets.sh` installs it).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trainer::logging::Scalars;
use trainer::logging::confusion::confusion_image;

const TAGS: [&str; 4] = ["train/loss", "train/lr", "eval/accuracy", "grad norm/ünï"];
/// The first run logs steps `0..FIRST_END`; the resumed one `RESUME_AT..SECOND_END`.
const FIRST_END: u64 = 300;
const RESUME_AT: u64 = 200;
const SECOND_END: u64 = 450;

/// What tb_read.py prints: tag -> [(step, value or null)].
type Points = BTreeMap<String, Vec<(u64, Option<f64>)>>;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_reader(dir: &Path) -> Output {
    run_script("tb_read.py", dir)
}

/// Runs `scripts/<script> dir` with the Python that has TensorBoard.
fn run_script(script: &str, dir: &Path) -> Output {
    let root = workspace_root();
    let python = std::env::var_os("TB_PYTHON").map_or_else(|| root.join("assets/venv-tb/bin/python"), PathBuf::from);
    Command::new(&python)
        .arg(root.join("scripts").join(script))
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (set TB_PYTHON): {e}", python.display()))
}

/// A deterministic value per (run, tag, step) over many magnitudes, with a few special ones.
fn value(run: u64, tag: usize, step: u64) -> f64 {
    if tag == 3 {
        match step {
            50 => return f64::NAN,
            51 => return f64::INFINITY,
            52 => return -0.0,
            53 => return 1e300, // overflows f32: TensorBoard holds +inf
            54 => return 1e-50, // underflows f32 to 0
            _ => {}
        }
    }
    let mix = (step.wrapping_mul(2_654_435_761) ^ (tag as u64 * 40_503) ^ (run * 7919)) % 100_003;
    let sign = if mix % 3 == 1 { -1.0 } else { 1.0 };
    sign * (mix as f64 / 997.0 + 0.1) * 10f64.powi(tag as i32 * 4 - 6) + run as f64 * 0.5
}

fn as_tensorboard(v: f64) -> Option<f64> {
    let v = v as f32;
    v.is_finite().then_some(f64::from(v))
}

fn write_run(dir: &Path, run: u64, steps: std::ops::Range<u64>) {
    let mut s = Scalars::open(dir, true, true).unwrap();
    if run > 0 {
        s.session_start(steps.start).unwrap();
    }
    for step in steps {
        for (t, tag) in TAGS.iter().enumerate() {
            s.scalar(tag, step, value(run, t, step)).unwrap();
        }
    }
    s.flush().unwrap();
}

#[test]
#[ignore = "needs the tensorboard Python package: run scripts/fetch-assets.sh (or set TB_PYTHON)"]
fn tensorboard_reads_every_scalar_after_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 0, 0..FIRST_END);
    write_run(dir.path(), 1, RESUME_AT..SECOND_END);
    let event_files = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("tfevents"))
        .count();
    assert_eq!(event_files, 2);

    let out = run_reader(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tb_read.py failed ({}):\n{stderr}", out.status);

    let seen: Points = serde_json::from_slice(&out.stdout).unwrap();
    let expected: Points = TAGS
        .iter()
        .enumerate()
        .map(|(t, tag)| {
            let points = (0..SECOND_END)
                .map(|step| {
                    let run = u64::from(step >= RESUME_AT);
                    (step, as_tensorboard(value(run, t, step)))
                })
                .collect();
            (tag.to_string(), points)
        })
        .collect();
    assert_eq!(seen.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (tag, points) in &expected {
        assert_eq!(seen[tag].len(), points.len(), "{tag}: point count");
        for (got, want) in seen[tag].iter().zip(points) {
            assert_eq!(got, want, "{tag}: (step, value)");
        }
    }
}

#[test]
#[ignore = "needs the tensorboard Python package: run scripts/fetch-assets.sh (or set TB_PYTHON)"]
fn tb_read_reports_a_value_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 0, 0..20);
    // The last line for a (tag, step) wins: re-log step 7 of the first tag with another value.
    let mut jsonl = fs::OpenOptions::new().append(true).open(dir.path().join("metrics.jsonl")).unwrap();
    let line = format!(r#"{{"step": 7, "tag": "{}", "value": 123.25, "wall_time": 1.0}}"#, TAGS[0]);
    writeln!(jsonl, "{line}").unwrap();
    drop(jsonl);

    let out = run_reader(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("step 7"), "stderr:\n{stderr}");
}

/// Bytes from lowercase hex.
fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[test]
#[ignore = "needs Python with tensorboard: scripts/fetch-assets.sh"]
fn tensorboard_reads_the_confusion_matrix_images_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let three = confusion_image(&[5.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0, 0.0, 0.0], 3).unwrap().unwrap();
    let ten = confusion_image(&(0..100).map(f64::from).collect::<Vec<_>>(), 10).unwrap().unwrap();
    let mut s = Scalars::open(dir.path(), true, true).unwrap();
    s.scalar("val/loss", 4, 0.5).unwrap();
    s.image("val/confusion_matrix", 4, &three).unwrap();
    s.image("val/confusion_matrix", 9, &ten).unwrap();
    s.image("val_ema/confusion_matrix", 9, &three).unwrap();
    s.flush().unwrap();

    let out = run_script("tb_images.py", dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tb_images.py failed ({}):\n{stderr}", out.status);
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags: Vec<&String> = seen.as_object().unwrap().keys().collect();
    assert_eq!(tags, ["val/confusion_matrix", "val_ema/confusion_matrix"]);
    let expected =
        [("val/confusion_matrix", vec![(4, &three), (9, &ten)]), ("val_ema/confusion_matrix", vec![(9, &three)])];
    for (tag, images) in expected {
        let got = seen[tag].as_array().unwrap();
        assert_eq!(got.len(), images.len(), "{tag}");
        for (g, (step, image)) in got.iter().zip(images) {
            assert_eq!(g["step"], step, "{tag}");
            assert_eq!(
                (g["width"].as_u64().unwrap(), g["height"].as_u64().unwrap()),
                (u64::from(image.width), u64::from(image.height))
            );
            assert_eq!(from_hex(g["png"].as_str().unwrap()), image.png, "{tag} step {step}: the PNG bytes");
        }
    }
    assert_eq!((three.width, ten.width), (385, 381));
    // metrics.jsonl has the scalar only: no pixels there.
    let jsonl = fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 1);
    assert!(!jsonl.contains("confusion"), "{jsonl}");
}

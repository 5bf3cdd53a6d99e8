//! Helpers for the end-to-end tests: run the real `cli` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A `cli` command run in `dir`, without a terminal and without backtraces in error texts.
pub fn cli(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cli"));
    c.current_dir(dir).env("RUST_BACKTRACE", "0").env_remove("RUST_LOG");
    c
}

/// Runs `cli args…` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    cli(dir).args(args).output().expect("run the cli binary")
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `(step, tag, value)` of every line of a metrics.jsonl.
pub fn metrics(run_dir: &Path) -> Vec<(u64, String, f64)> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .expect("metrics.jsonl")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (v["step"].as_u64().unwrap(), v["tag"].as_str().unwrap().to_owned(), v["value"].as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

/// One tag's `(step, value bits)` series.
pub fn series(run_dir: &Path, tag: &str) -> Vec<(u64, u64)> {
    metrics(run_dir).into_iter().filter(|(_, t, _)| t == tag).map(|(s, _, v)| (s, v.to_bits())).collect()
}

/// The run directories under `root/runs/<name>`.
pub fn versions(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("runs").join(name))
        .map(|e| e.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Asserts two series are equal, reporting only the first difference.
pub fn assert_same(got: &[(u64, u64)], want: &[(u64, u64)], what: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!("{what}: first difference at index {i}: got {:?}, want {:?}", got[i], want[i]);
    }
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
}

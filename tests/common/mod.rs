//! Helpers for the end-to-end tests: run the real `cli` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root: `LR_TOOLKIT_ROOT` when set (a test executable run on another machine, as
/// `scripts/gpu-check.sh --prebuilt` does), else the checkout it was built in.
pub(crate) fn root() -> PathBuf {
    let root = std::env::var_os("LR_TOOLKIT_ROOT")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."), PathBuf::from);
    root.canonicalize().expect("workspace root")
}

/// A `cli` command run in `dir`, without a terminal and without backtraces in error texts: the
/// binary cargo built with the tests, or `CLI_BIN` when set (a prebuilt one).
pub(crate) fn cli(dir: &Path) -> Command {
    let bin = std::env::var_os("CLI_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_cli").into());
    let mut c = Command::new(bin);
    c.current_dir(dir).env("RUST_BACKTRACE", "0").env_remove("RUST_LOG");
    c
}

/// Runs `cli args…` in `dir`.
pub(crate) fn run(dir: &Path, args: &[&str]) -> Output {
    cli(dir).args(args).output().expect("run the cli binary")
}

/// stdout and stderr as text.
pub(crate) fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `(step, tag, value)` of every line of a metrics.jsonl.
pub(crate) fn metrics(run_dir: &Path) -> Vec<(u64, String, f64)> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .expect("metrics.jsonl")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (
                v["step"].as_u64().unwrap(),
                v["tag"].as_str().unwrap().to_owned(),
                v["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// One tag's `(step, value bits)` series.
pub(crate) fn series(run_dir: &Path, tag: &str) -> Vec<(u64, u64)> {
    metrics(run_dir).into_iter().filter(|(_, t, _)| t == tag).map(|(s, _, v)| (s, v.to_bits())).collect()
}

/// The run directories under `root/runs/<name>`.
pub(crate) fn versions(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("runs").join(name))
        .map(|e| e.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Asserts two series are equal, reporting only the first difference.
pub(crate) fn assert_same(got: &[(u64, u64)], want: &[(u64, u64)], what: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!("{what}: first difference at index {i}: got {:?}, want {:?}", got[i], want[i]);
    }
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
}

/// The pinned test assets (`scripts/fetch-assets.sh`): `ASSETS_DIR`, else `<workspace>/assets`.
pub(crate) fn assets() -> PathBuf {
    std::env::var_os("ASSETS_DIR").map_or_else(|| root().join("assets"), PathBuf::from)
}

/// A `cli` command that finds models only in the test assets' Hugging Face cache, offline.
pub(crate) fn cli_offline(dir: &Path) -> Command {
    let mut c = cli(dir);
    c.env("HF_HUB_CACHE", assets().join("hf/hub")).env("HF_HUB_OFFLINE", "1").env("HF_HOME", dir.join("no-hf-home"));
    c
}

/// The last `val/accuracy: final X` of a run's summary.
pub(crate) fn final_accuracy(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.contains("val/accuracy: final"))
        .unwrap_or_else(|| panic!("no accuracy in:\n{stdout}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|v| v.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

/// Copies `tests/data/tiny-bert` (config.json, tokenizer.json) into `dir` and writes its
/// `model.safetensors`: seeded N(0, 0.02²) weights, LayerNorm weights 1 and biases 0, under the
/// Hugging Face BERT names. Returns the tensors written.
pub(crate) fn write_tiny_bert(dir: &Path) -> std::collections::HashMap<String, candle_core::Tensor> {
    use candle_core::{Device, Tensor};
    std::fs::create_dir_all(dir).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(root().join("tests/data/tiny-bert").join(f), dir.join(f)).unwrap();
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let n = |k: &str| config[k].as_u64().unwrap() as usize;
    let (v, h, i, p, t) =
        (n("vocab_size"), n("hidden_size"), n("intermediate_size"), n("max_position_embeddings"), n("type_vocab_size"));
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("embeddings.word_embeddings.weight".into(), vec![v, h]),
        ("embeddings.position_embeddings.weight".into(), vec![p, h]),
        ("embeddings.token_type_embeddings.weight".into(), vec![t, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for l in 0..n("num_hidden_layers") {
        let at = |s: &str| format!("encoder.layer.{l}.{s}");
        for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            shapes.push((at(&format!("{m}.weight")), vec![h, h]));
            shapes.push((at(&format!("{m}.bias")), vec![h]));
        }
        shapes.push((at("intermediate.dense.weight"), vec![i, h]));
        shapes.push((at("intermediate.dense.bias"), vec![i]));
        shapes.push((at("output.dense.weight"), vec![h, i]));
        shapes.push((at("output.dense.bias"), vec![h]));
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            shapes.push((at(&format!("{ln}.weight")), vec![h]));
            shapes.push((at(&format!("{ln}.bias")), vec![h]));
        }
    }
    let mut rng = trainer::rng::Rng::new(42);
    let tensors: std::collections::HashMap<String, Tensor> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let count: usize = shape.iter().product();
            let values: Vec<f32> = if name.contains("LayerNorm") {
                vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; count]
            } else if name.ends_with("bias") {
                vec![0.0; count]
            } else {
                (0..count).map(|_| (0.02 * rng.normal()) as f32).collect()
            };
            (name, Tensor::from_vec(values, shape, &Device::Cpu).unwrap())
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    tensors
}

/// Writes the tiny Llama of `tests/data/tiny-llama` (its config and tokenizer files, and a
/// `model.safetensors` of seeded random weights, `N(0, 0.2²)`, norms 1) into `dir`, a Hugging
/// Face model folder; returns the weights.
pub(crate) fn write_tiny_llama(dir: &Path) -> std::collections::HashMap<String, candle_core::Tensor> {
    use candle_core::{Device, Tensor};
    std::fs::create_dir_all(dir).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(root().join("tests/data/tiny-llama").join(f), dir.join(f)).unwrap();
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let n = |k: &str| config[k].as_u64().unwrap() as usize;
    let (v, h, i) = (n("vocab_size"), n("hidden_size"), n("intermediate_size"));
    let kv = n("num_key_value_heads") * h / n("num_attention_heads");
    let mut shapes: Vec<(String, Vec<usize>)> =
        vec![("model.embed_tokens.weight".into(), vec![v, h]), ("model.norm.weight".into(), vec![h])];
    for l in 0..n("num_hidden_layers") {
        let at = |s: &str| format!("model.layers.{l}.{s}.weight");
        for (m, shape) in [
            ("self_attn.q_proj", vec![h, h]),
            ("self_attn.k_proj", vec![kv, h]),
            ("self_attn.v_proj", vec![kv, h]),
            ("self_attn.o_proj", vec![h, h]),
            ("mlp.gate_proj", vec![i, h]),
            ("mlp.up_proj", vec![i, h]),
            ("mlp.down_proj", vec![h, i]),
            ("input_layernorm", vec![h]),
            ("post_attention_layernorm", vec![h]),
        ] {
            shapes.push((at(m), shape));
        }
    }
    let mut rng = trainer::rng::Rng::new(7);
    let tensors: std::collections::HashMap<String, Tensor> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let count: usize = shape.iter().product();
            let values: Vec<f32> = if name.contains("norm") {
                vec![1.0; count]
            } else {
                (0..count).map(|_| (0.2 * rng.normal()) as f32).collect()
            };
            (name, Tensor::from_vec(values, shape, &Device::Cpu).unwrap())
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    tensors
}

/// Waits until `path` exists, at most `timeout`; whether it appeared.
pub(crate) fn wait_for(path: &Path, timeout: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}

/// Removes every checkpoint of `run_dir` (`step-*`, `best`, `cycle-*`) whose state is at `step` or
/// later, so that a resume continues from an older one (a resume takes the newest of any kind).
pub(crate) fn remove_checkpoints_from(run_dir: &Path, step: u64) {
    for e in std::fs::read_dir(run_dir.join("checkpoints")).unwrap() {
        let path = e.unwrap().path();
        let Ok(text) = std::fs::read_to_string(path.join("state.json")) else { continue };
        let state: serde_json::Value = serde_json::from_str(&text).unwrap();
        if state["step"].as_u64().unwrap() >= step {
            std::fs::remove_dir_all(path).unwrap();
        }
    }
}

/// Sends signal `name` (`INT`, `TERM`, `HUP`, …) to process `pid` with `kill`.
pub(crate) fn send_signal(pid: u32, name: &str) {
    let sent = Command::new("kill").args([format!("-{name}"), pid.to_string()]).status().unwrap();
    assert!(sent.success(), "kill -{name} {pid}");
}

/// The newest `step-*` checkpoint's step in `run_dir`.
pub(crate) fn newest_checkpoint(run_dir: &Path) -> u64 {
    trainer::checkpoint::Checkpointer::new(run_dir, 1).periodic()[0].0
}

/// `cli eval ARGS… --format json` in `dir`, which must succeed, parsed.
pub(crate) fn eval_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["eval"];
    all.extend(args);
    all.extend(["--format", "json"]);
    let out = run(dir, &all);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_str(stdout.trim()).expect("eval's JSON")
}

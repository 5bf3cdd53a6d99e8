//! The CUDA subset, through the real binary of a `--features cuda` build on a machine with an
//! NVIDIA GPU: device selection, a short run whose losses agree with the CPU run's, bf16 and f16
//! runs converging, `kill -9` + exact resume on the GPU, the MiniLM fine-tune and the causal-LM
//! LoRA fine-tune.
//!
//! Built only with the `cuda` feature (`required-features` in crates/cli/Cargo.toml), so the CPU
//! suite never compiles it. Run by `scripts/gpu-check.sh`, or:
//!
//! ```sh
//! cargo test --release -p cli --features cuda --test gpu_cli -- --test-threads=1 --include-ignored
//! ```
//!
//! `--include-ignored` adds the tests that need `scripts/fetch-assets.sh` (MiniLM, SmolLM2).
//! One GPU test at a time: they measure and compare runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{
    assert_same, assets, cli, cli_offline, final_accuracy, metrics, newest_checkpoint, root, run, series, text,
    versions, wait_for, write_tiny_llama,
};

/// The GPU every test runs on (`GPU_CHECK_DEVICE`, default `cuda:0`).
fn gpu() -> String {
    std::env::var("GPU_CHECK_DEVICE").unwrap_or_else(|_| "cuda:0".to_owned())
}

/// The digits MLP without dropout (dropout masks are drawn on the device: CPU and GPU draws
/// differ), evaluated every 50 steps.
const DIGITS: &str = "
name: digits
seed: 11
model: {kind: mlp, hidden: [128]}
data: {kind: digits}
optimizer: {kind: adamw, lr: 0.003}
schedule: {kind: cosine, t_max: 300}
train: {max_steps: 300, batch_size: 64, eval_every: 50, checkpoint_every: 100}
logging: {tensorboard: false}
";

/// Writes the digits config into `dir` and trains it as `name` with `sets` (`key=value`) on top;
/// returns the run directory.
fn train_digits(dir: &Path, name: &str, sets: &[String]) -> PathBuf {
    std::fs::write(dir.join("digits.yaml"), DIGITS).unwrap();
    let mut args = vec!["train".to_owned(), "digits.yaml".to_owned(), "-q".to_owned()];
    for s in std::iter::once(format!("name={name}")).chain(sets.iter().cloned()) {
        args.extend(["--set".to_owned(), s]);
    }
    let out = cli(dir).args(&args).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{name}: {stderr}");
    assert!(stdout.contains("completed: 300/300 steps"), "{name}: {stdout}");
    versions(dir, name).pop().unwrap()
}

fn values(run_dir: &Path, tag: &str) -> Vec<(u64, f64)> {
    metrics(run_dir).into_iter().filter(|(_, t, _)| t == tag).map(|(s, _, v)| (s, v)).collect()
}

/// Asserts `got` and `want` log the same steps and agree to `rel` (relative, with `rel` as the
/// absolute floor below 1).
fn assert_close(got: &[(u64, f64)], want: &[(u64, f64)], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for ((gs, g), (ws, w)) in got.iter().zip(want) {
        assert_eq!(gs, ws, "{what}: steps differ");
        assert!((g - w).abs() <= rel * w.abs().max(1.0), "{what} at step {gs}: GPU {g} vs CPU {w} (tolerance {rel})");
    }
}

#[test]
fn device_selection_cuda_auto_and_a_missing_ordinal() {
    let dir = tempfile::tempdir().unwrap();
    let dev = gpu();
    let on_gpu = train_digits(dir.path(), "gpu", &[format!("device={dev}")]);
    let resolved = std::fs::read_to_string(on_gpu.join("config.yaml")).unwrap();
    assert!(resolved.contains(&format!("device: {dev}")), "{resolved}");

    // `auto` takes the GPU: bit for bit the explicit device's run (same kernels, same order).
    let auto = train_digits(dir.path(), "auto", &["device=auto".to_owned()]);
    assert_same(&series(&auto, "train/loss"), &series(&on_gpu, "train/loss"), "auto vs cuda train/loss");

    // With no GPU visible, `auto` falls back to the CPU (and `cuda` is a clear error).
    let mut c = cli(dir.path());
    c.env("CUDA_VISIBLE_DEVICES", "");
    std::fs::write(dir.path().join("digits.yaml"), DIGITS).unwrap();
    let out = c.args(["train", "digits.yaml", "-q", "--set", "name=hidden", "--set", "device=auto"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let cpu = train_digits(dir.path(), "cpu", &["device=cpu".to_owned()]);
    let hidden = versions(dir.path(), "hidden").pop().unwrap();
    assert_same(&series(&hidden, "train/loss"), &series(&cpu, "train/loss"), "auto without a GPU vs cpu");

    let out = run(dir.path(), &["train", "digits.yaml", "-q", "--set", "name=nope", "--set", "device=cuda:99"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot open device `cuda:99`"), "{stderr}");
}

/// Tolerance of the CPU/GPU comparison: f32 on both sides, different summation orders (cuBLAS,
/// candle's reduction kernels), compounded over 300 AdamW steps. Measured differences are far
/// below it; a wrong kernel (a transposed matmul, a missing gradient) is off by far more.
const CPU_GPU_REL: f64 = 2e-3;

#[test]
fn a_short_training_run_agrees_with_the_cpu_run() {
    let dir = tempfile::tempdir().unwrap();
    let cpu = train_digits(dir.path(), "cpu", &["device=cpu".to_owned()]);
    let gpu_run = train_digits(dir.path(), "gpu", &[format!("device={}", gpu())]);
    // The LR schedule does not depend on the device at all: bit for bit.
    assert_same(&series(&gpu_run, "train/lr"), &series(&cpu, "train/lr"), "train/lr");
    for tag in ["train/loss", "val/loss"] {
        assert_close(&values(&gpu_run, tag), &values(&cpu, tag), CPU_GPU_REL, tag);
    }
    // Accuracy on 359 held-out digits: at most 2 predictions differ.
    assert_close(&values(&gpu_run, "val/accuracy"), &values(&cpu, "val/accuracy"), 0.006, "val/accuracy");
    let last = values(&gpu_run, "val/accuracy").last().unwrap().1;
    assert!(last > 0.93, "GPU run reached {last}");
}

// ASSUMES the mixed-precision key `train.precision: bf16 | f16` (being written on another branch
// at the time of writing): f32 master weights, compute in the half type. Until it is merged these
// two tests fail with "unknown field `precision`".
fn half_precision_converges(precision: &str) {
    let dir = tempfile::tempdir().unwrap();
    let f32_run = train_digits(dir.path(), "f32", &[format!("device={}", gpu())]);
    let half =
        train_digits(dir.path(), precision, &[format!("device={}", gpu()), format!("train.precision={precision}")]);
    let loss = values(&half, "train/loss");
    assert!(loss.iter().all(|(_, v)| v.is_finite()), "{precision}: a non-finite loss");
    let (first, last) = (loss[0].1, loss.last().unwrap().1);
    assert!(last < 0.2 * first, "{precision}: train/loss {first} -> {last}");
    let acc = values(&half, "val/accuracy").last().unwrap().1;
    let acc32 = values(&f32_run, "val/accuracy").last().unwrap().1;
    assert!(acc > 0.92 && acc > acc32 - 0.03, "{precision}: val/accuracy {acc} (f32: {acc32})");
    let resolved = std::fs::read_to_string(half.join("config.yaml")).unwrap();
    assert!(resolved.contains(&format!("precision: {precision}")), "{resolved}");
}

#[test]
fn a_bf16_run_converges() {
    half_precision_converges("bf16");
}

#[test]
fn an_f16_run_converges() {
    half_precision_converges("f16");
}

#[test]
fn a_killed_gpu_run_resumes_to_exactly_the_uninterrupted_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let dev = format!("device={}", gpu());
    let long = |name: &str| -> Vec<String> {
        let mut v = vec!["train".to_owned(), "digits.yaml".to_owned(), "-q".to_owned()];
        for s in [
            format!("name={name}"),
            dev.clone(),
            "train.max_steps=3000".to_owned(),
            "schedule.t_max=3000".to_owned(),
            "train.checkpoint_every=100".to_owned(),
            "train.eval_every=500".to_owned(),
        ] {
            v.extend(["--set".to_owned(), s]);
        }
        v
    };
    std::fs::write(dir.path().join("digits.yaml"), DIGITS).unwrap();
    let whole = cli(dir.path()).args(long("whole")).output().unwrap();
    assert!(whole.status.success(), "{}", text(&whole).1);
    let whole_dir = &versions(dir.path(), "whole")[0];

    let mut child = cli(dir.path()).args(long("killed")).stdout(Stdio::null()).spawn().unwrap();
    let killed_dir = dir.path().join("runs/killed/version_0");
    assert!(
        wait_for(&killed_dir.join("checkpoints/step-00000300"), Duration::from_secs(180)),
        "no checkpoint appeared"
    );
    common::send_signal(child.id(), "KILL"); // no clean stop
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it could be killed; make it longer");
    let logged = series(&killed_dir, "train/lr").len();
    assert!(logged < 3000, "killed mid-run ({logged} steps logged)");
    let from = newest_checkpoint(&killed_dir);

    let out = run(dir.path(), &["resume", killed_dir.to_str().unwrap(), "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(&format!("at step {from}/3000")), "{stdout}");
    // Same GPU, same kernels, same order: bit for bit, like the CPU guarantee.
    for tag in ["train/lr", "train/loss", "val/loss", "val/accuracy"] {
        assert_same(&series(&killed_dir, tag), &series(whole_dir, tag), tag);
    }
}

/// The tiny random-weight Llama of tests/data with LoRA adapters on `device`, 40 steps.
fn tiny_lora(dir: &Path, name: &str, device: &str) -> PathBuf {
    let model = dir.join("tiny-llama");
    if !model.exists() {
        write_tiny_llama(&model);
        std::fs::write(dir.join("corpus.txt"), "the cat sat on the mat and the dog ran in the sun. ".repeat(120))
            .unwrap();
    }
    let yaml = format!(
        "name: {name}
seed: 3
device: {device}
model: {{kind: causal_lm, local_dir: '{}', lora: {{r: 4, alpha: 8, target_modules: [q_proj, v_proj, down_proj]}}}}
data: {{kind: text, path: '{}', block_size: 32, val_size: 4}}
optimizer: {{kind: adamw, lr: 0.02, weight_decay: 0.0}}
schedule: {{kind: cosine, t_max: 40, warmup: {{steps: 5, start_factor: 0.1}}}}
train: {{max_steps: 40, batch_size: 4, eval_every: 20, eval_batch_size: 4, eval_on_start: true, checkpoint_every: 20}}
logging: {{tensorboard: false}}
",
        model.display(),
        dir.join("corpus.txt").display()
    );
    let config = dir.join(format!("{name}.yaml"));
    std::fs::write(&config, yaml).unwrap();
    let out = run(dir, &[config.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{name}: {}", text(&out).1);
    versions(dir, name).pop().unwrap()
}

#[test]
fn the_causal_lm_lora_fine_tune_lowers_perplexity_and_agrees_with_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let cpu = tiny_lora(dir.path(), "cpu", "cpu");
    let gpu_run = tiny_lora(dir.path(), "gpu", &gpu());
    let ppl = values(&gpu_run, "val/perplexity");
    assert_eq!(ppl.len(), 3, "{ppl:?}");
    assert!(ppl[2].1 < 0.5 * ppl[0].1, "held-out perplexity on the GPU: {ppl:?}");
    // The composed norms, RoPE, attention softmax and LoRA paths: the first 20 losses agree.
    let (g, c) = (values(&gpu_run, "train/loss"), values(&cpu, "train/loss"));
    assert_close(&g[..20], &c[..20], CPU_GPU_REL, "train/loss (first 20 steps)");
    assert!(values(&gpu_run, "perf/tokens_per_sec").iter().any(|(_, v)| *v > 0.0));
}

fn config(name: &str) -> String {
    root().join("configs").join(name).to_string_lossy().into_owned()
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh"]
fn minilm_fine_tunes_on_the_gpu_to_over_80_percent() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<String> = ["amazon", "imdb", "yelp"]
        .iter()
        .map(|f| format!("'{}'", assets().join(format!("sentiment/{f}.json")).display()))
        .collect();
    // As finetune_cli's CPU test: a 2-layer encoder, 150 steps.
    let sets = [
        format!("data.path=[{}]", files.join(", ")),
        "model.num_hidden_layers=2".into(),
        "train.max_steps=150".into(),
        "schedule.t_max=120".into(),
        format!("device={}", gpu()),
    ];
    let mut args = vec![config("finetune_minilm_sentiment.yaml"), "-q".to_owned()];
    sets.iter().for_each(|s| args.extend(["--set".to_owned(), s.clone()]));
    let out = cli_offline(dir.path()).args(&args).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let acc = final_accuracy(&stdout);
    assert!(acc >= 0.80, "held-out accuracy {acc}");
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh (the SmolLM2 GGUF, Moby Dick)"]
fn the_shipped_smollm2_lora_config_lowers_held_out_perplexity_on_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs").display().to_string();
    let mut args = vec![config("finetune_smollm2_lora.yaml"), "-q".to_owned()];
    for s in [
        "model.num_hidden_layers=8".to_owned(),
        "train.max_steps=30".to_owned(),
        "schedule.t_max=24".to_owned(),
        "train.eval_every=30".to_owned(),
        format!("logging.dir={runs}"),
        format!("device={}", gpu()),
    ] {
        args.extend(["--set".to_owned(), s]);
    }
    let out = cli(&root()).args(&args).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("completed: 30/30 steps"), "{stdout}");
    let run_dir = &versions(dir.path(), "finetune_smollm2_lora")[0];
    let ppl: Vec<f64> = values(run_dir, "val/perplexity").into_iter().map(|(_, v)| v).collect();
    assert_eq!(ppl.len(), 2, "{ppl:?}");
    assert!(ppl[1] < 0.9 * ppl[0], "held-out perplexity before and after: {ppl:?}");
}

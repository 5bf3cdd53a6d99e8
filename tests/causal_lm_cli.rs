//! Causal language models through the real binary, on a tiny random-weight Llama written by the
//! tests in the Hugging Face layout (no download): LoRA fine-tuning, exact resume after
//! `kill -9`, `generate`, `eval --text`, the PEFT and merged exports re-imported, and the errors.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use candle_core::{Device, Tensor};
use common::{assert_same, cli, metrics, run, series, text, versions, wait_for, write_tiny_llama};

/// A repetitive text the tiny model can learn quickly.
fn corpus(dir: &Path) -> PathBuf {
    let p = dir.join("corpus.txt");
    let line = "the cat sat on the mat and the dog ran in the sun. ";
    std::fs::write(&p, line.repeat(120)).unwrap();
    p
}

/// A LoRA run config on the tiny Llama in `model_dir` over `text`.
fn lora_config(dir: &Path, model_dir: &Path, text: &Path, extra: &str) -> PathBuf {
    let p = dir.join("lm.yaml");
    let yaml = format!(
        "name: lm
seed: 3
model: {{kind: causal_lm, local_dir: '{}', lora: {{r: 4, alpha: 8, target_modules: [q_proj, v_proj, down_proj]}}}}
data: {{kind: text, path: '{}', block_size: 32, val_size: 4}}
optimizer: {{kind: adamw, lr: 0.02, weight_decay: 0.0}}
schedule: {{kind: cosine, t_max: 60, warmup: {{steps: 5, start_factor: 0.1}}}}
train: {{max_steps: 60, batch_size: 4, eval_every: 20, eval_batch_size: 4, eval_on_start: true, checkpoint_every: 20}}
{extra}",
        model_dir.display(),
        text.display()
    );
    std::fs::write(&p, yaml).unwrap();
    p
}

fn tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    model: PathBuf,
    config: PathBuf,
    base: HashMap<String, Tensor>,
}

fn setup(extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-llama");
    let base = write_tiny_llama(&model);
    let text = corpus(dir.path());
    let config = lora_config(dir.path(), &model, &text, extra);
    Setup { dir, model, config, base }
}

#[test]
fn lora_lowers_perplexity_trains_only_adapters_and_keeps_the_base_bit_identical() {
    let s = setup("");
    let out = run(s.dir.path(), &[s.config.to_str().unwrap(), "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("completed: 60/60 steps"), "{stdout}");
    let run_dir = &versions(s.dir.path(), "lm")[0];
    let m = metrics(run_dir);
    let ppl: Vec<f64> = m.iter().filter(|(_, t, _)| t == "val/perplexity").map(|(_, _, v)| *v).collect();
    assert_eq!(ppl.len(), 4, "before training and at 20, 40, 60: {ppl:?}");
    assert!(ppl[3] < 0.5 * ppl[0], "held-out perplexity {ppl:?}");
    let loss: Vec<f64> = m.iter().filter(|(_, t, _)| t == "val/loss").map(|(_, _, v)| *v).collect();
    assert!((loss[3].exp() - ppl[3]).abs() < 1e-9 * ppl[3]);
    assert!(m.iter().any(|(_, t, v)| t == "perf/tokens_per_sec" && *v > 0.0));

    // The checkpoint holds the adapters only (2 layers × 3 targets × A, B), as does the
    // optimizer state; the frozen base is re-read from the model folder.
    let ckpt = run_dir.join("checkpoints/step-00000060");
    let saved = tensors(&ckpt.join("model.safetensors"));
    assert_eq!(saved.len(), 12, "{:?}", saved.keys());
    assert!(saved.keys().all(|k| k.contains(".lora_A.") || k.contains(".lora_B.")));
    let opt = tensors(&ckpt.join("optimizer.safetensors"));
    assert!(opt.keys().all(|k| k.contains(".lora_")), "{:?}", opt.keys());
    let b = &saved["model.layers.0.self_attn.q_proj.lora_B.weight"];
    assert!(values(b).iter().any(|v| *v != 0.0), "B trained away from zero");

    // The merged export folds the adapters in; every weight LoRA does not target is the base's,
    // bit for bit.
    let merged = s.dir.path().join("merged");
    let out = run(s.dir.path(), &["export", run_dir.to_str().unwrap(), "--format", "merged", "--out", "merged"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let exported = tensors(&merged.join("model.safetensors"));
    assert_eq!(exported.len(), s.base.len());
    for (name, t) in &s.base {
        let same = values(&exported[name]) == values(t);
        let targeted = ["q_proj", "v_proj", "down_proj"].iter().any(|m| name.contains(m));
        assert_eq!(same, !targeted, "{name}");
    }
}

/// `eval --text` of `target` as JSON.
fn eval_json(dir: &Path, target: &str, text_file: &Path) -> serde_json::Value {
    let out =
        run(dir, &["eval", target, "--text", text_file.to_str().unwrap(), "--block-size", "32", "--format", "json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn the_merged_and_peft_exports_match_the_run_and_the_merged_folder_loads_back() {
    let s = setup("");
    let out = run(s.dir.path(), &[s.config.to_str().unwrap(), "-q", "--set", "train.max_steps=20"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let run_dir = versions(s.dir.path(), "lm")[0].to_string_lossy().into_owned();
    let probe = s.dir.path().join("probe.txt");
    std::fs::write(&probe, "the dog sat in the sun and the cat ran on the mat. the end.").unwrap();
    let trained = eval_json(s.dir.path(), &run_dir, &probe);
    let base = eval_json(s.dir.path(), s.config.to_str().unwrap(), &probe);
    assert_ne!(trained["loss"], base["loss"]);

    for format in ["merged", "peft"] {
        let out = run(s.dir.path(), &["export", &run_dir, "--format", format, "--out", format]);
        assert!(out.status.success(), "{format}: {}", text(&out).1);
    }
    // The merged folder is a model folder of its own: the same perplexity as the run (1e-5).
    let reimport = s.dir.path().join("reimport.yaml");
    let yaml = std::fs::read_to_string(&s.config).unwrap().replace(
        &format!(
            "local_dir: '{}', lora: {{r: 4, alpha: 8, target_modules: [q_proj, v_proj, down_proj]}}",
            s.model.display()
        ),
        &format!("local_dir: '{}'", s.dir.path().join("merged").display()),
    );
    std::fs::write(&reimport, yaml).unwrap();
    let merged = eval_json(s.dir.path(), reimport.to_str().unwrap(), &probe);
    let (a, b) = (trained["loss"].as_f64().unwrap(), merged["loss"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-5 * a.abs().max(1.0), "run {a} vs merged {b}");
    assert_eq!(trained["tokens"], merged["tokens"]);
    for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
        assert!(s.dir.path().join("merged").join(f).is_file(), "{f}");
    }
    let hf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.path().join("merged/config.json")).unwrap()).unwrap();
    assert_eq!((hf["model_type"].as_str(), hf["architectures"][0].as_str()), (Some("llama"), Some("LlamaForCausalLM")));

    // PEFT's layout and key names.
    let peft = s.dir.path().join("peft");
    let adapter: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(peft.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(adapter["peft_type"], "LORA");
    assert_eq!(adapter["task_type"], "CAUSAL_LM");
    assert_eq!((adapter["r"].as_u64(), adapter["lora_alpha"].as_f64()), (Some(4), Some(8.0)));
    assert_eq!(adapter["target_modules"], serde_json::json!(["down_proj", "q_proj", "v_proj"]));
    assert_eq!(adapter["use_rslora"], false);
    let keys = tensors(&peft.join("adapter_model.safetensors"));
    assert_eq!(keys.len(), 12);
    let a0 = &keys["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"];
    assert_eq!(a0.dims(), [4, 32]);
    assert_eq!(keys["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"].dims(), [32, 4]);
    // A second export into the same folder is refused, the first left intact.
    let out = run(s.dir.path(), &["export", &run_dir, "--format", "peft", "--out", "peft"]);
    assert!(!out.status.success() && text(&out).1.contains("exists and is not an empty folder"), "{}", text(&out).1);
    assert!(peft.join("adapter_model.safetensors").is_file());
}

#[test]
fn a_killed_lora_run_resumes_to_exactly_the_uninterrupted_sequence() {
    let s = setup("");
    let long =
        ["-q", "--set", "train.max_steps=400", "--set", "train.checkpoint_every=40", "--set", "train.eval_every=100"];
    let mut whole_args = vec![s.config.to_str().unwrap(), "--set", "name=whole"];
    whole_args.extend(long);
    let whole = run(s.dir.path(), &whole_args);
    assert!(whole.status.success(), "{}", text(&whole).1);
    let whole_dir = &versions(s.dir.path(), "whole")[0];

    let mut killed_args = vec![s.config.to_str().unwrap(), "--set", "name=killed"];
    killed_args.extend(long);
    let mut child = cli(s.dir.path()).args(&killed_args).stdout(Stdio::null()).spawn().unwrap();
    let killed_dir = s.dir.path().join("runs/killed/version_0");
    assert!(wait_for(&killed_dir.join("checkpoints/step-00000080"), Duration::from_secs(120)), "no checkpoint");
    child.kill().unwrap(); // SIGKILL: no clean stop
    assert!(!child.wait().unwrap().success(), "the run finished before it could be killed; make it longer");
    assert!(series(&killed_dir, "train/lr").len() < 400);

    let out = run(s.dir.path(), &["resume", killed_dir.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    for tag in ["train/lr", "train/loss", "val/loss", "val/perplexity"] {
        assert_same(&series(&killed_dir, tag), &series(whole_dir, tag), tag);
    }
}

#[test]
fn generate_is_deterministic_per_seed_and_chat_uses_the_template() {
    let s = setup("");
    let config = s.config.to_str().unwrap();
    let generate = |extra: &[&str]| {
        let mut args = vec!["generate", config, "--prompt", "the cat", "--max-new-tokens", "8"];
        args.extend(extra);
        let out = run(s.dir.path(), &args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        stdout
    };
    let greedy = generate(&[]);
    assert!(!greedy.trim().is_empty() && !greedy.contains("the cat"), "the continuation only: {greedy:?}");
    assert_eq!(generate(&[]), greedy);
    let sampled = generate(&["--temperature", "1.0", "--top-p", "0.9", "--seed", "5"]);
    assert_eq!(generate(&["--temperature", "1.0", "--top-p", "0.9", "--seed", "5"]), sampled);
    let draws: std::collections::HashSet<String> =
        (0..4).map(|k| generate(&["--temperature", "2.0", "--seed", &k.to_string()])).collect();
    assert!(draws.len() > 1, "different seeds draw differently: {draws:?}");
    assert!(generate(&["--chat"]).len() > 1);

    let out = run(s.dir.path(), &["generate", config, "--prompt", "x", "--top-p", "0"]);
    assert!(!out.status.success() && text(&out).1.contains("--top-p must be in (0, 1]"), "{}", text(&out).1);
    // A model without a chat template: --chat is a clear error.
    let tc = s.model.join("tokenizer_config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&tc).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("chat_template");
    std::fs::write(&tc, v.to_string()).unwrap();
    let out = run(s.dir.path(), &["generate", config, "--prompt", "x", "--chat"]);
    assert!(!out.status.success() && text(&out).1.contains("chat template"), "{}", text(&out).1);
}

#[test]
fn bad_lm_configs_are_one_clear_error_before_anything_is_created() {
    let s = setup("");
    let base = std::fs::read_to_string(&s.config).unwrap();
    let cases: [(&str, &str, &str); 4] = [
        ("target_modules: [q_proj, v_proj, down_proj]", "target_modules: [query]", "`query` matches no module"),
        ("r: 4,", "r: 0,", "model.lora.r"),
        ("block_size: 32", "block_size: 1000", "128"),
        ("kind: text,", "kind: instruction,", "data"),
    ];
    for (from, to, want) in cases {
        let p = s.dir.path().join("bad.yaml");
        std::fs::write(&p, base.replace(from, to)).unwrap();
        let out = run(s.dir.path(), &[p.to_str().unwrap(), "-q"]);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{to}");
        assert!(stderr.contains(want), "{to}: {stderr}");
        assert!(!s.dir.path().join("runs").exists(), "{to}: a run directory was created");
    }
}

/// The shipped SmolLM2 LoRA config, with `sets` appended as `--set`s.
fn smollm2_args(sub: &[&str], sets: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
    args.insert(sub.len().min(1), common::root().join("configs/finetune_smollm2_lora.yaml").display().to_string());
    for s in sets {
        args.extend(["--set".to_owned(), s.to_string()]);
    }
    args
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh (the SmolLM2 GGUF)"]
fn smollm2_perplexity_and_greedy_continuations_match_transformers() {
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("tests/data/smollm2_reference.json")).unwrap(),
    )
    .unwrap();
    let root = common::root();
    let artistic = root.join("tests/data/artistic.txt").display().to_string();
    let args = smollm2_args(&["eval"], &[]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--text", &artistic, "--block-size", "128", "--format", "json"]);
    let out = run(&root, &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let got: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let want = r["perplexity"]["perplexity"].as_f64().unwrap();
    let ppl = got["perplexity"].as_f64().unwrap();
    assert!((ppl - want).abs() < 1e-4 * want, "perplexity {ppl} vs transformers' {want}");
    assert_eq!(got["tokens"].as_u64(), r["perplexity"]["predicted_tokens"].as_u64());
    for case in r["greedy"].as_array().unwrap() {
        let args = smollm2_args(&["generate"], &[]);
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--prompt", case["prompt"].as_str().unwrap(), "--max-new-tokens", "12"]);
        let out = run(&root, &args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stdout, format!("{}\n", case["text"].as_str().unwrap()));
    }
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh (the SmolLM2 GGUF, Moby Dick)"]
fn the_shipped_smollm2_lora_config_lowers_held_out_perplexity() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::root();
    // The shipped config on a 4-block truncation (the full run: docs/finetuning.md).
    let sets = [
        "model.num_hidden_layers=4",
        "train.max_steps=12",
        "schedule.t_max=6",
        "train.eval_every=12",
        "logging.dir=RUNS",
    ];
    let runs = dir.path().join("runs").display().to_string();
    let sets: Vec<String> = sets.iter().map(|s| s.replace("RUNS", &runs)).collect();
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let out = cli(&root).args(smollm2_args(&[], &sets)).arg("-q").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("completed: 12/12 steps"), "{stdout}");
    let run_dir = &versions(dir.path(), "finetune_smollm2_lora")[0];
    let ppl: Vec<f64> = metrics(run_dir).iter().filter(|(_, t, _)| t == "val/perplexity").map(|(_, _, v)| *v).collect();
    assert_eq!(ppl.len(), 2, "{ppl:?}");
    assert!(ppl[1] < 0.9 * ppl[0], "held-out perplexity before and after: {ppl:?}");
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh (the SmolLM2 GGUF, HumanEval)"]
fn the_shipped_instruction_config_trains_on_responses_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::root();
    let runs = format!("logging.dir={}", dir.path().join("runs").display());
    // Not --quiet: the data's description line is checked.
    let mut args = vec![root.join("configs/finetune_smollm2_instruct.yaml").display().to_string()];
    for s in [
        "model.num_hidden_layers=2",
        "train.max_steps=3",
        "schedule.warmup.steps=1",
        "schedule.total_iters=2",
        runs.as_str(),
    ] {
        args.extend(["--set".to_owned(), s.to_owned()]);
    }
    let out = cli(&root).args(&args).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // HumanEval's 164 records: 16 held out, one whose prompt alone fills max_len skipped.
    assert!(stdout.contains("147 train / 16 val conversations of at most 384 tokens"), "{stdout}");
    assert!(stdout.contains("completed: 3/3 steps"), "{stdout}");
}

#[test]
fn a_sharded_model_in_the_hugging_face_cache_loads_offline_like_the_single_file() {
    let s = setup("");
    // The same weights as two shards with an index, in a Hugging Face cache layout.
    let cache = s.dir.path().join("hf");
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let repo = cache.join("models--test--tiny-llama");
    let snap = repo.join("snapshots").join(rev);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), rev).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(s.model.join(f), snap.join(f)).unwrap();
    }
    let (mut first, mut second, mut map) = (HashMap::new(), HashMap::new(), serde_json::Map::new());
    for (name, t) in &s.base {
        let shard = if name.contains("layers.1.") {
            "model-00002-of-00002.safetensors"
        } else {
            "model-00001-of-00002.safetensors"
        };
        map.insert(name.clone(), serde_json::json!(shard));
        if shard.starts_with("model-00001") {
            first.insert(name.clone(), t.clone())
        } else {
            second.insert(name.clone(), t.clone())
        };
    }
    candle_core::safetensors::save(&first, snap.join("model-00001-of-00002.safetensors")).unwrap();
    candle_core::safetensors::save(&second, snap.join("model-00002-of-00002.safetensors")).unwrap();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(snap.join("model.safetensors.index.json"), index.to_string()).unwrap();

    let probe = s.dir.path().join("probe.txt");
    std::fs::write(&probe, "the cat sat on the mat. the dog ran in the sun.").unwrap();
    let single = eval_json(s.dir.path(), s.config.to_str().unwrap(), &probe);
    let yaml = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace(&format!("local_dir: '{}'", s.model.display()), "hub: test/tiny-llama");
    let hub = s.dir.path().join("hub.yaml");
    std::fs::write(&hub, yaml).unwrap();
    let args =
        ["eval", hub.to_str().unwrap(), "--text", probe.to_str().unwrap(), "--block-size", "32", "--format", "json"];
    let out = cli(s.dir.path()).args(args).env("HF_HUB_CACHE", &cache).env("HF_HUB_OFFLINE", "1").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let sharded: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(sharded, single);
    // Offline with the model missing from the cache: where it looked and what to do.
    let out = cli(s.dir.path())
        .args(args)
        .env("HF_HUB_CACHE", s.dir.path().join("empty"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert!(
        !out.status.success() && stderr.contains("model.hub") && stderr.contains("not in the Hugging Face cache"),
        "{stderr}"
    );
}

//! Fine-tuning pretrained models through the real binary: MiniLM on the sentiment sentences from
//! the Hugging Face cache offline (needs the assets), a tiny BERT from a local folder (always),
//! and the errors of the loading path.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use common::{
    assert_same, assets, cli, cli_offline, final_accuracy, metrics, root, run, series, text, versions, write_tiny_bert,
};

fn config(name: &str) -> String {
    root().join("configs").join(name).to_string_lossy().into_owned()
}

/// The three sentiment files as a YAML list.
fn sentiment_files() -> String {
    let files: Vec<String> = ["amazon", "imdb", "yelp"]
        .iter()
        .map(|f| format!("'{}'", assets().join(format!("sentiment/{f}.json")).display()))
        .collect();
    format!("[{}]", files.join(", "))
}

fn tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.flatten_all().unwrap().to_vec1::<f32>().unwrap() == b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh"]
fn minilm_fine_tunes_on_the_sentiment_sentences_from_chance_to_over_80_percent_offline() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped config with a 2-layer encoder and half the steps (the full model and run:
    // docs/finetuning.md), the model through the hub cache, offline.
    let sets = [
        format!("data.path={}", sentiment_files()),
        "model.num_hidden_layers=2".into(),
        "train.max_steps=150".into(),
        "schedule.t_max=120".into(),
    ];
    // Not --quiet: the data's description line is checked.
    let mut args = vec![config("finetune_minilm_sentiment.yaml")];
    sets.iter().for_each(|s| args.extend(["--set".to_owned(), s.clone()]));
    let out = cli_offline(dir.path()).args(&args).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("2800 train / 200 val texts")
            && stdout.contains("skipped 3 rows with a missing or empty text or label"),
        "{stdout}"
    );
    let run_dir = &versions(dir.path(), "finetune_minilm_sentiment")[0];
    let m = metrics(run_dir);
    let acc: Vec<(u64, f64)> = m.iter().filter(|(_, t, _)| t == "val/accuracy").map(|(s, _, v)| (*s, *v)).collect();
    assert_eq!(acc[0].0, 0, "the eval before training is logged at step 0");
    assert!((0.3..0.7).contains(&acc[0].1), "starts near chance: {acc:?}");
    let final_acc = final_accuracy(&stdout);
    assert!(final_acc >= 0.80, "held-out accuracy {final_acc} ({acc:?})");
    // Two parameter groups, each LR logged: the encoder at 5e-5, the head at 1e-3.
    let lr = |tag: &str| m.iter().filter(|(_, t, _)| t == tag).map(|(_, _, v)| *v).fold(0.0, f64::max);
    assert!((lr("train/lr/encoder") - 5e-5).abs() < 1e-9 && (lr("train/lr/default") - 1e-3).abs() < 1e-9);

    // The checkpoint keeps the Hugging Face names; the frozen embeddings are the file's own.
    let ckpt = tensors(&run_dir.join("checkpoints/step-00000150/model.safetensors"));
    let original = tensors(&assets().join("hf/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/0000000000000000000000000000000000a11313/model.safetensors"));
    let mut names: Vec<&String> = ckpt.keys().collect();
    names.sort();
    assert_eq!(names.len(), 5 + 2 * 16 + 2, "{names:?}");
    for n in names.iter().filter(|n| !n.starts_with("classifier.")) {
        assert_eq!(ckpt[*n].dims(), original[*n].dims(), "{n}");
    }
    assert!(same(&ckpt["embeddings.word_embeddings.weight"], &original["embeddings.word_embeddings.weight"]), "frozen");
    assert!(
        !same(&ckpt["encoder.layer.1.output.dense.weight"], &original["encoder.layer.1.output.dense.weight"]),
        "trained"
    );
    assert_eq!(ckpt["classifier.weight"].dims(), &[2, 384]);
    let opt = tensors(&run_dir.join("checkpoints/step-00000150/optimizer.safetensors"));
    assert!(!opt.keys().any(|k| k.starts_with("embeddings.")), "no optimizer state for frozen parameters");
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh"]
fn the_shipped_asset_configs_validate_with_the_assets() {
    // train_cli's every-config test skips the configs that read assets/; here they run from a
    // folder where assets/ is the fetched one.
    let dir = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(assets(), dir.path().join("assets")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(root().join("configs"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") && std::fs::read_to_string(config(n)).is_ok_and(|t| t.contains("assets/")))
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    for name in &names {
        let out = cli_offline(dir.path()).args(["validate", &config(name)]).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(stdout.contains("valid"), "{stdout}");
    }
    let out = cli_offline(dir.path()).args(["validate", &config("finetune_minilm_sentiment.yaml")]).output().unwrap();
    let stdout = text(&out).0;
    assert!(
        stdout.contains("# group default: base lr 0.001") && stdout.contains("# group encoder: base lr 0.00005"),
        "{stdout}"
    );
}

/// Sentences whose label is their sentiment word's, every other part drawn independently:
/// `(text, label)`.
fn sentences(n: usize, seed: u64) -> Vec<(String, u32)> {
    let subjects = ["the movie", "the food", "this phone", "the service", "the film", "it"];
    let adverbs = ["", "very ", "really ", "so "];
    let words = [["bad", "awful", "terrible", "poor"], ["good", "great", "excellent", "nice"]];
    let mut rng = trainer::rng::Rng::new(seed);
    let mut pick = |k: usize| rng.below(k as u64) as usize;
    (0..n)
        .map(|_| {
            let label = pick(2);
            let (subject, adverb, word) = (subjects[pick(6)], adverbs[pick(4)], words[label][pick(4)]);
            let end = if pick(3) == 0 { " !" } else { "." };
            (format!("{subject} was {adverb}{word}{end}"), label as u32)
        })
        .collect()
}

fn write_jsonl(path: &Path, rows: &[(String, u32)]) {
    let text: String =
        rows.iter().map(|(t, y)| format!("{}\n", serde_json::json!({"text": t, "sentiment": y}))).collect();
    std::fs::write(path, text).unwrap();
}

/// A fine-tuning config for the tiny BERT in `dir/model`, data in `dir`.
fn tiny_config(dir: &Path, extra_train: &str) -> PathBuf {
    write_jsonl(&dir.join("train.jsonl"), &sentences(320, 0));
    write_jsonl(&dir.join("val.jsonl"), &sentences(60, 1));
    let yaml = format!(
        r#"name: tiny
seed: 3
model: {{kind: bert_classifier, local_dir: '{model}', num_labels: 2, max_len: 12, freeze: embeddings, dropout: 0.1}}
data: {{kind: text_classification, path: '{train}', val_path: '{val}', label_field: sentiment}}
optimizer:
  kind: adamw
  lr: 0.02
  groups: [{{name: encoder, prefix: "encoder.", lr: 0.01, layer_decay: 0.5}}]
schedule: {{kind: cosine, t_max: 590, warmup: {{steps: 10, start_factor: 0.1}}}}
train: {{max_steps: 600, batch_size: 16, eval_every: 100, eval_on_start: true{extra_train}}}
"#,
        model = dir.join("model").display(),
        train = dir.join("train.jsonl").display(),
        val = dir.join("val.jsonl").display(),
    );
    let path = dir.join("tiny.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn a_tiny_bert_from_a_local_folder_fine_tunes_with_frozen_layers_and_layer_decay() {
    let dir = tempfile::tempdir().unwrap();
    let original = write_tiny_bert(&dir.path().join("model"));
    let cfg = tiny_config(dir.path(), "");
    let out = run(dir.path(), &[cfg.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("320 train / 60 val texts"), "{stdout}");
    assert!(final_accuracy(&stdout) >= 0.9, "{stdout}");
    let run_dir = &versions(dir.path(), "tiny")[0];

    // Groups: the head (`default`) and the encoder layers, decayed by depth: layer i of L = 2
    // gets 0.01 · 0.5^(2 − i); the embeddings are frozen, so have no group.
    let m = metrics(run_dir);
    let tags: std::collections::BTreeSet<&str> =
        m.iter().map(|(_, t, _)| t.as_str()).filter(|t| t.starts_with("train/lr/")).collect();
    assert_eq!(
        tags.into_iter().collect::<Vec<_>>(),
        ["train/lr/default", "train/lr/encoder.layer_0", "train/lr/encoder.layer_1"]
    );
    let at = |tag: &str, step: u64| m.iter().find(|(s, t, _)| *s == step && t == tag).map(|(_, _, v)| *v).unwrap();
    for step in [0, 5, 50, 599] {
        let factor = at("train/lr/default", step) / 0.02;
        assert!((at("train/lr/encoder.layer_1", step) - factor * 0.01 * 0.5).abs() < 1e-12, "step {step}");
        assert!((at("train/lr/encoder.layer_0", step) - factor * 0.01 * 0.25).abs() < 1e-12, "step {step}");
    }

    // The checkpoint: Hugging Face names, frozen tensors untouched and without optimizer state.
    let ckpt = tensors(&run_dir.join("checkpoints/step-00000600/model.safetensors"));
    let mut want: Vec<&String> = original.keys().collect();
    want.sort();
    let mut got: Vec<&String> = ckpt.keys().filter(|k| !k.starts_with("classifier.")).collect();
    got.sort();
    assert_eq!(got, want);
    for (name, t) in &original {
        let frozen = name.starts_with("embeddings.");
        assert_eq!(same(&ckpt[name], t), frozen, "{name}");
    }
    let opt = tensors(&run_dir.join("checkpoints/step-00000600/optimizer.safetensors"));
    assert!(opt.keys().any(|k| k.starts_with("encoder.layer.0.")) && opt.keys().any(|k| k.starts_with("classifier.")));
    assert!(!opt.keys().any(|k| k.starts_with("embeddings.")));
}

#[test]
fn per_class_scalars_are_named_by_the_label_names_made_safe_for_tags() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(&dir.path().join("model"));
    let cfg = tiny_config(dir.path(), "");
    let sets = ["train.max_steps=20", "train.eval_every=10", "data.label_names=[neg, très bon]"];
    let mut args = vec![cfg.to_str().unwrap(), "-q"];
    args.extend(sets.iter().flat_map(|s| ["--set", *s]));
    let out = run(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out).1);
    let m = metrics(&versions(dir.path(), "tiny")[0]);
    let per_class: std::collections::BTreeSet<&str> = m
        .iter()
        .map(|(_, t, _)| t.as_str())
        .filter(|t| ["val/precision/", "val/recall/", "val/f1/"].iter().any(|p| t.starts_with(p)))
        .collect();
    let want = ["neg", "tr_s_bon"].iter().flat_map(|c| ["f1", "precision", "recall"].map(|w| format!("val/{w}/{c}")));
    let mut want: Vec<String> = want.collect();
    want.sort();
    assert_eq!(per_class.into_iter().collect::<Vec<_>>(), want);
}

#[test]
fn a_fine_tuning_run_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(&dir.path().join("model"));
    let cfg = tiny_config(dir.path(), ", checkpoint_every: 30");
    let cfg = cfg.to_str().unwrap();
    assert!(run(dir.path(), &[cfg, "--set", "name=whole", "-q"]).status.success());
    assert!(run(dir.path(), &[cfg, "--set", "name=cut", "-q"]).status.success());
    let cut = &versions(dir.path(), "cut")[0];
    for c in ["step-00000600", "step-00000570"] {
        std::fs::remove_dir_all(cut.join("checkpoints").join(c)).unwrap();
    }
    let out = run(dir.path(), &["resume", cut.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("at step 540/600"), "{}", text(&out).0);
    let whole = &versions(dir.path(), "whole")[0];
    for tag in ["train/loss", "train/lr/encoder.layer_0", "val/loss", "val/accuracy"] {
        assert_same(&series(cut, tag), &series(whole, tag), tag);
    }
}

/// Writes `c.yaml` in `dir` and runs `cli c.yaml` with `env`; returns stderr (and asserts
/// failure without a run directory).
fn fails(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> String {
    let path = dir.join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut c = cli(dir);
    c.env_remove("HF_HUB_OFFLINE").env("HF_HOME", dir.join("hf-home"));
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.arg(&path).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "unexpected success:\n{stdout}");
    assert!(!dir.join("runs").exists(), "a failed run created runs/");
    stderr
}

fn sentiment_yaml(model: &str, data_path: &Path) -> String {
    format!(
        "name: e\nmodel: {model}\ndata: {{kind: text_classification, path: '{}', val_size: 1}}\noptimizer: {{kind: adamw, lr: 0.001}}\nschedule: {{kind: constant}}\ntrain: {{max_steps: 2}}\n",
        data_path.display()
    )
}

#[test]
fn a_missing_model_offline_says_where_it_looked_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.json");
    std::fs::write(&data, r#"[{"text": "good", "label": 1}, {"text": "bad", "label": 0}]"#).unwrap();
    let cache = dir.path().join("empty-cache");
    let yaml = sentiment_yaml("{kind: bert_classifier, hub: nobody/no-such-model, num_labels: 2}", &data);
    let stderr = fails(dir.path(), &yaml, &[("HF_HUB_CACHE", cache.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")]);
    for want in [
        "c.yaml:2:",
        "model.hub: model `nobody/no-such-model` (revision `main`) is not in the Hugging Face cache, and downloads are off (HF_HUB_OFFLINE is set)",
        &format!("cache: {} (from HF_HUB_CACHE)", cache.display()),
        &format!("looked for: {} (missing)", cache.join("models--nobody--no-such-model/refs/main").display()),
        "to fix: run once with network access (unset HF_HUB_OFFLINE)",
        "huggingface-cli download nobody/no-such-model --revision main",
        "model.local_dir",
    ] {
        assert!(stderr.contains(want), "missing `{want}` in:\n{stderr}");
    }
    // `offline: true` in the config does the same, and HF_HOME places the cache without HF_HUB_CACHE.
    let yaml = sentiment_yaml(
        "{kind: bert_classifier, hub: nobody/no-such-model, revision: v1.0, offline: true, num_labels: 2}",
        &data,
    );
    let stderr = fails(dir.path(), &yaml, &[("HF_HOME", dir.path().join("home").to_str().unwrap())]);
    assert!(
        stderr.contains("downloads are off (model.offline is true)") && stderr.contains("(model.offline: false)"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("cache: {} (from HF_HOME)", dir.path().join("home/hub").display())), "{stderr}");
    assert!(stderr.contains("models--nobody--no-such-model/refs/v1.0"), "{stderr}");
}

#[test]
fn a_corrupt_safetensors_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    write_tiny_bert(&model);
    let weights = model.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let data = dir.path().join("d.json");
    std::fs::write(&data, r#"[{"text": "good", "label": 1}, {"text": "bad", "label": 0}]"#).unwrap();
    let yaml = sentiment_yaml(
        &format!("{{kind: bert_classifier, local_dir: '{}', num_labels: 2, max_len: 16}}", model.display()),
        &data,
    );
    let stderr = fails(dir.path(), &yaml, &[]);
    assert!(stderr.contains(&format!("model: {}: not a valid safetensors file", weights.display())), "{stderr}");
    assert!(stderr.lines().count() <= 3, "one clear message, no backtrace:\n{stderr}");
    // A local folder without the weights names the file it lacks.
    std::fs::remove_file(&weights).unwrap();
    let stderr = fails(dir.path(), &yaml, &[]);
    assert!(stderr.contains("model.local_dir: ") && stderr.contains("has no model.safetensors"), "{stderr}");
}

#[test]
fn a_label_outside_num_labels_and_an_empty_data_set_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    write_tiny_bert(&model);
    let bert = format!("{{kind: bert_classifier, local_dir: '{}', num_labels: 2, max_len: 16}}", model.display());
    let data = dir.path().join("labels.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"good\", \"label\": 1}\n{\"text\": \"\", \"label\": 5}\n{\"text\": \"meh\", \"label\": 2}\n",
    )
    .unwrap();
    let stderr = fails(dir.path(), &sentiment_yaml(&bert, &data), &[]);
    assert!(stderr.contains("c.yaml:3:"), "placed at data.path: {stderr}");
    assert!(
        stderr.contains(&format!(
            "data.path: {}, line 3: label 2 is outside the 2 classes of model.num_labels = 2",
            data.display()
        )),
        "{stderr}"
    );

    let data = dir.path().join("empty.json");
    std::fs::write(&data, r#"[{"text": "", "label": null}, {"text": "x"}]"#).unwrap();
    let stderr = fails(dir.path(), &sentiment_yaml(&bert, &data), &[]);
    assert!(
        stderr
            .contains(&format!("data.path: {}: no usable rows: the data set is empty (2 rows skipped", data.display())),
        "{stderr}"
    );
}

#[test]
fn a_tiny_bert_with_lora_trains_adapters_and_head_and_exports_them_folded_in() {
    let dir = tempfile::tempdir().unwrap();
    let original = write_tiny_bert(&dir.path().join("model"));
    let cfg = tiny_config(dir.path(), "");
    let yaml = std::fs::read_to_string(&cfg).unwrap().replace(
        "freeze: embeddings, dropout: 0.1}",
        "dropout: 0.1, lora: {r: 4, alpha: 8, target_modules: [query, value]}}",
    );
    let yaml = yaml.replace("  groups: [{name: encoder, prefix: \"encoder.\", lr: 0.01, layer_decay: 0.5}]\n", "");
    std::fs::write(&cfg, yaml).unwrap();
    let args = [cfg.to_str().unwrap(), "-q", "--set", "train.max_steps=300", "--set", "schedule.t_max=290"];
    let out = run(dir.path(), &[&args[..], &["--set", "train.ema={decay: 0.9}"]].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(final_accuracy(&stdout) >= 0.8, "{stdout}");
    let run_dir = &versions(dir.path(), "tiny")[0];
    let ckpt = tensors(&run_dir.join("checkpoints/step-00000300/model.safetensors"));
    // The encoder is frozen: bit-identical; the adapters (2 layers × 2 targets × A, B) and the
    // head are the only optimizer state.
    for (name, t) in &original {
        assert!(same(&ckpt[name], t), "{name} changed");
    }
    let opt = tensors(&run_dir.join("checkpoints/step-00000300/optimizer.safetensors"));
    assert!(opt.keys().all(|k| k.contains(".lora_") || k.starts_with("classifier.")), "{:?}", opt.keys());
    assert_eq!(ckpt.keys().filter(|k| k.contains(".lora_")).count(), 8);

    let out = run(dir.path(), &["export", run_dir.to_str().unwrap(), "--format", "merged", "--out", "merged"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let merged = tensors(&dir.path().join("merged/model.safetensors"));
    assert!(merged.keys().all(|k| !k.contains(".lora_")) && merged.contains_key("classifier.weight"));
    for (name, t) in &original {
        let module = name.strip_suffix(".weight").filter(|m| m.ends_with(".query") || m.ends_with(".value"));
        match module {
            Some(m) => {
                let (a, b) = (&ckpt[&format!("{m}.lora_A.weight")], &ckpt[&format!("{m}.lora_B.weight")]);
                let want = (t + (b.matmul(a).unwrap() * 2.0).unwrap()).unwrap();
                let diff =
                    (&merged[name] - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(diff < 1e-6, "{name}: {diff}");
                assert!(!same(&merged[name], t), "{name}: the adapter changed nothing");
            }
            None => assert!(same(&merged[name], t), "{name}"),
        }
    }
    assert!(dir.path().join("merged/config.json").is_file() && dir.path().join("merged/tokenizer.json").is_file());

    // `--weights ema`: the EMA's head and adapters, folded the same way.
    let args = ["export", run_dir.to_str().unwrap(), "--format", "merged", "--out", "merged-ema", "--weights", "ema"];
    let out = run(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out).1);
    let ema = tensors(&run_dir.join("checkpoints/step-00000300/ema.safetensors"));
    let merged_ema = tensors(&dir.path().join("merged-ema/model.safetensors"));
    assert!(same(&merged_ema["classifier.weight"], &ema["classifier.weight"]));
    assert!(!same(&merged_ema["classifier.weight"], &merged["classifier.weight"]), "the EMA differs from the raw head");
    let m = "encoder.layer.0.attention.self.query";
    let (a, b) = (&ema[&format!("{m}.lora_A.weight")], &ema[&format!("{m}.lora_B.weight")]);
    let want = (&original[&format!("{m}.weight")] + (b.matmul(a).unwrap() * 2.0).unwrap()).unwrap();
    let name = format!("{m}.weight");
    let diff = (&merged_ema[&name] - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-6, "{m}: {diff}");
}

//! The Llama model against candle-transformers' inference Llama on random weights, and its
//! padding, KV cache, gradients and LoRA.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::llama as reference;

use super::*;
use crate::model::ModelError;
use crate::model::lora::LoraConfig;
use crate::rng::Rng;

const LLAMA3: &str = r#", "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
    "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#;

/// vocab 50, hidden 32, 2 layers, 4 heads / 2 KV heads (head_dim 8), intermediate 32.
fn config(tied: bool, extra: &str) -> LlamaConfig {
    serde_json::from_str(&format!(
        r#"{{"vocab_size": 50, "hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
            "max_position_embeddings": 64, "tie_word_embeddings": {tied} {extra}}}"#
    ))
    .unwrap()
}

fn random(shape: &[usize], mean: f32, std: f64, rng: &mut Rng) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| mean + (std * rng.normal()) as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Random weights under Hugging Face names.
fn weights(cfg: &LlamaConfig, seed: u64) -> HashMap<String, Tensor> {
    let mut rng = Rng::new(seed);
    let (h, i, v, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.head_dim());
    let (q, kv) = (cfg.num_attention_heads * hd, cfg.kv_heads() * hd);
    let mut m = HashMap::new();
    let mut put = |name: String, shape: &[usize], mean: f32, std: f64| {
        m.insert(name, random(shape, mean, std, &mut rng));
    };
    put("model.embed_tokens.weight".into(), &[v, h], 0.0, 0.3);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        for (name, shape) in [
            ("self_attn.q_proj", [q, h]),
            ("self_attn.k_proj", [kv, h]),
            ("self_attn.v_proj", [kv, h]),
            ("self_attn.o_proj", [h, q]),
            ("mlp.gate_proj", [i, h]),
            ("mlp.up_proj", [i, h]),
            ("mlp.down_proj", [h, i]),
        ] {
            put(format!("{p}.{name}.weight"), &shape, 0.0, 0.3);
        }
        put(format!("{p}.input_layernorm.weight"), &[h], 1.0, 0.1);
        put(format!("{p}.post_attention_layernorm.weight"), &[h], 1.0, 0.1);
    }
    put("model.norm.weight".into(), &[h], 1.0, 0.1);
    if !cfg.tie_word_embeddings {
        put("lm_head.weight".into(), &[v, h], 0.0, 0.3);
    }
    m
}

fn load(cfg: &LlamaConfig, w: &HashMap<String, Tensor>) -> Llama {
    let vb = VarBuilder::from_tensors(w.clone(), DType::F32, &Device::Cpu);
    Llama::load(cfg, vb, None, &VarMap::new(), &mut Rng::new(0)).unwrap()
}

/// The weights as variables of a map, and a model over them (trainable, or with `lora`).
fn trainable(cfg: &LlamaConfig, w: &HashMap<String, Tensor>, lora: Option<&LoraConfig>) -> (Llama, VarMap) {
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().unwrap();
        for (name, t) in w {
            data.insert(name.clone(), Var::from_tensor(t).unwrap());
        }
    }
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Llama::load(cfg, vb, lora, &varmap, &mut Rng::new(5)).unwrap();
    (model, varmap)
}

fn ids(rows: &[&[u32]]) -> Tensor {
    Tensor::new(rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

fn logits(model: &Llama, ids: &Tensor) -> Tensor {
    model.forward(ids, None, false, &mut Rng::new(1)).unwrap()
}

fn reference_config(cfg: &LlamaConfig) -> reference::Config {
    let rope_scaling = cfg.rope_scaling.as_ref().map(|s| reference::Llama3RopeConfig {
        factor: s.factor as f32,
        low_freq_factor: s.low_freq_factor as f32,
        high_freq_factor: s.high_freq_factor as f32,
        original_max_position_embeddings: s.original_max_position_embeddings,
        rope_type: reference::Llama3RopeType::Llama3,
    });
    reference::Config {
        hidden_size: cfg.hidden_size,
        intermediate_size: cfg.intermediate_size,
        vocab_size: cfg.vocab_size,
        num_hidden_layers: cfg.num_hidden_layers,
        num_attention_heads: cfg.num_attention_heads,
        num_key_value_heads: cfg.kv_heads(),
        use_flash_attn: false,
        rms_norm_eps: cfg.rms_norm_eps,
        rope_theta: cfg.rope_theta as f32,
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling,
        max_position_embeddings: cfg.max_position_embeddings,
        tie_word_embeddings: cfg.tie_word_embeddings,
    }
}

fn check_against_reference(cfg: &LlamaConfig) {
    let w = weights(cfg, 11);
    let ours = load(cfg, &w);
    let rc = reference_config(cfg);
    let theirs = reference::Llama::load(VarBuilder::from_tensors(w.clone(), DType::F32, &Device::Cpu), &rc).unwrap();
    let tokens = ids(&[&[3, 17, 42, 8, 0, 49, 25, 3, 11, 30], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
    let all = logits(&ours, &tokens);
    assert_eq!(all.dims(), &[2, 10, 50]);
    // The reference returns the last position's logits: run it on every prefix.
    for len in 1..=10 {
        let mut cache = reference::Cache::new(false, DType::F32, &rc, &Device::Cpu).unwrap();
        let want = theirs.forward(&tokens.narrow(1, 0, len).unwrap(), 0, &mut cache).unwrap();
        let got = all.narrow(1, len - 1, 1).unwrap().squeeze(1).unwrap();
        let d = max_diff(&got, &want);
        assert!(d < 1e-4, "prefix {len}: max |Δ| = {d}");
    }
}

#[test]
fn logits_match_candle_transformers_llama() {
    check_against_reference(&config(false, ""));
}

#[test]
fn logits_match_candle_transformers_llama_with_llama3_rope_scaling_and_tied_embeddings() {
    check_against_reference(&config(true, LLAMA3));
}

#[test]
fn right_padding_leaves_the_real_positions_unchanged() {
    let cfg = config(false, "");
    let model = load(&cfg, &weights(&cfg, 2));
    let batch = ids(&[&[4, 9, 16, 25, 36], &[7, 8, 9, 0, 0]]);
    let mask = ids(&[&[1, 1, 1, 1, 1], &[1, 1, 1, 0, 0]]);
    let padded = model.forward(&batch, Some(&mask), false, &mut Rng::new(1)).unwrap();
    let alone = logits(&model, &ids(&[&[7, 8, 9]]));
    let d = max_diff(&padded.narrow(0, 1, 1).unwrap().narrow(1, 0, 3).unwrap(), &alone);
    assert!(d < 1e-5, "{d}");
    let first = logits(&model, &ids(&[&[4, 9, 16, 25, 36]]));
    assert!(max_diff(&padded.narrow(0, 0, 1).unwrap(), &first) < 1e-5);
    // Padded rows stay finite (no fully masked -inf row).
    let sum = padded.sum_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(sum.is_finite());
    // Right padding follows every real token, so causality alone hides it from them; a
    // left-padded row shows the mask acts: unmasked, its real tokens would see the padding.
    let unmasked = logits(&model, &batch);
    assert!(max_diff(&padded.narrow(1, 0, 3).unwrap(), &unmasked.narrow(1, 0, 3).unwrap()) < 1e-5);
    let left = ids(&[&[0, 0, 7, 8, 9]]);
    let left_mask = ids(&[&[0, 0, 1, 1, 1]]);
    let masked = model.forward(&left, Some(&left_mask), false, &mut Rng::new(1)).unwrap();
    assert!(max_diff(&masked.narrow(1, 2, 1).unwrap(), &logits(&model, &left).narrow(1, 2, 1).unwrap()) > 1e-3);
}

#[test]
fn kv_cached_decoding_matches_the_full_forward() {
    let cfg = config(true, LLAMA3);
    let model = load(&cfg, &weights(&cfg, 3));
    let seq: [u32; 9] = [5, 1, 44, 23, 7, 7, 30, 2, 19];
    let full = logits(&model, &ids(&[&seq]));
    let mut cache = KvCache::new();
    let head = model.forward_cached(&ids(&[&seq[..3]]), &mut cache).unwrap();
    assert_eq!((head.dims(), cache.len()), (&[1, 3, 50][..], 3));
    assert!(max_diff(&head, &full.narrow(1, 0, 3).unwrap()) < 1e-5);
    for (i, &tok) in seq.iter().enumerate().skip(3) {
        let step = model.forward_cached(&ids(&[&[tok]]), &mut cache).unwrap();
        let d = max_diff(&step, &full.narrow(1, i, 1).unwrap());
        assert!(d < 1e-5, "position {i}: {d}");
    }
    assert_eq!(cache.len(), 9);
}

#[test]
fn generate_greedy_follows_the_argmax_and_stops_at_eos() {
    let cfg = config(false, "");
    let model = load(&cfg, &weights(&cfg, 4));
    let greedy = Sampling::default();
    let out = generate(&model, &[3, 4, 5], 6, &greedy, &[], &mut Rng::new(1)).unwrap();
    assert_eq!(out.len(), 6);
    // Each token is the argmax of the full forward over everything before it.
    let mut seq = vec![3u32, 4, 5];
    for &tok in &out {
        let l = logits(&model, &ids(&[&seq])).squeeze(0).unwrap();
        let last = l.get(seq.len() - 1).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(tok, sample::argmax(&last));
        seq.push(tok);
    }
    let stopped = generate(&model, &[3, 4, 5], 6, &greedy, &[out[2]], &mut Rng::new(1)).unwrap();
    let cut = out.iter().position(|&t| t == out[2]).unwrap();
    assert_eq!(stopped, out[..cut]);
    let s = Sampling { temperature: 0.8, top_p: 0.9 };
    let a = generate(&model, &[3], 8, &s, &[], &mut Rng::new(9)).unwrap();
    assert_eq!(a, generate(&model, &[3], 8, &s, &[], &mut Rng::new(9)).unwrap());
    assert!(generate(&model, &[], 3, &greedy, &[], &mut Rng::new(1)).is_err());
}

#[test]
fn every_parameter_gets_a_gradient() {
    let cfg = config(false, "");
    let (model, varmap) = trainable(&cfg, &weights(&cfg, 5), None);
    let batch = ids(&[&[4, 9, 16, 25], &[7, 8, 0, 0]]);
    let mask = ids(&[&[1, 1, 1, 1], &[1, 1, 0, 0]]);
    let out = model.forward(&batch, Some(&mask), true, &mut Rng::new(1)).unwrap();
    let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let data = varmap.data().lock().unwrap();
    assert_eq!(data.len(), 3 + 2 * 9);
    for (name, var) in data.iter() {
        assert!(model.is_trainable(name));
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0, "zero gradient for {name}");
    }
}

fn lora(targets: Option<&[&str]>) -> LoraConfig {
    LoraConfig {
        r: 4,
        alpha: Some(8.0),
        dropout: 0.0,
        target_modules: targets.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
        rslora: false,
    }
}

#[test]
fn lora_starts_equal_merges_exactly_and_trains_only_the_adapters() {
    let cfg = config(false, "");
    let w = weights(&cfg, 6);
    let base = load(&cfg, &w);
    let all = LINEAR_MODULES.to_vec();
    let (adapted, varmap) = trainable(&cfg, &w, Some(&lora(Some(&all))));
    assert_eq!(adapted.lora_modules().len(), 14);
    let tokens = ids(&[&[1, 2, 3, 4, 5, 6], &[9, 8, 7, 6, 5, 4]]);
    // B = 0 at init: exactly the base model.
    assert_eq!(max_diff(&logits(&adapted, &tokens), &logits(&base, &tokens)), 0.0);
    // Random B: the adapters change the model, and the merged weights reproduce it.
    let mut rng = Rng::new(8);
    let vars = varmap.data().lock().unwrap().clone();
    let mut adapters: Vec<(&String, &candle_core::Var)> =
        vars.iter().filter(|(n, _)| n.ends_with("lora_B.weight")).collect();
    adapters.sort_by(|a, b| a.0.cmp(b.0)); // a fixed order of draws: the test is deterministic
    for (_, var) in adapters {
        var.set(&random(var.dims(), 0.0, 0.3, &mut rng)).unwrap();
    }
    let unmerged = logits(&adapted, &tokens);
    assert!(max_diff(&unmerged, &logits(&base, &tokens)) > 1e-2);
    let merged: HashMap<String, Tensor> = adapted.merged_weights().unwrap().into_iter().collect();
    let mut names: Vec<&String> = merged.keys().collect();
    let mut want: Vec<&String> = w.keys().collect();
    names.sort();
    want.sort();
    assert_eq!(names, want);
    // f32 rounding of W + s·BA against W x + s·B(A x): 1e-5 of the largest logit.
    let d = max_diff(&logits(&load(&cfg, &merged), &tokens), &unmerged);
    let scale = unmerged.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1.0);
    assert!(d < 1e-5 * scale, "merged vs unmerged: {d} (largest logit {scale})");
    // Only the adapters get gradients, and only they train.
    let out = adapted.forward(&tokens, None, true, &mut Rng::new(1)).unwrap();
    let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let adapter = name.contains(".lora_");
        assert_eq!(adapted.is_trainable(name), adapter, "{name}");
        match grads.get(var.as_tensor()) {
            Some(g) if adapter => assert!(g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0),
            None if !adapter => {}
            other => panic!("{name}: gradient {:?}", other.map(Tensor::dims)),
        }
    }
}

#[test]
fn lora_defaults_to_q_and_v_with_peft_names_and_kaiming_uniform_a() {
    let cfg = config(true, "");
    let (model, varmap) = trainable(&cfg, &weights(&cfg, 7), Some(&lora(None)));
    assert_eq!(
        model.lora_modules(),
        [
            "model.layers.0.self_attn.q_proj",
            "model.layers.0.self_attn.v_proj",
            "model.layers.1.self_attn.q_proj",
            "model.layers.1.self_attn.v_proj"
        ]
    );
    let adapters = model.adapter_weights().unwrap();
    assert_eq!(adapters.len(), 8);
    assert_eq!(adapters[0].0, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    assert_eq!(adapters[1].0, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
    assert_eq!((adapters[0].1.dims(), adapters[3].1.dims()), (&[4, 32][..], &[16, 4][..]));
    let data = varmap.data().lock().unwrap();
    let a = data["model.layers.1.self_attn.v_proj.lora_A.weight"].as_tensor().flatten_all().unwrap();
    let a = a.to_vec1::<f32>().unwrap();
    let bound = 1.0 / 32f32.sqrt();
    assert!(a.iter().all(|x| x.abs() <= bound) && a.iter().any(|x| x.abs() > bound * 0.8));
    let b = data["model.layers.1.self_attn.v_proj.lora_B.weight"].as_tensor();
    assert_eq!(b.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
}

#[test]
fn unknown_targets_and_unsupported_configs_are_clear_errors() {
    let cfg = config(false, "");
    let w = weights(&cfg, 8);
    let vb = VarBuilder::from_tensors(w.clone(), DType::F32, &Device::Cpu);
    let e = Llama::load(&cfg, vb.clone(), Some(&lora(Some(&["q_proj", "query"]))), &VarMap::new(), &mut Rng::new(0))
        .err()
        .unwrap();
    let ModelError::Config(issue) = e else { panic!("{e}") };
    assert_eq!(issue.path, "model.lora.target_modules");
    assert!(issue.message.contains("`query` matches no module") && issue.message.contains("q_proj, k_proj"));
    let yarn = config(false, r#", "rope_scaling": {"rope_type": "yarn", "factor": 4.0}"#);
    let e = Llama::load(&yarn, vb.clone(), None, &VarMap::new(), &mut Rng::new(0)).err().unwrap().to_string();
    assert!(e.contains("rope_scaling type `yarn` (only `llama3` is supported)"), "{e}");
    let mut missing = w;
    missing.remove("model.layers.1.mlp.up_proj.weight");
    let vb = VarBuilder::from_tensors(missing, DType::F32, &Device::Cpu);
    let e = Llama::load(&cfg, vb, None, &VarMap::new(), &mut Rng::new(0)).err().unwrap().to_string();
    assert!(e.contains("model.layers.1.mlp.up_proj.weight"), "{e}");
}

#[test]
fn a_training_step_with_fused_ops_gives_the_composed_gradients() {
    // Fused RMSNorm, rotary, masked softmax and SwiGLU against the composed ops, with LoRA on
    // every linear (random B) and a padded sequence: every trainable gradient within 1e-5.
    let cfg = config(false, "");
    let all = LINEAR_MODULES.to_vec();
    let (model, varmap) = trainable(&cfg, &weights(&cfg, 11), Some(&lora(Some(&all))));
    let mut rng = Rng::new(12);
    for (name, var) in varmap.data().lock().unwrap().iter() {
        if name.contains("lora_B") {
            var.set(&random(var.dims(), 0.0, 0.2, &mut rng)).unwrap();
        }
    }
    let batch = ids(&[&[4, 9, 16, 25, 36], &[7, 8, 3, 0, 0]]);
    let mask = ids(&[&[1, 1, 1, 1, 1], &[1, 1, 1, 0, 0]]);
    let step = || {
        let out = model.forward(&batch, Some(&mask), true, &mut Rng::new(1)).unwrap();
        let w = Tensor::arange(0f32, out.elem_count() as f32, &Device::Cpu).unwrap().reshape(out.shape()).unwrap();
        (out * (w * 0.37).unwrap().sin().unwrap()).unwrap().sum_all().unwrap().backward().unwrap()
    };
    let fused = step();
    let composed = crate::ops::composed_only(step);
    let data = varmap.data().lock().unwrap();
    let trained: Vec<_> = data.iter().filter(|(name, _)| model.is_trainable(name)).collect();
    assert_eq!(trained.len(), 2 * 2 * 7, "LoRA A and B of 7 linears in 2 layers");
    let worst = crate::ops::testing::worst_gradient_difference(&fused, &composed, trained);
    eprintln!("worst Llama gradient rel err, fused against composed: {worst:?}");
    assert!(worst.0 <= 1e-5, "{worst:?}");
}

//! The trainable Llama on the real SmolLM2-135M-Instruct GGUF against two oracles: the values
//! transformers computed from the same file (`tests/data/smollm2_reference.json`: top-5
//! next-token logits, greedy continuations) and candle's inference-only `quantized_llama` on the
//! same dequantized weights. Needs the downloaded GGUF (`scripts/fetch-assets.sh`).
#![cfg(feature = "hub")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{D, Device, Tensor};
use candle_nn::VarMap;
use trainer::lm_tokenizer::LmTokenizer;
use trainer::model::gguf;
use trainer::model::llama::Llama;
use trainer::model::llama::sample::{self, Sampling};
use trainer::model::pretrained::Pretrained;
use trainer::rng::Rng;

fn gguf_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn reference() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/smollm2_reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The model (its first `layers` blocks) and tokenizer of the GGUF.
fn load(layers: Option<usize>) -> (Llama, LmTokenizer) {
    let path = gguf_path();
    let g = gguf::load(&path, &Device::Cpu, layers).unwrap();
    let mut config = g.config.clone();
    if let Some(n) = layers {
        config.num_hidden_layers = n;
    }
    let (vb, _taken) = Pretrained::from_tensors(g.tensors, &path, Arc::new(|_: &str| true)).builder(&Device::Cpu);
    let model = Llama::load(&config, vb, None, &VarMap::new(), &mut Rng::new(0)).unwrap();
    (model, g.tokenizer)
}

fn last_logits(model: &Llama, ids: &[u32]) -> Vec<f32> {
    let x = Tensor::new(ids, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let logits = model.forward(&x, None, false, &mut Rng::new(0)).unwrap();
    logits.squeeze(0).unwrap().get(ids.len() - 1).unwrap().to_vec1().unwrap()
}

#[test]
#[ignore = "needs scripts/fetch-assets.sh (the SmolLM2 GGUF)"]
fn top5_logits_and_greedy_continuations_match_transformers() {
    let (model, tok) = load(None);
    let r = reference();
    let prompt = r["next_token_logits"]["prompt"].as_str().unwrap();
    let ids = tok.encode(prompt, false).unwrap();
    let logits = last_logits(&model, &ids);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    let want_ids: Vec<usize> =
        r["next_token_logits"]["top5_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(order[..5], want_ids[..]);
    for (i, want) in want_ids.iter().zip(r["next_token_logits"]["top5_logits"].as_array().unwrap()) {
        let want = want.as_f64().unwrap();
        assert!((f64::from(logits[*i]) - want).abs() < 1e-3, "logit of {i}: {} vs {want}", logits[*i]);
    }
    for case in r["greedy"].as_array().unwrap() {
        let ids = tok.encode(case["prompt"].as_str().unwrap(), false).unwrap();
        let want: Vec<u32> =
            case["greedy_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got =
            sample::generate(&model, &ids, want.len(), &Sampling::default(), &[tok.eos.1], &mut Rng::new(0)).unwrap();
        assert_eq!(got, want, "{}", case["prompt"]);
        assert_eq!(tok.decode(&got, true).unwrap(), case["text"].as_str().unwrap());
    }
}

/// The GGUF's first `layers` blocks rewritten with f32 tensors (GGUF names and layout), so
/// candle's `quantized_llama` computes in f32 on exactly the weights we load.
fn f32_gguf(dir: &Path, layers: usize) -> PathBuf {
    let mut file = std::fs::File::open(gguf_path()).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let keep = |name: &str| {
        name.strip_prefix("blk.")
            .and_then(|r| r.split('.').next())
            .is_none_or(|i| i.parse::<usize>().is_ok_and(|i| i < layers))
    };
    let mut tensors = Vec::new();
    for name in content.tensor_infos.keys().filter(|n| keep(n)) {
        let t = content.tensor(&mut file, name, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap();
        tensors.push((name.clone(), QTensor::quantize(&t, GgmlDType::F32).unwrap()));
    }
    let mut metadata = content.metadata.clone();
    metadata.insert("llama.block_count".into(), gguf_file::Value::U32(layers as u32));
    let md: Vec<(&str, &gguf_file::Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let out = dir.join("f32.gguf");
    gguf_file::write(&mut std::fs::File::create(&out).unwrap(), &md, &ts).unwrap();
    out
}

#[test]
#[ignore = "needs scripts/fetch-assets.sh (the SmolLM2 GGUF)"]
fn logits_match_candle_quantized_llama_on_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let layers = 3;
    let path = f32_gguf(dir.path(), layers);
    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut oracle =
        candle_transformers::models::quantized_llama::ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
            .unwrap();
    let (model, tok) = load(Some(layers));
    let ids = tok.encode("Once upon a time, in a land far away", false).unwrap();
    let x = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let want = oracle.forward(&x, 0).unwrap().squeeze(0).unwrap(); // the last position's logits
    let got = Tensor::new(last_logits(&model, &ids), &Device::Cpu).unwrap();
    let diff = (want - &got).unwrap().abs().unwrap().max(D::Minus1).unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-3, "max |logit difference| {diff}");
}

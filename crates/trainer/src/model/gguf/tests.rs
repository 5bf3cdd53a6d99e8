//! A tiny llama GGUF written here (F32 tensors, a byte-level BPE tokenizer): renaming, the Q/K
//! permutation, the config and tokenizer mapping, and the errors.

use std::path::PathBuf;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::*;

const HIDDEN: usize = 8;
const HEADS: usize = 2;
const KV_HEADS: usize = 1;
const HEAD_DIM: usize = HIDDEN / HEADS;
const FFN: usize = 6;
const TOKENS: [&str; 9] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "h", "i", "Ġ", "hi", "Ġhi", "1"];

/// Row `r`, column `c` holds `seed + 100 r + c`: every entry tells where it came from.
fn ramp(rows: usize, cols: usize, seed: f32) -> Tensor {
    let v: Vec<f32> = (0..rows * cols).map(|i| seed + (100 * (i / cols) + i % cols) as f32).collect();
    Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
}

/// What llama.cpp's converter does to HF Q/K rows: `w.reshape(h, 2, rows/h/2, cols)
/// .swapaxes(1, 2).reshape(rows, cols)`, written out as indices: GGUF row `(head, j, c)`
/// (j < rows/h/2, c < 2) is HF row `(head, c, j)`.
fn to_gguf_layout(hf: &Tensor, heads: usize) -> Tensor {
    let rows = hf.dims()[0];
    let (per_head, half) = (rows / heads, rows / heads / 2);
    let src: Vec<u32> = (0..rows)
        .map(|g| {
            let (head, rem) = (g / per_head, g % per_head);
            let (j, c) = (rem / 2, rem % 2);
            (head * per_head + c * half + j) as u32
        })
        .collect();
    hf.index_select(&Tensor::new(src, &Device::Cpu).unwrap(), 0).unwrap()
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn metadata(arch: &str) -> Vec<(String, Value)> {
    let tokens = TOKENS.iter().map(|t| string(t)).collect();
    let types = TOKENS.iter().map(|t| Value::I32(if t.starts_with("<|") { 3 } else { 1 })).collect();
    vec![
        ("general.architecture".into(), string(arch)),
        ("llama.embedding_length".into(), Value::U32(HIDDEN as u32)),
        ("llama.block_count".into(), Value::U32(2)),
        ("llama.feed_forward_length".into(), Value::U32(FFN as u32)),
        ("llama.attention.head_count".into(), Value::U32(HEADS as u32)),
        ("llama.attention.head_count_kv".into(), Value::U32(KV_HEADS as u32)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(1e-5)),
        ("llama.rope.freq_base".into(), Value::F32(100_000.0)),
        ("llama.context_length".into(), Value::U32(64)),
        ("llama.rope.dimension_count".into(), Value::U32(HEAD_DIM as u32)),
        ("tokenizer.ggml.model".into(), string("gpt2")),
        ("tokenizer.ggml.pre".into(), string("smollm")),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), Value::Array(vec![string("h i"), string("Ġ hi")])),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.padding_token_id".into(), Value::U32(0)),
        ("tokenizer.chat_template".into(), string("{{ messages }}")),
    ]
}

/// The tiny model's tensors in the GGUF layout, and what each must load as (HF name, value).
fn tensors() -> Vec<(String, Tensor, String, Tensor)> {
    let mut out = Vec::new();
    let mut add = |gguf: &str, hf: &str, t: Tensor, heads: Option<usize>| {
        let stored = heads.map_or_else(|| t.clone(), |h| to_gguf_layout(&t, h));
        out.push((gguf.to_owned(), stored, hf.to_owned(), t));
    };
    add("token_embd.weight", "model.embed_tokens.weight", ramp(TOKENS.len(), HIDDEN, 0.5), None);
    add("output_norm.weight", "model.norm.weight", ramp(1, HIDDEN, 0.25).flatten_all().unwrap(), None);
    for b in 0..2 {
        let s = 1000.0 * (b + 1) as f32;
        let l = format!("model.layers.{b}");
        let mut blk = |g: &str, h: &str, t: Tensor, heads| {
            add(&format!("blk.{b}.{g}.weight"), &format!("{l}.{h}.weight"), t, heads)
        };
        blk("attn_norm", "input_layernorm", ramp(1, HIDDEN, s + 0.1).flatten_all().unwrap(), None);
        blk("attn_q", "self_attn.q_proj", ramp(HIDDEN, HIDDEN, s + 0.2), Some(HEADS));
        blk("attn_k", "self_attn.k_proj", ramp(KV_HEADS * HEAD_DIM, HIDDEN, s + 0.3), Some(KV_HEADS));
        blk("attn_v", "self_attn.v_proj", ramp(KV_HEADS * HEAD_DIM, HIDDEN, s + 0.4), None);
        blk("attn_output", "self_attn.o_proj", ramp(HIDDEN, HIDDEN, s + 0.5), None);
        blk("ffn_norm", "post_attention_layernorm", ramp(1, HIDDEN, s + 0.6).flatten_all().unwrap(), None);
        blk("ffn_gate", "mlp.gate_proj", ramp(FFN, HIDDEN, s + 0.7), None);
        blk("ffn_up", "mlp.up_proj", ramp(FFN, HIDDEN, s + 0.8), None);
        blk("ffn_down", "mlp.down_proj", ramp(HIDDEN, FFN, s + 0.9), None);
    }
    out
}

/// Writes the tiny GGUF (architecture `arch`, plus `extra` tensors) into `dir`.
fn write(dir: &Path, arch: &str, extra: &[(&str, Tensor)]) -> PathBuf {
    let path = dir.join("tiny.gguf");
    let meta = metadata(arch);
    let mut qs: Vec<(String, QTensor)> =
        tensors().into_iter().map(|(g, t, _, _)| (g, QTensor::quantize(&t, GgmlDType::F32).unwrap())).collect();
    qs.extend(extra.iter().map(|(n, t)| ((*n).to_owned(), QTensor::quantize(t, GgmlDType::F32).unwrap())));
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let q_refs: Vec<(&str, &QTensor)> = qs.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(&path).unwrap();
    gguf_file::write(&mut f, &meta_refs, &q_refs).unwrap();
    path
}

#[test]
fn the_inverse_permutation_restores_hugging_face_rows() {
    // 2 heads of 4 rows: HF rows (head, half, j) = 0..8; GGUF interleaves the two halves.
    let hf = ramp(8, 1, 0.0);
    let gguf = to_gguf_layout(&hf, 2);
    let rows: Vec<f32> = gguf.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(rows, [0.0, 200.0, 100.0, 300.0, 400.0, 600.0, 500.0, 700.0]);
    assert_eq!(unpermute_qk(&gguf, 2).unwrap().to_vec2::<f32>().unwrap(), hf.to_vec2::<f32>().unwrap());
    let e = unpermute_qk(&ramp(6, 2, 0.0), 2).err().unwrap();
    assert!(e.contains("6 rows do not split into 2 heads"), "{e}");
}

#[test]
fn tensors_are_renamed_and_q_k_rows_put_in_hf_layout() {
    let dir = tempfile::tempdir().unwrap();
    let m = load(&write(dir.path(), "llama", &[]), &Device::Cpu, None).unwrap();
    let expected = tensors();
    assert_eq!(m.tensors.len(), expected.len());
    for (gguf, stored, hf, want) in expected {
        let got = &m.tensors[&hf];
        assert_eq!(got.dims(), want.dims(), "{hf}");
        let (got, want) = (
            got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_eq!(got, want, "{gguf} -> {hf}");
        if gguf.contains("attn_q") || gguf.contains("attn_k") {
            assert_ne!(stored.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want, "{gguf} is stored permuted");
        }
    }
    // Only the first block.
    let dir2 = tempfile::tempdir().unwrap();
    let m = load(&write(dir2.path(), "llama", &[]), &Device::Cpu, Some(1)).unwrap();
    assert_eq!(m.tensors.len(), 2 + 9);
    assert!(m.tensors.keys().all(|k| !k.starts_with("model.layers.1.")));
}

#[test]
fn config_and_tokenizer_come_from_the_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let m = load(&write(dir.path(), "llama", &[]), &Device::Cpu, None).unwrap();
    let c = &m.config;
    assert_eq!((c.vocab_size, c.hidden_size, c.intermediate_size, c.num_hidden_layers), (9, 8, 6, 2));
    assert_eq!((c.num_attention_heads, c.kv_heads(), c.head_dim()), (2, 1, 4));
    assert_eq!((c.rms_norm_eps, c.rope_theta, c.max_position_embeddings), (1e-5, 100_000.0, 64));
    assert!(c.tie_word_embeddings);
    assert_eq!((c.bos_token_id, c.eos_token_id.clone()), (Some(1), Some(TokenIds::One(2))));
    let t = &m.tokenizer;
    assert_eq!(t.encode("hi hi1", false).unwrap(), [6, 7, 8]);
    assert_eq!(t.encode("<|im_start|>hi<|im_end|>", false).unwrap(), [1, 6, 2]);
    assert_eq!(t.encode("hi", true).unwrap(), [6], "no BOS unless tokenizer.ggml.add_bos_token");
    assert_eq!(t.decode(&[1, 6, 7, 8, 2], false).unwrap(), "<|im_start|>hi hi1<|im_end|>");
    assert_eq!(t.decode(&[1, 6, 7, 2], true).unwrap(), "hi hi");
    assert_eq!((t.bos.clone(), t.eos.clone(), t.pad), (Some(("<|im_start|>".into(), 1)), ("<|im_end|>".into(), 2), 0));
    assert_eq!(t.chat_template.as_deref(), Some("{{ messages }}"));
}

#[test]
fn an_untied_output_is_lm_head() {
    let dir = tempfile::tempdir().unwrap();
    let out = ramp(TOKENS.len(), HIDDEN, 0.75);
    let m = load(&write(dir.path(), "llama", &[("output.weight", out.clone())]), &Device::Cpu, Some(0)).unwrap();
    assert!(!m.config.tie_word_embeddings);
    assert_eq!(m.tensors["lm_head.weight"].to_vec2::<f32>().unwrap(), out.to_vec2::<f32>().unwrap());
}

#[test]
fn other_architectures_unknown_tensors_and_types_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(&write(dir.path(), "qwen2", &[]), &Device::Cpu, None).err().unwrap().to_string();
    assert!(
        e.contains("tiny.gguf: architecture `qwen2` (general.architecture) is not supported; supported: llama"),
        "{e}"
    );

    let path = write(dir.path(), "llama", &[("blk.0.attn_qkv.weight", ramp(2, 2, 0.0))]);
    let e = load(&path, &Device::Cpu, None).err().unwrap().to_string();
    assert!(e.contains("tensor `blk.0.attn_qkv.weight` is not a llama tensor; the known ones are token_embd"), "{e}");

    // The tensor's type id (after its name, rank and dims) set to IQ2_XXS (16).
    let path = write(dir.path(), "llama", &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    let name = b"blk.1.ffn_up.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4 + 2 * 8;
    assert_eq!(bytes[at..at + 4], [0, 0, 0, 0], "F32");
    bytes[at] = 16;
    std::fs::write(&path, &bytes).unwrap();
    let e = GgufFile::open(&path).err().unwrap().to_string();
    assert!(
        e.contains("tensor `blk.1.ffn_up.weight` has GGML type IQ2_XXS (16), which cannot be dequantized; supported types: F32, F16, BF16, Q4_0"),
        "{e}"
    );

    std::fs::write(&path, b"GGUF garbage").unwrap();
    let e = GgufFile::open(&path).err().unwrap().to_string();
    assert!(e.contains("tiny.gguf: not a GGUF file candle can read"), "{e}");
}

#[test]
fn unsupported_tokenizers_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = GgufFile::open(&write(dir.path(), "llama", &[])).unwrap();
    let mut content = f;
    content.content.metadata.insert("tokenizer.ggml.pre".into(), string("qwen2"));
    let e = content.tokenizer().err().unwrap().to_string();
    assert!(e.contains("tokenizer.ggml.pre `qwen2` is not supported; supported: smollm, gpt2"), "{e}");
    content.content.metadata.insert("tokenizer.ggml.model".into(), string("llama"));
    let e = content.tokenizer().err().unwrap().to_string();
    assert!(e.contains("tokenizer.ggml.model `llama` (a SentencePiece tokenizer) is not supported yet"), "{e}");
}

#[test]
fn add_bos_token_adds_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = GgufFile::open(&write(dir.path(), "llama", &[])).unwrap();
    f.content.metadata.insert("tokenizer.ggml.add_bos_token".into(), Value::Bool(true));
    let t = f.tokenizer().unwrap();
    assert_eq!(t.encode("hi hi", true).unwrap(), [1, 6, 7]);
    assert_eq!(t.encode("hi hi", false).unwrap(), [6, 7]);
}

#[test]
fn every_supported_pre_tokenizer_builds() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = GgufFile::open(&write(dir.path(), "llama", &[])).unwrap();
    for pre in SUPPORTED_PRE {
        f.content.metadata.insert("tokenizer.ggml.pre".into(), string(pre));
        let t = f.tokenizer().unwrap();
        assert_eq!(t.encode("hi hi", false).unwrap(), [6, 7], "{pre}");
        // "Ġ1" is no token here: a space then a digit is two tokens.
        let digits = t.encode(" 1", false).unwrap();
        assert_eq!(digits, [5, 8], "{pre}");
    }
}

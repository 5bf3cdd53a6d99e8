//! The GGUF loader on the real SmolLM2-135M-Instruct (Q4_1, from the pinned test assets): the
//! tokenizer rebuilt from its metadata against transformers' token ids
//! (`tests/data/smollm2_reference.json`), its Hugging Face export round trip, the config, and
//! dequantized tensors against values the Python `gguf` package gives (Q/K rows un-permuted as
//! transformers does).
#![cfg(feature = "hub")]

use std::path::PathBuf;

use candle_core::Device;
use trainer::lm_tokenizer::LmTokenizer;
use trainer::model::gguf::{self, GgufFile};
use trainer::model::llama::TokenIds;

fn gguf_path() -> PathBuf {
    std::env::var_os("ASSETS_DIR")
        .map_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets")), PathBuf::from)
        .join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// `(text, ids)` of the reference file's `tokens`.
fn reference_tokens() -> Vec<(String, Vec<u32>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/smollm2_reference.json");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    r["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let ids = t["ids"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect();
            (t["text"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

fn check_reference_ids(t: &LmTokenizer) {
    for (text, ids) in reference_tokens() {
        assert_eq!(t.encode(&text, true).unwrap(), ids, "{text:?}");
        assert_eq!(t.encode(&text, false).unwrap(), ids, "{text:?}");
        assert_eq!(t.decode(&ids, false).unwrap(), text);
    }
}

#[test]
#[ignore = "needs scripts/fetch-assets.sh (SmolLM2-135M-Instruct GGUF)"]
fn tokenizer_matches_transformers_and_survives_a_hugging_face_round_trip() {
    let file = GgufFile::open(&gguf_path()).unwrap();
    let t = file.tokenizer().unwrap();
    check_reference_ids(&t);
    assert_eq!(t.vocab_size(), 49152);
    assert_eq!((t.bos.clone(), t.eos.clone(), t.pad), (Some(("<|im_start|>".into(), 1)), ("<|im_end|>".into(), 2), 2));
    let template = t.chat_template.clone().unwrap();
    assert!(template.contains("<|im_start|>") && template.contains("add_generation_prompt"), "{template}");
    assert_eq!(t.decode(&[1, 4093, 198, 2], true).unwrap(), "user\n", "special tokens skipped");

    let dir = tempfile::tempdir().unwrap();
    t.save_hf(dir.path(), 8192).unwrap();
    let back = LmTokenizer::from_hf_dir(dir.path()).unwrap();
    check_reference_ids(&back);
    assert_eq!((back.bos, back.eos, back.pad, back.chat_template), (t.bos, t.eos, t.pad, t.chat_template));
}

#[test]
#[ignore = "needs scripts/fetch-assets.sh (SmolLM2-135M-Instruct GGUF)"]
fn config_and_tensors_of_the_first_block() {
    let m = gguf::load(&gguf_path(), &Device::Cpu, Some(1)).unwrap();
    let c = &m.config;
    assert_eq!((c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.vocab_size), (30, 576, 1536, 49152));
    assert_eq!((c.num_attention_heads, c.kv_heads(), c.head_dim()), (9, 3, 64));
    assert_eq!((c.rope_theta, c.rms_norm_eps, c.max_position_embeddings), (100_000.0, 1e-5, 8192));
    assert!(c.tie_word_embeddings);
    assert_eq!((c.bos_token_id, c.eos_token_id.clone()), (Some(1), Some(TokenIds::One(2))));

    // The embeddings, final norm and block 0 (4 norms/projections of attention, 3 MLP, 2 norms).
    let mut names: Vec<&String> = m.tensors.keys().collect();
    names.sort();
    assert_eq!(names.len(), 2 + 9, "{names:?}");
    assert!(!m.tensors.contains_key("lm_head.weight"));
    let row = |name: &str, r: usize| m.tensors[name].get(r).unwrap().narrow(0, 0, 3).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(m.tensors["model.embed_tokens.weight"].dims(), [49152, 576]);
    assert_eq!(m.tensors["model.layers.0.self_attn.k_proj.weight"].dims(), [192, 576]);
    // From the `gguf` package's dequantize, then transformers' reverse permutation.
    let q = "model.layers.0.self_attn.q_proj.weight";
    assert_eq!(row(q, 1), [-0.159_179_69, 0.397_949_22, -0.019_897_461]);
    assert_eq!(row(q, 32), [-0.117_309_57, -0.117_309_57, -0.192_810_06]);
    assert_eq!(row(q, 100), [-0.082_153_32, -0.082_153_32, -0.445_312_5]);
    let k = "model.layers.0.self_attn.k_proj.weight";
    assert_eq!(row(k, 5), [0.055_664_063, 0.189_208_98, -0.077_880_86]);
    assert_eq!(row(k, 40), [-0.343_75, -0.183_593_75, -0.343_75]);
    assert_eq!(row(k, 191), [0.015_869_14, -0.434_204_1, 0.015_869_14]);
    let e = row("model.embed_tokens.weight", 7042);
    let want = [-0.091_886_52, -0.053_294_18, 0.009_188_652];
    assert!(e.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-7), "{e:?}");
    let norm = m.tensors["model.layers.0.input_layernorm.weight"].narrow(0, 0, 3).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(norm, [0.013_977_051, 0.023_803_711, -0.019_775_39]);
}

//! The pretrained loading path on the real all-MiniLM-L6-v2 (from the pinned test assets, laid
//! out as a Hugging Face cache, read offline): golden sentence embeddings, the trainable encoder
//! against candle-transformers' BertModel, and the names of the variables it creates.

use std::path::PathBuf;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use trainer::data::Inputs;
use trainer::data::text::{Encoded, pad_batch};
use trainer::hub::{CacheDir, Downloads, Offline};
use trainer::model::bert::{self, BertClassifier, BertClassifierConfig};
use trainer::rng::Rng;

fn assets() -> PathBuf {
    std::env::var_os("ASSETS_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets"), PathBuf::from)
}

fn cache() -> CacheDir {
    CacheDir { path: assets().join("hf/hub"), from: "HF_HUB_CACHE" }
}

fn config(extra: &str) -> BertClassifierConfig {
    serde_saphyr::from_str(&format!("{{hub: sentence-transformers/all-MiniLM-L6-v2, num_labels: 2{extra}}}")).unwrap()
}

/// Mean-pooled, L2-normalised embeddings of `texts`, batched together (so padded).
fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    let c = config("");
    let prepared = bert::prepare_in(&c, &cache(), Downloads::Off(Offline::Config)).unwrap();
    let model =
        BertClassifier::load(&c, prepared.files.as_ref().unwrap(), &VarMap::new(), &mut Rng::new(0), &Device::Cpu)
            .unwrap();
    let encoder = prepared.encoder.unwrap();
    let encoded: Vec<Encoded> = encoder.encode(&texts.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap();
    let Inputs::Tokens { ids, type_ids, mask } =
        pad_batch(&encoded.iter().collect::<Vec<_>>(), encoder.pad(), &Device::Cpu).unwrap()
    else {
        panic!("tokens")
    };
    let pooled = model.pooled(&ids, &type_ids, &mask, false, &mut Rng::new(0)).unwrap();
    let norm = pooled.sqr().unwrap().sum_keepdim(D::Minus1).unwrap().sqrt().unwrap();
    let unit: Tensor = pooled.broadcast_div(&norm).unwrap();
    unit.to_vec2().unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh"]
fn minilm_sentence_embeddings_match_the_reference() {
    let texts =
        ["The cat sits outside", "A kitten is sitting outdoors", "The new movie is awesome", "The film was great"];
    let e = embed(&texts);
    let want = [0.13919f32, 0.00303, 0.04701, 0.03957, -0.04800];
    for (i, (got, want)) in e[0].iter().zip(want).enumerate() {
        assert!((got - want).abs() < 1e-4, "component {i}: {got} vs {want}");
    }
    assert!((cosine(&e[0], &e[1]) - 0.793).abs() < 1e-3, "{}", cosine(&e[0], &e[1]));
    assert!((cosine(&e[2], &e[3]) - 0.664).abs() < 1e-3, "{}", cosine(&e[2], &e[3]));
    // Padding changes nothing: the first sentence alone gives the same vector.
    let alone = embed(&texts[..1]);
    assert!(alone[0].iter().zip(&e[0]).all(|(a, b)| (a - b).abs() < 1e-5));
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh"]
fn a_truncated_encoder_takes_the_first_layers_under_their_hugging_face_names() {
    let c = config(", num_hidden_layers: 2, max_len: 64");
    let prepared = bert::prepare_in(&c, &cache(), Downloads::Off(Offline::Config)).unwrap();
    let files = prepared.files.unwrap();
    assert!(files.origin.starts_with("sentence-transformers/all-MiniLM-L6-v2@"), "{}", files.origin);
    let varmap = VarMap::new();
    let model = BertClassifier::load(&c, &files, &varmap, &mut Rng::new(0), &Device::Cpu).unwrap();
    assert_eq!((model.layers(), model.hidden_size()), (2, 384));
    let mut names: Vec<String> = varmap.data().lock().unwrap().keys().cloned().collect();
    names.sort();
    assert_eq!(names.iter().filter(|n| n.starts_with("embeddings.")).count(), 5);
    assert_eq!(names.iter().filter(|n| n.starts_with("encoder.layer.0.")).count(), 16);
    assert_eq!(names.iter().filter(|n| n.starts_with("encoder.layer.1.")).count(), 16);
    assert!(!names.iter().any(|n| n.starts_with("encoder.layer.2.") || n.starts_with("pooler.")));
    assert!(names.contains(&"classifier.weight".to_owned()) && names.contains(&"classifier.bias".to_owned()));
    assert_eq!(names.len(), 5 + 32 + 2);
    // Every encoder name is the weights file's own name.
    let bytes = std::fs::read(files.get("model.safetensors").unwrap()).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let in_file: Vec<String> = file.names().into_iter().map(str::to_owned).collect();
    for n in names.iter().filter(|n| !n.starts_with("classifier.")) {
        assert!(in_file.contains(n), "{n} is not a name of the weights file");
    }
    let bad = bert::prepare_in(&config(", max_len: 1000"), &cache(), Downloads::Off(Offline::Config))
        .err()
        .unwrap()
        .to_string();
    assert!(bad.starts_with("model.max_len: 1000 is longer than the model's 512 positions"), "{bad}");
    let bad = bert::prepare_in(&config(", num_hidden_layers: 7"), &cache(), Downloads::Off(Offline::Config))
        .err()
        .unwrap()
        .to_string();
    assert!(bad.starts_with("model.num_hidden_layers: 7 layers asked, but the model has 6"), "{bad}");
}

#[test]
#[ignore = "needs assets: run scripts/fetch-assets.sh"]
fn the_trainable_encoder_computes_what_candle_transformers_bert_computes() {
    use candle_transformers::models::bert as reference;
    use trainer::model::bert_encoder::{BertConfig, BertEncoder};
    let snapshot = assets().join(
        "hf/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/0000000000000000000000000000000000a11313",
    );
    let config_text = std::fs::read_to_string(snapshot.join("config.json")).unwrap();
    let weights = std::fs::read(snapshot.join("model.safetensors")).unwrap();
    let vb = || VarBuilder::from_buffered_safetensors(weights.clone(), DType::F32, &Device::Cpu).unwrap();
    let ours = BertEncoder::load(&serde_json::from_str::<BertConfig>(&config_text).unwrap(), vb()).unwrap();
    let theirs =
        reference::BertModel::load(vb(), &serde_json::from_str::<reference::Config>(&config_text).unwrap()).unwrap();
    let ids =
        Tensor::new(&[[101u32, 1996, 4937, 7719, 2648, 102], [101, 1037, 10901, 102, 0, 0]], &Device::Cpu).unwrap();
    let types = ids.zeros_like().unwrap();
    let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], &Device::Cpu).unwrap();
    let a = ours.forward(&ids, &types, &mask, false, &mut Rng::new(0)).unwrap();
    let b = theirs.forward(&ids, &types, Some(&mask)).unwrap();
    let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-4, "max |ours − candle-transformers| = {diff}");
}

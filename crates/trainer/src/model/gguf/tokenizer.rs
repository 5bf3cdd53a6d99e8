//! The tokenizer a GGUF file describes (`tokenizer.ggml.*`), rebuilt as the `tokenizer.json`
//! the original model shipped: byte-level BPE with its pre-tokenizer, special tokens and chat
//! template.

use serde_json::{Value as Json, json};
use tokenizers::Tokenizer;

use super::meta::Meta;
use crate::lm_tokenizer::LmTokenizer;
use crate::model::ModelError;

/// `tokenizer.ggml.model` values that are supported.
pub const SUPPORTED_MODELS: &[&str] = &["gpt2"];

/// `tokenizer.ggml.pre` values that are supported.
pub const SUPPORTED_PRE: &[&str] = &["smollm", "gpt2", "default", "llama-bpe", "llama3"];

/// `token_type` of a control token (a special added token).
const CONTROL: i128 = 3;
/// `token_type` of a user-defined token (an added, non-special token).
const USER_DEFINED: i128 = 4;

/// Llama 3's split regex (its `tokenizer.json`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn byte_level(add_prefix_space: bool, use_regex: bool) -> Json {
    json!({"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": true, "use_regex": use_regex})
}

/// The pre-tokenizer of `tokenizer.ggml.pre`.
fn pre_tokenizer(meta: &Meta, pre: &str, add_prefix_space: bool) -> Result<Json, ModelError> {
    Ok(match pre {
        // As transformers reads a GGUF (`GGUFGPTConverter`: GPT-2's byte-level split), which the
        // reference values are computed with. SmolLM2's own tokenizer.json (and llama.cpp) split
        // digits first; the two differ only where whitespace precedes a digit ("\n\n1": two
        // `\n` tokens here, one `\n\n` there).
        "smollm" | "gpt2" | "default" => byte_level(add_prefix_space, true),
        "llama-bpe" | "llama3" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": false},
            byte_level(add_prefix_space, false)]}),
        other => {
            return Err(meta.error(format!(
                "tokenizer.ggml.pre `{other}` is not supported; supported: {}",
                SUPPORTED_PRE.join(", ")
            )));
        }
    })
}

/// The post-processor: the BOS and/or EOS `(text, id)` the model wants around each text, if any.
fn post_processor(bos: Option<(&str, u32)>, eos: Option<(&str, u32)>) -> Json {
    if bos.is_none() && eos.is_none() {
        return Json::Null;
    }
    let specials: serde_json::Map<String, Json> = [bos, eos]
        .into_iter()
        .flatten()
        .map(|(t, id)| (t.to_owned(), json!({"id": t, "ids": [id], "tokens": [t]})))
        .collect();
    let template = |seq: &str, type_id: u32| -> Vec<Json> {
        let special = |t: Option<(&str, u32)>| t.map(|(t, _)| json!({"SpecialToken": {"id": t, "type_id": type_id}}));
        special(bos)
            .into_iter()
            .chain([json!({"Sequence": {"id": seq, "type_id": type_id}})])
            .chain(special(eos))
            .collect()
    };
    let single = template("A", 0);
    let pair: Vec<Json> = single.iter().cloned().chain(template("B", 1)).collect();
    json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
}

/// The `tokenizer.json` of the file's tokenizer (tokens' ids filled in by the caller).
fn tokenizer_json(meta: &Meta, tokens: &[&str]) -> Result<Json, ModelError> {
    let types = meta.opt_ints("tokenizer.ggml.token_type")?.unwrap_or_default();
    let merges = meta
        .strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ').map(|(a, b)| json!([a, b])).ok_or_else(|| {
                meta.error(format!("tokenizer.ggml.merges: `{m}` is not two tokens separated by a space"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let vocab: serde_json::Map<String, Json> =
        tokens.iter().enumerate().map(|(i, t)| ((*t).to_owned(), json!(i))).collect();
    let added: Vec<Json> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == CONTROL || **t == USER_DEFINED)
        .filter_map(|(i, t)| tokens.get(i).map(|tok| (i, tok, *t == CONTROL)))
        .map(|(i, tok, special)| {
            json!({"id": i, "content": tok, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": special})
        })
        .collect();
    let add_prefix_space = meta.opt_bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(false);
    let pre = pre_tokenizer(meta, meta.opt_str("tokenizer.ggml.pre")?.unwrap_or("default"), add_prefix_space)?;
    let added_special = |id_key: &str, add_key: &str| -> Result<Option<(&str, u32)>, ModelError> {
        if meta.opt_bool(add_key)? != Some(true) {
            return Ok(None);
        }
        Ok(meta.opt_id(id_key)?.and_then(|id| tokens.get(id as usize).map(|t| (*t, id))))
    };
    let bos = added_special("tokenizer.ggml.bos_token_id", "tokenizer.ggml.add_bos_token")?;
    let eos = added_special("tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_eos_token")?;
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre,
        "post_processor": post_processor(bos, eos),
        "decoder": byte_level(true, true),
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    }))
}

/// The special token `key` names: `(text, id)`.
fn special(meta: &Meta, tokens: &[&str], key: &str) -> Result<Option<(String, u32)>, ModelError> {
    let Some(id) = meta.opt_id(key)? else { return Ok(None) };
    let text = tokens
        .get(id as usize)
        .ok_or_else(|| meta.error(format!("metadata `{key}` is {id}, past the {} tokens", tokens.len())))?;
    Ok(Some(((*text).to_owned(), id)))
}

/// The tokenizer of the file's metadata.
pub(super) fn build(meta: &Meta) -> Result<LmTokenizer, ModelError> {
    match meta.str("tokenizer.ggml.model")? {
        "gpt2" => {}
        "llama" => {
            return Err(meta.error(format!(
                "tokenizer.ggml.model `llama` (a SentencePiece tokenizer) is not supported yet; supported: {}",
                SUPPORTED_MODELS.join(", ")
            )));
        }
        other => {
            return Err(meta.error(format!(
                "tokenizer.ggml.model `{other}` is not supported; supported: {}",
                SUPPORTED_MODELS.join(", ")
            )));
        }
    }
    let tokens = meta.strings("tokenizer.ggml.tokens")?;
    let json = tokenizer_json(meta, &tokens)?;
    let inner: Tokenizer = serde_json::from_value(json)
        .map_err(|e| meta.error(format!("cannot build its tokenizer from `tokenizer.ggml.*`: {e}")))?;
    let eos = special(meta, &tokens, "tokenizer.ggml.eos_token_id")?
        .ok_or_else(|| meta.error("metadata `tokenizer.ggml.eos_token_id` is missing"))?;
    let bos = special(meta, &tokens, "tokenizer.ggml.bos_token_id")?;
    let pad = special(meta, &tokens, "tokenizer.ggml.padding_token_id")?.map_or(eos.1, |(_, id)| id);
    let template = meta.opt_str("tokenizer.chat_template")?.map(str::to_owned);
    Ok(LmTokenizer::new(inner, bos, eos, pad, template))
}

//! An [`LmTokenizer`] read from, or written as, a Hugging Face model folder: `tokenizer.json`
//! plus `tokenizer_config.json` (special tokens, `chat_template`), the pair
//! `transformers.AutoTokenizer.from_pretrained(dir)` loads.

use std::path::Path;

use serde_json::{Value, json};
use tokenizers::Tokenizer;

use super::LmTokenizer;
use crate::model::ModelError;

fn file_error(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::File { path: path.to_owned(), message: message.into() }
}

/// A special token of `tokenizer_config.json`: a string, `{"content": …}`, or absent/null.
fn token_text(config: &Value, key: &str) -> Option<String> {
    match config.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// `chat_template` of `tokenizer_config.json`: a string, or a list of `{name, template}` (the
/// one named `default`, else the first).
fn chat_template(config: &Value) -> Option<String> {
    match config.get("chat_template")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => {
            let named = |n: &Value| n.get("name").and_then(Value::as_str) == Some("default");
            let pick = list.iter().find(|t| named(t)).or_else(|| list.first())?;
            pick.get("template").and_then(Value::as_str).map(str::to_owned)
        }
        _ => None,
    }
}

fn write(path: &Path, text: &str) -> Result<(), ModelError> {
    std::fs::write(path, text).map_err(|e| file_error(path, format!("cannot write: {e}")))
}

impl LmTokenizer {
    /// Reads a Hugging Face model folder's `tokenizer.json` and `tokenizer_config.json` (and its
    /// `chat_template.jinja`, which newer `transformers` write instead of the config's
    /// `chat_template`, when present).
    pub fn from_hf_dir(dir: &Path) -> Result<Self, ModelError> {
        let mut t = Self::from_hf_files(&dir.join("tokenizer.json"), &dir.join("tokenizer_config.json"))?;
        let jinja = dir.join("chat_template.jinja");
        if jinja.is_file() {
            let text = std::fs::read_to_string(&jinja).map_err(|e| file_error(&jinja, format!("cannot read: {e}")))?;
            t.chat_template = Some(text);
        }
        Ok(t)
    }

    /// Reads `tokenizer.json` and `tokenizer_config.json`: its `bos_token`, `eos_token` (needed)
    /// and `pad_token` (default: the EOS), as strings or `{"content": …}`, and its
    /// `chat_template`.
    pub fn from_hf_files(tokenizer_json: &Path, tokenizer_config: &Path) -> Result<Self, ModelError> {
        let inner = Tokenizer::from_file(tokenizer_json)
            .map_err(|e| file_error(tokenizer_json, format!("not a valid tokenizer.json: {e}")))?;
        let text = std::fs::read_to_string(tokenizer_config)
            .map_err(|e| file_error(tokenizer_config, format!("cannot read: {e}")))?;
        let config: Value =
            serde_json::from_str(&text).map_err(|e| file_error(tokenizer_config, format!("not valid JSON: {e}")))?;
        let special = |key: &str| -> Result<Option<(String, u32)>, ModelError> {
            let Some(t) = token_text(&config, key) else { return Ok(None) };
            let id = inner.token_to_id(&t).ok_or_else(|| {
                file_error(
                    tokenizer_config,
                    format!("`{key}` is `{t}`, which is not a token of {}", tokenizer_json.display()),
                )
            })?;
            Ok(Some((t, id)))
        };
        let eos = special("eos_token")?
            .ok_or_else(|| file_error(tokenizer_config, "has no `eos_token` (the token that ends a text)"))?;
        let bos = special("bos_token")?;
        let pad = special("pad_token")?.map_or(eos.1, |(_, id)| id);
        let template = chat_template(&config);
        Ok(Self::new(inner, bos, eos, pad, template))
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` (`tokenizer_class:
    /// PreTrainedTokenizerFast`, the special tokens, `chat_template`, `model_max_length`) into
    /// `dir` (created if needed), so `transformers.AutoTokenizer.from_pretrained(dir)` loads it.
    pub fn save_hf(&self, dir: &Path, model_max_length: usize) -> Result<(), ModelError> {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, format!("cannot create: {e}")))?;
        let tokenizer_json = dir.join("tokenizer.json");
        let json =
            self.inner.to_string(true).map_err(|e| file_error(&tokenizer_json, format!("cannot serialize: {e}")))?;
        write(&tokenizer_json, &json)?;
        let pad = self.inner.id_to_token(self.pad).unwrap_or_else(|| self.eos.0.clone());
        let mut config = json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": self.bos.as_ref().map(|(t, _)| t),
            "eos_token": self.eos.0,
            "pad_token": pad,
            "model_max_length": model_max_length,
            "clean_up_tokenization_spaces": false,
        });
        if let (Some(t), Some(o)) = (&self.chat_template, config.as_object_mut()) {
            o.insert("chat_template".into(), Value::String(t.clone()));
        }
        let config_path = dir.join("tokenizer_config.json");
        let text = serde_json::to_string_pretty(&config).map_err(|e| file_error(&config_path, e.to_string()))?;
        write(&config_path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(dir: &Path) {
        let json = r#"{"version": "1.0", "truncation": null, "padding": null,
            "added_tokens": [{"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                             {"id": 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
            "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
            "post_processor": null, "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
                      "fuse_unk": false, "byte_fallback": false, "vocab": {"<s>": 0, "</s>": 1, "a": 2, "b": 3, "ab": 4, "Ġ": 5}, "merges": ["a b"]}}"#;
        std::fs::write(dir.join("tokenizer.json"), json).unwrap();
    }

    #[test]
    fn special_tokens_as_strings_or_objects_and_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        let config = r#"{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null,
                         "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}"#;
        std::fs::write(dir.path().join("tokenizer_config.json"), config).unwrap();
        let t = LmTokenizer::from_hf_dir(dir.path()).unwrap();
        assert_eq!((t.bos.clone(), t.eos.clone(), t.pad), (Some(("<s>".into(), 0)), ("</s>".into(), 1), 1));
        assert_eq!(t.chat_template.as_deref(), Some("D"));
        assert_eq!(t.encode("<s>ab a</s>", false).unwrap(), [0, 4, 5, 2, 1]);

        let out = dir.path().join("saved");
        t.save_hf(&out, 2048).unwrap();
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("tokenizer_config.json")).unwrap()).unwrap();
        assert_eq!(config["tokenizer_class"], "PreTrainedTokenizerFast");
        assert_eq!(
            (&config["bos_token"], &config["eos_token"], &config["pad_token"]),
            (&json!("<s>"), &json!("</s>"), &json!("</s>"))
        );
        assert_eq!((&config["model_max_length"], &config["chat_template"]), (&json!(2048), &json!("D")));
        let back = LmTokenizer::from_hf_dir(&out).unwrap();
        assert_eq!(back.encode("<s>ab a</s>", false).unwrap(), [0, 4, 5, 2, 1]);
        assert_eq!((back.bos, back.eos, back.pad, back.chat_template), (t.bos, t.eos, t.pad, t.chat_template));

        std::fs::write(out.join("chat_template.jinja"), "J").unwrap();
        assert_eq!(LmTokenizer::from_hf_dir(&out).unwrap().chat_template.as_deref(), Some("J"));
    }

    #[test]
    fn missing_or_unknown_special_tokens_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        let config = dir.path().join("tokenizer_config.json");
        std::fs::write(&config, r#"{"bos_token": "<s>"}"#).unwrap();
        let e = LmTokenizer::from_hf_dir(dir.path()).err().unwrap().to_string();
        assert!(e.contains("tokenizer_config.json: has no `eos_token`"), "{e}");
        std::fs::write(&config, r#"{"eos_token": "<|end|>"}"#).unwrap();
        let e = LmTokenizer::from_hf_dir(dir.path()).err().unwrap().to_string();
        assert!(e.contains("tokenizer_config.json: `eos_token` is `<|end|>`, which is not a token of"), "{e}");
        std::fs::remove_file(&config).unwrap();
        let e = LmTokenizer::from_hf_dir(dir.path()).err().unwrap().to_string();
        assert!(e.contains("tokenizer_config.json: cannot read"), "{e}");
        std::fs::write(dir.path().join("tokenizer.json"), "{").unwrap();
        let e = LmTokenizer::from_hf_dir(dir.path()).err().unwrap().to_string();
        assert!(e.contains("tokenizer.json: not a valid tokenizer.json"), "{e}");
    }
}

//! The model's tokenizer, from its `tokenizer.json` (the `tokenizers` crate): special tokens
//! added, truncated to `max_len`, never padded by the tokenizer itself (the shipped files of
//! many models pad every text to a fixed length, e.g. 128): batches are padded to their longest
//! sequence instead (see [`crate::data::text::pad_batch`]).

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams};

use crate::data::text::Encoded;
use crate::data::{DataError, TextEncoder};

/// A `tokenizer.json` tokenizer with truncation to `max_len` and no padding.
pub struct TextTokenizer {
    inner: Tokenizer,
    pad: (u32, u32),
    max_len: usize,
}

impl TextTokenizer {
    /// Loads `path`; texts are truncated to `max_len` tokens (special tokens included). The
    /// padding token is the file's own (`padding.pad_id`), else `[PAD]`, else `fallback_pad`
    /// (the model config's `pad_token_id`).
    pub fn from_file(path: &Path, max_len: usize, fallback_pad: u32) -> Result<Self, String> {
        let mut inner = Tokenizer::from_file(path)
            .map_err(|e| format!("{} is not a tokenizer file the tokenizers crate reads: {e}", path.display()))?;
        let pad = match inner.get_padding() {
            Some(p) => (p.pad_id, p.pad_type_id),
            None => (inner.token_to_id("[PAD]").unwrap_or(fallback_pad), 0),
        };
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams { max_length: max_len, ..TruncationParams::default() }))
            .map_err(|e| format!("{}: cannot truncate to {max_len} tokens: {e}", path.display()))?;
        Ok(Self { inner, pad, max_len })
    }

    /// The truncation length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

impl TextEncoder for TextTokenizer {
    fn encode(&self, texts: &[String]) -> Result<Vec<Encoded>, DataError> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings =
            self.inner.encode_batch(inputs, true).map_err(|e| DataError::Invalid(format!("tokenizing: {e}")))?;
        Ok(encodings
            .into_iter()
            .map(|e| Encoded { ids: e.get_ids().to_vec(), type_ids: e.get_type_ids().to_vec() })
            .collect())
    }

    fn pad(&self) -> (u32, u32) {
        self.pad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WordPiece tokenizer.json that pads and truncates to 24 tokens, like many shipped files.
    fn tiny() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/tiny-bert/tokenizer.json")
    }

    #[test]
    fn the_files_fixed_padding_is_off_and_truncation_is_max_len() {
        let t = TextTokenizer::from_file(&tiny(), 5, 0).unwrap();
        assert_eq!((t.pad(), t.max_len()), ((0, 0), 5));
        let e = t.encode(&["This movie was GREAT!".to_owned(), "good".to_owned()]).unwrap();
        // [CLS] this movie was [SEP]: truncated to 5 with the special tokens kept; not padded.
        assert_eq!(e[0].ids, [2, 14, 6, 11, 3]);
        assert_eq!(e[1].ids, [2, 18, 3]);
        assert_eq!(e[1].type_ids, [0, 0, 0]);
        let long =
            TextTokenizer::from_file(&tiny(), 64, 0).unwrap().encode(&["This movie was GREAT!".to_owned()]).unwrap();
        assert_eq!(long[0].ids.len(), 7, "no padding to the file's 24");
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        std::fs::write(&p, "{not json").unwrap();
        let e = TextTokenizer::from_file(&p, 8, 0).err().unwrap();
        assert!(e.contains("is not a tokenizer file the tokenizers crate reads"), "{e}");
    }
}

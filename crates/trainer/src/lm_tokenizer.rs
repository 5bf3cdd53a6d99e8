//! The tokenizer of a causal language model: a `tokenizers` tokenizer (from `tokenizer.json`,
//! or rebuilt from a GGUF file's metadata) with the model's special tokens and chat template;
//! read from and written to a Hugging Face model folder (`tokenizer.json` +
//! `tokenizer_config.json`).

mod hf;

use tokenizers::Tokenizer;

/// A causal LM's tokenizer, its special tokens and its chat template.
#[derive(Clone)]
pub struct LmTokenizer {
    inner: Tokenizer,
    /// Beginning-of-sequence token (text, id), when the model has one.
    pub bos: Option<(String, u32)>,
    /// End-of-sequence token (text, id): generation stops at it; text data puts it between
    /// documents.
    pub eos: (String, u32),
    /// Padding id.
    pub pad: u32,
    /// The Jinja chat template (`tokenizer.chat_template`), when the model has one.
    pub chat_template: Option<String>,
}

impl LmTokenizer {
    /// A tokenizer with its special tokens and chat template.
    pub fn new(
        inner: Tokenizer,
        bos: Option<(String, u32)>,
        eos: (String, u32),
        pad: u32,
        chat_template: Option<String>,
    ) -> Self {
        Self { inner, bos, eos, pad, chat_template }
    }

    /// The token ids of `text`; `special` adds the tokenizer's own special tokens (its
    /// post-processor), if it has any. Special-token texts inside `text` (`<|im_start|>`) are
    /// always their single ids.
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, String> {
        let e = self.inner.encode(text, special).map_err(|e| format!("tokenizing: {e}"))?;
        Ok(e.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens skipped when `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, String> {
        self.inner.decode(ids, skip_special).map_err(|e| format!("decoding: {e}"))
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The underlying `tokenizers` tokenizer (to save as `tokenizer.json`).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner
    }
}

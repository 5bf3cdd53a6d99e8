//! `data: {kind: text}`: plain UTF-8 text files for causal language modelling. Each file is a
//! document, tokenized without special tokens; the documents are joined with the EOS id between
//! them and cut into consecutive, non-overlapping blocks of `block_size` tokens (a short last
//! block is kept when it has at least 2 tokens). An example is one block; every position but
//! the last predicts the next id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rows::{self, PathList};
use super::{DataError, Dataset, Holdout, LoadContext};

/// `kind: text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LmTextConfig {
    /// The text file, or a list of files (each one document).
    pub path: PathList,
    /// Tokens per block (at most the model's context; default 256, or the model's context if
    /// shorter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<usize>,
    /// Held-out text file(s), cut into blocks the same way. Give at most one of `val_path`,
    /// `val_size` and `val_fraction` (default: `val_fraction` 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_path: Option<PathList>,
    /// Number of blocks of `path` held out for validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_size: Option<usize>,
    /// Fraction of the blocks of `path` held out for validation, in `(0, 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_fraction: Option<f64>,
    /// Seed of the train/validation split (default 0; independent of the run's `seed`).
    #[serde(default)]
    pub split_seed: u64,
}

/// `block_size` when the config gives none (or the model's context, if shorter).
#[cfg(feature = "hub")]
const DEFAULT_BLOCK_SIZE: usize = 256;

impl LmTextConfig {
    /// Problems found without reading the files.
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        let mut out = Vec::new();
        rows::check_paths(&mut out, "data.path", &self.path);
        out.extend(Holdout::issues(self.val_path.as_ref(), self.val_size, self.val_fraction));
        if self.block_size.is_some_and(|n| n < 2) {
            out.push(crate::FieldIssue::new("data.block_size", "must be >= 2 (a block predicts its next tokens)"));
        }
        out
    }
}

/// The length a length field (`data.block_size`, `data.max_len`) sets: the `given` one, which
/// must not be above the model's context `max_context`, else `default` or the context if shorter.
#[cfg(feature = "hub")]
pub(crate) fn max_len(
    given: Option<usize>,
    default: usize,
    field: &str,
    max_context: Option<usize>,
) -> Result<usize, DataError> {
    match (given, max_context) {
        (Some(value), Some(ctx)) if value > ctx => Err(DataError::field(
            field,
            format!("{value} is above the model's context of {ctx} tokens (max_position_embeddings)"),
        )),
        (Some(value), _) => Ok(value),
        (None, ctx) => Ok(ctx.map_or(default, |ctx| default.min(ctx))),
    }
}

/// Loads the data with the causal LM tokenizer of `ctx`.
pub(crate) fn load_with(c: &LmTextConfig, ctx: &LoadContext) -> Result<Box<dyn Dataset>, DataError> {
    #[cfg(feature = "hub")]
    {
        let tok = super::lm_tokenizer(ctx, "text")?;
        Ok(Box::new(load(c, tok, ctx.max_context)?))
    }
    #[cfg(not(feature = "hub"))]
    {
        let _ = (c, ctx);
        Err(super::needs_hub("text"))
    }
}

#[cfg(feature = "hub")]
pub use loading::load;

#[cfg(feature = "hub")]
mod loading {
    use std::path::Path;

    use super::super::causal::{self, CausalData, Sequence};
    use super::super::rows::PathList;
    use super::super::{DataError, Holdout};
    use super::{DEFAULT_BLOCK_SIZE, LmTextConfig, max_len};
    use crate::lm_tokenizer::LmTokenizer;

    /// Reads, tokenizes, packs and splits the text files; `max_context` (the model's) bounds
    /// `block_size`.
    pub fn load(c: &LmTextConfig, tok: &LmTokenizer, max_context: Option<usize>) -> Result<CausalData, DataError> {
        let block_size = max_len(c.block_size, DEFAULT_BLOCK_SIZE, "data.block_size", max_context)?;
        let main = blocks(&c.path, "data.path", block_size, tok)?;
        let val_files = c.val_path.as_ref().map(|p| blocks(p, "data.val_path", block_size, tok)).transpose()?;
        let holdout = Holdout::of(c.val_path.as_ref(), c.val_size, c.val_fraction);
        let n_main = main.len();
        let (train, val) = causal::hold_out(main, val_files, holdout, c.split_seed, "blocks")?;
        let description = match &c.val_path {
            None => format!(
                "{}: {n_main} blocks of {} tokens (train {}, val {})",
                c.path.describe(),
                block_size,
                train.len(),
                val.len()
            ),
            Some(v) => format!(
                "{}: {} blocks of {} tokens (train); {}: {} blocks (val)",
                c.path.describe(),
                train.len(),
                block_size,
                v.describe(),
                val.len()
            ),
        };
        Ok(CausalData::new(train, val, tok.pad, tok.vocab_size(), description))
    }

    /// The blocks of the files of `paths` (the config field `field`): each file tokenized, EOS
    /// between files, cut every `block_size` tokens.
    fn blocks(paths: &PathList, field: &str, block_size: usize, tok: &LmTokenizer) -> Result<Vec<Sequence>, DataError> {
        let mut ids: Vec<u32> = Vec::new();
        for (i, path) in paths.paths().enumerate() {
            if i > 0 {
                ids.push(tok.eos.1);
            }
            ids.extend(document(&path, field, tok)?);
        }
        let out: Vec<Sequence> = ids
            .chunks(block_size.max(2))
            .filter(|b| b.len() >= 2)
            .map(|b| Sequence { ids: b.to_vec(), first_target: 1 })
            .collect();
        if out.is_empty() {
            return Err(DataError::field(
                field,
                format!("{}: fewer than 2 tokens: nothing to predict", paths.describe()),
            ));
        }
        Ok(out)
    }

    /// The token ids of one file (no special tokens added); an unreadable or empty file is an
    /// error naming it.
    fn document(path: &Path, field: &str, tok: &LmTokenizer) -> Result<Vec<u32>, DataError> {
        let text = crate::data::capped::read_text(path).map_err(|e| DataError::field(field, e))?;
        if text.trim().is_empty() {
            return Err(DataError::field(field, format!("{} is empty: no text to train on", path.display())));
        }
        tok.encode(&text, false).map_err(|e| DataError::field(field, format!("{}: {e}", path.display())))
    }
}

#[cfg(all(test, feature = "hub"))]
mod tests {
    use std::path::Path;

    use candle_core::Device;

    use super::*;
    use crate::data::causal::test_tokenizer::{EOS, PAD, tokenizer};
    use crate::data::{Inputs, Labels, Split};

    fn config(yaml: &str) -> LmTextConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn bytes(s: &str) -> Vec<u32> {
        s.bytes().map(u32::from).collect()
    }

    #[test]
    fn packs_documents_with_eos_between_into_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.txt", "abcdefg");
        let b = write(dir.path(), "b.txt", "xyz!");
        let v = write(dir.path(), "v.txt", "qrs");
        let c = config(&format!("{{path: ['{a}', '{b}'], block_size: 5, val_path: '{v}'}}"));
        let d = load(&c, &tokenizer(), Some(8)).unwrap();
        // a b c d e | f g EOS x y | z ! : 12 ids, blocks of 5, then a last block of 2.
        let train: Vec<Vec<u32>> = d.sequences(Split::Train).iter().map(|s| s.ids.clone()).collect();
        let mut expected = bytes("abcdefg");
        expected.push(EOS);
        expected.extend(bytes("xyz!"));
        assert_eq!(train, [expected[..5].to_vec(), expected[5..10].to_vec(), expected[10..].to_vec()]);
        assert_eq!(d.len(Split::Val), 1);
        assert_eq!(d.describe(), format!("{a}, {b}: 3 blocks of 5 tokens (train); {v}: 1 blocks (val)"));
        assert_eq!(d.labels(), Labels::NextToken { vocab_size: 260 });

        let batch = d.batch(Split::Train, &[2, 1], &Device::Cpu).unwrap();
        let Inputs::Causal { ids, mask, loss_mask } = &batch.inputs else { panic!("causal") };
        assert_eq!(ids.to_vec2::<u32>().unwrap(), [vec![122, 33, PAD, PAD, PAD], expected[5..10].to_vec()]);
        assert_eq!(mask.to_vec2::<u32>().unwrap(), [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]);
        assert_eq!(batch.targets.to_vec2::<u32>().unwrap(), [[33, PAD, PAD, PAD, PAD], [103, EOS, 120, 121, PAD]]);
        assert_eq!(loss_mask.to_vec2::<f32>().unwrap(), [[1.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 0.0]]);
        assert_eq!(crate::data::causal::target_tokens(&batch).unwrap(), Some(5));
    }

    #[test]
    fn holds_out_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.txt", &"a".repeat(41)); // 10 blocks of 4, and 1 token dropped
        let d = load(&config(&format!("{{path: '{p}', block_size: 4}}")), &tokenizer(), None).unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val)), (9, 1));
        assert_eq!(d.describe(), format!("{p}: 10 blocks of 4 tokens (train 9, val 1)"));
        let d = load(&config(&format!("{{path: '{p}', block_size: 4, val_size: 3}}")), &tokenizer(), None).unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val)), (7, 3));
        let d =
            load(&config(&format!("{{path: '{p}', block_size: 4, val_fraction: 0.5}}")), &tokenizer(), None).unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val)), (5, 5));
        let e = load(&config(&format!("{{path: '{p}', block_size: 4, val_size: 10}}")), &tokenizer(), None)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "data.val_size: holds out 10 blocks, but data.path makes only 10: nothing is left to train on");
    }

    #[test]
    fn errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.txt", "hello");
        let e = load(&config(&format!("{{path: '{p}', block_size: 4096}}")), &tokenizer(), Some(2048))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "data.block_size: 4096 is above the model's context of 2048 tokens (max_position_embeddings)");
        // The default block size is the model's context when that is below 256.
        let d = load(&config(&format!("{{path: '{p}', val_path: '{p}'}}")), &tokenizer(), Some(3)).unwrap();
        assert_eq!(d.describe(), format!("{p}: 1 blocks of 3 tokens (train); {p}: 1 blocks (val)"));
        let empty = write(dir.path(), "empty.txt", " \n");
        let e = load(&config(&format!("{{path: '{empty}'}}")), &tokenizer(), None).err().unwrap().to_string();
        assert_eq!(e, format!("data.path: {empty} is empty: no text to train on"));
        let one = write(dir.path(), "one.txt", "x");
        let e = load(&config(&format!("{{path: '{one}'}}")), &tokenizer(), None).err().unwrap().to_string();
        assert_eq!(e, format!("data.path: {one}: fewer than 2 tokens: nothing to predict"));
        let e = load(&config(&format!("{{path: '{p}', val_path: nope.txt}}")), &tokenizer(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("data.val_path: cannot read nope.txt"), "{e}");
        let issues: Vec<String> = config("{path: '', block_size: 1, val_size: 2, val_fraction: 0.1}")
            .issues()
            .into_iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(
            issues,
            [
                "data.path: must not be empty",
                "data.val_fraction: give at most one of val_path, val_size and val_fraction",
                "data.block_size: must be >= 2 (a block predicts its next tokens)"
            ]
        );
        let e = crate::data::DataConfig::Text(config(&format!("{{path: '{p}'}}"))).load().err().unwrap().to_string();
        assert_eq!(e, "data.kind: text needs model.kind: causal_lm (a causal language model and its tokenizer)");
        assert!(serde_saphyr::from_str::<LmTextConfig>("{path: a.txt, block: 3}").is_err());
    }
}

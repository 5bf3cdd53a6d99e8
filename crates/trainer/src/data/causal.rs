//! Batches of causal language-model data (`kind: text` and `kind: instruction`): token sequences
//! right-padded to the batch's longest, with next-token targets and a loss mask.

use candle_core::{Device, Tensor};

use super::{Batch, DataError, Dataset, Inputs, Labels, Split};

/// One training sequence: its token ids, and from which position on its ids are targets the
/// loss counts (the ids before it are context only: an instruction's prompt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Token ids (at least 2).
    pub ids: Vec<u32>,
    /// Index of the first id that is a counted target (≥ 1: the first id is never predicted).
    pub first_target: usize,
}

impl Sequence {
    /// Number of targets the loss counts: the ids from `first_target` on.
    pub fn counted(&self) -> usize {
        self.ids.len().saturating_sub(self.first_target.max(1))
    }
}

/// Assembles `items` into a batch: `ids` right-padded with `pad` to the longest sequence, `mask`
/// 1 on real tokens, targets `targets[b, t] = ids[b, t + 1]` (`pad` where there is no next id),
/// and `loss_mask` 1.0 where that target is a counted id of its sequence.
pub fn batch(items: &[&Sequence], pad: u32, device: &Device) -> Result<Batch, DataError> {
    let len = items.iter().map(|s| s.ids.len()).max().unwrap_or(0).max(1);
    let n = items.len();
    let mut ids = Vec::with_capacity(n * len);
    let mut mask = Vec::with_capacity(n * len);
    let mut targets = Vec::with_capacity(n * len);
    let mut loss_mask = Vec::with_capacity(n * len);
    for s in items {
        let k = s.ids.len();
        ids.extend(s.ids.iter().copied().chain(std::iter::repeat(pad)).take(len));
        mask.extend((0..len).map(|t| u32::from(t < k)));
        targets.extend(s.ids.iter().skip(1).copied().chain(std::iter::repeat(pad)).take(len));
        let first = s.first_target.max(1);
        loss_mask.extend((0..len).map(|t| if t + 1 >= first && t + 1 < k { 1f32 } else { 0.0 }));
    }
    Ok(Batch {
        inputs: Inputs::Causal {
            ids: Tensor::from_vec(ids, (n, len), device)?,
            mask: Tensor::from_vec(mask, (n, len), device)?,
            loss_mask: Tensor::from_vec(loss_mask, (n, len), device)?,
        },
        targets: Tensor::from_vec(targets, (n, len), device)?,
    })
}

/// The number of targets the loss counts in `batch` (the sum of its loss mask), for a tokens/s
/// figure; `None` for a batch that is not causal-LM data.
pub fn target_tokens(batch: &Batch) -> Result<Option<usize>, DataError> {
    match &batch.inputs {
        Inputs::Causal { loss_mask, .. } => {
            let sum = loss_mask.sum_all()?.to_scalar::<f32>()?;
            Ok(Some(sum.round() as usize))
        }
        _ => Ok(None),
    }
}

/// Picks the sequences `indices` of `rows` (an index out of range is an error).
fn pick<'a>(rows: &'a [Sequence], indices: &[usize]) -> Result<Vec<&'a Sequence>, DataError> {
    indices
        .iter()
        .map(|&i| rows.get(i).ok_or_else(|| DataError::Invalid(format!("example {i} out of range"))))
        .collect()
}

/// Causal language-model data in memory: train and validation sequences.
pub struct CausalData {
    train: Vec<Sequence>,
    val: Vec<Sequence>,
    pad: u32,
    vocab_size: usize,
    description: String,
}

impl CausalData {
    /// The data, padded with `pad`, for a vocabulary of `vocab_size`, described as `description`.
    pub fn new(train: Vec<Sequence>, val: Vec<Sequence>, pad: u32, vocab_size: usize, description: String) -> Self {
        Self { train, val, pad, vocab_size, description }
    }

    /// The sequences of `split`.
    pub fn sequences(&self, split: Split) -> &[Sequence] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }
}

impl Dataset for CausalData {
    fn labels(&self) -> Labels {
        Labels::NextToken { vocab_size: self.vocab_size }
    }

    fn input_shape(&self) -> &[usize] {
        &[]
    }

    fn len(&self, split: Split) -> usize {
        self.sequences(split).len()
    }

    fn batch(&self, split: Split, indices: &[usize], device: &Device) -> Result<Batch, DataError> {
        batch(&pick(self.sequences(split), indices)?, self.pad, device)
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Splits `main` (the sequences of `data.path`) into (train, val) as `holdout` says, with
/// `val_files` (the sequences of `data.val_path`) as the validation set when given. `unit` names
/// a sequence in messages (`blocks`, `records`).
#[cfg(feature = "hub")]
pub(crate) fn hold_out(
    main: Vec<Sequence>,
    val_files: Option<Vec<Sequence>>,
    holdout: super::Holdout<'_>,
    seed: u64,
    unit: &str,
) -> Result<(Vec<Sequence>, Vec<Sequence>), DataError> {
    let n = main.len();
    if let (super::Holdout::Count(k), None) = (holdout, &val_files)
        && k >= n
    {
        return Err(DataError::field(
            "data.val_size",
            format!("holds out {k} {unit}, but data.path makes only {n}: nothing is left to train on"),
        ));
    }
    let (train_idx, val_idx) = holdout.split(n, seed)?;
    let mut slots: Vec<Option<Sequence>> = main.into_iter().map(Some).collect();
    let mut take = |idx: Vec<usize>| -> Vec<Sequence> {
        idx.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)).collect()
    };
    let train = take(train_idx);
    let val = match val_files {
        Some(v) => v,
        None => take(val_idx),
    };
    Ok((train, val))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_shifts_targets_and_masks_the_loss() {
        let a = Sequence { ids: vec![5, 6, 7, 8], first_target: 1 };
        let b = Sequence { ids: vec![9, 10, 11], first_target: 2 };
        let batch = batch(&[&a, &b], 0, &Device::Cpu).unwrap();
        let Inputs::Causal { ids, mask, loss_mask } = &batch.inputs else { panic!("causal") };
        assert_eq!(ids.to_vec2::<u32>().unwrap(), [[5, 6, 7, 8], [9, 10, 11, 0]]);
        assert_eq!(mask.to_vec2::<u32>().unwrap(), [[1, 1, 1, 1], [1, 1, 1, 0]]);
        assert_eq!(batch.targets.to_vec2::<u32>().unwrap(), [[6, 7, 8, 0], [10, 11, 0, 0]]);
        // b: id 10 (position 1) is prompt, so only the target 11 (at position 1) counts.
        assert_eq!(loss_mask.to_vec2::<f32>().unwrap(), [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]]);
        assert_eq!(target_tokens(&batch).unwrap(), Some(4));
        assert_eq!((a.counted(), b.counted()), (3, 1));
        let dense = Batch {
            inputs: Inputs::Dense(Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap()),
            targets: Tensor::zeros(1, candle_core::DType::U32, &Device::Cpu).unwrap(),
        };
        assert_eq!(target_tokens(&dense).unwrap(), None);
        assert!(pick(&[a], &[1]).is_err());
    }
}

/// A tiny byte-level BPE tokenizer with a ChatML template, for the tests of the causal-LM kinds:
/// each byte is the id of its value, one merge (`h` + `e` = 256), then `<|im_start|>` (257),
/// `<|im_end|>` (258, EOS) and `<pad>` (259).
#[cfg(all(test, feature = "hub"))]
pub(crate) mod test_tokenizer {
    use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
    use tokenizers::models::bpe::{BPE, Vocab};
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::{AddedToken, Tokenizer};

    use crate::lm_tokenizer::LmTokenizer;

    /// The id of the merged token `he`.
    pub(crate) const HE: u32 = 256;
    /// `<|im_start|>`.
    pub(crate) const IM_START: u32 = 257;
    /// `<|im_end|>`, the EOS token.
    pub(crate) const EOS: u32 = 258;
    /// `<pad>`.
    pub(crate) const PAD: u32 = 259;
    /// A ChatML template (SmolLM2's without its default system message).
    pub(crate) const CHATML: &str = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + \
         '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /// GPT-2's byte → character table.
    fn byte_chars() -> Vec<(u8, char)> {
        let printable: Vec<u8> = (b'!'..=b'~').chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
        let mut n = 0;
        (0..=255u8)
            .map(|b| {
                if printable.contains(&b) {
                    (b, char::from(b))
                } else {
                    n += 1;
                    (b, char::from_u32(255 + n).unwrap())
                }
            })
            .collect()
    }

    /// The tokenizer, with `template` as its chat template.
    pub(crate) fn with_template(template: Option<&str>) -> LmTokenizer {
        let mut vocab: Vocab = byte_chars().into_iter().map(|(b, c)| (c.to_string(), u32::from(b))).collect();
        vocab.insert("he".into(), HE);
        let bpe = BPE::builder().vocab_and_merges(vocab, vec![("h".into(), "e".into())]).build().unwrap();
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let special = ["<|im_start|>", "<|im_end|>", "<pad>"].map(|t| AddedToken::from(t, true));
        inner.add_special_tokens(special).unwrap();
        LmTokenizer::new(
            inner,
            Some(("<|im_start|>".into(), IM_START)),
            ("<|im_end|>".into(), EOS),
            PAD,
            template.map(str::to_owned),
        )
    }

    /// The tokenizer with the ChatML template.
    pub(crate) fn tokenizer() -> LmTokenizer {
        with_template(Some(CHATML))
    }

    #[test]
    fn ids_are_bytes_merges_and_special_tokens() {
        let t = tokenizer();
        assert_eq!(t.encode("ab he<|im_end|>", false).unwrap(), [97, 98, 32, HE, EOS]);
        assert_eq!(t.encode("<|im_start|><pad>", false).unwrap(), [IM_START, PAD]);
        assert_eq!(t.vocab_size(), 260);
        assert_eq!(t.decode(&[104, 105, 32, 228, 184, 173], false).unwrap(), "hi 中");
    }
}

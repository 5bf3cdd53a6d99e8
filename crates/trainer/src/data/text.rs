//! `data: {kind: text_classification}`: labelled texts from JSON, JSONL or CSV files, tokenized
//! once by the model's tokenizer and padded per batch to the batch's longest sequence.
//!
//! A row whose text or label is missing, null or empty is skipped and counted (the count is in
//! the data's description, printed when a run starts); anything else malformed is an error
//! naming the file and the row.

use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rows::{self, Format, PathList, Record};
use super::{Batch, DataError, Dataset, Holdout, Inputs, Labels, Split, TextEncoder};

/// `kind: text_classification`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// The data file, or a list of files read one after the other.
    pub path: PathList,
    /// `json` (an array of objects), `jsonl` (an object per line) or `csv` (a header row); by
    /// default from the file extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Field (CSV column) holding the text (default `text`).
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Field holding the label (default `label`): a class index `0..num_labels`, or one of
    /// `label_names`.
    #[serde(default = "default_label_field")]
    pub label_field: String,
    /// Names of the classes, in class-index order: a label written as one of these names gets
    /// its index (default none: labels are class indices).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label_names: Vec<String>,
    /// Held-out file(s), in the same format and fields. Give at most one of `val_path`,
    /// `val_size` and `val_fraction` (default: `val_fraction` 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_path: Option<PathList>,
    /// Number of rows of `path` held out for validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_size: Option<usize>,
    /// Fraction of the rows of `path` held out for validation, in `(0, 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_fraction: Option<f64>,
    /// Seed of the train/validation split (default 0; independent of the run's `seed`).
    #[serde(default)]
    pub split_seed: u64,
    /// Keep validation rows without a label (a placeholder 0 stands for it): the rows
    /// `predict` reads. Not a config field.
    #[serde(skip)]
    #[schemars(skip)]
    pub unlabelled_val: bool,
}

fn default_text_field() -> String {
    "text".to_owned()
}
fn default_label_field() -> String {
    "label".to_owned()
}

impl TextConfig {
    /// Problems found without reading the files.
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        let mut out = Vec::new();
        rows::check_paths(&mut out, "data.path", &self.path);
        out.extend(Holdout::issues(self.val_path.as_ref(), self.val_size, self.val_fraction));
        for (path, v) in [("data.text_field", &self.text_field), ("data.label_field", &self.label_field)] {
            if v.is_empty() {
                out.push(crate::FieldIssue::new(path, "must not be empty"));
            }
        }
        if let Some((i, name)) = self.label_names.iter().enumerate().find(|(i, n)| self.label_names[..*i].contains(n)) {
            out.push(crate::FieldIssue::new(format!("data.label_names[{i}]"), format!("`{name}` is listed twice")));
        }
        out
    }
}

/// One text as token ids (with the tokenizer's special tokens, truncated, not padded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Token type (segment) ids, as many as `ids`.
    pub type_ids: Vec<u32>,
}

/// The texts, tokenized.
pub struct TextData {
    train: Vec<(Encoded, u32)>,
    val: Vec<(Encoded, u32)>,
    pad: (u32, u32),
    num_classes: usize,
    /// `label_names`.
    class_names: Vec<String>,
    skipped: usize,
    source: String,
}

/// Texts and labels read from files, before tokenizing.
struct Rows {
    texts: Vec<String>,
    labels: Vec<u32>,
    skipped: usize,
}

impl TextData {
    /// Reads, checks, splits and tokenizes the data. `num_labels` (the model's) bounds the
    /// labels.
    pub fn load(c: &TextConfig, encoder: Arc<dyn TextEncoder>, num_labels: Option<usize>) -> Result<Self, DataError> {
        if let Some(n) = num_labels.filter(|&n| !c.label_names.is_empty() && n != c.label_names.len()) {
            return Err(DataError::field(
                "data.label_names",
                format!("lists {} class names, but model.num_labels is {n}", c.label_names.len()),
            ));
        }
        let bound = num_labels.or((!c.label_names.is_empty()).then_some(c.label_names.len()));
        let main = read_rows(c, &c.path, "data.path", bound, false)?;
        let holdout = Holdout::of(c.val_path.as_ref(), c.val_size, c.val_fraction);
        let (train_idx, val_idx) = holdout.split(main.texts.len(), c.split_seed)?;
        let mut skipped = main.skipped;
        let (train_texts, train_labels): (Vec<String>, Vec<u32>) =
            train_idx.iter().map(|&i| (main.texts[i].clone(), main.labels[i])).unzip();
        let (val_texts, val_labels) = match c.val_path.as_ref() {
            Some(p) => {
                let v = read_rows(c, p, "data.val_path", bound, c.unlabelled_val)?;
                skipped += v.skipped;
                (v.texts, v.labels)
            }
            None => val_idx.iter().map(|&i| (main.texts[i].clone(), main.labels[i])).unzip(),
        };
        let seen = train_labels.iter().chain(&val_labels).max().map_or(0, |&m| m as usize + 1);
        let num_classes = bound.unwrap_or(seen);
        let train = encoder.encode(&train_texts)?.into_iter().zip(train_labels).collect();
        let val = encoder.encode(&val_texts)?.into_iter().zip(val_labels).collect();
        let mut source = c.path.describe();
        if let Some(v) = &c.val_path {
            source = format!("{source}; validation: {}", v.describe());
        }
        let class_names = c.label_names.clone();
        Ok(Self { train, val, pad: encoder.pad(), num_classes, class_names, skipped, source })
    }

    /// Rows skipped for a missing or empty text or label.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// Reads the files of `paths` (the field `field`), skipping rows with a missing text or label
/// (when `unlabelled`, for predictions: a missing label is a placeholder 0, a missing text an
/// error).
fn read_rows(
    c: &TextConfig,
    paths: &PathList,
    field: &str,
    bound: Option<usize>,
    unlabelled: bool,
) -> Result<Rows, DataError> {
    let mut out = Rows { texts: Vec::new(), labels: Vec::new(), skipped: 0 };
    for path in paths.paths() {
        let format = Format::of(&path, c.format).map_err(|m| DataError::field("data.format", m))?;
        let records = rows::read(&path, format).map_err(|m| DataError::field(field, m))?;
        for r in records {
            let (text, label) = (r.fields.get(&c.text_field), r.fields.get(&c.label_field));
            if unlabelled && rows::is_missing(text) {
                // Predictions are one per row, in order: a row cannot be left out.
                let what = format!("field `{}` is missing or empty: every row needs a text to predict", c.text_field);
                return Err(row_error(field, &path, &r, what));
            }
            if rows::is_missing(text) || (rows::is_missing(label) && !unlabelled) {
                out.skipped += 1;
                continue;
            }
            let placeholder = Value::from(0);
            let label = if rows::is_missing(label) { Some(&placeholder) } else { label };
            let (Some(text), Some(label)) = (text, label) else { continue };
            let Value::String(text) = text else {
                return Err(row_error(
                    field,
                    &path,
                    &r,
                    format!("field `{}` is {}, expected a string", c.text_field, rows::kind_of(text)),
                ));
            };
            let label = label_index(c, label).ok_or_else(|| {
                let names =
                    if c.label_names.is_empty() { String::new() } else { format!(" or one of {:?}", c.label_names) };
                row_error(
                    field,
                    &path,
                    &r,
                    format!("label `{label}` (field `{}`) is not a class index 0, 1, …{names}", c.label_field),
                )
            })?;
            if let Some(n) = bound.filter(|&n| label as usize >= n) {
                return Err(row_error(
                    field,
                    &path,
                    &r,
                    format!(
                        "label {label} is outside the {n} classes of model.num_labels = {n} (labels must be 0..={})",
                        n - 1
                    ),
                ));
            }
            out.texts.push(text.clone());
            out.labels.push(label);
        }
    }
    if out.texts.is_empty() {
        return Err(DataError::field(
            field,
            format!(
                "{}: no usable rows: the data set is empty ({} rows skipped for a missing or empty `{}` or `{}`)",
                paths.describe(),
                out.skipped,
                c.text_field,
                c.label_field
            ),
        ));
    }
    Ok(out)
}

fn row_error(field: &str, path: &Path, r: &Record, message: String) -> DataError {
    DataError::field(field, format!("{}, {}: {message}", path.display(), r.place))
}

/// A label as a class index: a non-negative integer (number or numeric string), or one of
/// `label_names`.
fn label_index(c: &TextConfig, v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => {
            let s = s.trim();
            c.label_names.iter().position(|n| n == s).and_then(|i| u32::try_from(i).ok()).or_else(|| s.parse().ok())
        }
        _ => None,
    }
}

/// Pads `items` on the right to the longest one: ids with `pad.0`, type ids with `pad.1`, and
/// the attention mask (1 = token, 0 = padding).
pub fn pad_batch(items: &[&Encoded], pad: (u32, u32), device: &Device) -> Result<Inputs, DataError> {
    let len = items.iter().map(|e| e.ids.len()).max().unwrap_or(0).max(1);
    let n = items.len();
    let (mut ids, mut types, mut mask) =
        (Vec::with_capacity(n * len), Vec::with_capacity(n * len), Vec::with_capacity(n * len));
    for e in items {
        let k = e.ids.len();
        ids.extend_from_slice(&e.ids);
        ids.extend(std::iter::repeat_n(pad.0, len - k));
        types.extend(e.type_ids.iter().copied().chain(std::iter::repeat(pad.1)).take(len));
        mask.extend(std::iter::repeat_n(1u32, k).chain(std::iter::repeat_n(0, len - k)));
    }
    Ok(Inputs::Tokens {
        ids: Tensor::from_vec(ids, (n, len), device)?,
        type_ids: Tensor::from_vec(types, (n, len), device)?,
        mask: Tensor::from_vec(mask, (n, len), device)?,
    })
}

impl Dataset for TextData {
    fn labels(&self) -> Labels {
        Labels::Classification { num_classes: self.num_classes }
    }

    fn class_names(&self) -> &[String] {
        &self.class_names
    }

    fn input_shape(&self) -> &[usize] {
        &[]
    }

    fn len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train.len(),
            Split::Val => self.val.len(),
        }
    }

    fn batch(&self, split: Split, indices: &[usize], device: &Device) -> Result<Batch, DataError> {
        let rows = match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        };
        let picked = indices
            .iter()
            .map(|&i| rows.get(i).ok_or_else(|| DataError::Invalid(format!("example {i} out of range"))))
            .collect::<Result<Vec<_>, _>>()?;
        let encoded: Vec<&Encoded> = picked.iter().map(|(e, _)| e).collect();
        let labels: Vec<u32> = picked.iter().map(|(_, l)| *l).collect();
        Ok(Batch {
            inputs: pad_batch(&encoded, self.pad, device)?,
            targets: Tensor::from_vec(labels, indices.len(), device)?,
        })
    }

    fn describe(&self) -> String {
        let skipped = match self.skipped {
            0 => String::new(),
            n => format!("; skipped {n} row{} with a missing or empty text or label", if n == 1 { "" } else { "s" }),
        };
        format!(
            "text classification: {} train / {} val texts ({}), {} classes{skipped}",
            self.train.len(),
            self.val.len(),
            self.source,
            self.num_classes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One id per character, [CLS] = 101 and [SEP] = 102 around, truncated to 6.
    struct Chars;
    impl TextEncoder for Chars {
        fn encode(&self, texts: &[String]) -> Result<Vec<Encoded>, DataError> {
            Ok(texts
                .iter()
                .map(|t| {
                    let mut ids = vec![101];
                    ids.extend(t.chars().take(4).map(|c| c as u32));
                    ids.push(102);
                    Encoded { type_ids: vec![0; ids.len()], ids }
                })
                .collect())
        }
        fn pad(&self) -> (u32, u32) {
            (0, 0)
        }
    }

    fn config(yaml: &str) -> TextConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn skips_rows_without_text_or_label_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "s.json",
            r#"[{"text": "good", "class": 1}, {"text": "bad", "class": 0}, {"text": "", "class": null}, {"text": "meh"}, {"text": "ok", "class": 1}]"#,
        );
        let c = config(&format!("{{path: '{p}', label_field: class, val_size: 1}}"));
        let d = TextData::load(&c, Arc::new(Chars), Some(2)).unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val), d.skipped()), (2, 1, 2));
        assert!(d.describe().contains("skipped 2 rows with a missing or empty text or label"), "{}", d.describe());
        assert_eq!(d.labels(), Labels::Classification { num_classes: 2 });
    }

    #[test]
    fn batches_pad_to_the_longest_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "s.csv", "label,text\n1,ab\n0,abcdefgh\n1,a\n");
        let v = write(dir.path(), "v.csv", "label,text\n0,xyz\n");
        let c = config(&format!("{{path: '{p}', val_path: '{v}'}}"));
        let d = TextData::load(&c, Arc::new(Chars), None).unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val)), (3, 1));
        let b = d.batch(Split::Train, &[0, 2], &Device::Cpu).unwrap();
        let Inputs::Tokens { ids, mask, type_ids } = &b.inputs else { panic!("tokens") };
        assert_eq!(ids.to_vec2::<u32>().unwrap(), [[101, 97, 98, 102], [101, 97, 102, 0]]);
        assert_eq!(mask.to_vec2::<u32>().unwrap(), [[1, 1, 1, 1], [1, 1, 1, 0]]);
        assert_eq!(type_ids.dims(), &[2, 4]);
        assert_eq!(b.targets.to_vec1::<u32>().unwrap(), [1, 1]);
        let b = d.batch(Split::Train, &[1], &Device::Cpu).unwrap();
        let Inputs::Tokens { ids, .. } = &b.inputs else { panic!("tokens") };
        assert_eq!(ids.dims(), &[1, 6], "truncated by the encoder");
    }

    #[test]
    fn label_names_map_string_labels() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "s.jsonl",
            "{\"t\": \"a\", \"y\": \"pos\"}\n{\"t\": \"b\", \"y\": \"neg\"}\n{\"t\": \"c\", \"y\": \"pos\"}\n",
        );
        let c = config(&format!(
            "{{path: '{p}', text_field: t, label_field: y, label_names: [neg, pos], val_size: 1, split_seed: 3}}"
        ));
        let d = TextData::load(&c, Arc::new(Chars), None).unwrap();
        let mut labels: Vec<u32> = d.train.iter().chain(&d.val).map(|(_, l)| *l).collect();
        labels.sort();
        assert_eq!(labels, [0, 1, 1]);
        assert_eq!(d.class_names(), ["neg", "pos"]);
        let e = TextData::load(&c, Arc::new(Chars), Some(3)).err().unwrap().to_string();
        assert!(e.starts_with("data.label_names: lists 2 class names, but model.num_labels is 3"), "{e}");
    }

    #[test]
    fn errors_name_the_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "s.json", r#"[{"text": "a", "label": 0}, {"text": "b", "label": 2}]"#);
        let c = config(&format!("{{path: '{p}'}}"));
        let e = TextData::load(&c, Arc::new(Chars), Some(2)).err().unwrap();
        let DataError::Field(crate::FieldIssue { path, message }) = e else { panic!("a field error") };
        assert_eq!(path, "data.path");
        assert!(
            message.contains("s.json, element 2: label 2 is outside the 2 classes of model.num_labels = 2"),
            "{message}"
        );

        let p = write(dir.path(), "t.json", r#"[{"text": 5, "label": 0}]"#);
        let e = TextData::load(&config(&format!("{{path: '{p}'}}")), Arc::new(Chars), None).err().unwrap().to_string();
        assert!(e.contains("t.json, element 1: field `text` is a number, expected a string"), "{e}");
        let p = write(dir.path(), "u.csv", "text,label\nfine,yes\n");
        let e = TextData::load(&config(&format!("{{path: '{p}'}}")), Arc::new(Chars), None).err().unwrap().to_string();
        assert!(e.contains("u.csv, line 2: label `\"yes\"` (field `label`) is not a class index"), "{e}");
        let p = write(dir.path(), "v.csv", "text,label\nfine,-1\n");
        assert!(TextData::load(&config(&format!("{{path: '{p}'}}")), Arc::new(Chars), None).is_err());
    }

    #[test]
    fn an_empty_data_set_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in
            [("e.json", "[]"), ("blank.jsonl", ""), ("skipped.json", r#"[{"text": "", "label": null}]"#)]
        {
            let p = write(dir.path(), name, body);
            let e = TextData::load(&config(&format!("{{path: '{p}'}}")), Arc::new(Chars), Some(2))
                .err()
                .unwrap()
                .to_string();
            assert!(e.starts_with("data.path: ") && e.contains("no usable rows: the data set is empty"), "{name}: {e}");
        }
        let p = write(dir.path(), "one.json", r#"[{"text": "a", "label": 0}]"#);
        let e = TextData::load(&config(&format!("{{path: '{p}', val_size: 1}}")), Arc::new(Chars), Some(2))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("data.val_size: holds out 1 rows, but data.path has only 1 usable rows"), "{e}");
    }

    #[test]
    fn config_issues_have_field_paths() {
        let c = config("{path: [a.json, ''], val_size: 0, val_fraction: 0.2, label_names: [a, a]}");
        let paths: Vec<String> = c.issues().into_iter().map(|i| i.path).collect();
        assert_eq!(paths, ["data.path[1]", "data.val_fraction", "data.val_size", "data.label_names[1]"]);
    }
}

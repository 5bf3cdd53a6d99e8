//! `data: {kind: tabular}`: numeric columns of CSV, JSON or JSONL files, for an MLP.
//! Classification (integer labels, cross-entropy, `val/accuracy`) or regression (one real
//! target, mean squared error, `val/loss` only).
//!
//! Rows with a missing (absent, null or empty) feature or target are skipped and counted;
//! a value that is not a number is an error naming the file, the row and the column.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dense::{DenseData, Features, Targets};
use super::rows::{self, Format, PathList};
use super::{DataError, Holdout, Labels};

/// What the target column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TabularTask {
    /// Class indices `0, 1, …` (integers): cross-entropy loss, `val/accuracy`.
    Classification,
    /// A real number: mean squared error loss, `val/loss` only.
    Regression,
}

/// `kind: tabular`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TabularConfig {
    /// The data file, or a list of files read one after the other.
    pub path: PathList,
    /// `csv` (a header row), `json` (an array of objects) or `jsonl`; by default from the file
    /// extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// The column to predict.
    pub target: String,
    /// `classification` or `regression`.
    pub task: TabularTask,
    /// Input columns (default: every other column; in header order for CSV, by name for JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Scale each feature to zero mean and unit variance with the training rows' statistics
    /// (default true).
    #[serde(default = "yes")]
    pub standardize: bool,
    /// Held-out file(s), same columns. Give at most one of `val_path`, `val_size` and
    /// `val_fraction` (default: `val_fraction` 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_path: Option<PathList>,
    /// Number of rows of `path` held out for validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_size: Option<usize>,
    /// Fraction of the rows of `path` held out for validation, in `(0, 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_fraction: Option<f64>,
    /// Seed of the train/validation split (default 0).
    #[serde(default)]
    pub split_seed: u64,
    /// Keep validation rows without a target (a placeholder 0 stands for it): the rows
    /// `predict` reads. Not a config field.
    #[serde(skip)]
    #[schemars(skip)]
    pub unlabelled_val: bool,
}

fn yes() -> bool {
    true
}

impl TabularConfig {
    /// Problems found without reading the files.
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        let mut out = Vec::new();
        rows::check_paths(&mut out, "data.path", &self.path);
        out.extend(Holdout::issues(self.val_path.as_ref(), self.val_size, self.val_fraction));
        if self.target.is_empty() {
            out.push(crate::FieldIssue::new("data.target", "must not be empty"));
        }
        if let Some(i) = self.features.iter().position(|f| f == &self.target) {
            out.push(crate::FieldIssue::new(format!("data.features[{i}]"), format!("`{}` is the target", self.target)));
        }
        if let Some((i, f)) = self.features.iter().enumerate().find(|(i, f)| self.features[..*i].contains(f)) {
            out.push(crate::FieldIssue::new(format!("data.features[{i}]"), format!("`{f}` is listed twice")));
        }
        out
    }
}

/// The table as read: feature names, values, targets and split (see [`Tabular::into_dense`]).
pub struct Tabular {
    features: Vec<String>,
    x: Vec<f32>,
    y: Vec<f32>,
    train: Vec<usize>,
    val: Vec<usize>,
    labels: Labels,
    skipped: usize,
    source: String,
}

/// Rows read from files.
struct Table {
    x: Vec<f32>,
    y: Vec<f32>,
    skipped: usize,
}

impl Tabular {
    /// Reads, checks, splits and (optionally) standardises the table, as a dataset.
    pub fn load(c: &TabularConfig) -> Result<DenseData, DataError> {
        Self::read(c)?.into_dense()
    }

    /// Reads, checks, splits and (optionally) standardises the table.
    pub fn read(c: &TabularConfig) -> Result<Self, DataError> {
        let features = match c.features.is_empty() {
            false => c.features.clone(),
            true => discover_features(c)?,
        };
        let mut table = read_table(c, &c.path, "data.path", &features, false)?;
        let n = table.y.len();
        let (train, mut val) = Holdout::of(c.val_path.as_ref(), c.val_size, c.val_fraction).split(n, c.split_seed)?;
        if let Some(p) = &c.val_path {
            let v = read_table(c, p, "data.val_path", &features, c.unlabelled_val)?;
            val = (n..n + v.y.len()).collect();
            table.x.extend(v.x);
            table.y.extend(v.y);
            table.skipped += v.skipped;
        }
        let task = match c.task {
            TabularTask::Regression => Labels::Regression { outputs: 1 },
            TabularTask::Classification => {
                Labels::Classification { num_classes: table.y.iter().fold(0.0f32, |m, &v| m.max(v)) as usize + 1 }
            }
        };
        if c.standardize {
            standardize(&mut table.x, features.len(), &train);
        }
        let mut source = c.path.describe();
        if let Some(v) = &c.val_path {
            source = format!("{source}; validation: {}", v.describe());
        }
        Ok(Self { features, x: table.x, y: table.y, train, val, labels: task, skipped: table.skipped, source })
    }
}

/// Every field of the first record of the first file except the target.
fn discover_features(c: &TabularConfig) -> Result<Vec<String>, DataError> {
    let path = c.path.paths().next().ok_or_else(|| DataError::field("data.path", "needs at least one file"))?;
    let format = Format::of(&path, c.format).map_err(|m| DataError::field("data.format", m))?;
    let records = rows::read(&path, format).map_err(|m| DataError::field("data.path", m))?;
    let first = records
        .first()
        .ok_or_else(|| DataError::field("data.path", format!("{}: no rows: the data set is empty", path.display())))?;
    if !first.fields.contains_key(&c.target) {
        let names: Vec<&String> = first.fields.keys().collect();
        return Err(DataError::field(
            "data.target",
            format!("{} has no column `{}` (its columns: {names:?})", path.display(), c.target),
        ));
    }
    Ok(first.fields.keys().filter(|k| **k != c.target).cloned().collect())
}

/// Reads the rows of `paths`; one without a target or a feature is skipped, except when
/// `unlabelled` (for predictions, one per row): then a missing target is a placeholder 0 and a
/// missing feature an error.
fn read_table(
    c: &TabularConfig,
    paths: &PathList,
    field: &str,
    features: &[String],
    unlabelled: bool,
) -> Result<Table, DataError> {
    let mut t = Table { x: Vec::new(), y: Vec::new(), skipped: 0 };
    for path in paths.paths() {
        let format = Format::of(&path, c.format).map_err(|m| DataError::field("data.format", m))?;
        for r in rows::read(&path, format).map_err(|m| DataError::field(field, m))? {
            let target = r.fields.get(&c.target);
            let no_target = rows::is_missing(target) && !unlabelled;
            let missing = features.iter().find(|f| rows::is_missing(r.fields.get(*f)));
            if let Some(f) = missing.filter(|_| unlabelled) {
                // Predictions are one per row, in order: a row cannot be left out.
                return Err(DataError::field(
                    field,
                    format!(
                        "{}, {}: feature `{f}` is missing or empty; predict needs every feature",
                        path.display(),
                        r.place
                    ),
                ));
            }
            if no_target || missing.is_some() {
                t.skipped += 1;
                continue;
            }
            let bad = |col: &str, v: &serde_json::Value, want: &str| {
                DataError::field(
                    field,
                    format!("{}, {}: column `{col}` is `{v}`, expected {want}", path.display(), r.place),
                )
            };
            for f in features {
                let v = &r.fields[f];
                let x = rows::number(v).filter(|x| x.is_finite()).ok_or_else(|| bad(f, v, "a number"))?;
                t.x.push(x as f32);
            }
            let Some(v) = target.filter(|t| !rows::is_missing(Some(t))) else {
                t.y.push(0.0);
                continue;
            };
            let y = match c.task {
                TabularTask::Regression => {
                    rows::number(v).filter(|y| y.is_finite()).ok_or_else(|| bad(&c.target, v, "a number"))?
                }
                TabularTask::Classification => rows::number(v)
                    .filter(|y| y.fract() == 0.0 && (0.0..1e6).contains(y))
                    .ok_or_else(|| bad(&c.target, v, "a class index 0, 1, …"))?,
            };
            t.y.push(y as f32);
        }
    }
    if t.y.is_empty() {
        return Err(DataError::field(
            field,
            format!(
                "{}: no usable rows: the data set is empty ({} rows skipped for a missing value)",
                paths.describe(),
                t.skipped
            ),
        ));
    }
    Ok(t)
}

/// Scales each of the `width` columns of `x` by the mean and standard deviation of the rows
/// `train` (a constant column is only centred).
fn standardize(x: &mut [f32], width: usize, train: &[usize]) {
    let n = train.len().max(1) as f64;
    for j in 0..width {
        let mean = train.iter().map(|&i| f64::from(x[i * width + j])).sum::<f64>() / n;
        let var = train.iter().map(|&i| (f64::from(x[i * width + j]) - mean).powi(2)).sum::<f64>() / n;
        let std = if var > 0.0 { var.sqrt() } else { 1.0 };
        for row in x.chunks_mut(width) {
            row[j] = ((f64::from(row[j]) - mean) / std) as f32;
        }
    }
}

impl Tabular {
    /// The dataset: the values as features, the target column as class indices or values.
    pub fn into_dense(self) -> Result<DenseData, DataError> {
        let what = match self.labels {
            Labels::Classification { num_classes } => format!("classification, {num_classes} classes"),
            Labels::Regression { .. } => "regression".to_owned(),
            Labels::NextToken { .. } => "next-token".to_owned(), // not made by tabular data
        };
        let skipped = match self.skipped {
            0 => String::new(),
            n => format!("; skipped {n} row{} with a missing value", if n == 1 { "" } else { "s" }),
        };
        let description = format!(
            "tabular {what}: {} train / {} val rows × {} features ({}){skipped}",
            self.train.len(),
            self.val.len(),
            self.features.len(),
            self.source
        );
        let targets = match self.labels {
            Labels::Classification { .. } | Labels::NextToken { .. } => {
                Targets::Classes(self.y.iter().map(|&v| v as u32).collect())
            }
            Labels::Regression { .. } => Targets::Values(self.y),
        };
        let width = self.features.len();
        DenseData::new(Features::F32(self.x), width, None, targets, self.labels, (self.train, self.val), description)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::data::{Dataset, Inputs, Split};

    fn config(yaml: &str) -> TabularConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn regression_from_csv_with_skips_and_standardised_features() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "a,b,y\n1,10,0.5\n2,20,1.5\n3,,2\n3,30,2.5\n4,40,3.5\n").unwrap();
        let c = config(&format!("{{path: '{}', target: y, task: regression, val_size: 1}}", p.display()));
        let t = Tabular::read(&c).unwrap();
        assert_eq!(t.features, ["a", "b"]);
        let skipped = t.skipped;
        let d = t.into_dense().unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val), skipped), (3, 1, 1));
        assert_eq!(d.labels(), Labels::Regression { outputs: 1 });
        let b = d.batch(Split::Train, &[0, 1, 2], &Device::Cpu).unwrap();
        assert_eq!(b.targets.dims(), &[3, 1]);
        let Inputs::Dense(x) = &b.inputs else { panic!("dense") };
        let col: Vec<f32> = x.to_vec2::<f32>().unwrap().iter().map(|r| r[0]).collect();
        assert!(col.iter().sum::<f32>().abs() < 1e-5, "train columns centred: {col:?}");
        assert!(d.describe().contains("skipped 1 row with a missing value"));
    }

    #[test]
    fn classification_from_jsonl_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(&p, "{\"x\": 1, \"c\": 0}\n{\"x\": 2, \"c\": 2}\n{\"x\": 3, \"c\": 1}\n").unwrap();
        let c = config(&format!(
            "{{path: '{}', target: c, task: classification, val_fraction: 0.34, standardize: false}}",
            p.display()
        ));
        let d = Tabular::load(&c).unwrap();
        assert_eq!(d.labels(), Labels::Classification { num_classes: 3 });
        assert_eq!(d.input_shape(), &[1]);
        std::fs::write(&p, "{\"x\": 1, \"c\": 0}\n{\"x\": \"two\", \"c\": 1}\n").unwrap();
        let e = Tabular::load(&c).err().unwrap().to_string();
        assert!(e.contains("t.jsonl, line 2: column `x` is `\"two\"`, expected a number"), "{e}");
        std::fs::write(&p, "{\"x\": 1, \"c\": 0.5}\n").unwrap();
        assert!(Tabular::load(&c).err().unwrap().to_string().contains("expected a class index"));
        let c = config(&format!("{{path: '{}', target: nope, task: regression}}", p.display()));
        assert!(Tabular::load(&c).err().unwrap().to_string().starts_with("data.target: "));
    }

    #[test]
    fn config_issues_have_field_paths() {
        let c = config("{path: a.csv, target: y, task: regression, features: [a, y, a]}");
        let paths: Vec<String> = c.issues().into_iter().map(|i| i.path).collect();
        assert_eq!(paths, ["data.features[1]", "data.features[2]"]);
    }
}

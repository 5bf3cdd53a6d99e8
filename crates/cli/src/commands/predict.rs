//! `predict TARGET --input FILE`: the run's model on each row of a data file read like its
//! training data (tabular or text_classification fields; the target may be absent), in batches
//! of `train.eval_batch_size` on the run's device. Classification: the predicted class, its name
//! when the data names its classes, and the class probabilities; regression: the values.

use std::fmt::Write as _;

use trainer::data::{DataConfig, Labels, Split};
use trainer::run::evaluator::{Evaluator, validate_on};

use crate::args::{PredictArgs, PredictFormat};
use crate::error::{CliError, locate_input};
use crate::target::resolve;

/// Runs `predict`.
pub fn predict(a: &PredictArgs) -> Result<(), CliError> {
    let mut target = resolve(&a.target, &a.checkpoint, &a.overrides.set)?;
    let files = vec![a.input.display().to_string()];
    validate_on(&mut target.loaded.value, files.clone(), true)
        .map_err(|why| CliError::Other(format!("--input: {why}")))?;
    let names = match &target.loaded.value.data {
        DataConfig::TextClassification(c) => c.label_names.clone(),
        _ => Vec::new(),
    };
    let batch_size = target.loaded.value.train.eval_batch_size.max(1);
    let evaluator = Evaluator::open(target.loaded.value.clone(), target.checkpoint.as_deref(), target.weights)
        .map_err(|e| locate_input(e, &target.loaded, "--input", &files))?;
    let labels = evaluator.labels();
    let mut out = header(a.format, labels, &names);
    let indices: Vec<usize> = (0..evaluator.len(Split::Val)).collect();
    for chunk in indices.chunks(batch_size) {
        let p = evaluator.predict(Split::Val, chunk).map_err(CliError::Train)?;
        for row in &p.rows {
            out.push_str(&record(a.format, labels, &names, row));
            out.push('\n');
        }
    }
    match &a.output {
        Some(path) => trainer::safe_fs::write_atomic(path, out.as_bytes())
            .map_err(|e| CliError::Other(format!("writing {}: {e}", path.display()))),
        None => crate::output::text(out),
    }
}

/// The CSV header line (empty for JSONL).
fn header(format: PredictFormat, labels: Labels, names: &[String]) -> String {
    if format == PredictFormat::Jsonl {
        return String::new();
    }
    let mut cols: Vec<String> = Vec::new();
    match labels {
        Labels::Classification { num_classes } => {
            cols.push("label".into());
            if !names.is_empty() {
                cols.push("name".into());
            }
            cols.extend(
                (0..num_classes).map(|k| format!("p_{}", names.get(k).map_or_else(|| k.to_string(), |n| csv_cell(n)))),
            );
        }
        Labels::Regression { outputs: 1 } => cols.push("value".into()),
        Labels::Regression { outputs } | Labels::NextToken { vocab_size: outputs } => {
            cols.extend((0..outputs).map(|k| format!("value_{k}")));
        }
    }
    cols.join(",") + "\n"
}

/// One example's line (without its newline).
fn record(format: PredictFormat, labels: Labels, names: &[String], row: &[f32]) -> String {
    let classifies = matches!(labels, Labels::Classification { .. });
    let label = argmax(row);
    let name = names.get(label);
    match (format, classifies) {
        (PredictFormat::Jsonl, true) => {
            let mut v = serde_json::json!({"label": label, "probabilities": row});
            if let Some(n) = name {
                v["name"] = serde_json::json!(n);
            }
            v.to_string()
        }
        (PredictFormat::Jsonl, false) if row.len() == 1 => serde_json::json!({"value": row[0]}).to_string(),
        (PredictFormat::Jsonl, false) => serde_json::json!({"values": row}).to_string(),
        (PredictFormat::Csv, _) => {
            let mut s = String::new();
            if classifies {
                let _ = write!(s, "{label},");
                if let Some(n) = name {
                    let _ = write!(s, "{},", csv_cell(n));
                }
            }
            let values: Vec<String> = row.iter().map(f32::to_string).collect();
            s + &values.join(",")
        }
    }
}

/// The index of the largest value (the first of equals).
fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// `s` as one CSV cell (quoted when it holds a comma, a quote or a line break).
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

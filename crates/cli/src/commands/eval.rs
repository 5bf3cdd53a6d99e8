//! `eval TARGET`: a checkpoint's metrics on the run's validation data (exactly what the run
//! logged for it), its training data (`--split train`) or other files (`--data-path`), with the
//! trainer's own evaluation; or, with `--text FILE`, the perplexity of a text file under a causal
//! LM, in consecutive non-overlapping windows of `--block-size` tokens, each scored alone.

use std::path::Path;

use trainer::data::Split;
use trainer::model::causal_lm::loaded::LoadedLm;
use trainer::run::evaluator::{Evaluator, validate_on};

use crate::args::{EvalArgs, EvalFormat, EvalSplit};
use crate::error::{CliError, locate, locate_input};
use crate::output::line;
use crate::target::resolve;

/// Runs `eval`.
pub fn eval(a: &EvalArgs) -> Result<(), CliError> {
    match &a.text {
        Some(text) => perplexity(a, text),
        None => metrics(a),
    }
}

/// The task's metrics of the target on one split of its data.
fn metrics(a: &EvalArgs) -> Result<(), CliError> {
    let mut target = resolve(&a.target, &a.checkpoint, &a.overrides.set)?;
    let files: Vec<String> = a.data_path.iter().map(|p| p.display().to_string()).collect();
    if !files.is_empty() {
        validate_on(&mut target.loaded.value, files.clone(), false)
            .map_err(|why| CliError::Other(format!("--data-path: {why}")))?;
    }
    let config = target.loaded.value.clone();
    let evaluator = Evaluator::open(config, target.checkpoint.as_deref(), target.weights)
        .map_err(|e| locate_input(e, &target.loaded, "--data-path", &files))?;
    let (split, split_name) = match a.split {
        Some(EvalSplit::Train) => (Split::Train, "train"),
        _ => (Split::Val, "val"),
    };
    let (e, detail) = evaluator.evaluate(split).map_err(CliError::Train)?;
    let examples = evaluator.len(split);
    let named: Vec<(&str, f64)> = e
        .iter()
        .map(|(_, m, v)| (m.name, v))
        .chain(detail.iter().map(|(n, v)| (n.as_str(), *v)))
        .map(|(n, v)| (n.strip_prefix("val/").unwrap_or(n), v))
        .collect();
    let out = match a.format {
        EvalFormat::Json => {
            let metrics: serde_json::Map<String, serde_json::Value> =
                named.iter().map(|(n, v)| ((*n).to_owned(), serde_json::json!(v))).collect();
            serde_json::json!({
                "checkpoint": target.checkpoint.as_ref().map(|p| p.display().to_string()),
                "weights": target.weights.name(),
                "steps_done": evaluator.steps_done(),
                "step": e.step,
                "split": split_name,
                "examples": examples,
                "metrics": metrics,
            })
            .to_string()
        }
        EvalFormat::Text => {
            let values: Vec<String> = named.iter().map(|(n, v)| format!("{n} {v:.6}")).collect();
            let steps = evaluator.steps_done().map(|s| format!(" after {s} steps")).unwrap_or_default();
            format!(
                "{}{steps}, {split_name} split ({examples} examples; {}): {}",
                target.describe(),
                evaluator.data_description(),
                values.join(", ")
            )
        }
    };
    line(out)
}

/// The perplexity of `--text` under a causal LM.
fn perplexity(a: &EvalArgs, file: &Path) -> Result<(), CliError> {
    if a.block_size < 2 {
        return Err(CliError::Other(format!("--block-size must be >= 2 (got {})", a.block_size)));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Other(format!("cannot read {} as UTF-8 text: {e}", file.display())))?;
    let target = resolve(&a.target, &a.checkpoint, &a.overrides.set)?;
    let lm = LoadedLm::open(&target.loaded.value, target.checkpoint.as_deref(), target.weights)
        .map_err(|e| locate(e, &target.loaded))?;
    if a.block_size > lm.max_context() {
        return Err(CliError::Other(format!(
            "--block-size {} is above the model's context of {} tokens (max_position_embeddings)",
            a.block_size,
            lm.max_context()
        )));
    }
    let p = lm.perplexity(&text, a.block_size).map_err(CliError::Train)?;
    let out = match a.format {
        EvalFormat::Json => {
            serde_json::json!({"loss": p.loss, "perplexity": p.perplexity, "tokens": p.tokens}).to_string()
        }
        EvalFormat::Text => format!(
            "{}: perplexity {:.4}, loss {:.6} over {} predicted tokens (windows of {}; {})",
            file.display(),
            p.perplexity,
            p.loss,
            p.tokens,
            a.block_size,
            target.describe()
        ),
    };
    line(out)
}

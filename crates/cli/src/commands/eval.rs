//! `eval TARGET --text FILE`: the perplexity of a text file under a causal LM, in consecutive
//! non-overlapping windows of `--block-size` tokens, each scored alone.

use std::io::Write;

use trainer::model::causal_lm::loaded::LoadedLm;

use crate::args::{EvalArgs, EvalFormat};
use crate::error::{CliError, locate};
use crate::target::resolve;

/// Runs `eval`.
pub fn eval(a: &EvalArgs) -> Result<(), CliError> {
    if a.block_size < 2 {
        return Err(CliError::Other(format!("--block-size must be >= 2 (got {})", a.block_size)));
    }
    let text = std::fs::read_to_string(&a.text)
        .map_err(|e| CliError::Other(format!("cannot read {} as UTF-8 text: {e}", a.text.display())))?;
    let target = resolve(&a.target, a.checkpoint.checkpoint.as_deref(), &a.overrides.set)?;
    let lm =
        LoadedLm::open(&target.loaded.value, target.checkpoint.as_deref()).map_err(|e| locate(e, &target.loaded))?;
    if a.block_size > lm.max_context() {
        return Err(CliError::Other(format!(
            "--block-size {} is above the model's context of {} tokens (max_position_embeddings)",
            a.block_size,
            lm.max_context()
        )));
    }
    let p = lm.perplexity(&text, a.block_size).map_err(CliError::Train)?;
    let line = match a.format {
        EvalFormat::Json => {
            serde_json::json!({"loss": p.loss, "perplexity": p.perplexity, "tokens": p.tokens}).to_string()
        }
        EvalFormat::Text => format!(
            "{}: perplexity {:.4}, loss {:.6} over {} predicted tokens (windows of {}; {})",
            a.text.display(),
            p.perplexity,
            p.loss,
            p.tokens,
            a.block_size,
            target.describe()
        ),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| CliError::Other(format!("writing the output: {e}")))
}

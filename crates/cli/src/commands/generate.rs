//! `generate TARGET --prompt TEXT`: continues a prompt with a causal LM and prints the
//! continuation only.

use std::io::Write;

use trainer::model::causal_lm::loaded::{LoadedLm, sampling};

use crate::args::GenerateArgs;
use crate::error::{CliError, locate};
use crate::target::resolve;

/// Runs `generate`.
pub fn generate(a: &GenerateArgs) -> Result<(), CliError> {
    let sampling = sampling(a.temperature, a.top_p).map_err(CliError::Other)?;
    if a.max_new_tokens == 0 {
        return Err(CliError::Other("--max-new-tokens must be >= 1".into()));
    }
    let target = resolve(&a.target, &a.checkpoint, &a.overrides.set)?;
    let lm = LoadedLm::open(&target.loaded.value, target.checkpoint.as_deref(), target.weights)
        .map_err(|e| locate(e, &target.loaded))?;
    let prompt = if a.chat { lm.chat_prompt(&a.prompt).map_err(CliError::Other)? } else { a.prompt.clone() };
    let text = lm.generate(&prompt, &sampling, a.max_new_tokens, a.seed).map_err(CliError::Train)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(|e| CliError::Other(format!("writing the output: {e}")))
}

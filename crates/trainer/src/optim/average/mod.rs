//! Weight averages of the trainable parameters (`train.ema`, `train.swa`): updated after the
//! optimizer steps their configs name, evaluated by swapping them into the model's variables
//! (and the raw weights back, bit for bit), saved with every checkpoint (`ema.safetensors`,
//! `swa.safetensors`, listed in its manifest) so that a resume continues them exactly.
//!
//! No batch-norm statistics are recomputed (PyTorch's `update_bn`): the models here have no
//! batch norm, so the averaged weights are the whole averaged model.

mod config;
mod file;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Tensor, Var};

pub use config::{EmaConfig, SwaAverageConfig};
pub use file::{EMA_FILE, SWA_FILE};

/// Which weights a model uses: the trained ones or an average.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weights {
    /// The weights the optimizer trains.
    Raw,
    /// The exponential moving average (`train.ema`).
    Ema,
    /// The stochastic weight average (`train.swa`).
    Swa,
}

impl Weights {
    /// `raw`, `ema` or `swa`.
    pub fn name(self) -> &'static str {
        match self {
            Weights::Raw => "raw",
            Weights::Ema => "ema",
            Weights::Swa => "swa",
        }
    }

    /// A validation metric's tag for these weights: `val/accuracy` → `val_ema/accuracy`.
    pub fn tag(self, metric: &str) -> String {
        match (self, metric.strip_prefix("val/")) {
            (Weights::Raw, _) | (_, None) => metric.to_owned(),
            (w, Some(rest)) => format!("val_{}/{rest}", w.name()),
        }
    }
}

/// How an average is updated.
#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Ema(EmaConfig),
    Swa(SwaAverageConfig),
}

/// One running average: its rule, how many weights it has taken in, and its tensors (one per
/// trainable variable, once it has taken in any).
#[derive(Debug, Clone)]
struct Average {
    rule: Rule,
    n_averaged: u64,
    weights: Option<Vec<Tensor>>,
}

impl Average {
    fn new(rule: Rule) -> Self {
        Self { rule, n_averaged: 0, weights: None }
    }

    fn kind(&self) -> Weights {
        match self.rule {
            Rule::Ema(_) => Weights::Ema,
            Rule::Swa(_) => Weights::Swa,
        }
    }

    /// Takes in `vars` if the rule updates after `steps_done` optimizer steps.
    fn after_step(&mut self, steps_done: u64, vars: &[Var]) -> candle_core::Result<()> {
        let weight = match &self.rule {
            Rule::Ema(c) if c.updates_after(steps_done) => 1.0 - c.decay_at(self.n_averaged),
            Rule::Swa(c) if c.updates_after(steps_done) => 1.0 / (self.n_averaged as f64 + 1.0),
            _ => return Ok(()),
        };
        self.weights = Some(match self.weights.take() {
            // The first weights taken in, or an average a checkpoint did not hold: a copy.
            None => vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?,
            Some(old) => old.iter().zip(vars).map(|(a, v)| lerp(a, v.as_tensor(), weight)).collect::<Result<_, _>>()?,
        });
        self.n_averaged += 1;
        Ok(())
    }
}

/// `a + (w − a) · weight` (PyTorch's `lerp`, in the tensors' dtype), detached.
fn lerp(a: &Tensor, w: &Tensor, weight: f64) -> candle_core::Result<Tensor> {
    if weight == 1.0 {
        return w.copy();
    }
    Ok((a + ((w - a)? * weight)?)?.detach())
}

/// The averages a run keeps over its trainable variables.
#[derive(Debug, Clone)]
pub struct Averages {
    names: Vec<String>,
    vars: Vec<Var>,
    averages: Vec<Average>,
}

impl Averages {
    /// The averages `ema` and `swa` ask for (none, one or both) over the trainable `vars`
    /// (`(name, variable)`, the names used in the files).
    pub fn new(ema: Option<&EmaConfig>, swa: Option<&SwaAverageConfig>, vars: &[(String, Var)]) -> Self {
        let mut averages = Vec::new();
        averages.extend(ema.map(|c| Average::new(Rule::Ema(c.clone()))));
        averages.extend(swa.map(|c| Average::new(Rule::Swa(c.clone()))));
        Self {
            names: vars.iter().map(|(n, _)| n.clone()).collect(),
            vars: vars.iter().map(|(_, v)| v.clone()).collect(),
            averages,
        }
    }

    /// Whether the run keeps no average.
    pub fn is_empty(&self) -> bool {
        self.averages.is_empty()
    }

    /// Updates the averages due after the optimizer step that makes `steps_done` steps.
    pub fn after_step(&mut self, steps_done: u64) -> candle_core::Result<()> {
        for a in &mut self.averages {
            a.after_step(steps_done, &self.vars)?;
        }
        Ok(())
    }

    /// The averages that have taken in weights (so can be evaluated), in order: EMA, SWA.
    pub fn ready(&self) -> Vec<Weights> {
        self.averages.iter().filter(|a| a.weights.is_some()).map(Average::kind).collect()
    }

    /// How many weights average `which` has taken in (0 for `Raw` or an average the run lacks).
    pub fn n_averaged(&self, which: Weights) -> u64 {
        self.get(which).map_or(0, |a| a.n_averaged)
    }

    /// The tensors of average `which` by variable name, when it has any.
    pub fn tensors(&self, which: Weights) -> Option<Vec<(String, Tensor)>> {
        let weights = self.get(which)?.weights.as_ref()?;
        Some(self.names.iter().cloned().zip(weights.iter().cloned()).collect())
    }

    fn get(&self, which: Weights) -> Option<&Average> {
        self.averages.iter().find(|a| a.kind() == which)
    }

    /// Runs `f` with the weights of `which` in the model's variables, then puts the raw weights
    /// back (copies: bit for bit), whether `f` succeeded or not. `Raw`, or an average with no
    /// weights yet, runs `f` on the raw weights.
    pub fn with_weights<R, E: From<candle_core::Error>>(
        &self,
        which: Weights,
        f: impl FnOnce() -> Result<R, E>,
    ) -> Result<R, E> {
        let Some(avg) = self.get(which).and_then(|a| a.weights.as_ref()) else { return f() };
        let raw: Vec<Tensor> = self.vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        let swapped = self.vars.iter().zip(avg).try_for_each(|(v, a)| v.set(a));
        let result = swapped.map_err(E::from).and_then(|()| f());
        let restored = self.vars.iter().zip(&raw).try_for_each(|(v, r)| v.set(r));
        let out = result?;
        restored?;
        Ok(out)
    }

    /// The files a checkpoint holds for the averages that have weights: `(file name, bytes)`.
    pub fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>, candle_core::Error> {
        let mut out = Vec::new();
        for a in &self.averages {
            if let Some(tensors) = self.tensors(a.kind()) {
                out.push((file::name(a.kind()), file::to_bytes(a.kind(), a.n_averaged, tensors)?));
            }
        }
        Ok(out)
    }

    /// Restores every average from checkpoint directory `dir`: from its file, or empty (starting
    /// over at the next update) when the checkpoint has none. An unreadable file, or one whose
    /// tensors do not match the variables, is an error naming it.
    pub fn load(&mut self, dir: &Path) -> Result<(), String> {
        for a in &mut self.averages {
            let name = file::name(a.kind());
            let path = dir.join(name);
            if !path.is_file() {
                a.n_averaged = 0;
                a.weights = None;
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| format!("{name}: {e}"))?;
            let (n, weights) =
                file::read(&bytes, a.kind(), &self.names, &self.vars).map_err(|e| format!("{name}: {e}"))?;
            a.n_averaged = n;
            a.weights = Some(weights);
        }
        Ok(())
    }
}

/// Loads average `which` of checkpoint directory `checkpoint` (`ema.safetensors` or
/// `swa.safetensors`) over the variables of `varmap` it names: after the checkpoint's
/// `model.safetensors`, the model holds the averaged weights (the averages cover the trainable
/// variables; frozen ones keep the model file's values). For the commands that use a trained
/// model (`eval`, `predict`, `export`, `generate`) to offer `--weights ema|swa`. `Raw` loads
/// nothing. An error names the file: missing (the run kept no such average, or the checkpoint
/// was saved before its first update), unreadable, or not matching the model.
pub fn load_average(varmap: &candle_nn::VarMap, checkpoint: &Path, which: Weights) -> Result<(), String> {
    if which == Weights::Raw {
        return Ok(());
    }
    let name = file::name(which);
    let path = checkpoint.join(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let data = varmap.data().lock().map_err(|_| "the model's variables are poisoned".to_owned())?;
    let mut named: Vec<(String, Var)> = data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    drop(data);
    let in_file = file::names(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    named.retain(|(n, _)| in_file.contains(n));
    let (names, vars): (Vec<String>, Vec<Var>) = named.into_iter().unzip();
    let (_, tensors) = file::read(&bytes, which, &names, &vars).map_err(|e| format!("{}: {e}", path.display()))?;
    for (v, t) in vars.iter().zip(&tensors) {
        v.set(t).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The tensors of average `which` in checkpoint directory `checkpoint`, by variable name, on
/// the CPU (for exports that read files, not a model). An error names the file.
pub fn average_tensors(checkpoint: &Path, which: Weights) -> Result<HashMap<String, Tensor>, String> {
    let path = checkpoint.join(file::name(which));
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    file::read_all(&bytes, which).map(|(_, t)| t).map_err(|e| format!("{}: {e}", path.display()))
}

/// Why the weights `w` of a checkpoint cannot be used, from [`load_average`]'s reason.
pub fn weights_problem(w: Weights, why: &str) -> String {
    format!(
        "--weights {}: {why} (a run keeps them when its config sets train.{}, in the checkpoints saved after the first update)",
        w.name(),
        w.name()
    )
}

#[cfg(test)]
mod tests;

//! Parameter groups: which parameter gets which base LR and weight decay.
//!
//! Each parameter goes to the first configured group with a prefix of its name; the others form
//! the `default` group (`optimizer.lr`, `optimizer.weight_decay`), listed first when non-empty.

use candle_core::Var;

use super::OptimError;
use super::config::OptimizerConfig;
use super::validate::DEFAULT_GROUP;

/// A parameter group as built: name, base LR, weight decay and parameter names (sorted).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGroup {
    name: String,
    base_lr: f64,
    weight_decay: f64,
    param_names: Vec<String>,
}

impl ParamGroup {
    /// Group name (`default` for the parameters matching no configured group).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Base LR: pass it to [`sched::Schedule::group_lr`] to get the group's LR at a step.
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// Weight decay of the group.
    pub fn weight_decay(&self) -> f64 {
        self.weight_decay
    }

    /// Names of the group's parameters, sorted.
    pub fn param_names(&self) -> &[String] {
        &self.param_names
    }
}

/// A named variable.
pub(crate) type Named = (String, Var);

/// Splits `params` into groups per `config` (already validated): returns each group with its
/// parameters (sorted by name). Non-float parameters are left out.
///
/// Errors: no float parameter, a name given twice, a configured group that gets no parameter.
pub(crate) fn assign(
    config: &OptimizerConfig,
    params: impl IntoIterator<Item = (String, Var)>,
) -> Result<Vec<(ParamGroup, Vec<Named>)>, OptimError> {
    let mut params: Vec<Named> = params.into_iter().filter(|(_, v)| v.dtype().is_float()).collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = params.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(OptimError::DuplicateParameter(w[0].0.clone()));
    }
    if params.is_empty() {
        return Err(OptimError::NoParameters);
    }
    let configured = config.groups();
    let prefixes: Vec<Vec<&str>> = configured.iter().map(|g| g.prefix_list()).collect();
    let matches = |i: usize, name: &str| prefixes[i].iter().any(|p| name.starts_with(p));

    // buckets[0] is `default`, buckets[i + 1] is configured group i.
    let mut buckets: Vec<Vec<Named>> = vec![Vec::new(); configured.len() + 1];
    for (name, var) in params {
        let slot = (0..configured.len()).find(|&i| matches(i, &name)).map_or(0, |i| i + 1);
        buckets[slot].push((name, var));
    }

    for (i, group) in configured.iter().enumerate() {
        if buckets[i + 1].is_empty() {
            // Which earlier group took the parameters this one matches, if any.
            let shadowed_by = (0..i)
                .find(|&j| buckets[j + 1].iter().any(|(name, _)| matches(i, name)))
                .map(|j| configured[j].name.clone());
            return Err(OptimError::UnmatchedGroup {
                index: i,
                name: group.name.clone(),
                prefixes: prefixes[i].iter().map(|p| p.to_string()).collect(),
                shadowed_by,
            });
        }
    }

    let lr = config.lr();
    let mut out = Vec::with_capacity(buckets.len());
    for (slot, params) in buckets.into_iter().enumerate() {
        if params.is_empty() {
            continue; // only `default` can be empty here
        }
        let (name, base_lr, weight_decay) = match slot {
            0 => (DEFAULT_GROUP.to_string(), lr, config.weight_decay()),
            _ => {
                let g = &configured[slot - 1];
                (g.name.clone(), g.base_lr(lr), g.weight_decay.unwrap_or(config.weight_decay()))
            }
        };
        let param_names = params.iter().map(|(n, _)| n.clone()).collect();
        out.push((ParamGroup { name, base_lr, weight_decay, param_names }, params));
    }
    Ok(out)
}

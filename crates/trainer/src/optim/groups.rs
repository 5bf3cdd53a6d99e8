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
        match slot.checked_sub(1).and_then(|i| configured[i].layer_decay.map(|d| (i, d))) {
            Some((index, decay)) => {
                for (part, factor, params) in by_depth(index, &name, decay, params)? {
                    let param_names = params.iter().map(|(n, _)| n.clone()).collect();
                    out.push((ParamGroup { name: part, base_lr: base_lr * factor, weight_decay, param_names }, params));
                }
            }
            None => {
                let param_names = params.iter().map(|(n, _)| n.clone()).collect();
                out.push((ParamGroup { name, base_lr, weight_decay, param_names }, params));
            }
        }
    }
    // A layer_decay part may collide with a configured group's name.
    let mut names: Vec<&str> = out.iter().map(|g| g.0.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(OptimError::Config(super::FieldIssue::new(
            "optimizer.groups",
            format!(
                "two parameter groups are named `{}` (a group's layer_decay parts are named <group>.layer_<i> and <group>.embeddings)",
                w[0]
            ),
        )));
    }
    Ok(out)
}

/// The layer index of a parameter: the number after a `layer` or `layers` segment of its dotted
/// name (`encoder.layer.3.output.dense.weight` → 3, `model.layers.0.mlp.weight` → 0).
pub fn layer_index(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    parts.windows(2).find_map(|w| if matches!(w[0], "layer" | "layers") { w[1].parse().ok() } else { None })
}

/// Splits configured group `index` (named `name`, with `layer_decay` = `decay`) by depth:
/// `(part name, LR factor, parameters)`, the embeddings (no layer index) first, then the layers
/// from the lowest. Layer `i` of `L` gets `decay^(L − i)`, the embeddings `decay^(L + 1)`.
fn by_depth(
    index: usize,
    name: &str,
    decay: f64,
    params: Vec<Named>,
) -> Result<Vec<(String, f64, Vec<Named>)>, OptimError> {
    let layers = params.iter().filter_map(|(n, _)| layer_index(n)).max().map(|m| m + 1).ok_or_else(|| {
        OptimError::Config(super::FieldIssue::new(
            format!("optimizer.groups[{index}].layer_decay"),
            format!(
                "group `{name}` has no parameter with a layer index (`….layer.<i>.…` or `….layers.<i>.…`) to decay"
            ),
        ))
    })?;
    let mut parts: Vec<(String, f64, Vec<Named>)> = Vec::new();
    let power = |p: usize| decay.powi(i32::try_from(p).unwrap_or(i32::MAX));
    let mut base = Vec::new();
    let mut by_layer: std::collections::BTreeMap<usize, Vec<Named>> = std::collections::BTreeMap::new();
    for (n, v) in params {
        match layer_index(&n) {
            Some(i) => by_layer.entry(i).or_default().push((n, v)),
            None => base.push((n, v)),
        }
    }
    if !base.is_empty() {
        parts.push((format!("{name}.embeddings"), power(layers + 1), base));
    }
    for (i, params) in by_layer {
        parts.push((format!("{name}.layer_{i}"), power(layers - i), params));
    }
    Ok(parts)
}

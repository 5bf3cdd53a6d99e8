//! [`OptimizerConfig::validate`]: every impossible value is a [`FieldIssue`] naming its field path
//! (from `optimizer`) and the rule it breaks.

use sched::FieldIssue;
use sched::check::{in_range, non_negative, positive};

use super::config::{GroupConfig, OptimizerConfig};

/// Root of every field path.
const ROOT: &str = "optimizer";

/// The bounds of `[0, 1]` and `[0, 1)` for [`in_range`].
const ZERO: (f64, bool) = (0.0, false);
const ONE_CLOSED: (f64, bool) = (1.0, false);
const ONE_OPEN: (f64, bool) = (1.0, true);

/// Name of the implicit group of the parameters that match no configured group.
pub(crate) const DEFAULT_GROUP: &str = "default";

impl OptimizerConfig {
    /// Checks every value; the first impossible one is an error naming its field path (e.g.
    /// `optimizer.betas[1]`, `optimizer.groups[2].lr_scale`) and the rule.
    pub fn validate(&self) -> Result<(), FieldIssue> {
        positive(ROOT, "lr", self.lr())?;
        non_negative(ROOT, "weight_decay", self.weight_decay())?;
        match self {
            OptimizerConfig::Sgd(c) => {
                in_range(ROOT, "momentum", c.momentum, ZERO, ONE_CLOSED)?;
                in_range(ROOT, "dampening", c.dampening, ZERO, ONE_CLOSED)?;
                if c.nesterov && !(c.momentum > 0.0 && c.dampening == 0.0) {
                    return Err(FieldIssue::new(
                        "optimizer.nesterov",
                        format!(
                            "nesterov needs momentum > 0 and dampening = 0 (got momentum {}, dampening {})",
                            c.momentum, c.dampening
                        ),
                    ));
                }
            }
            OptimizerConfig::Adam(c) => adam(c.betas, c.eps)?,
            OptimizerConfig::AdamW(c) => adam(c.betas, c.eps)?,
        }
        let groups = self.groups();
        for (i, group) in groups.iter().enumerate() {
            validate_group(&format!("{ROOT}.groups[{i}]"), group)?;
            if let Some(j) = groups[..i].iter().position(|g| g.name == group.name) {
                return Err(FieldIssue::new(
                    format!("{ROOT}.groups[{i}].name"),
                    format!("duplicate group name `{}` (also optimizer.groups[{j}])", group.name),
                ));
            }
        }
        Ok(())
    }
}

fn adam(betas: [f64; 2], eps: f64) -> Result<(), FieldIssue> {
    for (i, beta) in betas.into_iter().enumerate() {
        in_range(ROOT, &format!("betas[{i}]"), beta, ZERO, ONE_OPEN)?;
    }
    positive(ROOT, "eps", eps)
}

fn validate_group(path: &str, group: &GroupConfig) -> Result<(), FieldIssue> {
    let name = &group.name;
    if name.is_empty() {
        return Err(FieldIssue::new(format!("{path}.name"), "must not be empty"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(FieldIssue::new(
            format!("{path}.name"),
            format!("may hold only letters, digits, `_`, `-`, `.` (got {c:?} in `{name}`)"),
        ));
    }
    if name == DEFAULT_GROUP {
        return Err(FieldIssue::new(
            format!("{path}.name"),
            "`default` is reserved for the parameters that match no group",
        ));
    }
    match (&group.prefix, &group.prefixes) {
        (Some(_), Some(_)) => {
            return Err(FieldIssue::new(format!("{path}.prefixes"), "give either prefix or prefixes, not both"));
        }
        (None, None) => return Err(FieldIssue::new(format!("{path}.prefix"), "a group needs prefix or prefixes")),
        (Some(p), None) if p.is_empty() => {
            return Err(FieldIssue::new(
                format!("{path}.prefix"),
                "must not be empty (it would match every parameter)",
            ));
        }
        (None, Some(list)) if list.is_empty() => {
            return Err(FieldIssue::new(format!("{path}.prefixes"), "must hold at least one prefix"));
        }
        (None, Some(list)) => {
            if let Some(j) = list.iter().position(String::is_empty) {
                return Err(FieldIssue::new(
                    format!("{path}.prefixes[{j}]"),
                    "must not be empty (it would match every parameter)",
                ));
            }
        }
        (Some(_), None) => {}
    }
    if let Some(lr) = group.lr {
        positive(path, "lr", lr)?;
    }
    if let Some(scale) = group.lr_scale {
        if group.lr.is_some() {
            return Err(FieldIssue::new(format!("{path}.lr_scale"), "give either lr or lr_scale, not both"));
        }
        positive(path, "lr_scale", scale)?;
    }
    if let Some(wd) = group.weight_decay {
        non_negative(path, "weight_decay", wd)?;
    }
    if let Some(d) = group.layer_decay {
        in_range(path, "layer_decay", d, (0.0, true), ONE_CLOSED)?;
    }
    Ok(())
}

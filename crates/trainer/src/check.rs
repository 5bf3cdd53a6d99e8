//! Config checks that serde cannot express: ranges, contradictions, and cross-field rules that
//! need the run's length (known once the data is loaded). Each problem names its field path.

use sched::{Kind, Schedule, ScheduleConfig};

use crate::config::{PlateauAction, RunConfig};
use crate::device::DeviceSpec;
use crate::error::FieldIssue;
use crate::model::ModelConfig;
use crate::run::metric::Metrics;

/// What the checks built on the way: each is built once per run.
pub struct Checked {
    /// The parsed `device`, servable by this build.
    pub device: DeviceSpec,
    /// The validated schedule.
    pub schedule: Schedule,
}

/// Checks every section that needs no file; returns the device and the schedule, or every
/// problem found.
pub fn static_checks(c: &RunConfig) -> Result<Checked, Vec<FieldIssue>> {
    let mut out = Vec::new();
    if c.name.trim().is_empty() || c.name.contains(['/', '\\']) || c.name == "." || c.name == ".." {
        out.push(FieldIssue::new("name", format!("must be a non-empty directory name without `/` (got {:?})", c.name)));
    }
    let device =
        c.device.check_built().map(|()| c.device).map_err(|e| out.push(FieldIssue::new("device", e.to_string()))).ok();
    if let Err(e) = c.optimizer.validate() {
        out.push(e);
    }
    let schedule = Schedule::new(&c.schedule, c.optimizer.lr());
    match &schedule {
        // The optimizer's own check reports a bad optimizer.lr.
        Err(e) if e.path != "optimizer.lr" => out.push(e.clone()),
        _ => {}
    }
    out.extend(section_issues(c));
    match (device, schedule) {
        (Some(device), Ok(schedule)) if out.is_empty() => Ok(Checked { device, schedule }),
        (_, Err(e)) if out.is_empty() => Err(vec![e]),
        _ => Err(out),
    }
}

/// Checks of the sections besides name, device, optimizer and schedule.
fn section_issues(c: &RunConfig) -> Vec<FieldIssue> {
    let mut out = Vec::new();
    let mut push = |path: &str, msg: String| out.push(FieldIssue::new(path, msg));
    let t = &c.train;
    match (t.max_steps, t.epochs) {
        (None, None) => push("train.max_steps", "give train.max_steps or train.epochs".into()),
        (Some(_), Some(_)) => push("train.epochs", "give train.max_steps or train.epochs, not both".into()),
        (Some(0), _) => push("train.max_steps", "must be >= 1".into()),
        (_, Some(0)) => push("train.epochs", "must be >= 1".into()),
        _ => {}
    }
    for (path, value) in [
        ("train.batch_size", t.batch_size as u64),
        ("train.grad_accum_steps", t.grad_accum_steps),
        ("train.eval_every", t.eval_every),
        ("train.eval_batch_size", t.eval_batch_size as u64),
        ("train.keep_checkpoints", t.keep_checkpoints as u64),
        ("logging.every", c.logging.every),
    ] {
        if value == 0 {
            push(path, "must be >= 1".into());
        }
    }
    if let Some(n) = t.max_grad_norm
        && !(n.is_finite() && n > 0.0)
    {
        push("train.max_grad_norm", format!("must be a finite number > 0 (got {n})"));
    }
    if let Some(es) = &t.early_stopping
        && !(es.min_delta.is_finite() && es.min_delta >= 0.0)
    {
        push("train.early_stopping.min_delta", format!("must be a finite number >= 0 (got {})", es.min_delta));
    }
    if let Some(h) = &c.hooks.on_plateau {
        if !(h.threshold.is_finite() && h.threshold >= 0.0) {
            push("hooks.on_plateau.threshold", format!("must be a finite number >= 0 (got {})", h.threshold));
        }
        if h.action == PlateauAction::Reduce && !has_plateau(&c.schedule) {
            push("hooks.on_plateau.action", "`reduce` lowers the LR through the schedule, which has no `plateau`: use schedule.kind = plateau (or a composition with one), or action restart/stop".into());
        }
    }
    let dropout_ok = |p: f64| p.is_finite() && (0.0..1.0).contains(&p);
    match &c.model {
        ModelConfig::Mlp(m) => {
            if !dropout_ok(m.dropout) {
                push("model.dropout", format!("must be in [0, 1) (got {})", m.dropout));
            }
            if let Some(i) = m.hidden.iter().position(|&h| h == 0) {
                push(&format!("model.hidden[{i}]"), "must be >= 1".into());
            }
        }
        ModelConfig::Cnn(m) => {
            if !dropout_ok(m.dropout) {
                push("model.dropout", format!("must be in [0, 1) (got {})", m.dropout));
            }
            if m.channels.is_empty() {
                push("model.channels", "needs at least one convolution block".into());
            }
            if let Some(i) = m.channels.iter().position(|&h| h == 0) {
                push(&format!("model.channels[{i}]"), "must be >= 1".into());
            }
            if m.hidden == 0 {
                push("model.hidden", "must be >= 1".into());
            }
        }
        ModelConfig::BertClassifier(m) => out.extend(m.issues()),
    }
    out.extend(c.data.issues());
    if c.data.is_text() && !c.model.wants_text() {
        out.push(FieldIssue::new(
            "model.kind",
            "text data (data.kind = text_classification) needs a model with a tokenizer: model.kind = bert_classifier",
        ));
    }
    if c.model.wants_text() && !c.data.is_text() {
        out.push(FieldIssue::new(
            "data.kind",
            "model.kind = bert_classifier reads texts: use data.kind = text_classification",
        ));
    }
    out
}

/// Whether the schedule contains a `plateau`.
pub fn has_plateau(s: &ScheduleConfig) -> bool {
    match &s.kind {
        Kind::Plateau(_) => true,
        Kind::Sequential(c) => c.schedules.iter().any(has_plateau),
        Kind::Chained(c) => c.schedules.iter().any(has_plateau),
        _ => false,
    }
}

/// Checks that need the run's length and the data's task.
pub fn run_issues(c: &RunConfig, schedule: &Schedule, total_steps: u64, metrics: &Metrics) -> Vec<FieldIssue> {
    let mut out = Vec::new();
    let mut monitor = |path: &str, name: &str| {
        if let Err(issue) = metrics.resolve(path, name) {
            out.push(issue);
        }
    };
    for m in schedule.monitors() {
        monitor(&plateau_path(&c.schedule, "schedule", m).unwrap_or_else(|| "schedule.monitor".into()), m);
    }
    if let Some(es) = &c.train.early_stopping {
        monitor("train.early_stopping.monitor", &es.monitor);
    }
    if let Some(h) = &c.hooks.on_plateau {
        monitor("hooks.on_plateau.monitor", &h.monitor);
    }
    monitor("train.best_monitor", &c.train.best_monitor);

    if let Some(w) = &c.schedule.warmup
        && w.steps >= total_steps
    {
        out.push(FieldIssue::new(
            "schedule.warmup.steps",
            format!("the warmup ({} steps) is not shorter than the run ({total_steps} steps)", w.steps),
        ));
    }
    if let Kind::OneCycle(o) = &c.schedule.kind {
        let warm = c.schedule.warmup.as_ref().map_or(0, |w| w.steps);
        if let Some(cycle) = o.total_steps.or_else(|| Some(o.epochs? * o.steps_per_epoch?))
            && cycle + warm < total_steps
        {
            out.push(FieldIssue::new(
                    "schedule.total_steps",
                    format!(
                        "the cycle ({cycle} steps{}) is shorter than the run ({total_steps} steps); PyTorch's OneCycleLR fails past total_steps: set it to {}",
                        if warm > 0 { format!(" after {warm} warmup steps") } else { String::new() },
                        total_steps - warm
                    ),
                ));
        }
    }
    out
}

/// The field path of the `monitor` of the (first) plateau monitoring `name`.
fn plateau_path(s: &ScheduleConfig, path: &str, name: &str) -> Option<String> {
    match &s.kind {
        Kind::Plateau(p) if p.monitor == name => Some(format!("{path}.monitor")),
        Kind::Sequential(c) => {
            c.schedules.iter().enumerate().find_map(|(i, s)| plateau_path(s, &format!("{path}.schedules[{i}]"), name))
        }
        Kind::Chained(c) => {
            c.schedules.iter().enumerate().find_map(|(i, s)| plateau_path(s, &format!("{path}.schedules[{i}]"), name))
        }
        _ => None,
    }
}

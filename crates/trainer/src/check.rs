//! Config checks that serde cannot express: ranges, contradictions, and cross-field rules that
//! need the run's length (known once the data is loaded). Each problem names its field path.

use sched::{Kind, Schedule, ScheduleConfig};

use crate::config::RunConfig;
use crate::device::DeviceSpec;
use crate::error::FieldIssue;
use crate::run::metric::{MetricId, Metrics};

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
    if let Some(problem) = crate::paths::dir_name_problem(&c.name) {
        out.push(FieldIssue::new("name", problem));
    }
    for (i, entry) in c.compare.iter().enumerate() {
        if let Some(problem) = entry.label.as_deref().and_then(crate::paths::dir_name_problem) {
            out.push(FieldIssue::new(format!("compare[{i}].label"), problem));
        }
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

/// Checks of the sections besides name, device, optimizer and schedule: each section checks
/// itself, then the rules across sections.
fn section_issues(c: &RunConfig) -> Vec<FieldIssue> {
    let mut out = c.train.issues();
    out.extend(c.logging.issues());
    out.extend(c.hooks.issues(has_plateau(&c.schedule)));
    out.extend(c.model.issues());
    // A lower bound from the config alone: an absurd model is refused before any data loads.
    out.extend(crate::model::size::issue(&c.model, None));
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
    if c.data.is_lm() && !c.model.is_causal_lm() {
        out.push(FieldIssue::new(
            "model.kind",
            "language-model data (data.kind = text or instruction) needs model.kind = causal_lm",
        ));
    }
    if c.train.precision.low_dtype().is_some() && (c.model.is_causal_lm() || c.model.wants_text()) {
        out.push(FieldIssue::new(
            "train.precision",
            format!(
                "{} is implemented for model.kind mlp and cnn; pretrained models (bert_classifier, causal_lm) \
                 train in f32 for now",
                c.train.precision.name()
            ),
        ));
    }
    if c.model.is_causal_lm() && !c.data.is_lm() {
        out.push(FieldIssue::new(
            "data.kind",
            "model.kind = causal_lm trains on token sequences: use data.kind = text or instruction",
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

/// The config fields that name a metric, resolved against the task's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Monitored {
    /// `train.best_monitor`.
    pub best: MetricId,
    /// `train.early_stopping.monitor`, when early stopping is on.
    pub early_stopping: Option<MetricId>,
    /// `hooks.on_plateau.monitor`, when the hook is on.
    pub plateau_hook: Option<MetricId>,
}

/// Checks that need the run's length and the data's task; resolves every metric name of the
/// config once (the schedule's plateaus resolve theirs by name when they observe).
pub fn run_issues(
    c: &RunConfig,
    schedule: &Schedule,
    total_steps: u64,
    metrics: &Metrics,
) -> Result<Monitored, Vec<FieldIssue>> {
    let mut out = Vec::new();
    let mut monitor = |path: &str, name: &str| metrics.resolve(path, name).map_err(|issue| out.push(issue)).ok();
    for m in schedule.monitors() {
        monitor(&plateau_path(&c.schedule, "schedule", m).unwrap_or_else(|| "schedule.monitor".into()), m);
    }
    let early_stopping = c.train.early_stopping.as_ref().map(|es| monitor("train.early_stopping.monitor", &es.monitor));
    let plateau_hook = c.hooks.on_plateau.as_ref().map(|h| monitor("hooks.on_plateau.monitor", &h.monitor));
    let best = monitor("train.best_monitor", &c.train.best_monitor);
    out.extend(c.train.swa.as_ref().and_then(|s| s.horizon_issue("train.swa", total_steps)));

    // Every LR and momentum of the run usable: checked at the schedule's extremes.
    if let Err(issue) = sched::check_horizon(schedule, total_steps) {
        out.push(issue);
    }
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
    match (best, early_stopping, plateau_hook) {
        (Some(best), Some(Some(_)) | None, Some(Some(_)) | None) if out.is_empty() => {
            Ok(Monitored { best, early_stopping: early_stopping.flatten(), plateau_hook: plateau_hook.flatten() })
        }
        _ => Err(out),
    }
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

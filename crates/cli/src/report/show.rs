//! What `cli show` prints and draws for a run directory: the resolved config's key lines, the
//! status, final and best metrics, the checkpoints on disk and charts of `train/loss`,
//! `train/lr` and the validation metrics; for a folder of runs, one line per run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use trainer::Metric;
use trainer::run::inspect::{self, CheckpointEntry, Point, RunStatus};
use trainer::run::record::Ending;

use super::plot::{Chart, Series};
use super::terminal;

/// A run directory as read from disk.
#[derive(Debug)]
pub struct RunView {
    /// The directory.
    pub dir: PathBuf,
    /// `config.yaml` as a tree, or why it could not be read.
    pub config: Result<serde_json::Value, String>,
    /// Its status, or why it could not be found out.
    pub status: Result<RunStatus, String>,
    /// Its checkpoint directories.
    pub checkpoints: Vec<CheckpointEntry>,
    /// `metrics.jsonl`, or why it could not be read.
    pub metrics: Result<Vec<Point>, String>,
}

/// Whether `dir` looks like a run directory (it has a `config.yaml` or a `metrics.jsonl`).
pub fn is_run(dir: &Path) -> bool {
    dir.join(trainer::run::CONFIG_FILE).is_file() || dir.join("metrics.jsonl").is_file()
}

/// Reads the run in `dir`; nothing is created or changed.
pub fn read(dir: &Path) -> RunView {
    let config_path = dir.join(trainer::run::CONFIG_FILE);
    let config = trainer::safe_fs::read_to_string(&config_path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_saphyr::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string()))
        .map_err(|e| format!("{}: {e}", config_path.display()));
    RunView {
        dir: dir.to_owned(),
        config,
        status: inspect::status(dir).map_err(|e| e.to_string()),
        checkpoints: inspect::checkpoints(dir),
        metrics: inspect::metrics(dir).map_err(|e| e.to_string()),
    }
}

impl RunView {
    /// The `(step, value)` series of `tag` (null values left out).
    pub fn series(&self, tag: &str) -> Vec<(u64, f64)> {
        let points = self.metrics.as_deref().unwrap_or_default();
        points.iter().filter(|p| p.tag == tag).filter_map(|p| Some((p.step, p.value?))).collect()
    }

    /// The tags of the evaluation metrics (`val/…`, not the per-class `val/<score>/<class>`),
    /// in first-logged order.
    fn val_tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        for p in self.metrics.as_deref().unwrap_or_default() {
            if p.tag.starts_with("val/") && p.tag.matches('/').count() == 1 && !tags.contains(&p.tag) {
                tags.push(p.tag.clone());
            }
        }
        tags
    }

    /// Steps done as far as the files tell: the last logged training step + 1.
    fn steps_logged(&self) -> Option<u64> {
        self.series("train/loss").last().map(|p| p.0 + 1)
    }

    /// The planned steps: the record's, else the config's `train.max_steps`.
    fn total_steps(&self) -> Option<u64> {
        match &self.status {
            Ok(RunStatus::Ended(r)) => Some(r.total_steps),
            _ => self.config.as_ref().ok().and_then(|c| c["train"]["max_steps"].as_u64()),
        }
    }
}

/// `S/T` steps, or `S` when the total is unknown.
fn of_total(steps: u64, total: Option<u64>) -> String {
    total.map_or_else(|| steps.to_string(), |t| format!("{steps}/{t}"))
}

/// The status in a few words.
pub fn status_text(v: &RunView) -> String {
    let total = v.total_steps();
    match &v.status {
        Err(e) => format!("unknown ({e})"),
        Ok(RunStatus::Running { pid }) => {
            let by = pid.map_or_else(String::new, |p| format!(" (process {p})"));
            let at = v.steps_logged().map_or_else(String::new, |s| format!(", at step {}", of_total(s, total)));
            format!("running{by}{at}")
        }
        Ok(RunStatus::Ended(r)) => {
            let steps = of_total(r.steps_done, Some(r.total_steps));
            match r.stop {
                Ending::Completed => format!("completed: {steps} steps in {:.1} s", r.elapsed_s),
                Ending::EarlyStopping => format!("stopped early (early stopping) at step {steps}"),
                Ending::Plateau => format!("stopped on a plateau (hooks.on_plateau) at step {steps}"),
                Ending::Interrupted => format!("interrupted at step {steps}"),
                Ending::Failed => {
                    format!("failed at step {steps}: {}", r.error.as_deref().unwrap_or("no reason recorded"))
                }
            }
        }
        Ok(RunStatus::Unfinished { checkpoint }) => {
            let at = checkpoint.map_or_else(
                || "no checkpoint".to_owned(),
                |s| format!("newest checkpoint at step {}", of_total(s, total)),
            );
            format!("stopped without finishing (killed or crashed), {at}")
        }
    }
}

/// Whether `resume` can continue the run: it stopped before its end and has a periodic
/// checkpoint.
fn resumable(v: &RunView) -> bool {
    let checkpoint = v.checkpoints.iter().any(|c| c.name.starts_with("step-"));
    match &v.status {
        Ok(RunStatus::Ended(r)) => matches!(r.stop, Ending::Interrupted | Ending::Failed) && checkpoint,
        Ok(RunStatus::Unfinished { checkpoint }) => checkpoint.is_some(),
        _ => false,
    }
}

/// `final V (step S)[, best B (step T)]` of `tag`; the best only for known metrics.
fn final_and_best(v: &RunView, tag: &str) -> Option<String> {
    let series = v.series(tag);
    let &(step, value) = series.last()?;
    let mut s = format!("final {value:.4} (step {step})");
    if let Some(m) = Metric::named(tag) {
        let better = |a: f64, b: f64| match m.direction {
            trainer::Direction::Min => a < b,
            trainer::Direction::Max => a > b,
        };
        let best = series.iter().copied().reduce(|b, p| if better(p.1, b.1) { p } else { b });
        if let Some((bs, bv)) = best {
            let _ = write!(s, ", best {bv:.4} (step {bs})");
        }
    }
    Some(s)
}

/// The config's key lines: `(key, value)`.
fn config_lines(c: &serde_json::Value) -> Vec<(&'static str, String)> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "–".to_owned(),
        other => other.to_string(),
    };
    let steps = match (c["train"]["max_steps"].as_u64(), c["train"]["epochs"].as_u64()) {
        (Some(s), _) => format!("{s} (train.max_steps)"),
        (None, Some(e)) => format!("{e} epochs"),
        _ => "–".to_owned(),
    };
    vec![
        ("name", text(&c["name"])),
        ("model", text(&c["model"]["kind"])),
        ("data", text(&c["data"]["kind"])),
        ("optimizer", format!("{}, lr {}", text(&c["optimizer"]["kind"]), text(&c["optimizer"]["lr"]))),
        ("schedule", text(&c["schedule"]["kind"])),
        ("steps", steps),
    ]
}

/// The full report of one run: key lines, then a chart per series.
pub fn text(v: &RunView, program: &str) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    match &v.config {
        Ok(c) => lines.extend(config_lines(c).into_iter().map(|(k, s)| (k.to_owned(), s))),
        Err(e) => lines.push(("config".into(), format!("unreadable ({e})"))),
    }
    lines.push(("status".into(), status_text(v)));
    if resumable(v) {
        let dir = crate::invocation::shell_word(&v.dir.to_string_lossy());
        lines.push(("continue with".into(), format!("{program} resume {dir}")));
    }
    if let Err(e) = &v.metrics {
        lines.push(("metrics".into(), format!("unreadable ({e})")));
    }
    for tag in std::iter::once("train/loss".to_owned()).chain(v.val_tags()) {
        if let Some(s) = final_and_best(v, &tag) {
            lines.push((tag, s));
        }
    }
    let checkpoints: Vec<String> = v
        .checkpoints
        .iter()
        .map(|c| c.step.map_or_else(|| format!("{} (unreadable)", c.name), |s| format!("{} ({s} steps)", c.name)))
        .collect();
    lines.push(("checkpoints".into(), if checkpoints.is_empty() { "none".into() } else { checkpoints.join(", ") }));
    let width = lines.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0) + 1;
    let mut s = format!("{}\n", v.dir.display());
    for (k, value) in &lines {
        let _ = writeln!(s, "  {:<width$} {value}", format!("{k}:"));
    }
    for tag in chart_tags(v) {
        let _ = write!(s, "\n{}", terminal::chart(&tag, &v.series(&tag)));
    }
    s
}

/// The charted tags: `train/loss`, `train/lr` and the validation metrics.
fn chart_tags(v: &RunView) -> Vec<String> {
    let mut tags = vec!["train/loss".to_owned(), "train/lr".to_owned()];
    tags.extend(v.val_tags());
    tags
}

/// One line for a run of a folder: its label, status and its first two validation metrics
/// (`val/loss` and the task's headline: accuracy, perplexity, MAE).
pub fn summary_line(label: &str, v: &RunView, width: usize) -> String {
    let mut s = format!("{label:<width$}  {}", status_text(v));
    for tag in v.val_tags().into_iter().take(2) {
        if let Some(m) = final_and_best(v, &tag) {
            let _ = write!(s, " | {tag} {m}");
        }
    }
    s
}

/// The PNG panels: one per charted tag, one line per run.
pub fn charts(runs: &[(String, RunView)]) -> Vec<Chart> {
    let mut tags: Vec<String> = Vec::new();
    for (_, v) in runs {
        for t in chart_tags(v) {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
    }
    tags.into_iter()
        .map(|tag| Chart {
            title: tag.clone(),
            x_label: "optimizer step".into(),
            y_label: tag.clone(),
            log_y: tag == "train/loss" || tag == "val/loss",
            series: runs
                .iter()
                .map(|(label, v)| Series {
                    label: if runs.len() > 1 { label.clone() } else { String::new() },
                    points: v.series(&tag).into_iter().map(|(s, y)| (s as f64, y)).collect(),
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

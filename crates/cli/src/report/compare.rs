//! The comparison table of `compare`: per schedule, best and final `val/loss`, best
//! `val/accuracy`, the step a target was first reached, and wall time — all read back from each
//! run's `metrics.jsonl`, so the table and the runs agree.

use std::fmt::Write as _;
use std::path::Path;

use super::plot::{Chart, Series};
use crate::error::CliError;

/// `METRIC=VALUE`: report the first step at which METRIC reaches VALUE (at least it for
/// accuracies, at most it for losses).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The metric, e.g. `val/accuracy`.
    pub metric: String,
    /// The value to reach.
    pub value: f64,
}

impl Target {
    /// Parses `val/accuracy=0.95`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (m, v) =
            s.split_once('=').ok_or_else(|| format!("--target {s}: expected METRIC=VALUE, e.g. val/accuracy=0.95"))?;
        let value: f64 = v.trim().parse().map_err(|_| format!("--target {s}: `{v}` is not a number"))?;
        if !value.is_finite() {
            return Err(format!("--target {s}: the value must be a finite number (got `{}`)", v.trim()));
        }
        let metric = m.trim();
        let known = || trainer::Metric::ALL.map(|m| m.name).join(", ");
        trainer::Metric::named(metric)
            .ok_or_else(|| format!("--target {s}: unknown metric `{metric}` (known: {})", known()))?;
        Ok(Self { metric: metric.to_owned(), value })
    }

    /// Whether a higher value is better.
    fn maximised(&self) -> bool {
        trainer::Metric::named(&self.metric).is_some_and(|m| m.direction == trainer::Direction::Max)
    }

    fn reached(&self, v: f64) -> bool {
        if self.maximised() { v >= self.value } else { v <= self.value }
    }
}

/// How a run of the comparison ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It ran all its steps.
    Completed,
    /// Early stopping or a plateau hook ended it.
    StoppedEarly,
    /// Ctrl-C stopped it, or came before it started.
    Interrupted,
    /// It failed (the error is printed).
    Failed,
}

impl Status {
    /// The status of a run that stopped for `reason`.
    pub fn of(reason: trainer::StopReason) -> Self {
        match reason {
            trainer::StopReason::Completed => Status::Completed,
            trainer::StopReason::EarlyStopping | trainer::StopReason::Plateau => Status::StoppedEarly,
            trainer::StopReason::Interrupted => Status::Interrupted,
        }
    }

    /// As the table shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::StoppedEarly => "stopped early",
            Status::Interrupted => "interrupted",
            Status::Failed => "failed",
        }
    }
}

/// One schedule's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The schedule's label.
    pub label: String,
    /// How the run ended.
    pub status: Status,
    /// Lowest `val/loss` and its step.
    pub best_loss: Option<(f64, u64)>,
    /// Last `val/loss`.
    pub final_loss: Option<f64>,
    /// Highest `val/accuracy` and its step.
    pub best_accuracy: Option<(f64, u64)>,
    /// First step at which the target was reached.
    pub target_step: Option<u64>,
    /// Wall time of the run, seconds (none when it failed or never started).
    pub seconds: Option<f64>,
}

/// Reads a run's `metrics.jsonl` into its row; a run with no such file (one that failed or never
/// started) has no values.
pub fn row(
    label: &str,
    run_dir: &Path,
    target: Option<&Target>,
    status: Status,
    seconds: Option<f64>,
) -> Result<Row, String> {
    let path = run_dir.join("metrics.jsonl");
    let text = match trainer::safe_fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut r = Row {
        label: label.to_owned(),
        status,
        best_loss: None,
        final_loss: None,
        best_accuracy: None,
        target_step: None,
        seconds,
    };
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("{}: {e}", path.display()))?;
        let (Some(tag), Some(step), Some(value)) = (v["tag"].as_str(), v["step"].as_u64(), v["value"].as_f64()) else {
            continue;
        };
        match tag {
            "val/loss" => {
                r.final_loss = Some(value);
                if r.best_loss.is_none_or(|(b, _)| value < b) {
                    r.best_loss = Some((value, step));
                }
            }
            "val/accuracy" if r.best_accuracy.is_none_or(|(b, _)| value > b) => r.best_accuracy = Some((value, step)),
            _ => {}
        }
        if let Some(t) = target
            && r.target_step.is_none()
            && tag == t.metric
            && t.reached(value)
        {
            r.target_step = Some(step);
        }
    }
    Ok(r)
}

fn cells(r: &Row, target: Option<&Target>) -> Vec<String> {
    let opt = |v: Option<(f64, u64)>| v.map_or("–".to_owned(), |(x, s)| format!("{x:.4} (step {s})"));
    let mut c = vec![
        r.label.clone(),
        opt(r.best_loss),
        r.final_loss.map_or("–".to_owned(), |x| format!("{x:.4}")),
        opt(r.best_accuracy),
    ];
    if target.is_some() {
        c.push(r.target_step.map_or("not reached".to_owned(), |s| s.to_string()));
    }
    c.push(r.seconds.map_or("–".to_owned(), |x| format!("{x:.1}")));
    c.push(r.status.as_str().to_owned());
    c
}

fn header(first: &str, target: Option<&Target>) -> Vec<String> {
    let mut h = vec![first.to_owned(), "best val/loss".into(), "final val/loss".into(), "best val/accuracy".into()];
    if let Some(t) = target {
        h.push(format!("step {} {} {}", t.metric, if t.maximised() { "≥" } else { "≤" }, t.value));
    }
    h.push("wall time (s)".into());
    h.push("status".into());
    h
}

/// The table as aligned text; `first` names the first column (`schedule`, `point`).
pub fn text(first: &str, rows: &[Row], target: Option<&Target>) -> String {
    aligned(std::iter::once(header(first, target)).chain(rows.iter().map(|r| cells(r, target))).collect())
}

/// `table` (its first row the header) as left-aligned text columns with a rule under the header.
pub(crate) fn aligned(table: Vec<Vec<String>>) -> String {
    let width = table.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..width)
        .map(|i| table.iter().map(|r| r.get(i).map_or(0, |c| c.chars().count())).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for (n, r) in table.iter().enumerate() {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
        if n == 0 {
            let _ = writeln!(s, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
    }
    s
}

/// The table in Markdown; `first` names the first column.
pub fn markdown(first: &str, rows: &[Row], target: Option<&Target>) -> String {
    markdown_table(&header(first, target), rows.iter().map(|r| cells(r, target)))
}

/// A Markdown table of `header` and `rows`.
pub(crate) fn markdown_table(header: &[String], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut s = format!("| {} |\n|{}\n", header.join(" | "), " --- |".repeat(header.len()));
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

/// The table as CSV (plain numbers, empty when missing).
pub fn csv(first: &str, rows: &[Row], target: Option<&Target>) -> String {
    let mut s =
        format!("{first},best_val_loss,best_val_loss_step,final_val_loss,best_val_accuracy,best_val_accuracy_step");
    if target.is_some() {
        s.push_str(",target_step");
    }
    s.push_str(",wall_seconds,status\n");
    let o = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let st = |v: Option<u64>| v.map_or(String::new(), |x| x.to_string());
    for r in rows {
        let _ = write!(
            s,
            "{},{},{},{},{},{}",
            r.label,
            o(r.best_loss.map(|b| b.0)),
            st(r.best_loss.map(|b| b.1)),
            o(r.final_loss),
            o(r.best_accuracy.map(|b| b.0)),
            st(r.best_accuracy.map(|b| b.1))
        );
        if target.is_some() {
            let _ = write!(s, ",{}", st(r.target_step));
        }
        let _ = writeln!(s, ",{},{}", o(r.seconds), r.status.as_str());
    }
    s
}

/// Prints the table and writes `summary.csv`, `summary.md` and `compare.png` into `dir`.
pub fn write_all(dir: &Path, first: &str, rows: &[Row], target: Option<&Target>) -> Result<(), CliError> {
    let table = text(first, rows, target);
    crate::output::say(format_args!("\n{table}"));
    for (name, text) in [("summary.csv", csv(first, rows, target)), ("summary.md", markdown(first, rows, target))] {
        let path = dir.join(name);
        trainer::safe_fs::write_atomic(&path, text.as_bytes())
            .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
    }
    let png = dir.join("compare.png");
    super::plot::render(&png, &charts(dir, rows)).map_err(CliError::Other)?;
    crate::output::say(format_args!("wrote {}, summary.md and compare.png", dir.join("summary.csv").display()));
    let logdir = crate::invocation::shell_word(&dir.to_string_lossy());
    crate::output::say(format_args!(
        "overlay the curves: {}",
        crate::tensorboard::command(&logdir, max_points(dir, rows))
    ));
    Ok(())
}

/// The most points any tag of any run logged (for the TensorBoard command).
fn max_points(dir: &Path, rows: &[Row]) -> u64 {
    let mut most = 0;
    for r in rows {
        let text = std::fs::read_to_string(dir.join(&r.label).join("metrics.jsonl")).unwrap_or_default();
        let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for v in text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
            if let Some(tag) = v["tag"].as_str() {
                *counts.entry(tag.to_owned()).or_default() += 1;
            }
        }
        most = most.max(counts.into_values().max().unwrap_or(0));
    }
    most
}

/// LR, validation loss and validation accuracy of every run, one panel each.
fn charts(dir: &Path, rows: &[Row]) -> Vec<Chart> {
    let series = |tag: &str| -> Vec<Series> {
        rows.iter()
            .map(|r| {
                let points = std::fs::read_to_string(dir.join(&r.label).join("metrics.jsonl"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter(|v| v["tag"] == tag)
                    .filter_map(|v| Some((v["step"].as_u64()? as f64, v["value"].as_f64()?)))
                    .collect();
                Series { label: r.label.clone(), points }
            })
            .collect()
    };
    let chart = |title: &str, tag: &str, log_y: bool| Chart {
        title: title.to_owned(),
        x_label: "optimizer step".into(),
        y_label: tag.to_owned(),
        log_y,
        series: series(tag),
        ..Default::default()
    };
    PANELS.iter().map(|&(title, tag, log_y)| chart(title, tag, log_y)).collect()
}

/// The compare figure's panels: title, tag, log-scaled y axis.
pub(crate) const PANELS: [(&str, &str, bool); 3] = [
    ("learning rate", "train/lr", false),
    ("validation loss", "val/loss", true),
    ("validation accuracy", "val/accuracy", false),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_from_metrics_and_targets_respect_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            (9, "val/loss", 0.9),
            (9, "val/accuracy", 0.80),
            (19, "val/loss", 0.5),
            (19, "val/accuracy", 0.96),
            (29, "val/loss", 0.6),
            (29, "val/accuracy", 0.95),
        ];
        let text_: String = lines
            .iter()
            .map(|(s, t, v)| format!("{{\"step\": {s}, \"tag\": \"{t}\", \"value\": {v}, \"wall_time\": 1.0}}\n"))
            .collect();
        std::fs::write(dir.path().join("metrics.jsonl"), text_).unwrap();
        let t = Target::parse("val/accuracy=0.95").unwrap();
        let r = row("a", dir.path(), Some(&t), Status::Completed, Some(1.5)).unwrap();
        assert_eq!(r.best_loss, Some((0.5, 19)));
        assert_eq!(r.final_loss, Some(0.6));
        assert_eq!(r.best_accuracy, Some((0.96, 19)));
        assert_eq!(r.target_step, Some(19));
        let l = Target::parse("val/loss=0.55").unwrap();
        assert_eq!(row("a", dir.path(), Some(&l), Status::Completed, Some(1.5)).unwrap().target_step, Some(19));
        assert!(Target::parse("val/loss").is_err());
        let md = markdown("schedule", std::slice::from_ref(&r), Some(&t));
        assert!(md.contains("| a | 0.5000 (step 19) | 0.6000 | 0.9600 (step 19) | 19 | 1.5 | completed |"), "{md}");
        assert!(csv("schedule", &[r], Some(&t)).contains("\na,0.5,19,0.6,0.96,19,19,1.5,completed\n"));
    }

    #[test]
    fn unfinished_runs_are_marked_and_have_no_made_up_values() {
        let dir = tempfile::tempdir().unwrap();
        let failed = row("f", &dir.path().join("missing"), None, Status::Failed, None).unwrap();
        let stopped = row("i", &dir.path().join("missing"), None, Status::Interrupted, Some(2.0)).unwrap();
        let rows = [failed, stopped];
        let csv_ = csv("schedule", &rows, None);
        assert!(csv_.contains("\nf,,,,,,,failed\n"), "{csv_}");
        assert!(csv_.contains("\ni,,,,,,2,interrupted\n"), "{csv_}");
        let table = text("schedule", &rows, None);
        let cells: Vec<&str> = table.lines().nth(2).unwrap().split_whitespace().collect();
        assert_eq!(cells, ["f", "–", "–", "–", "–", "failed"], "{table}");
        assert!(markdown("schedule", &rows, None).contains("| i | – | – | – | 2.0 | interrupted |"));
    }

    #[test]
    fn targets_must_be_finite() {
        for bad in ["val/loss=nan", "val/loss=inf", "val/accuracy=-inf", "val/loss=NaN"] {
            assert!(Target::parse(bad).unwrap_err().contains("finite"), "{bad}");
        }
    }
}

//! The table of `compare --seeds`: per schedule, the mean ± sample standard deviation over its
//! seeds of each column of the one-seed table, and whether it differs from the best schedule by
//! more than the seed-to-seed spread (Welch's t-test, two-sided, at 5 %).

use std::fmt::Write as _;
use std::path::Path;

use super::compare::{Row, Status, Target};
use super::plot::{Band, Chart, Series};
use super::stats::{mean_std, welch_p};
use crate::error::CliError;

/// The significance level of the test against the best schedule.
pub const ALPHA: f64 = 0.05;

/// One schedule's runs, one per seed.
#[derive(Debug, Clone)]
pub struct Group {
    /// The schedule's label (its directory in the comparison).
    pub label: String,
    /// `(seed, row)` of each run.
    pub runs: Vec<(u64, Row)>,
}

/// The columns averaged over the seeds: header, CSV name, value of a row, decimals shown.
type Column = (&'static str, &'static str, fn(&Row) -> Option<f64>, usize);

fn columns(target: Option<&Target>) -> Vec<Column> {
    let mut c: Vec<Column> = vec![
        ("best val/loss", "best_val_loss", |r| r.best_loss.map(|b| b.0), 4),
        ("final val/loss", "final_val_loss", |r| r.final_loss, 4),
        ("best val/accuracy", "best_val_accuracy", |r| r.best_accuracy.map(|b| b.0), 4),
    ];
    if target.is_some() {
        c.push(("target step (runs reaching it)", "target_step", |r| r.target_step.map(|s| s as f64), 0));
    }
    c.push(("wall time (s)", "wall_seconds", |r| r.seconds, 2));
    c
}

impl Group {
    fn values(&self, f: fn(&Row) -> Option<f64>) -> Vec<f64> {
        self.runs.iter().filter_map(|(_, r)| f(r)).collect()
    }

    fn completed(&self) -> usize {
        self.runs.iter().filter(|(_, r)| r.status == Status::Completed).count()
    }
}

/// A ranking metric: its name, how it is read from a row, whether higher is better.
type Ranking = (&'static str, fn(&Row) -> Option<f64>, bool);

/// The metric schedules are ranked by: best val/accuracy (higher is better) when the runs have
/// it, else best val/loss (lower is better).
fn ranking(groups: &[Group]) -> Ranking {
    let accuracy: fn(&Row) -> Option<f64> = |r| r.best_accuracy.map(|b| b.0);
    if groups.iter().any(|g| !g.values(accuracy).is_empty()) {
        ("best val/accuracy", accuracy, true)
    } else {
        ("best val/loss", |r| r.best_loss.map(|b| b.0), false)
    }
}

/// Per group: `Some(None)` for the best, `Some(Some(p))` for the others' p-value against it,
/// `None` where no test is possible (fewer than two values).
pub fn versus_best(groups: &[Group]) -> Vec<Option<Option<f64>>> {
    let (_, metric, higher) = ranking(groups);
    let means: Vec<Option<f64>> = groups.iter().map(|g| mean_std(&g.values(metric)).map(|m| m.0)).collect();
    let best = (0..groups.len()).filter(|&i| means[i].is_some()).max_by(|&a, &b| {
        let (x, y) = (means[a].unwrap_or(0.0), means[b].unwrap_or(0.0));
        if higher { x.total_cmp(&y) } else { y.total_cmp(&x) }
    });
    let Some(best) = best else { return vec![None; groups.len()] };
    let best_values = groups[best].values(metric);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| if i == best { Some(None) } else { welch_p(&g.values(metric), &best_values).map(Some) })
        .collect()
}

fn verdict(v: Option<Option<f64>>) -> String {
    match v {
        Some(None) => "best".into(),
        Some(Some(p)) if p < ALPHA => format!("differs (p={p:.3})"),
        Some(Some(p)) => format!("within noise (p={p:.3})"),
        None => "–".into(),
    }
}

fn cells(g: &Group, target: Option<&Target>, v: Option<Option<f64>>) -> Vec<String> {
    let mut c = vec![g.label.clone()];
    for (name, _, f, d) in columns(target) {
        let values = g.values(f);
        let mut cell = mean_std(&values).map_or("–".into(), |(m, s)| format!("{m:.d$} ± {s:.d$}"));
        if name.starts_with("target step") {
            cell = format!("{cell} ({}/{})", values.len(), g.runs.len());
        }
        c.push(cell);
    }
    c.push(format!("{}/{} completed", g.completed(), g.runs.len()));
    c.push(verdict(v));
    c
}

fn header(first: &str, groups: &[Group], target: Option<&Target>) -> Vec<String> {
    let mut h = vec![first.to_owned()];
    h.extend(columns(target).iter().map(|c| c.0.to_owned()));
    h.push("runs".into());
    h.push(format!("vs best ({}, Welch t-test 5 %)", ranking(groups).0));
    h
}

/// The table as aligned text.
pub fn text(first: &str, groups: &[Group], target: Option<&Target>) -> String {
    let verdicts = versus_best(groups);
    let rows = groups.iter().zip(&verdicts).map(|(g, v)| cells(g, target, *v));
    super::compare::aligned(std::iter::once(header(first, groups, target)).chain(rows).collect())
}

/// The table in Markdown.
pub fn markdown(first: &str, groups: &[Group], target: Option<&Target>) -> String {
    let rows = groups.iter().zip(versus_best(groups)).map(|(g, v)| cells(g, target, v));
    super::compare::markdown_table(&header(first, groups, target), rows)
}

/// The table as CSV: mean and standard deviation of each column, the p-value against the best
/// schedule (empty for the best) and whether it differs at 5 %.
pub fn csv(first: &str, groups: &[Group], target: Option<&Target>) -> String {
    let mut s = format!("{first},seeds,completed");
    for (_, name, _, _) in columns(target) {
        let _ = write!(s, ",{name}_mean,{name}_std");
    }
    s.push_str(",p_value_vs_best,differs_from_best\n");
    for (g, v) in groups.iter().zip(versus_best(groups)) {
        let seeds: Vec<String> = g.runs.iter().map(|(s, _)| s.to_string()).collect();
        let _ = write!(s, "{},{},{}", g.label, seeds.join(" "), g.completed());
        for (_, _, f, _) in columns(target) {
            match mean_std(&g.values(f)) {
                Some((m, sd)) => _ = write!(s, ",{m},{sd}"),
                None => s.push_str(",,"),
            }
        }
        let (p, differs) = match v {
            Some(Some(p)) => (p.to_string(), (p < ALPHA).to_string()),
            Some(None) => (String::new(), "false".into()),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(s, ",{p},{differs}");
    }
    s
}

/// Prints the table and writes `summary.csv`, `summary.md` and `compare.png` into `dir`.
pub fn write_all(dir: &Path, first: &str, groups: &[Group], target: Option<&Target>) -> Result<(), CliError> {
    crate::output::say(format_args!("\n{}", text(first, groups, target)));
    crate::output::say(format_args!(
        "(mean ± sample standard deviation over the seeds; \"differs\": Welch's t-test against the best, p < {ALPHA})"
    ));
    for (name, text) in [("summary.csv", csv(first, groups, target)), ("summary.md", markdown(first, groups, target))] {
        let path = dir.join(name);
        trainer::safe_fs::write_atomic(&path, text.as_bytes())
            .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
    }
    super::plot::render(&dir.join("compare.png"), &charts(dir, groups)).map_err(CliError::Other)?;
    crate::output::say(format_args!("wrote {}, summary.md and compare.png", dir.join("summary.csv").display()));
    Ok(())
}

/// `(step, values of the seeds at that step)` of `tag` over a group's runs.
fn by_step(dir: &Path, g: &Group, tag: &str) -> std::collections::BTreeMap<u64, Vec<f64>> {
    let mut out: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    for (seed, _) in &g.runs {
        let path = dir.join(&g.label).join(format!("seed-{seed}")).join("metrics.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for v in text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
            if v["tag"] == tag
                && let (Some(step), Some(value)) = (v["step"].as_u64(), v["value"].as_f64())
            {
                out.entry(step).or_default().push(value);
            }
        }
    }
    out
}

/// LR, validation loss and accuracy: each schedule's mean over its seeds, shaded min–max.
fn charts(dir: &Path, groups: &[Group]) -> Vec<Chart> {
    let chart = |title: &str, tag: &str, log_y: bool| {
        let mut c = Chart {
            title: format!("{title} (mean over seeds, min–max shaded)"),
            x_label: "optimizer step".into(),
            y_label: tag.to_owned(),
            log_y,
            ..Default::default()
        };
        for (i, g) in groups.iter().enumerate() {
            let steps = by_step(dir, g, tag);
            let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
            let min_max = |v: &Vec<f64>| {
                (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            };
            let points = steps.iter().map(|(s, v)| (*s as f64, mean(v))).collect();
            c.series.push(Series { label: g.label.clone(), points });
            let band = steps.iter().map(|(s, v)| (*s as f64, min_max(v).0, min_max(v).1)).collect();
            c.bands.push(Band { series: i, points: band });
        }
        c
    };
    super::compare::PANELS.iter().map(|&(title, tag, log_y)| chart(title, tag, log_y)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(label: &str, accuracies: &[f64]) -> Group {
        let runs = accuracies
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let row = Row {
                    label: label.into(),
                    status: Status::Completed,
                    best_loss: Some((1.0 - a, 10)),
                    final_loss: Some(1.0 - a),
                    best_accuracy: Some((*a, 10)),
                    target_step: None,
                    seconds: Some(1.0),
                };
                (i as u64, row)
            })
            .collect();
        Group { label: label.into(), runs }
    }

    #[test]
    fn the_best_is_marked_and_others_tested_against_it() {
        let groups =
            [group("a", &[0.91, 0.93, 0.95]), group("b", &[0.88, 0.90, 0.89, 0.92]), group("c", &[0.50, 0.51, 0.52])];
        let v = versus_best(&groups);
        assert_eq!(v[0], Some(None));
        // The p-value of stats::tests::welch_matches_a_reference.
        assert!((v[1].unwrap().unwrap() - 0.086_558_245_450_186_69).abs() < 1e-12);
        assert!(v[2].unwrap().unwrap() < ALPHA);
        let table = text("schedule", &groups, None);
        assert!(table.contains("0.9300 ± 0.0200"), "{table}");
        assert!(table.contains("within noise (p=0.087)") && table.contains("differs (p="), "{table}");
        let csv_ = csv("schedule", &groups, None);
        assert!(csv_.starts_with("schedule,seeds,completed,best_val_loss_mean,best_val_loss_std,"), "{csv_}");
        assert!(csv_.contains("\nb,0 1 2 3,4,"), "{csv_}");
    }
}

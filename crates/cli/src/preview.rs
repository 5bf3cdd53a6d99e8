//! Schedule previews without training: every step's LR (and momentum), as CSV, a sampled table,
//! or a terminal chart with restarts and the warmup end marked.

use std::fmt::Write as _;
use std::io::Write;

use sched::{KeyPoint, KeyPointKind, Schedule};

use crate::report::plot::{Chart, Marker, Series};

/// One step of a preview.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// The optimizer step.
    pub step: u64,
    /// LR of the primary group.
    pub lr: f64,
    /// Momentum (or Adam `betas[0]`), when the schedule cycles it.
    pub momentum: Option<f64>,
}

/// Walks steps `0..steps`, calling `f` with each row; `metrics[i]` is observed (by every
/// monitored metric's plateaus) right after step `i`.
pub fn walk(schedule: &mut Schedule, base_momentum: f64, steps: u64, metrics: &[f64], mut f: impl FnMut(Row)) {
    walk_while(schedule, base_momentum, steps, metrics, |r| {
        f(r);
        true
    });
}

/// [`walk`] until `f` returns false.
pub fn walk_while(
    schedule: &mut Schedule,
    base_momentum: f64,
    steps: u64,
    metrics: &[f64],
    mut f: impl FnMut(Row) -> bool,
) {
    let monitors: Vec<String> = schedule.monitors().iter().map(|m| (*m).to_owned()).collect();
    let cycles = schedule.cycles_momentum();
    for t in 0..steps {
        let momentum = cycles.then(|| schedule.momentum(t).unwrap_or(base_momentum));
        if !f(Row { step: t, lr: schedule.lr(t), momentum }) {
            return;
        }
        if let Some(&m) = metrics.get(t as usize) {
            for name in &monitors {
                schedule.observe(t, name, m);
            }
        }
    }
}

/// Writes the CSV: header `step,lr` (`step,lr,momentum` when the schedule cycles momentum), one
/// row per step, f64 in Rust's round-trip `{}` format.
pub fn write_csv(
    out: &mut impl Write,
    schedule: &mut Schedule,
    base_momentum: f64,
    steps: u64,
    metrics: &[f64],
) -> std::io::Result<()> {
    let header = if schedule.cycles_momentum() { "step,lr,momentum" } else { "step,lr" };
    writeln!(out, "{header}")?;
    let mut result = Ok(());
    // Stops at the first failed write (a reader that went away).
    walk_while(schedule, base_momentum, steps, metrics, |r| {
        result = match r.momentum {
            Some(m) => writeln!(out, "{},{},{}", r.step, r.lr, m),
            None => writeln!(out, "{},{}", r.step, r.lr),
        };
        result.is_ok()
    });
    result
}

/// Reads a metrics file: one number per line (blank lines and `#` comments skipped).
pub fn read_metrics(path: &std::path::Path) -> Result<Vec<f64>, String> {
    let text = crate::yaml::read_capped(path, crate::yaml::MAX_METRICS_BYTES)
        .map_err(|e| format!("{}: cannot read the metrics: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            l.trim().parse::<f64>().map_err(|_| format!("{}:{}: `{}` is not a number", path.display(), i + 1, l.trim()))
        })
        .collect()
}

fn note(points: &[KeyPoint], step: u64) -> String {
    points
        .iter()
        .filter(|k| k.step == step)
        .map(|k| match k.kind {
            KeyPointKind::WarmupEnd => "warmup ends".to_owned(),
            KeyPointKind::Restart { cycle } => format!("restart (cycle {cycle})"),
            KeyPointKind::Milestone { index } => format!("milestone {index}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A readable report: key points, a sampled table and a terminal chart.
pub fn render_table(schedule: &mut Schedule, base_momentum: f64, steps: u64, metrics: &[f64]) -> String {
    let points = schedule.key_points(steps);
    const WIDTH: usize = 72;
    const HEIGHT: usize = 14;
    const SAMPLES: u64 = 16;
    let mut sampled: Vec<u64> = (0..SAMPLES).map(|i| i * steps.saturating_sub(1) / (SAMPLES - 1).max(1)).collect();
    sampled.extend(points.iter().take(24).flat_map(|k| [k.step.saturating_sub(1), k.step]));
    sampled.retain(|&s| s < steps);
    sampled.sort_unstable();
    sampled.dedup();

    let mut rows = Vec::new();
    let mut columns: Vec<(f64, f64)> = vec![(f64::INFINITY, f64::NEG_INFINITY); WIDTH];
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut next = 0;
    walk(schedule, base_momentum, steps, metrics, |r| {
        let c = ((r.step as u128 * WIDTH as u128) / steps.max(1) as u128) as usize;
        let col = &mut columns[c.min(WIDTH - 1)];
        *col = (col.0.min(r.lr), col.1.max(r.lr));
        (lo, hi) = (lo.min(r.lr), hi.max(r.lr));
        if sampled.get(next) == Some(&r.step) {
            rows.push(r);
            next += 1;
        }
    });

    let mut s = String::new();
    let momentum = rows.first().is_some_and(|r| r.momentum.is_some());
    let _ = writeln!(s, "{:>10}  {:>14}{}  note", "step", "lr", if momentum { "  momentum" } else { "" });
    for r in &rows {
        let m = r.momentum.map(|m| format!("  {m:>8.5}")).unwrap_or_default();
        let _ = writeln!(s, "{:>10}  {:>14.6e}{m}  {}", r.step, r.lr, note(&points, r.step));
    }
    if points.len() > 24 {
        let _ = writeln!(s, "({} key points; first 24 shown)", points.len());
    }
    let _ = writeln!(s);

    // Chart: each column spans steps.len()/WIDTH steps and is filled between its min and max.
    let span = if hi > lo { hi - lo } else { 1.0 };
    let level = |v: f64| (((v - lo) / span) * (HEIGHT - 1) as f64).round() as usize;
    for row in (0..HEIGHT).rev() {
        let label = if row == HEIGHT - 1 {
            format!("{hi:>10.3e} ┤")
        } else if row == 0 {
            format!("{lo:>10.3e} ┤")
        } else {
            format!("{:>10} │", "")
        };
        let line: String = columns
            .iter()
            .map(|&(a, b)| if a.is_finite() && level(a) <= row && row <= level(b) { '█' } else { ' ' })
            .collect();
        let _ = writeln!(s, "{label}{line}");
    }
    let mut axis = vec!['─'; WIDTH];
    for k in &points {
        let c = ((k.step as u128 * WIDTH as u128) / steps.max(1) as u128) as usize;
        if let Some(slot) = axis.get_mut(c) {
            *slot = match k.kind {
                KeyPointKind::WarmupEnd => 'W',
                KeyPointKind::Restart { .. } => 'R',
                KeyPointKind::Milestone { .. } => 'M',
            };
        }
    }
    let _ = writeln!(s, "{:>10} └{}", "", axis.iter().collect::<String>());
    let _ = writeln!(s, "{:>12}0{:>w$}", "", steps.saturating_sub(1), w = WIDTH - 1);
    // The legend names only the markers the axis shows.
    let legend: Vec<&str> = [('W', "W = warmup ends"), ('R', "R = warm restart"), ('M', "M = milestone")]
        .into_iter()
        .filter(|(c, _)| axis.contains(c))
        .map(|(_, text)| text)
        .collect();
    if !legend.is_empty() {
        let _ = writeln!(s, "{:>12}{}", "", legend.join(", "));
    }
    s
}

/// The LR (and momentum, when cycled) as PNG chart panels, with warmup end, restarts and
/// milestones marked. At most about 5000 points per line.
pub fn charts(schedule: &mut Schedule, base_momentum: f64, steps: u64, metrics: &[f64], title: &str) -> Vec<Chart> {
    let points = schedule.key_points(steps);
    let stride = steps.div_ceil(5000).max(1);
    let keep =
        |t: u64| t.is_multiple_of(stride) || t + 1 == steps || points.iter().any(|k| k.step == t || k.step == t + 1);
    let (mut lr, mut momentum) = (Vec::new(), Vec::new());
    walk(schedule, base_momentum, steps, metrics, |r| {
        if keep(r.step) {
            lr.push((r.step as f64, r.lr));
            if let Some(m) = r.momentum {
                momentum.push((r.step as f64, m));
            }
        }
    });
    let markers: Vec<Marker> = points
        .iter()
        .take(60)
        .map(|k| Marker {
            x: k.step as f64,
            label: match k.kind {
                KeyPointKind::WarmupEnd => "warmup end".to_owned(),
                KeyPointKind::Restart { cycle } => format!("restart {cycle}"),
                KeyPointKind::Milestone { index } => format!("milestone {index}"),
            },
        })
        .collect();
    let mut out = vec![Chart {
        title: title.to_owned(),
        x_label: "optimizer step".into(),
        y_label: "learning rate".into(),
        series: vec![Series { label: String::new(), points: lr }],
        markers: markers.clone(),
        ..Default::default()
    }];
    if !momentum.is_empty() {
        out.push(Chart {
            title: "momentum (SGD momentum or Adam beta1)".into(),
            x_label: "optimizer step".into(),
            y_label: "momentum".into(),
            series: vec![Series { label: String::new(), points: momentum }],
            markers,
            ..Default::default()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(json: &str) -> Schedule {
        Schedule::new(&serde_json::from_str(json).unwrap(), 0.1).unwrap()
    }

    #[test]
    fn csv_has_exact_header_rows_and_precision() {
        let mut s = schedule(r#"{"kind": "cosine", "t_max": 10}"#);
        let mut out = Vec::new();
        write_csv(&mut out, &mut s, 0.9, 11, &[]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step,lr");
        assert_eq!(lines.len(), 12);
        let s2 = schedule(r#"{"kind": "cosine", "t_max": 10}"#);
        for (t, line) in lines[1..].iter().enumerate() {
            let (step, lr) = line.split_once(',').unwrap();
            assert_eq!(step.parse::<u64>().unwrap(), t as u64);
            assert_eq!(lr.parse::<f64>().unwrap().to_bits(), s2.lr(t as u64).to_bits(), "round trip at {t}");
        }
    }

    #[test]
    fn csv_has_momentum_when_cycled_and_metrics_drive_plateaus() {
        let mut s = schedule(r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 20}"#);
        let mut out = Vec::new();
        write_csv(&mut out, &mut s, 0.9, 3, &[]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step,lr,momentum");
        let row: Vec<f64> = lines[1].split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(row[0], 0.0);
        assert!((row[1] - 0.004).abs() < 1e-15, "{}", lines[1]);
        assert_eq!(row[2], 0.95);

        let mut p = schedule(r#"{"kind": "plateau", "patience": 1, "factor": 0.5}"#);
        let mut lrs = Vec::new();
        walk(&mut p, 0.0, 6, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], |r| lrs.push(r.lr));
        assert_eq!(lrs, vec![0.1, 0.1, 0.1, 0.05, 0.05, 0.025]);
    }

    #[test]
    fn table_marks_restarts_and_warmup() {
        let mut s = schedule(
            r#"{"kind": "cosine_restarts", "t_0": 20, "t_mult": 2, "warmup": {"steps": 10, "start_factor": 0.1}}"#,
        );
        let text = render_table(&mut s, 0.0, 150, &[]);
        assert!(text.contains("warmup ends"), "{text}");
        assert!(text.contains("restart (cycle 1)"), "{text}");
        assert!(text.contains('R') && text.contains('W'));
        assert!(text.contains("1.000000e-1"), "{text}");
    }
}

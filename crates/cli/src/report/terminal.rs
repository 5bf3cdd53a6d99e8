//! A terminal line chart of one series (`cli show`): each column spans an equal range of steps
//! and is filled between the lowest and highest value in it, with the top and bottom values
//! and the first and last steps labelled.

use std::fmt::Write as _;

use super::plot::value_label;

/// Columns of the chart area.
pub const WIDTH: usize = 60;
/// Rows of the chart area.
pub const HEIGHT: usize = 8;

/// `title` and its chart of `points` (`(step, value)`, non-finite values skipped); a single line
/// saying so when there is nothing to draw.
pub fn chart(title: &str, points: &[(u64, f64)]) -> String {
    let finite: Vec<(u64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    let (Some(first), Some(last)) = (finite.iter().map(|p| p.0).min(), finite.iter().map(|p| p.0).max()) else {
        return format!("{title}: no points\n");
    };
    let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let span_steps = (last - first).max(1);
    let mut columns = vec![(f64::INFINITY, f64::NEG_INFINITY); WIDTH];
    for &(step, v) in &finite {
        let c = (((step - first) as u128 * (WIDTH - 1) as u128) / span_steps as u128) as usize;
        let col = &mut columns[c.min(WIDTH - 1)];
        *col = (col.0.min(v), col.1.max(v));
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    let level = |v: f64| (((v - lo) / span) * (HEIGHT - 1) as f64).round() as usize;
    let (top, bottom) = (value_label(hi), value_label(lo));
    let label_width = top.len().max(bottom.len());
    let mut s = format!("{title} ({} points)\n", finite.len());
    for row in (0..HEIGHT).rev() {
        let label = match row {
            r if r == HEIGHT - 1 => format!("{top:>label_width$} ┤"),
            0 => format!("{bottom:>label_width$} ┤"),
            _ => format!("{:>label_width$} │", ""),
        };
        let line: String = columns
            .iter()
            .map(|&(a, b)| if a.is_finite() && level(a) <= row && row <= level(b) { '█' } else { ' ' })
            .collect();
        let _ = writeln!(s, "{label}{}", line.trim_end());
    }
    let _ = writeln!(s, "{:>label_width$} └{}", "", "─".repeat(WIDTH));
    let last_label = format!("step {last}");
    let first_label = first.to_string();
    let gap = (WIDTH + 2).saturating_sub(first_label.len());
    let _ = writeln!(s, "{:>label_width$}{first_label}{last_label:>gap$}", "");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_falling_series_fills_from_the_top_left_to_the_bottom_right() {
        let points: Vec<(u64, f64)> = (0..100).map(|t| (t, 1.0 - t as f64 / 100.0)).collect();
        let text = chart("train/loss", &points);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "train/loss (100 points)");
        assert!(lines[1].starts_with("   1 ┤█"), "{text}");
        assert!(lines[HEIGHT].starts_with("0.01 ┤") && lines[HEIGHT].ends_with('█'), "{text}");
        assert!(lines[HEIGHT + 2].ends_with("step 99"), "{text}");
        assert_eq!(chart("val/loss", &[(3, f64::NAN)]), "val/loss: no points\n");
    }
}

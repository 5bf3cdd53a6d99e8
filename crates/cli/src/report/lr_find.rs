//! What `lr-find` writes and prints: `lr_find.csv`, `lr_find.png` and the suggested LRs.

use std::path::Path;

use super::plot::{Chart, Marker, Series, value_label};
use crate::error::CliError;
use crate::lr_find::{Point, Suggestion, lr_at};

/// The sweep as the user asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Sweep {
    /// First learning rate.
    pub min: f64,
    /// Last learning rate.
    pub max: f64,
    /// Optimizer steps asked for.
    pub steps: u64,
}

/// Writes `lr_find.csv` into `out_dir` and prints how many steps ran (and where the loss
/// diverged, if it stopped early).
pub fn write_csv(out_dir: &Path, points: &[Point], sweep: Sweep) -> Result<(), CliError> {
    let csv: String = std::iter::once("step,lr,loss,smoothed_loss\n".to_owned())
        .chain(points.iter().map(|p| format!("{},{},{},{}\n", p.step, p.lr, p.loss, p.smoothed)))
        .collect();
    super::write_file(&out_dir.join("lr_find.csv"), &csv)?;
    let stopped = points.len() < sweep.steps as usize;
    crate::output::say(format_args!(
        "{} steps{}",
        points.len(),
        if stopped {
            format!(
                " (stopped: the loss diverged at lr {:.2e})",
                lr_at(sweep.min, sweep.max, sweep.steps, points.len() as u64)
            )
        } else {
            String::new()
        }
    ));
    Ok(())
}

/// Draws `lr_find.png` into `out_dir`: raw and smoothed loss against the LR, with the
/// suggestions marked.
pub fn write_png(out_dir: &Path, name: &str, points: &[Point], suggestion: &Suggestion) -> Result<(), CliError> {
    let png = out_dir.join("lr_find.png");
    // Show the interesting part: from below the minimum to a little above the start.
    let lowest = points.iter().map(|p| p.smoothed.min(p.loss)).fold(f64::INFINITY, f64::min);
    let y_range = points.first().map(|first| ((lowest * 0.8).max(1e-12), first.smoothed * 1.6));
    let chart = Chart {
        title: format!("LR range test: {name}"),
        x_label: "learning rate".into(),
        y_label: "training loss".into(),
        log_x: true,
        series: vec![
            Series { label: "loss".into(), points: points.iter().map(|p| (p.lr, p.loss)).collect() },
            Series { label: "smoothed".into(), points: points.iter().map(|p| (p.lr, p.smoothed)).collect() },
        ],
        markers: vec![
            Marker { x: suggestion.steepest, label: format!("steepest {}", value_label(suggestion.steepest)) },
            Marker {
                x: suggestion.minimum_div_10,
                label: format!("min/10 {}", value_label(suggestion.minimum_div_10)),
            },
        ],
        log_y: true,
        y_range,
        ..Default::default()
    };
    super::plot::render(&png, &[chart]).map_err(CliError::Other)
}

/// Prints the suggested LRs (marked unreliable unless `reliable`), the files written and the
/// command to try the steepest one.
pub fn print_suggestion(out_dir: &Path, config: &Path, suggestion: &Suggestion, reliable: bool) {
    crate::output::say(format_args!(
        "suggested learning rate{}:",
        if reliable { "" } else { " (unreliable: the loss diverged early)" }
    ));
    crate::output::say(format_args!("  steepest descent of the smoothed loss: {:.3e}", suggestion.steepest));
    crate::output::say(format_args!(
        "  minimum of the smoothed loss / 10:     {:.3e}   (minimum at {:.3e})",
        suggestion.minimum_div_10, suggestion.minimum
    ));
    crate::output::say(format_args!(
        "wrote {} and {}",
        out_dir.join("lr_find.csv").display(),
        out_dir.join("lr_find.png").display()
    ));
    let (program, config) = (crate::invocation::program(), crate::invocation::shell_word(&config.to_string_lossy()));
    crate::output::say(format_args!("try it: {program} {config} --set optimizer.lr={:.3e}", suggestion.steepest));
}

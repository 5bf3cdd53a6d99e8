//! `show PATH [--png FILE]`: a run at a glance without TensorBoard (a run directory), or one
//! line per run (a compare folder, a `runs/<name>/` folder of versions, or `runs/`).

use std::path::{Path, PathBuf};

use crate::args::ShowArgs;
use crate::error::CliError;
use crate::output::{line, text};
use crate::report::show::{self, RunView};

/// `show`: reads the run files (creating or changing nothing) and prints them.
pub fn show(args: &ShowArgs) -> Result<(), CliError> {
    let dir = &args.path;
    if !dir.is_dir() {
        return Err(CliError::Other(format!(
            "{}: not a directory (give a run directory, runs/<name>/version_<n>)",
            dir.display()
        )));
    }
    if show::is_run(dir) {
        let view = show::read(dir);
        text(show::text(&view, &crate::invocation::program()))?;
        return draw(args.png.as_deref(), &[(String::new(), view)]);
    }
    let runs = runs_under(dir);
    if runs.is_empty() {
        return Err(CliError::Other(format!(
            "{}: no run here (a run directory holds config.yaml and metrics.jsonl)",
            dir.display()
        )));
    }
    let views: Vec<(String, RunView)> = runs.into_iter().map(|(label, path)| (label, show::read(&path))).collect();
    let width = views.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let count = if views.len() == 1 { "1 run".to_owned() } else { format!("{} runs", views.len()) };
    line(format_args!("{} ({count})", dir.display()))?;
    for (label, v) in &views {
        line(show::summary_line(label, v, width))?;
    }
    draw(args.png.as_deref(), &views)
}

/// The run directories directly under `dir`, else one level deeper (`runs/` holds
/// `<name>/version_<n>`), labelled by their path below `dir`, sorted.
fn runs_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let children = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|e| e.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let label = |p: &Path| p.strip_prefix(dir).unwrap_or(p).to_string_lossy().into_owned();
    let direct: Vec<PathBuf> = children(dir).into_iter().filter(|p| show::is_run(p)).collect();
    let found = if direct.is_empty() {
        children(dir).iter().flat_map(|c| children(c)).filter(|p| show::is_run(p)).collect()
    } else {
        direct
    };
    found.into_iter().map(|p| (label(&p), p)).collect()
}

/// Writes the charts to `png`, when asked.
fn draw(png: Option<&Path>, runs: &[(String, RunView)]) -> Result<(), CliError> {
    let Some(png) = png else { return Ok(()) };
    crate::report::plot::render(png, &show::charts(runs)).map_err(CliError::Other)?;
    line(format_args!("wrote {}", png.display()))
}

//! `sweep CONFIG --grid KEY=V1,V2 …`: one run per point of the grids' cartesian product (each
//! value set as by `--set`) into `runs/<name>/sweep-<n>/<point>/`, then the table, CSV, Markdown
//! and PNG of `compare`, and the best point as a ready `--set` line. `sweep --resume DIR` runs
//! again the points that did not complete.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use trainer::{RunConfig, Trainer};

use super::compare::{Entry, grouped, run_all, seed_list, with_seeds};
use crate::args::SweepArgs;
use crate::error::{CliError, locate};
use crate::load::{Loaded, load};
use crate::report::compare::{self as report, Row, Status};

/// What a sweep runs, kept in its directory (`sweep.json`) for `--resume`.
#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    config: PathBuf,
    set: Vec<String>,
    grid: Vec<(String, Vec<String>)>,
    seeds: Option<u64>,
}

/// `KEY=V1,V2,…` → (KEY, [V1, V2, …]); commas inside `[…]` or `{…}` belong to the value.
fn parse_grid(arg: &str) -> Result<(String, Vec<String>), CliError> {
    let bad = |m: &str| CliError::Other(format!("--grid {arg}: {m}"));
    let (key, values) = arg.split_once('=').ok_or_else(|| bad("expected KEY=V1,V2,…, e.g. optimizer.lr=1e-3,3e-3"))?;
    let (mut out, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for ch in values.chars() {
        match ch {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_owned());
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur.trim().to_owned());
    if key.trim().is_empty() || out.iter().any(String::is_empty) {
        return Err(bad("give a field and non-empty values"));
    }
    Ok((key.trim().to_owned(), out))
}

/// Every combination of the grids' values, as `(KEY, VALUE)` lists.
fn points(grid: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    grid.iter().fold(vec![Vec::new()], |acc, (key, values)| {
        acc.iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((key.clone(), v.clone()));
                    q
                })
            })
            .collect()
    })
}

/// A point's directory name: `lr=0.001,t_0=50` (the last segment of each key), with characters a
/// directory name cannot hold replaced by `_`; `point-<i>` if it still is not a valid name.
fn point_name(i: usize, point: &[(String, String)]) -> String {
    let name =
        point.iter().map(|(k, v)| format!("{}={v}", k.rsplit('.').next().unwrap_or(k))).collect::<Vec<_>>().join(",");
    let name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "=,.-_+".contains(c) { c } else { '_' }).collect();
    if trainer::paths::dir_name_problem(&name).is_none() { name } else { format!("point-{i}") }
}

/// The `--set` arguments of a point (after the sweep's own).
fn point_sets(plan: &Plan, point: &[(String, String)]) -> Vec<String> {
    plan.set.iter().cloned().chain(point.iter().map(|(k, v)| format!("{k}={v}"))).collect()
}

/// Builds every point's run (each checked before anything runs).
fn entries(plan: &Plan) -> Result<(Loaded<RunConfig>, Vec<Entry>), CliError> {
    let base: Loaded<RunConfig> = load(&plan.config, &plan.set)?;
    let mut out = Vec::new();
    for (i, point) in points(&plan.grid).iter().enumerate() {
        let loaded: Loaded<RunConfig> = load(&plan.config, &point_sets(plan, point))?;
        let config = RunConfig { compare: Vec::new(), seeds: Vec::new(), ..loaded.value.clone() };
        let trainer = Trainer::build(config.clone()).map_err(|e| locate(e, &loaded))?;
        let mut label = point_name(i, point);
        if out.iter().any(|e: &Entry| e.label == label) {
            label = format!("{label}-{i}");
        }
        out.push(Entry { label, config, trainer });
    }
    Ok((base, out))
}

/// Whether the run in `dir` completed (its `summary.json` says so): its wall time then.
fn completed(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    (v["stop"] == "completed").then(|| v["elapsed_s"].as_f64().unwrap_or(0.0))
}

/// Moves an unfinished run aside (`<dir>.unfinished-<k>`) so that it runs again from the start.
fn set_aside(dir: &Path) -> Result<(), CliError> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let target = (1..).map(|k| dir.with_file_name(format!("{name}.unfinished-{k}"))).find(|p| !p.exists());
    match target {
        Some(t) => std::fs::rename(dir, &t).map_err(|e| CliError::Other(format!("{}: {e}", dir.display()))),
        None => Ok(()),
    }
}

/// Runs `sweep`.
pub fn sweep(args: &SweepArgs) -> Result<(), CliError> {
    let (plan, dir) = match &args.resume {
        Some(dir) => {
            let text = std::fs::read_to_string(dir.join("sweep.json"))
                .map_err(|e| CliError::Other(format!("{}: not a sweep directory ({e})", dir.display())))?;
            let plan: Plan = serde_json::from_str(&text).map_err(|e| CliError::Other(format!("sweep.json: {e}")))?;
            (plan, Some(dir.clone()))
        }
        None => {
            let grid = args.grid.iter().map(|g| parse_grid(g)).collect::<Result<Vec<_>, _>>()?;
            if grid.is_empty() {
                return Err(CliError::Other("give at least one --grid KEY=V1,V2,…".into()));
            }
            let config = args.config.clone().unwrap_or_default();
            // Absolute, so that `--resume` works from any directory.
            let config = std::fs::canonicalize(&config).unwrap_or(config);
            (Plan { config, set: args.overrides.set.clone(), grid, seeds: args.seeds }, None)
        }
    };
    let (base, points) = entries(&plan)?;
    let seeds = seed_list(plan.seeds, &base.value);
    let labels: Vec<String> = points.iter().map(|e| e.label.clone()).collect();
    let names: Vec<(String, Vec<String>)> = points
        .iter()
        .zip(self::points(&plan.grid))
        .map(|(e, p)| (e.label.clone(), p.iter().map(|(k, v)| format!("{k}={v}")).collect()))
        .collect();
    let runs = match &seeds {
        Some(s) => with_seeds(points, s, &base)?,
        None => points,
    };
    let dir = match dir {
        Some(d) => d,
        None => new_dir(&base.value, &plan)?,
    };
    execute(&dir, runs, &labels, seeds.is_some(), args.jobs, &names, &plan)
}

/// Creates `runs/<name>/sweep-<n>/` with its `sweep.json`.
fn new_dir(config: &RunConfig, plan: &Plan) -> Result<PathBuf, CliError> {
    let root = config.logging.dir.join(&config.name);
    let dir = crate::runs::create_numbered_dir(&root, "sweep-")
        .map_err(|e| CliError::Other(format!("cannot create a sweep directory under {}: {e}", root.display())))?;
    let text = serde_json::to_string_pretty(plan).map_err(|e| CliError::Other(e.to_string()))?;
    trainer::safe_fs::write_atomic(&dir.join("sweep.json"), text.as_bytes())
        .map_err(|e| CliError::Other(format!("{}: {e}", dir.join("sweep.json").display())))?;
    Ok(dir)
}

/// Runs the points not yet completed, then writes the table and names the best point.
fn execute(
    dir: &Path,
    runs: Vec<Entry>,
    points: &[String],
    seeded: bool,
    jobs: usize,
    names: &[(String, Vec<String>)],
    plan: &Plan,
) -> Result<(), CliError> {
    crate::output::say(format_args!(
        "sweeping {} points → {} ({} at a time)",
        points.len(),
        dir.display(),
        jobs.max(1)
    ));
    let mut done = Vec::new();
    let mut todo = Vec::new();
    for entry in runs {
        let run_dir = dir.join(&entry.label);
        match completed(&run_dir) {
            Some(seconds) => done.push((entry.label, seconds)),
            None => {
                if run_dir.exists() {
                    set_aside(&run_dir)?;
                }
                if let Some(parent) = run_dir.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| CliError::Other(format!("{}: {e}", parent.display())))?;
                }
                todo.push(entry);
            }
        }
    }
    if !done.is_empty() {
        crate::output::say(format_args!("{} runs already completed; {} to run", done.len(), todo.len()));
    }
    let order: Vec<String> = todo.iter().map(|e| e.label.clone()).collect();
    let stop = crate::interrupt::stop_flag();
    let results = run_all(todo, dir, jobs, &stop)?;
    let mut rows: Vec<Row> = Vec::new();
    for (label, seconds) in done {
        rows.push(
            report::row(&label, &dir.join(&label), None, Status::Completed, Some(seconds)).map_err(CliError::Other)?,
        );
    }
    for (label, result) in order.iter().zip(results) {
        let (status, seconds) = match result {
            Some(Ok((seconds, reason))) => (Status::of(reason), Some(seconds)),
            Some(Err(e)) => {
                crate::output::note(format_args!("[{label}] failed: {e}"));
                (Status::Failed, None)
            }
            None => (Status::Interrupted, None),
        };
        rows.push(report::row(label, &dir.join(label), None, status, seconds).map_err(CliError::Other)?);
    }
    finish(dir, rows, points, seeded, names, plan, stop.load(Ordering::SeqCst))
}

/// The table, the best point and the exit status.
fn finish(
    dir: &Path,
    mut rows: Vec<Row>,
    points: &[String],
    seeded: bool,
    names: &[(String, Vec<String>)],
    plan: &Plan,
    stopped: bool,
) -> Result<(), CliError> {
    let rank = |l: &str| points.iter().position(|p| l == p || l.starts_with(&format!("{p}/"))).unwrap_or(usize::MAX);
    rows.sort_by_key(|r| (rank(&r.label), r.label.clone()));
    let best = if seeded {
        let groups = grouped(points, &rows);
        crate::report::seeds::write_all(dir, "point", &groups, None)?;
        crate::report::seeds::versus_best(&groups).iter().position(|v| *v == Some(None)).map(|i| points[i].clone())
    } else {
        report::write_all(dir, "point", &rows, None)?;
        best_row(&rows)
    };
    if let Some((_, sets)) = best.and_then(|b| names.iter().find(|(n, _)| *n == b)) {
        let all: Vec<String> =
            plan.set.iter().chain(sets).map(|s| format!("--set {}", crate::invocation::shell_word(s))).collect();
        crate::output::say(format_args!("best point: {}", sets.join(", ")));
        crate::output::say(format_args!(
            "  train it: cli train {} {}",
            crate::invocation::shell_word(&plan.config.to_string_lossy()),
            all.join(" ")
        ));
    }
    if stopped || rows.iter().any(|r| r.status == Status::Interrupted) {
        let dir = crate::invocation::shell_word(&dir.to_string_lossy());
        crate::output::say(format_args!("continue the sweep: {} sweep --resume {dir}", crate::invocation::program()));
        return Err(CliError::Interrupted { signal: crate::interrupt::signal().unwrap_or(crate::interrupt::CTRL_C) });
    }
    match rows.iter().filter(|r| r.status == Status::Failed).count() {
        0 => Ok(()),
        n => Err(CliError::RunsFailed(n)),
    }
}

/// The best run: highest best val/accuracy, else lowest best val/loss.
fn best_row(rows: &[Row]) -> Option<String> {
    let by_acc = rows.iter().filter_map(|r| Some((r.best_accuracy?.0, r))).max_by(|a, b| a.0.total_cmp(&b.0));
    let by_loss = || rows.iter().filter_map(|r| Some((r.best_loss?.0, r))).min_by(|a, b| a.0.total_cmp(&b.0));
    by_acc.or_else(by_loss).map(|(_, r)| r.label.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_split_at_top_level_commas_and_multiply() {
        let (k, v) = parse_grid("schedule.milestones=[5, 10],[20]").unwrap();
        assert_eq!((k.as_str(), v), ("schedule.milestones", vec!["[5, 10]".to_owned(), "[20]".to_owned()]));
        assert!(parse_grid("lr").is_err() && parse_grid("lr=1,").is_err());
        let grid = vec![
            ("optimizer.lr".to_owned(), vec!["1e-3".into(), "3e-3".into()]),
            ("train.x".into(), vec!["a".into(), "b".into()]),
        ];
        let p = points(&grid);
        assert_eq!(p.len(), 4);
        assert_eq!(point_name(0, &p[1]), "lr=1e-3,x=b");
        assert_eq!(point_name(2, &[("a".into(), "[1, 2]".into())]), "a=_1,_2_");
    }
}

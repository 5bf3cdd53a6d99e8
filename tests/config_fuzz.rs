//! Fuzzing the config path (issue 13): the configs of `configs/` mutated — lines dropped or
//! duplicated, values replaced by random scalars (huge, negative, NaN, inf, quoted numbers,
//! strings, integers for enums, lists, maps), plus random `--set` paths and values — go through
//! the same load + check path as `validate`/`train`, in process (many cases) and through the
//! real binary (a few). Never a panic; a refused config creates no run directory; nothing is
//! written outside `logging.dir`. Seeded and bounded: the same cases every run, a few seconds.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::Path;

use cli::load::load_source;
use cli::yaml::Source;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use trainer::{RunConfig, Trainer};

use common::{root, run, text};

/// The configs on the embedded digits (no download, fast to build).
const BASES: &[&str] = &[
    "constant",
    "cosine",
    "cosine_restart",
    "cyclic",
    "exponential",
    "linear",
    "multistep",
    "one_cycle",
    "plateau",
    "step_decay",
    "warmup_cosine",
    "warmup_plateau",
    "compare_schedules",
];

/// Scalars that break things: extremes, non-numbers, wrong types, enum names and indexes.
const SCALARS: &[&str] = &[
    "0",
    "-1",
    "1",
    "6",
    "1e400",
    "-1e400",
    ".nan",
    ".inf",
    "-.inf",
    "1e-300",
    "1e300",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "'100'",
    "\"0.1\"",
    "x",
    "''",
    "true",
    "null",
    "~",
    "[]",
    "{}",
    "[1, 2]",
    "{kind: 6}",
    "cosine",
    "max",
    "min",
    "triangular",
    "exp_range",
    "2.5",
    "0.5",
    "100000000",
    "[100000, 100000]",
    "/abs/path",
    "../up",
    "\"a\\nb\"",
];

/// Field paths worth aiming `--set` at (those of the configs, and some that exist nowhere).
const PATHS: &[&str] = &[
    "name",
    "seed",
    "device",
    "model.kind",
    "model.hidden",
    "model.hidden[0]",
    "model.dropout",
    "model.activation",
    "data.kind",
    "data.val_fraction",
    "data.split_seed",
    "optimizer.kind",
    "optimizer.lr",
    "optimizer.momentum",
    "optimizer.weight_decay",
    "optimizer.betas",
    "schedule",
    "schedule.kind",
    "schedule.gamma",
    "schedule.t_max",
    "schedule.t_0",
    "schedule.t_mult",
    "schedule.max_lr",
    "schedule.div_factor",
    "schedule.final_div_factor",
    "schedule.base_lr",
    "schedule.mode",
    "schedule.min_lr",
    "schedule.patience",
    "schedule.factor",
    "schedule.step_size",
    "schedule.milestones",
    "schedule.total_steps",
    "schedule.warmup.steps",
    "schedule.warmup.start_factor",
    "schedule.schedules[1].gamma",
    "train.max_steps",
    "train.epochs",
    "train.batch_size",
    "train.eval_every",
    "train.checkpoint_every",
    "train.grad_accum_steps",
    "train.max_grad_norm",
    "train.early_stopping.patience",
    "train.early_stopping.mode",
    "hooks.on_plateau.action",
    "hooks.on_plateau.patience",
    "logging.every",
    "nope",
    "train.nope.deeper",
];

/// One mutated config: its text and the `--set` arguments.
#[derive(Debug, Clone)]
struct Case {
    base: &'static str,
    yaml: String,
    sets: Vec<String>,
}

/// A line-level mutation of the file: drop it, duplicate it, or replace its value.
#[derive(Debug, Clone)]
enum Edit {
    Drop(usize),
    Duplicate(usize),
    Retype(usize, &'static str),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..64usize).prop_map(Edit::Drop),
        (0..64usize).prop_map(Edit::Duplicate),
        (0..64usize, prop::sample::select(SCALARS)).prop_map(|(i, s)| Edit::Retype(i, s)),
    ]
}

/// `lines` with `edit` applied (indexes wrap around the non-comment lines).
fn apply(lines: &mut Vec<String>, edit: &Edit) {
    let content: Vec<usize> =
        (0..lines.len()).filter(|&i| !lines[i].trim().is_empty() && !lines[i].trim_start().starts_with('#')).collect();
    if content.is_empty() {
        return;
    }
    match *edit {
        Edit::Drop(i) => {
            lines.remove(content[i % content.len()]);
        }
        Edit::Duplicate(i) => {
            let at = content[i % content.len()];
            let line = lines[at].clone();
            lines.insert(at, line);
        }
        Edit::Retype(i, scalar) => {
            let at = content[i % content.len()];
            // The value after the last `key: ` on the line (inside a flow map, up to the next `,`/`}`).
            if let Some(k) = lines[at].rfind(": ") {
                let rest = &lines[at][k + 2..];
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                lines[at] = format!("{}: {scalar}{}", &lines[at][..k], &rest[end..]);
            }
        }
    }
}

/// Configs with up to `most` edits of the file and up to `most` `--set`s.
fn case_strategy(most: usize) -> impl Strategy<Value = Case> {
    (
        prop::sample::select(BASES),
        prop::collection::vec(edit_strategy(), 0..=most),
        prop::collection::vec((prop::sample::select(PATHS), prop::sample::select(SCALARS)), 0..=most),
        any::<i64>(),
    )
        .prop_map(|(base, edits, sets, n)| {
            let text = std::fs::read_to_string(root().join("configs").join(format!("{base}.yaml"))).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            for e in &edits {
                apply(&mut lines, e);
            }
            let mut sets: Vec<String> = sets.into_iter().map(|(p, v)| format!("{p}={v}")).collect();
            if n % 5 == 0 {
                sets.push(format!("seed={n}"));
            }
            Case { base, yaml: lines.join("\n") + "\n", sets }
        })
}

/// A seeded runner: the same `cases` cases every run, no persistence file.
fn runner(cases: u32, seed: u8) -> TestRunner {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 64, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]))
}

#[test]
fn mutated_configs_load_and_check_in_process_without_panicking() {
    let (accepted, refused) = (Cell::new(0), Cell::new(0));
    runner(160, 13)
        .run(&case_strategy(2), |case| {
            // The path of `validate` and `train` up to the run directory: load, then every check.
            // Named as if in configs/, where the `extends:` of the digits configs finds its base.
            let name = root().join("configs/c.yaml").to_string_lossy().into_owned();
            let loaded = load_source::<RunConfig>(Source::from_text(name, case.yaml.clone()), &case.sets);
            match loaded {
                Ok(l) => match Trainer::build(l.value) {
                    Ok(_) => accepted.set(accepted.get() + 1),
                    Err(_) => refused.set(refused.get() + 1),
                },
                Err(e) => {
                    prop_assert!(!e.to_string().is_empty());
                    refused.set(refused.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    let (accepted, refused) = (accepted.get(), refused.get());
    eprintln!("in process: {accepted} accepted, {refused} refused");
    assert!(accepted > 0 && refused > 0, "{accepted} accepted, {refused} refused");
}

/// Every file under `dir`, relative, skipping `logs/` (the only place a run may write).
fn files_outside_logs(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if rel == "logs" {
                continue;
            }
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.insert(rel);
        }
    }
    out
}

#[test]
fn mutated_configs_through_the_binary_never_panic_and_write_only_under_logging_dir() {
    let outcomes = RefCell::new(Vec::new());
    runner(10, 31)
        .run(&case_strategy(1), |case| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("c.yaml"), &case.yaml).unwrap();
            // The base the digits configs extend, next to the mutated copy.
            std::fs::create_dir(dir.path().join("base")).unwrap();
            std::fs::copy(root().join("configs/base/digits.yaml"), dir.path().join("base/digits.yaml")).unwrap();
            let before = files_outside_logs(dir.path());
            let logs = dir.path().join("logs");
            let mut sets = case.sets.clone();
            sets.push("train.max_steps=1".into());
            sets.push(format!("logging.dir={}", logs.display()));
            let set_args: Vec<String> = sets.iter().flat_map(|s| ["--set".to_owned(), s.clone()]).collect();
            for command in ["validate", "train"] {
                let mut args = vec![command.to_owned(), "c.yaml".to_owned(), "-q".to_owned()];
                if command == "validate" {
                    args.pop();
                }
                args.extend(set_args.iter().cloned());
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = run(dir.path(), &refs);
                let (_, stderr) = text(&out);
                let what = format!("{} {command} {:?}\n{}\n{stderr}", case.base, case.sets, case.yaml);
                prop_assert_ne!(out.status.code(), Some(101), "exit 101: {}", what);
                prop_assert!(out.status.code().is_some(), "killed by a signal (an abort?): {}", what);
                outcomes.borrow_mut().push(format!("{command} {}", out.status.code().unwrap_or(-1)));
                if std::env::var_os("FUZZ_DEBUG").is_some() {
                    eprintln!("{what}");
                }
                prop_assert!(!stderr.contains("panicked"), "panicked: {}", what);
                if command == "validate" && !out.status.success() {
                    // A refused config: train refuses it too, before creating anything.
                    prop_assert!(!logs.exists(), "validate refused but {} exists: {}", logs.display(), what);
                }
                if command == "train" && !out.status.success() && stderr.contains("c.yaml") {
                    prop_assert!(!logs.exists(), "a refused config created {}: {}", logs.display(), what);
                }
                prop_assert_eq!(&files_outside_logs(dir.path()), &before, "wrote outside logging.dir: {}", what);
            }
            Ok(())
        })
        .unwrap();
    let outcomes = outcomes.into_inner();
    eprintln!("binary outcomes: {outcomes:?}");
    assert!(outcomes.iter().any(|o| o == "train 0"), "no mutated config trained: {outcomes:?}");
}

//! Parity with PyTorch: every optimizer case (`optim_*.json`) from `PARITY_REF_DIR`, or the repo's
//! copy in `tests/data/torch`. Each case is a least-squares problem `0.5·||A w − b||²` in F64;
//! loss, LR and `w` are checked at every step, and every mismatch is reported.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use sched::{Schedule, ScheduleConfig};
use serde::Deserialize;
use trainer::optim::{GroupStep, Optimizer, OptimizerConfig};

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Case {
    A: Vec<Vec<f64>>,
    b: Vec<f64>,
    w0: Vec<f64>,
    optimizer: OptimizerConfig,
    schedule: ScheduleConfig,
    steps: u64,
    lr: Vec<f64>,
    loss_before_step: Vec<f64>,
    w_after_step: Vec<Vec<f64>>,
}

fn reference_dir() -> PathBuf {
    match std::env::var_os("PARITY_REF_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/torch"),
    }
}

/// Relative error, or absolute error when both values are within 1e-12 of zero.
fn error(got: f64, want: f64) -> f64 {
    let diff = (got - want).abs();
    if want.abs().max(got.abs()) <= 1e-12 { diff } else { diff / want.abs().max(got.abs()) }
}

/// Errors above this fail (relative 1e-9; absolute 1e-12 near zero).
const TOLERANCE: f64 = 1e-9;

struct Outcome {
    steps: u64,
    max_error: f64,
    mismatches: Vec<String>,
}

fn run_case(case: &Case) -> Result<Outcome, Box<dyn std::error::Error>> {
    let dev = Device::Cpu;
    let rows = case.A.len();
    let cols = case.w0.len();
    let flat: Vec<f64> = case.A.iter().flatten().copied().collect();
    if flat.len() != rows * cols || case.b.len() != rows {
        return Err(format!("A is not {rows}x{cols} or b has {} values", case.b.len()).into());
    }
    for (what, len) in [("lr", case.lr.len()), ("loss_before_step", case.loss_before_step.len())] {
        if len as u64 != case.steps {
            return Err(format!("{what} has {len} values for {} steps", case.steps).into());
        }
    }
    if case.w_after_step.len() as u64 != case.steps {
        return Err(format!("w_after_step has {} rows for {} steps", case.w_after_step.len(), case.steps).into());
    }
    let a = Tensor::from_vec(flat, (rows, cols), &dev)?;
    let b = Tensor::from_vec(case.b.clone(), (rows, 1), &dev)?;
    let w = Var::from_tensor(&Tensor::from_vec(case.w0.clone(), (cols, 1), &dev)?)?;
    assert_eq!(w.dtype(), DType::F64);

    let schedule = Schedule::new(&case.schedule, case.optimizer.lr())?;
    let mut opt = Optimizer::new(&case.optimizer, [("w".to_string(), w.clone())])?;
    if opt.groups().len() != 1 || opt.groups()[0].base_lr() != case.optimizer.lr() {
        return Err(format!("expected one group with base lr {}: {:?}", case.optimizer.lr(), opt.groups()).into());
    }

    let mut out = Outcome { steps: case.steps, max_error: 0.0, mismatches: Vec::new() };
    let mut check = |what: String, got: f64, want: f64| {
        let e = error(got, want);
        out.max_error = out.max_error.max(e);
        if e.is_nan() || e > TOLERANCE {
            out.mismatches.push(format!("{what}: got {got:e}, torch {want:e} (error {e:.2e})"));
        }
    };
    for t in 0..case.steps {
        let i = t as usize;
        let residual = (a.matmul(w.as_tensor())? - &b)?;
        let loss = (residual.sqr()?.sum_all()? * 0.5)?;
        check(format!("step {t}: loss"), loss.to_scalar::<f64>()?, case.loss_before_step[i]);
        let grads = loss.backward()?;
        let lr = schedule.lr(t);
        check(format!("step {t}: lr"), lr, case.lr[i]);
        opt.step(&grads, &[GroupStep { lr, momentum: schedule.momentum(t) }])?;
        let got: Vec<f64> = w.as_tensor().flatten_all()?.to_vec1()?;
        if got.len() != case.w_after_step[i].len() {
            return Err(format!("step {t}: w has {} values, torch {}", got.len(), case.w_after_step[i].len()).into());
        }
        for (k, (&g, &want)) in got.iter().zip(&case.w_after_step[i]).enumerate() {
            check(format!("step {t}: w[{k}]"), g, want);
        }
    }
    Ok(out)
}

#[test]
fn every_optimizer_case_matches_pytorch() {
    let dir = reference_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read reference dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("optim_") && name.ends_with(".json")
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no optimizer case (optim_*.json) in {}", dir.display());

    let mut failures = Vec::new();
    for path in &cases {
        let outcome = std::fs::read_to_string(path)
            .map_err(|e| format!("read: {e}"))
            .and_then(|text| serde_json::from_str::<Case>(&text).map_err(|e| format!("parse: {e}")))
            .and_then(|case| run_case(&case).map_err(|e| e.to_string()));
        match outcome {
            Ok(o) if o.mismatches.is_empty() => {
                eprintln!("{}: {} steps, max error {:.2e}", path.display(), o.steps, o.max_error);
            }
            Ok(o) => {
                let shown = o.mismatches.iter().take(10).cloned().collect::<Vec<_>>().join("\n    ");
                failures.push(format!(
                    "{}: {} mismatch(es), max error {:.2e}, first:\n    {shown}",
                    path.display(),
                    o.mismatches.len(),
                    o.max_error
                ));
            }
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} optimizer cases differ from PyTorch:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} optimizer cases, all within {TOLERANCE:e} of PyTorch", cases.len());
}

//! State: save → load → continue is bit-identical; reset; load errors.

use candle_core::{DType, Device, Tensor, Var};

use super::{Model, config, schedule, train};
use crate::optim::{OptimError, Optimizer, StateError};

const SCHEDULE: &str = r#"{"kind": "one_cycle", "max_lr": 0.05, "total_steps": 8}"#;

/// Runs 8 steps at once, and 4 + save + (fresh model and optimizer) load + 4; the weights must
/// be bit-identical.
fn resume_is_exact(optimizer: &str, dtype: DType) {
    let cfg = config(optimizer);
    let sched = schedule(SCHEDULE, cfg.lr());

    let straight = Model::new(dtype);
    let mut opt = straight.optimizer(&cfg);
    train(&straight, &mut opt, &sched, 0, 8);

    let first = Model::new(dtype);
    let mut opt = first.optimizer(&cfg);
    train(&first, &mut opt, &sched, 0, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    opt.save_state(&path).unwrap();
    let second = first.copy();
    drop((first, opt));
    let mut opt = second.optimizer(&cfg);
    opt.load_state(&path).unwrap();
    assert_eq!(opt.param_state("head.weight").unwrap().step(), 4);
    train(&second, &mut opt, &sched, 4, 8);

    assert_eq!(second.bits(), straight.bits(), "{optimizer} {dtype:?}");
    // Without the state the result differs (the test can fail).
    let third = Model::new(dtype);
    let mut opt = third.optimizer(&cfg);
    train(&third, &mut opt, &sched, 0, 4);
    opt.reset_state().unwrap();
    train(&third, &mut opt, &sched, 4, 8);
    assert_ne!(third.bits(), straight.bits(), "{optimizer} {dtype:?}");
}

#[test]
fn resume_adam_is_bit_identical() {
    resume_is_exact(r#"{"kind": "adam", "lr": 0.01, "weight_decay": 0.01}"#, DType::F64);
    resume_is_exact(r#"{"kind": "adam", "lr": 0.01}"#, DType::F32);
}

#[test]
fn resume_adamw_with_groups_is_bit_identical() {
    resume_is_exact(
        r#"{"kind": "adamw", "lr": 0.01, "groups": [{"name": "encoder", "prefix": "encoder.", "lr_scale": 0.1, "weight_decay": 0}]}"#,
        DType::F32,
    );
}

#[test]
fn resume_sgd_momentum_is_bit_identical() {
    resume_is_exact(r#"{"kind": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}"#, DType::F64);
    resume_is_exact(r#"{"kind": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": true}"#, DType::F32);
    resume_is_exact(r#"{"kind": "sgd", "lr": 0.05, "momentum": 0.5, "dampening": 0.3}"#, DType::F64);
}

#[test]
fn reset_state_zeroes_moments_and_steps() {
    let model = Model::new(DType::F64);
    let mut adam = model.optimizer(&config(r#"{"kind": "adam"}"#));
    let sgd_model = model.copy();
    let mut sgd = sgd_model.optimizer(&config(r#"{"kind": "sgd", "momentum": 0.9}"#));
    let sched = schedule(r#"{"kind": "constant", "factor": 1.0, "total_iters": 0}"#, 1e-3);
    train(&model, &mut adam, &sched, 0, 3);
    let grads = sgd_model.loss(0).backward().unwrap();
    sgd.step_scheduled(&grads, &sched, 0).unwrap();
    let abs_sum = |t: &Tensor| t.abs().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
    let s = adam.param_state("head.weight").unwrap();
    assert!(abs_sum(s.exp_avg().unwrap()) > 0.0 && abs_sum(s.exp_avg_sq().unwrap()) > 0.0);
    assert!(sgd.param_state("head.weight").unwrap().momentum_buffer().is_some());

    adam.reset_state().unwrap();
    sgd.reset_state().unwrap();
    for (name, _) in &model.params {
        let s = adam.param_state(name).unwrap();
        assert_eq!(s.step(), 0);
        assert_eq!(abs_sum(s.exp_avg().unwrap()), 0.0);
        assert_eq!(abs_sum(s.exp_avg_sq().unwrap()), 0.0);
        let s = sgd.param_state(name).unwrap();
        assert_eq!((s.step(), s.momentum_buffer().is_none()), (0, true));
    }

    // After a reset the optimizer behaves as a fresh one.
    let other = model.copy();
    let mut fresh = other.optimizer(&config(r#"{"kind": "adam"}"#));
    train(&model, &mut adam, &sched, 3, 5);
    train(&other, &mut fresh, &sched, 3, 5);
    assert_eq!(model.bits(), other.bits());
}

fn trained(optimizer: &str) -> (Model, Optimizer, Vec<u8>) {
    let model = Model::new(DType::F64);
    let mut opt = model.optimizer(&config(optimizer));
    train(&model, &mut opt, &schedule(SCHEDULE, 0.01), 0, 2);
    let bytes = opt.state_bytes().unwrap();
    assert_eq!(opt.state_bytes().unwrap(), bytes, "state bytes are deterministic");
    (model, opt, bytes)
}

fn state_error(opt: &mut Optimizer, bytes: &[u8]) -> StateError {
    match opt.load_state_bytes(bytes) {
        Err(OptimError::State(e)) => e,
        other => panic!("expected a state error, got {other:?}"),
    }
}

#[test]
fn mismatched_states_are_clear_errors() {
    let (_, mut adam, adam_bytes) = trained(r#"{"kind": "adam"}"#);
    let (_, mut sgd, _) = trained(r#"{"kind": "sgd", "momentum": 0.9}"#);
    let before = adam.state_bytes().unwrap();

    // Another kind.
    let e = state_error(&mut sgd, &adam_bytes);
    assert!(matches!(&e, StateError::KindMismatch { saved, expected: "sgd" } if saved == "adam"), "{e}");
    let mut adamw = Model::new(DType::F64).optimizer(&config(r#"{"kind": "adamw"}"#));
    assert!(matches!(state_error(&mut adamw, &adam_bytes), StateError::KindMismatch { .. }));

    // Not a state file.
    assert!(matches!(state_error(&mut adam, b"garbage"), StateError::Format(_)));
    let plain = safetensors::serialize([("x", Tensor::new(&[1.0f64], &Device::Cpu).unwrap())], None).unwrap();
    assert!(matches!(state_error(&mut adam, &plain), StateError::Format(_)));

    // Another model: a parameter missing from the state, or a tensor of no parameter.
    let extra = Var::new(&[0.0f64; 2], &Device::Cpu).unwrap();
    let mut params = Model::new(DType::F64).params;
    params.push(("decoder.w".to_string(), extra));
    let mut bigger = Optimizer::new(&config(r#"{"kind": "adam"}"#), params.clone()).unwrap();
    let e = state_error(&mut bigger, &adam_bytes);
    assert_eq!(e, StateError::Missing("decoder.w.step".to_string()));
    assert!(e.to_string().contains("decoder.w.step"));
    let bigger_bytes = bigger.state_bytes().unwrap();
    let e = state_error(&mut adam, &bigger_bytes);
    assert!(matches!(&e, StateError::Unexpected(n) if n.starts_with("decoder.w.")), "{e}");

    // Same names, other shape or dtype.
    let mut reshaped = Model::new(DType::F64).params;
    reshaped[2].1 = Var::new(&[[0.0f64; 3]; 2], &Device::Cpu).unwrap(); // head.weight 2×3
    let mut other = Optimizer::new(&config(r#"{"kind": "adam"}"#), reshaped).unwrap();
    let e = state_error(&mut other, &adam_bytes);
    assert!(
        matches!(&e, StateError::Shape { name, saved, expected } if name == "head.weight.exp_avg" && saved == &[1, 3] && expected == &[2, 3]),
        "{e}"
    );
    let mut f32_opt = Model::new(DType::F32).optimizer(&config(r#"{"kind": "adam"}"#));
    assert!(matches!(state_error(&mut f32_opt, &adam_bytes), StateError::DType { .. }));

    // A failed load leaves the state as it was.
    assert_eq!(adam.state_bytes().unwrap(), before);
    // Missing file: an I/O error naming the path.
    let err = adam.load_state("/nonexistent/optimizer.safetensors").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/optimizer.safetensors"), "{err}");
}

#[test]
fn state_file_layout() {
    let (_, _, bytes) = trained(r#"{"kind": "sgd", "momentum": 0.9}"#);
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    assert_eq!(names.len(), 8, "{names:?}");
    assert!(tensors.contains_key("head.weight.momentum_buffer"));
    assert_eq!(tensors["head.weight.step"].to_scalar::<i64>().unwrap(), 2);
    let (_, _, bytes) = trained(r#"{"kind": "adamw"}"#);
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    assert_eq!(tensors.len(), 12);
    assert_eq!(tensors["encoder.layer.0.weight.exp_avg_sq"].dims(), [3, 2]);
}

//! Step settings: checks, momentum overrides, parameters without gradient.

use candle_core::{DType, Device, Var};

use super::{Model, config};
use crate::optim::{GroupStep, OptimError, Optimizer};

fn one(lr: f64, momentum: Option<f64>) -> [GroupStep; 1] {
    [GroupStep { lr, momentum }]
}

#[test]
fn bad_settings_are_errors_and_change_nothing() {
    let model = Model::new(DType::F64);
    let mut opt = model.optimizer(&config(r#"{"kind": "adam"}"#));
    let grads = model.loss(0).backward().unwrap();
    let before = model.bits();
    assert!(matches!(opt.step(&grads, &[]), Err(OptimError::GroupCount { expected: 1, got: 0 })));
    for lr in [-0.1, f64::NAN, f64::INFINITY] {
        assert!(matches!(opt.step(&grads, &one(lr, None)), Err(OptimError::InvalidLr { .. })), "{lr}");
    }
    for m in [1.0, -0.1, f64::NAN] {
        let err = opt.step(&grads, &one(0.1, Some(m))).unwrap_err();
        assert!(matches!(err, OptimError::InvalidMomentum { .. }), "{m}: {err:?}");
    }
    assert_eq!(model.bits(), before);
    assert_eq!(opt.param_state("head.bias").unwrap().step(), 0);
    // SGD accepts a momentum of 1 (OneCycle's max_momentum may be 1); LR 0 is a valid LR.
    let mut sgd = model.optimizer(&config(r#"{"kind": "sgd"}"#));
    sgd.step(&grads, &one(0.0, Some(1.0))).unwrap();
    assert_eq!(model.bits(), before);
}

/// A momentum override behaves exactly like the same value in the config.
#[test]
fn momentum_override_equals_configured_momentum() {
    for (overridden, configured, momentum) in [
        (r#"{"kind": "sgd", "lr": 0.1}"#, r#"{"kind": "sgd", "lr": 0.1, "momentum": 0.85}"#, 0.85),
        (
            r#"{"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": true}"#,
            r#"{"kind": "sgd", "lr": 0.1, "momentum": 0.7, "nesterov": true}"#,
            0.7,
        ),
        (r#"{"kind": "adamw", "lr": 0.1}"#, r#"{"kind": "adamw", "lr": 0.1, "betas": [0.8, 0.999]}"#, 0.8),
    ] {
        let (a, b) = (Model::new(DType::F64), Model::new(DType::F64));
        let (mut oa, mut ob) = (a.optimizer(&config(overridden)), b.optimizer(&config(configured)));
        for t in 0..4 {
            oa.step(&a.loss(t).backward().unwrap(), &one(0.05, Some(momentum))).unwrap();
            ob.step(&b.loss(t).backward().unwrap(), &one(0.05, None)).unwrap();
        }
        assert_eq!(a.bits(), b.bits(), "{overridden}");
    }
}

#[test]
fn parameters_without_gradient_are_left_alone() {
    let model = Model::new(DType::F64);
    let frozen = Var::new(&[3.0f64, 4.0], &Device::Cpu).unwrap();
    let mut params = model.params.clone();
    params.push(("frozen".to_string(), frozen.clone()));
    let mut opt = Optimizer::new(&config(r#"{"kind": "adamw", "weight_decay": 0.5}"#), params).unwrap();
    for t in 0..3 {
        opt.step(&model.loss(t).backward().unwrap(), &one(0.1, None)).unwrap();
    }
    assert_eq!(frozen.to_vec1::<f64>().unwrap(), [3.0, 4.0]);
    assert_eq!(opt.param_state("frozen").unwrap().step(), 0);
    assert_eq!(opt.param_state("head.weight").unwrap().step(), 3);
}

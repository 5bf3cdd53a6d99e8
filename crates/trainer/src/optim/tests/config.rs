//! Config parsing, defaults, schema and validation.

use super::config;
use crate::optim::{AdamConfig, AdamWConfig, OptimizerConfig, SgdConfig};

#[test]
fn yaml_reads_as_documented() {
    let adamw: OptimizerConfig = serde_saphyr::from_str(
        "kind: adamw\nlr: 0.001\nbetas: [0.9, 0.999]\neps: 1e-8\nweight_decay: 0.01\n\
         groups:\n  - {name: encoder, prefix: \"encoder.\", lr_scale: 0.1}\n  - {name: head, prefixes: [head., out.], lr: 1e-5, weight_decay: 0}\n",
    )
    .unwrap();
    let OptimizerConfig::AdamW(c) = &adamw else { panic!("{adamw:?}") };
    assert_eq!((c.lr, c.betas, c.eps, c.weight_decay), (0.001, [0.9, 0.999], 1e-8, 0.01));
    assert_eq!(c.groups.len(), 2);
    assert_eq!(c.groups[0].lr_scale, Some(0.1));
    assert_eq!(c.groups[1].prefix_list(), ["head.", "out."]);
    assert_eq!(c.groups[1].lr, Some(1e-5));
    assert_eq!(c.groups[1].weight_decay, Some(0.0));
    adamw.validate().unwrap();

    let sgd: OptimizerConfig =
        serde_saphyr::from_str("{kind: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5e-4}").unwrap();
    assert_eq!(
        sgd,
        OptimizerConfig::Sgd(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            ..Default::default()
        })
    );
    sgd.validate().unwrap();
}

#[test]
fn defaults_are_pytorchs() {
    assert_eq!(config(r#"{"kind": "sgd"}"#), OptimizerConfig::Sgd(SgdConfig::default()));
    assert_eq!(config(r#"{"kind": "adam"}"#), OptimizerConfig::Adam(AdamConfig::default()));
    assert_eq!(config(r#"{"kind": "adamw"}"#), OptimizerConfig::AdamW(AdamWConfig::default()));
    let s = SgdConfig::default();
    assert_eq!((s.lr, s.momentum, s.dampening, s.nesterov, s.weight_decay), (1e-3, 0.0, 0.0, false, 0.0));
    let a = AdamConfig::default();
    assert_eq!((a.lr, a.betas, a.eps, a.weight_decay), (1e-3, [0.9, 0.999], 1e-8, 0.0));
    assert_eq!(AdamWConfig::default().weight_decay, 0.01);
}

#[test]
fn serde_round_trip_and_unknown_fields() {
    let c = config(r#"{"kind": "adamw", "lr": 0.5, "groups": [{"name": "e", "prefix": "enc.", "lr_scale": 0.1}]}"#);
    let back: OptimizerConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    for bad in [
        r#"{"kind": "adam", "amsgrad": true}"#,
        r#"{"kind": "sgd", "betas": [0.9, 0.99]}"#,
        r#"{"kind": "adamw", "groups": [{"name": "e", "prefix": "e", "momentum": 0.5}]}"#,
        r#"{"kind": "lamb"}"#,
        r#"{"lr": 0.1}"#,
    ] {
        assert!(serde_json::from_str::<OptimizerConfig>(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn base_momentum_and_accessors() {
    assert_eq!(config(r#"{"kind": "sgd", "momentum": 0.8}"#).base_momentum(), 0.8);
    assert_eq!(config(r#"{"kind": "adam", "betas": [0.85, 0.99]}"#).base_momentum(), 0.85);
    let c = config(r#"{"kind": "adamw", "lr": 0.2}"#);
    assert_eq!((c.kind_name(), c.lr(), c.weight_decay(), c.groups().len()), ("adamw", 0.2, 0.01, 0));
}

#[test]
fn json_schema_has_the_docs() {
    let schema = serde_json::to_string(&schemars::schema_for!(OptimizerConfig)).unwrap();
    for needle in ["adamw", "Decay rates `[beta1, beta2]`", "Nesterov momentum", "lr_scale", "prefixes"] {
        assert!(schema.contains(needle), "schema lacks {needle}: {schema}");
    }
}

/// `(config, field path of the error)`.
const INVALID: &[(&str, &str)] = &[
    (r#"{"kind": "sgd", "lr": 0}"#, "optimizer.lr"),
    (r#"{"kind": "adam", "lr": -1}"#, "optimizer.lr"),
    (r#"{"kind": "sgd", "weight_decay": -1e-4}"#, "optimizer.weight_decay"),
    (r#"{"kind": "sgd", "momentum": 1.5}"#, "optimizer.momentum"),
    (r#"{"kind": "sgd", "momentum": -0.1}"#, "optimizer.momentum"),
    (r#"{"kind": "sgd", "dampening": 2}"#, "optimizer.dampening"),
    (r#"{"kind": "sgd", "nesterov": true}"#, "optimizer.nesterov"),
    (r#"{"kind": "sgd", "nesterov": true, "momentum": 0.9, "dampening": 0.1}"#, "optimizer.nesterov"),
    (r#"{"kind": "adam", "betas": [1.0, 0.999]}"#, "optimizer.betas[0]"),
    (r#"{"kind": "adamw", "betas": [0.9, 1.0]}"#, "optimizer.betas[1]"),
    (r#"{"kind": "adamw", "betas": [0.9, -0.5]}"#, "optimizer.betas[1]"),
    (r#"{"kind": "adam", "eps": 0}"#, "optimizer.eps"),
    (r#"{"kind": "adamw", "weight_decay": -0.01}"#, "optimizer.weight_decay"),
    (
        r#"{"kind": "sgd", "groups": [{"name": "a", "prefix": "a."}, {"name": "b", "prefix": "b."}, {"name": "c", "prefix": "c.", "lr": 0.1, "lr_scale": 0.5}]}"#,
        "optimizer.groups[2].lr_scale",
    ),
    (r#"{"kind": "sgd", "groups": [{"name": "a", "prefix": "a.", "lr_scale": 0}]}"#, "optimizer.groups[0].lr_scale"),
    (r#"{"kind": "sgd", "groups": [{"name": "a", "prefix": "a.", "lr": -0.1}]}"#, "optimizer.groups[0].lr"),
    (
        r#"{"kind": "sgd", "groups": [{"name": "a", "prefix": "a.", "weight_decay": -1}]}"#,
        "optimizer.groups[0].weight_decay",
    ),
    (r#"{"kind": "sgd", "groups": [{"name": "a", "prefix": ""}]}"#, "optimizer.groups[0].prefix"),
    (r#"{"kind": "sgd", "groups": [{"name": "a"}]}"#, "optimizer.groups[0].prefix"),
    (r#"{"kind": "sgd", "groups": [{"name": "a", "prefixes": []}]}"#, "optimizer.groups[0].prefixes"),
    (r#"{"kind": "sgd", "groups": [{"name": "a", "prefixes": ["a.", ""]}]}"#, "optimizer.groups[0].prefixes[1]"),
    (
        r#"{"kind": "sgd", "groups": [{"name": "a", "prefix": "a.", "prefixes": ["b."]}]}"#,
        "optimizer.groups[0].prefixes",
    ),
    (
        r#"{"kind": "sgd", "groups": [{"name": "a", "prefix": "a."}, {"name": "a", "prefix": "b."}]}"#,
        "optimizer.groups[1].name",
    ),
    (r#"{"kind": "sgd", "groups": [{"name": "default", "prefix": "a."}]}"#, "optimizer.groups[0].name"),
    (r#"{"kind": "sgd", "groups": [{"name": "", "prefix": "a."}]}"#, "optimizer.groups[0].name"),
    (r#"{"kind": "sgd", "groups": [{"name": "my group", "prefix": "a."}]}"#, "optimizer.groups[0].name"),
];

#[test]
fn validation_names_the_field() {
    for (json, path) in INVALID {
        let err = config(json).validate().expect_err(json);
        assert_eq!(err.path, *path, "{json}: {err}");
        assert!(!err.message.is_empty());
        assert!(err.to_string().starts_with(path), "{err}");
    }
}

#[test]
fn nan_values_are_rejected() {
    let nan = f64::NAN;
    let cases = [
        (OptimizerConfig::Sgd(SgdConfig { lr: nan, ..Default::default() }), "optimizer.lr"),
        (OptimizerConfig::Sgd(SgdConfig { momentum: nan, ..Default::default() }), "optimizer.momentum"),
        (OptimizerConfig::Adam(AdamConfig { betas: [0.9, nan], ..Default::default() }), "optimizer.betas[1]"),
        (OptimizerConfig::Adam(AdamConfig { eps: nan, ..Default::default() }), "optimizer.eps"),
        (
            OptimizerConfig::AdamW(AdamWConfig { weight_decay: f64::INFINITY, ..Default::default() }),
            "optimizer.weight_decay",
        ),
    ];
    for (c, path) in cases {
        assert_eq!(c.validate().expect_err(path).path, path);
    }
}

#[test]
fn building_an_optimizer_validates() {
    let model = super::Model::new(candle_core::DType::F64);
    let err = crate::optim::Optimizer::new(&config(r#"{"kind": "adam", "eps": -1}"#), model.params).unwrap_err();
    assert!(err.to_string().contains("optimizer.eps"), "{err}");
}

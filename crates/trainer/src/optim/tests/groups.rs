//! Parameter-group assignment and per-group LRs.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;

use super::{Model, config, schedule};
use crate::optim::{GroupStep, OptimError, Optimizer};

fn names(opt: &Optimizer) -> Vec<(String, f64, f64, Vec<String>)> {
    opt.groups()
        .iter()
        .map(|g| (g.name().to_string(), g.base_lr(), g.weight_decay(), g.param_names().to_vec()))
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn prefixes_first_match_and_default_group() {
    let model = Model::new(DType::F64);
    let opt = model.optimizer(&config(
        r#"{"kind": "adamw", "lr": 0.01, "weight_decay": 0.05, "groups": [
            {"name": "enc_bias", "prefix": "encoder.layer.0.bias", "lr": 1e-5, "weight_decay": 0},
            {"name": "encoder", "prefix": "encoder.", "lr_scale": 0.1}
        ]}"#,
    ));
    assert_eq!(
        names(&opt),
        vec![
            ("default".into(), 0.01, 0.05, s(&["head.bias", "head.weight"])),
            ("enc_bias".into(), 1e-5, 0.0, s(&["encoder.layer.0.bias"])),
            ("encoder".into(), 0.1 * 0.01, 0.05, s(&["encoder.layer.0.weight"])),
        ]
    );
}

#[test]
fn prefixes_list_and_no_default_group_when_all_match() {
    let model = Model::new(DType::F64);
    let opt = model.optimizer(&config(
        r#"{"kind": "sgd", "lr": 0.1, "groups": [{"name": "all", "prefixes": ["head.", "encoder."]}]}"#,
    ));
    assert_eq!(
        names(&opt),
        vec![(
            "all".into(),
            0.1,
            0.0,
            s(&["encoder.layer.0.bias", "encoder.layer.0.weight", "head.bias", "head.weight"])
        )]
    );
}

#[test]
fn a_group_matching_nothing_is_an_error_naming_it() {
    let model = Model::new(DType::F64);
    let err = Optimizer::new(
        &config(r#"{"kind": "sgd", "groups": [{"name": "enc", "prefix": "encoder."}, {"name": "typo", "prefix": "encodr."}]}"#),
        model.params.clone(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, OptimError::UnmatchedGroup { index: 1, name, shadowed_by: None, .. } if name == "typo"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("optimizer.groups[1]") && msg.contains("typo") && msg.contains("encodr."), "{msg}");

    // Shadowed by an earlier, broader prefix.
    let err = Optimizer::new(
        &config(r#"{"kind": "sgd", "groups": [{"name": "enc", "prefix": "encoder."}, {"name": "bias", "prefix": "encoder.layer.0.b"}]}"#),
        model.params,
    )
    .unwrap_err();
    assert!(err.to_string().contains("earlier group `enc`"), "{err}");
}

#[test]
fn no_parameters_and_duplicates_are_errors() {
    let cfg = config(r#"{"kind": "sgd"}"#);
    assert!(matches!(Optimizer::new(&cfg, Vec::new()), Err(OptimError::NoParameters)));
    let ints = Var::from_tensor(&Tensor::new(&[1u32, 2], &Device::Cpu).unwrap()).unwrap();
    assert!(matches!(Optimizer::new(&cfg, [("ids".to_string(), ints)]), Err(OptimError::NoParameters)));
    let v = Var::new(&[1.0f64], &Device::Cpu).unwrap();
    let err = Optimizer::new(&cfg, [("w".to_string(), v.clone()), ("w".to_string(), v)]).unwrap_err();
    assert!(matches!(err, OptimError::DuplicateParameter(ref n) if n == "w"), "{err:?}");
}

#[test]
fn from_varmap_uses_the_map_names() {
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().unwrap();
        for name in ["encoder.layer.0.weight", "decoder.w"] {
            data.insert(name.to_string(), Var::new(&[1.0f32, 2.0], &Device::Cpu).unwrap());
        }
    }
    let opt = Optimizer::from_varmap(
        &config(r#"{"kind": "adam", "groups": [{"name": "encoder", "prefix": "encoder.", "lr": 0.5}]}"#),
        &varmap,
    )
    .unwrap();
    assert_eq!(
        names(&opt),
        vec![
            ("default".into(), 1e-3, 0.0, s(&["decoder.w"])),
            ("encoder".into(), 0.5, 0.0, s(&["encoder.layer.0.weight"])),
        ]
    );
}

/// Plain SGD: each group's update is `lr_group · grad`.
#[test]
fn each_group_steps_with_its_own_lr() {
    let model = Model::new(DType::F64);
    let mut opt = model.optimizer(&config(
        r#"{"kind": "sgd", "lr": 0.1, "groups": [{"name": "encoder", "prefix": "encoder.", "lr_scale": 0.25}]}"#,
    ));
    let before: Vec<Vec<f64>> = model.params.iter().map(|(_, v)| v.flatten_all().unwrap().to_vec1().unwrap()).collect();
    let grads = model.loss(0).backward().unwrap();
    // Linear warmup-free cosine: group_lr scales each base.
    let sched = schedule(r#"{"kind": "cosine", "t_max": 10}"#, 0.1);
    let used = opt.step_scheduled(&grads, &sched, 3).unwrap();
    assert_eq!(
        used,
        vec![
            GroupStep { lr: sched.group_lr(3, 0.1), momentum: None },
            GroupStep { lr: sched.group_lr(3, 0.025), momentum: None },
        ]
    );
    for ((name, var), before) in model.params.iter().zip(before) {
        let lr = if name.starts_with("encoder.") { used[1].lr } else { used[0].lr };
        let g: Vec<f64> = grads.get(var).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let after: Vec<f64> = var.flatten_all().unwrap().to_vec1().unwrap();
        for ((a, b), g) in after.iter().zip(&before).zip(&g) {
            assert!((a - (b - lr * g)).abs() <= 1e-15, "{name}: {a} vs {}", b - lr * g);
        }
    }
}

/// Named zero variables, one per name.
fn vars(names: &[&str]) -> Vec<(String, Var)> {
    names.iter().map(|n| (n.to_string(), Var::zeros(2, DType::F32, &Device::Cpu).unwrap())).collect()
}

#[test]
fn layer_decay_splits_a_group_by_depth() {
    let params = vars(&[
        "embeddings.word_embeddings.weight",
        "embeddings.LayerNorm.weight",
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.1.output.dense.bias",
        "encoder.layer.2.output.dense.weight",
        "classifier.weight",
    ]);
    let opt = Optimizer::new(
        &config(r#"{"kind": "adamw", "lr": 1e-3, "groups": [{"name": "encoder", "prefixes": ["embeddings.", "encoder."], "lr": 1e-4, "layer_decay": 0.5}]}"#),
        params,
    )
    .unwrap();
    let got: Vec<(String, f64, usize)> =
        opt.groups().iter().map(|g| (g.name().to_string(), g.base_lr(), g.param_names().len())).collect();
    // L = 3 layers: layer i gets lr·d^(3 − i), the embeddings lr·d^4; the head keeps optimizer.lr.
    assert_eq!(
        got,
        vec![
            ("default".into(), 1e-3, 1),
            ("encoder.embeddings".into(), 1e-4 * 0.0625, 2),
            ("encoder.layer_0".into(), 1e-4 * 0.125, 1),
            ("encoder.layer_1".into(), 1e-4 * 0.25, 1),
            ("encoder.layer_2".into(), 1e-4 * 0.5, 1),
        ]
    );
    assert_eq!(crate::optim::layer_index("model.layers.12.mlp.weight"), Some(12));
    assert_eq!(crate::optim::layer_index("encoder.layernorm.weight"), None);
}

#[test]
fn layer_decay_errors_name_the_field() {
    let err = Optimizer::new(
        &config(r#"{"kind": "sgd", "groups": [{"name": "h", "prefix": "head.", "layer_decay": 0.8}]}"#),
        vars(&["head.weight"]),
    )
    .unwrap_err();
    let OptimError::Config(c) = err else { panic!("{err}") };
    assert_eq!(c.path, "optimizer.groups[0].layer_decay");
    assert!(c.message.contains("has no parameter with a layer index"), "{}", c.message);
    for bad in ["0", "1.5", "-0.1"] {
        let e =
            config(&format!(r#"{{"kind": "sgd", "groups": [{{"name": "e", "prefix": "e.", "layer_decay": {bad}}}]}}"#))
                .validate()
                .unwrap_err();
        assert_eq!(e.path, "optimizer.groups[0].layer_decay");
    }
    let clash = Optimizer::new(
        &config(r#"{"kind": "sgd", "groups": [{"name": "e", "prefix": "e.", "layer_decay": 0.8}, {"name": "e.layer_0", "prefix": "x"}]}"#),
        vars(&["e.layer.0.w", "x"]),
    )
    .unwrap_err();
    assert!(clash.to_string().contains("two parameter groups are named `e.layer_0`"), "{clash}");
}

//! The `schedule:` section as users write it: defaults, unknown keys, warmup, nesting.

use sched::{Kind, ScheduleConfig};

fn parse(json: &str) -> Result<ScheduleConfig, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

#[test]
fn defaults_follow_pytorch() {
    let cfg = parse(r#"{"kind": "plateau"}"#).unwrap();
    let Kind::Plateau(p) = cfg.kind else { panic!("not a plateau") };
    assert_eq!((p.factor, p.patience, p.threshold, p.cooldown, p.min_lr, p.eps), (0.1, 10, 1e-4, 0, 0.0, 1e-8));
    assert_eq!(p.monitor, "val/loss");

    let cfg = parse(r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 100}"#).unwrap();
    let Kind::OneCycle(o) = cfg.kind else { panic!("not one_cycle") };
    assert_eq!(
        (o.pct_start, o.div_factor, o.final_div_factor, o.base_momentum, o.max_momentum),
        (0.3, 25.0, 1e4, 0.85, 0.95)
    );

    let cfg = parse(r#"{"kind": "cyclic", "base_lr": 0.001, "max_lr": 0.1}"#).unwrap();
    let Kind::Cyclic(c) = cfg.kind else { panic!("not cyclic") };
    assert_eq!(
        (c.step_size_up, c.step_size_down, c.gamma, c.base_momentum, c.max_momentum),
        (2000, None, 1.0, 0.8, 0.9)
    );

    let cfg = parse(r#"{"kind": "constant"}"#).unwrap();
    let Kind::Constant(c) = cfg.kind else { panic!("not constant") };
    assert_eq!((c.factor, c.total_iters), (1.0, 0), "constant defaults to a plain constant LR");

    let cfg = parse(r#"{"kind": "linear"}"#).unwrap();
    let Kind::Linear(c) = cfg.kind else { panic!("not linear") };
    assert_eq!((c.start_factor, c.end_factor, c.total_iters), (1.0 / 3.0, 1.0, 5));
}

#[test]
fn unknown_keys_are_errors_that_list_the_valid_ones() {
    let err = parse(r#"{"kind": "cosine", "t_max": 10, "eta_mn": 0.0}"#).unwrap_err();
    assert!(err.contains("unknown field `eta_mn`"), "{err}");
    assert!(err.contains("eta_min"), "{err}");
    let err = parse(r#"{"kind": "cosine", "t_max": 10, "warmup": {"steps": 5, "start": 0.1}}"#).unwrap_err();
    assert!(err.contains("unknown field `start`"), "{err}");
    let err = parse(r#"{"kind": "cosin", "t_max": 10}"#).unwrap_err();
    assert!(err.contains("unknown variant `cosin`"), "{err}");
    let err = parse(r#"{"t_max": 10}"#).unwrap_err();
    assert!(err.contains("kind"), "{err}");
}

#[test]
fn warmup_and_nesting_parse() {
    let cfg = parse(
        r#"{"kind": "sequential", "milestones": [5],
            "schedules": [{"kind": "constant", "factor": 0.5, "total_iters": 5},
                          {"kind": "plateau", "patience": 2, "warmup": {"steps": 3, "start_factor": 0.5}}]}"#,
    )
    .unwrap();
    let Kind::Sequential(s) = &cfg.kind else { panic!("not sequential") };
    assert_eq!(s.schedules[1].warmup.as_ref().map(|w| (w.steps, w.start_factor)), Some((3, 0.5)));
    // Round trip through serde keeps everything.
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(parse(&json).unwrap(), cfg);
}

#[test]
fn wrong_types_are_errors() {
    assert!(parse(r#"{"kind": "step", "step_size": -3}"#).unwrap_err().contains("invalid value"));
    assert!(parse(r#"{"kind": "step", "step_size": "ten"}"#).unwrap_err().contains("invalid type"));
    assert!(parse(r#"{"kind": "multistep", "milestones": 5}"#).unwrap_err().contains("invalid type"));
}

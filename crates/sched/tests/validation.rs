//! Every impossible parameter is an error naming the field path and the rule; nothing panics.

use sched::{Schedule, ScheduleConfig};

/// (schedule JSON, expected field path, expected words of the rule)
const BAD: &[(&str, &str, &str)] = &[
    (r#"{"kind": "cosine_restarts", "t_0": 0}"#, "schedule.t_0", "must be >= 1"),
    (r#"{"kind": "cosine_restarts", "t_0": 10, "t_mult": 0}"#, "schedule.t_mult", "must be >= 1"),
    (r#"{"kind": "cosine_restarts", "t_0": 10, "cycle_decay": 0.0}"#, "schedule.cycle_decay", "(0, 1]"),
    (r#"{"kind": "cosine_restarts", "t_0": 10, "cycle_limit": 0}"#, "schedule.cycle_limit", "must be >= 1"),
    (r#"{"kind": "cosine_restarts", "t_0": 10, "eta_min": -0.1}"#, "schedule.eta_min", ">= 0"),
    (r#"{"kind": "step", "step_size": 10, "gamma": 0}"#, "schedule.gamma", "> 0"),
    (r#"{"kind": "step", "step_size": 10, "gamma": -0.5}"#, "schedule.gamma", "> 0"),
    (r#"{"kind": "step", "step_size": 0}"#, "schedule.step_size", "must be >= 1"),
    (r#"{"kind": "exponential", "gamma": 0.0}"#, "schedule.gamma", "> 0"),
    (r#"{"kind": "multistep", "milestones": [10, 30, 20]}"#, "schedule.milestones[2]", "sorted"),
    (r#"{"kind": "multistep", "milestones": [10], "gamma": -1}"#, "schedule.gamma", "> 0"),
    (r#"{"kind": "plateau", "factor": 1.0}"#, "schedule.factor", "(0, 1)"),
    (r#"{"kind": "plateau", "factor": 1.5}"#, "schedule.factor", "(0, 1)"),
    (r#"{"kind": "plateau", "min_lr": -1e-5}"#, "schedule.min_lr", ">= 0"),
    (r#"{"kind": "plateau", "monitor": " "}"#, "schedule.monitor", "must name a metric"),
    (r#"{"kind": "linear", "start_factor": 0.0}"#, "schedule.start_factor", "(0, 1]"),
    (r#"{"kind": "linear", "end_factor": 1.5}"#, "schedule.end_factor", "[0, 1]"),
    (r#"{"kind": "linear", "total_iters": 0}"#, "schedule.total_iters", "must be >= 1"),
    (r#"{"kind": "constant", "factor": 2.0}"#, "schedule.factor", "[0, 1]"),
    (r#"{"kind": "polynomial", "total_iters": 0}"#, "schedule.total_iters", "must be >= 1"),
    (r#"{"kind": "polynomial", "total_iters": 10, "power": -1}"#, "schedule.power", ">= 0"),
    (r#"{"kind": "cosine", "t_max": 0}"#, "schedule.t_max", "must be >= 1"),
    (r#"{"kind": "cyclic", "base_lr": 0.1, "max_lr": 0.01}"#, "schedule.max_lr", "must be >= base_lr"),
    (r#"{"kind": "cyclic", "base_lr": -0.1, "max_lr": 0.01}"#, "schedule.base_lr", ">= 0"),
    (r#"{"kind": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 0}"#, "schedule.step_size_up", ">= 1"),
    (
        r#"{"kind": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "base_momentum": 0.95}"#,
        "schedule.max_momentum",
        "[0.95, 1]",
    ),
    (r#"{"kind": "one_cycle", "max_lr": 0.1}"#, "schedule.total_steps", "is required"),
    (r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 1}"#, "schedule.total_steps", "must be >= 2"),
    (r#"{"kind": "one_cycle", "max_lr": -0.1, "total_steps": 100}"#, "schedule.max_lr", "> 0"),
    (r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 100, "pct_start": 1.5}"#, "schedule.pct_start", "[0, 1]"),
    (
        r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 10, "pct_start": 0.1}"#,
        "schedule.pct_start",
        "empty or backwards phase 1",
    ),
    (
        r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 100, "pct_start": 0.6, "three_phase": true}"#,
        "schedule.pct_start",
        "backwards phase 3",
    ),
    (r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 100, "div_factor": 0}"#, "schedule.div_factor", "> 0"),
    (
        r#"{"kind": "warmup_stable_decay", "num_warmup_steps": 50, "num_decay_steps": 60, "num_training_steps": 100}"#,
        "schedule.num_training_steps",
        ">= num_warmup_steps + num_decay_steps",
    ),
    (
        r#"{"kind": "warmup_stable_decay", "num_warmup_steps": 5, "num_decay_steps": 10}"#,
        "schedule.num_stable_steps",
        "required",
    ),
    (
        r#"{"kind": "warmup_stable_decay", "num_warmup_steps": 5, "num_decay_steps": 10, "num_stable_steps": 5, "min_lr_ratio": 2}"#,
        "schedule.min_lr_ratio",
        "[0, 1]",
    ),
    (r#"{"kind": "inverse_sqrt", "timescale": 0}"#, "schedule.timescale", ">= 1"),
    (r#"{"kind": "cosine", "t_max": 10, "warmup": {"steps": 0}}"#, "schedule.warmup.steps", ">= 1"),
    (
        r#"{"kind": "cosine", "t_max": 10, "warmup": {"steps": 5, "start_factor": 0}}"#,
        "schedule.warmup.start_factor",
        "(0, 1]",
    ),
    (
        r#"{"kind": "sequential", "milestones": [5, 10], "schedules": [{"kind": "constant"}, {"kind": "constant"}]}"#,
        "schedule.milestones",
        "one milestone fewer",
    ),
    (
        r#"{"kind": "sequential", "milestones": [10, 5], "schedules": [{"kind": "constant"}, {"kind": "constant"}, {"kind": "constant"}]}"#,
        "schedule.milestones[1]",
        "sorted",
    ),
    (r#"{"kind": "sequential", "milestones": [], "schedules": []}"#, "schedule.schedules", "at least one"),
    (r#"{"kind": "chained", "schedules": []}"#, "schedule.schedules", "at least one"),
    (r#"{"kind": "swa", "swa_lr": 0}"#, "schedule.swa_lr", "> 0"),
    (r#"{"kind": "swa", "swa_lr": -0.01, "anneal_steps": 5}"#, "schedule.swa_lr", "> 0"),
    (
        r#"{"kind": "chained", "schedules": [{"kind": "exponential", "gamma": 0.9}, {"kind": "swa", "swa_lr": 0.01}]}"#,
        "schedule.schedules[1]",
        "swa cannot be chained",
    ),
    (
        r#"{"kind": "chained", "schedules": [{"kind": "constant"}, {"kind": "step", "step_size": 5, "gamma": 0}]}"#,
        "schedule.schedules[1].gamma",
        "> 0",
    ),
    (
        r#"{"kind": "sequential", "milestones": [3], "schedules": [{"kind": "constant"},
        {"kind": "chained", "schedules": [{"kind": "plateau", "factor": 0}]}]}"#,
        "schedule.schedules[1].schedules[0].factor",
        "(0, 1)",
    ),
];

#[test]
fn every_impossible_parameter_names_field_and_rule() {
    let mut wrong = Vec::new();
    for (json, path, rule) in BAD {
        let cfg: ScheduleConfig = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        match Schedule::new(&cfg, 0.1) {
            Ok(_) => wrong.push(format!("{json}: accepted")),
            Err(e) if e.path == *path && e.message.contains(rule) => {}
            Err(e) => wrong.push(format!("{json}: got `{e}`, want path {path} and rule containing `{rule}`")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn base_lr_must_be_positive_and_finite() {
    let cfg: ScheduleConfig = serde_json::from_str(r#"{"kind": "constant"}"#).unwrap();
    for lr in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        let e = Schedule::new(&cfg, lr).unwrap_err();
        assert_eq!(e.path, "optimizer.lr", "{lr}");
    }
}

#[test]
fn nan_parameters_are_rejected() {
    // JSON has no NaN; build the config in code as a YAML `.nan` would.
    let mut cfg: ScheduleConfig = serde_json::from_str(r#"{"kind": "cosine", "t_max": 10}"#).unwrap();
    if let sched::Kind::Cosine(c) = &mut cfg.kind {
        c.eta_min = f64::NAN;
    }
    assert_eq!(Schedule::new(&cfg, 0.1).unwrap_err().path, "schedule.eta_min");
}

#[test]
fn absurd_nesting_is_an_error_not_a_stack_overflow() {
    let mut json = r#"{"kind": "constant"}"#.to_string();
    for _ in 0..40 {
        json = format!(r#"{{"kind": "chained", "schedules": [{json}]}}"#);
    }
    let cfg: ScheduleConfig = serde_json::from_str(&json).unwrap();
    let e = Schedule::new(&cfg, 0.1).unwrap_err();
    assert!(e.message.contains("nest deeper"), "{e}");
}

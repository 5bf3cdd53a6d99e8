//! Save/restore: a schedule rebuilt from its config plus a saved state continues with exactly the
//! values of an uninterrupted run, for plateaus alone and inside compositions.

use sched::{Schedule, ScheduleConfig, ScheduleState};

const STEPS: u64 = 400;
const EVAL_EVERY: u64 = 3;

/// A deterministic metric: improves, then stalls with noise, then jumps (to exercise every branch).
fn metric(t: u64) -> f64 {
    let noise = ((t * 7919 % 101) as f64 / 101.0 - 0.5) * 0.02;
    if t < 60 {
        1.0 / (1.0 + t as f64 * 0.05) + noise
    } else if t < 250 {
        0.25 + noise
    } else {
        0.3 + noise * 3.0
    }
}

fn build(json: &str) -> (ScheduleConfig, Schedule) {
    let cfg: ScheduleConfig = serde_json::from_str(json).unwrap();
    let s = Schedule::new(&cfg, 0.1).unwrap();
    (cfg, s)
}

/// Runs steps `from..to`, observing every `EVAL_EVERY` steps; returns (lr, momentum) per step.
fn run(s: &mut Schedule, from: u64, to: u64) -> Vec<(u64, u64)> {
    let monitors: Vec<String> = s.monitors().iter().map(|m| m.to_string()).collect();
    (from..to)
        .map(|t| {
            let out = (s.lr(t).to_bits(), s.momentum(t).unwrap_or(-1.0).to_bits());
            if t % EVAL_EVERY == EVAL_EVERY - 1 {
                for m in &monitors {
                    s.observe(t, m, metric(t));
                }
            }
            out
        })
        .collect()
}

const CASES: &[&str] = &[
    r#"{"kind": "plateau", "factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.001}"#,
    r#"{"kind": "plateau", "mode": "max", "threshold_mode": "abs", "threshold": 0.001, "patience": 1}"#,
    r#"{"kind": "plateau", "factor": 0.5, "patience": 2, "warmup": {"steps": 30, "start_factor": 0.1}}"#,
    r#"{"kind": "sequential", "milestones": [50], "schedules": [
        {"kind": "linear", "start_factor": 0.2, "total_iters": 50},
        {"kind": "plateau", "factor": 0.7, "patience": 3}]}"#,
    r#"{"kind": "chained", "schedules": [
        {"kind": "cosine_restarts", "t_0": 40, "t_mult": 2},
        {"kind": "plateau", "factor": 0.5, "patience": 2, "monitor": "val/loss"},
        {"kind": "plateau", "factor": 0.9, "patience": 0, "monitor": "val/accuracy", "mode": "max"}]}"#,
    r#"{"kind": "one_cycle", "max_lr": 0.2, "total_steps": 400}"#,
];

#[test]
fn resume_at_every_step_reproduces_the_uninterrupted_run() {
    for json in CASES {
        let (cfg, mut whole) = build(json);
        let expected = run(&mut whole, 0, STEPS);
        for cut in 0..=STEPS {
            let (_, mut first) = build(json);
            let mut got = run(&mut first, 0, cut);
            // Through JSON, as a checkpoint would store it.
            let saved = serde_json::to_string(&first.state()).unwrap();
            let state: ScheduleState = serde_json::from_str(&saved).unwrap();
            let mut resumed = Schedule::new(&cfg, 0.1).unwrap();
            resumed.restore(&state).unwrap();
            got.extend(run(&mut resumed, cut, STEPS));
            assert_eq!(got, expected, "{json}: resumed at step {cut}");
        }
    }
}

#[test]
fn plateaus_actually_reduce_in_these_cases() {
    // Guard against a vacuous resume test: the plateau schedules do change their LR.
    for json in &CASES[..5] {
        let (_, mut s) = build(json);
        let lrs = run(&mut s, 0, STEPS);
        let last = f64::from_bits(lrs[lrs.len() - 1].0);
        let plateau_state = s.state();
        assert!(plateau_state.plateaus.iter().any(|p| p.reductions > 0), "{json}: no reduction, last lr {last}");
    }
}

#[test]
fn restore_rejects_a_state_of_another_shape() {
    let (_, mut s) = build(CASES[4]);
    let e = s.restore(&ScheduleState { plateaus: vec![Default::default()] }).unwrap_err();
    assert!(e.to_string().contains("1 plateau state(s) but the schedule has 2"), "{e}");
}

#[test]
fn plateau_ignores_metrics_during_warmup_and_other_monitors() {
    let (_, mut s) = build(CASES[2]);
    for t in 0..30 {
        s.observe(t, "val/loss", 1.0); // constant: would trigger with patience 2, but warmup is active
    }
    assert_eq!(s.state().plateaus[0].observations, 0);
    s.observe(30, "val/accuracy", 1.0);
    assert_eq!(s.state().plateaus[0].observations, 0, "another monitor");
    for t in 30..34 {
        s.observe(t, "val/loss", 1.0);
    }
    assert_eq!(s.state().plateaus[0].reductions, 1);
    assert!((s.lr(34) - 0.05).abs() < 1e-15);
}

//! Per-step cost of every schedule kind: one `values(t)` (LR, and momentum where it cycles), for
//! steps around 0..10k and around 1e9 (restarts at 1e9 included).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sched::{Schedule, ScheduleConfig};

/// (name, schedule section) for every kind, with typical parameters.
pub const KINDS: &[(&str, &str)] = &[
    ("constant", r#"{"kind": "constant", "factor": 0.5, "total_iters": 100}"#),
    ("step", r#"{"kind": "step", "step_size": 30, "gamma": 0.1}"#),
    ("multistep", r#"{"kind": "multistep", "milestones": [30, 60, 90, 120, 150], "gamma": 0.5}"#),
    ("exponential", r#"{"kind": "exponential", "gamma": 0.999}"#),
    ("linear", r#"{"kind": "linear", "start_factor": 0.25, "total_iters": 1000}"#),
    ("polynomial", r#"{"kind": "polynomial", "total_iters": 10000, "power": 2.0}"#),
    ("cosine", r#"{"kind": "cosine", "t_max": 10000, "eta_min": 0.001}"#),
    ("cosine_restarts_tmult1", r#"{"kind": "cosine_restarts", "t_0": 100, "t_mult": 1}"#),
    ("cosine_restarts_tmult2", r#"{"kind": "cosine_restarts", "t_0": 10, "t_mult": 2, "eta_min": 1e-4}"#),
    ("cyclic", r#"{"kind": "cyclic", "base_lr": 0.001, "max_lr": 0.1, "step_size_up": 200, "mode": "exp_range", "gamma": 0.9999}"#),
    ("one_cycle", r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 10000}"#),
    ("plateau", r#"{"kind": "plateau", "factor": 0.5}"#),
    ("sequential", r#"{"kind": "sequential", "milestones": [100, 5000], "schedules": [{"kind": "constant", "factor": 0.1, "total_iters": 100}, {"kind": "exponential", "gamma": 0.999}, {"kind": "step", "step_size": 100}]}"#),
    ("chained", r#"{"kind": "chained", "schedules": [{"kind": "cosine_restarts", "t_0": 100}, {"kind": "exponential", "gamma": 0.9999}]}"#),
    ("warmup_cosine", r#"{"kind": "cosine", "t_max": 10000, "warmup": {"steps": 500, "start_factor": 0.01}}"#),
    ("inverse_sqrt", r#"{"kind": "inverse_sqrt", "num_warmup_steps": 1000}"#),
    ("warmup_stable_decay", r#"{"kind": "warmup_stable_decay", "num_warmup_steps": 500, "num_decay_steps": 2000, "num_training_steps": 10000}"#),
];

fn build(json: &str) -> Schedule {
    let cfg: ScheduleConfig = serde_json::from_str(json).expect("bench config parses");
    Schedule::new(&cfg, 0.1).expect("bench config is valid")
}

fn per_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("lr_per_step");
    for (name, json) in KINDS {
        let s = build(json);
        for (label, origin) in [("t<10k", 0u64), ("t~1e9", 1_000_000_000u64)] {
            let mut t = origin;
            group.bench_function(format!("{name}/{label}"), |b| {
                b.iter(|| {
                    t = if t >= origin + 9_999 { origin } else { t + 1 };
                    // What an optimizer step needs: the LR and (cycling kinds) the momentum.
                    black_box(s.values(black_box(t)))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, per_step);
criterion_main!(benches);

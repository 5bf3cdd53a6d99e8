//! Per-step cost of every schedule kind: one `values(t)` (LR, and momentum where it cycles), for
//! steps around 0..10k and around 1e9 (restarts at 1e9 included).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sched::{Schedule, ScheduleConfig};

/// (name, schedule section) for every kind, with typical parameters.
/// The benchmarked schedules (shared with `scripts/bench/sched_torch.py`, which times PyTorch's
/// `scheduler.step()` + `get_last_lr()` on the same ones).
const KINDS_JSON: &str = include_str!("kinds.json");

#[derive(serde::Deserialize)]
struct Kind {
    name: String,
    schedule: ScheduleConfig,
}

fn kinds() -> Vec<Kind> {
    serde_json::from_str(KINDS_JSON).expect("kinds.json parses")
}

/// Steps evaluated per benchmark iteration: the reported time / STEPS is the per-step cost.
pub const STEPS: u64 = 1000;

fn per_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_1000_steps");
    group.throughput(Throughput::Elements(STEPS));
    for Kind { name, schedule } in kinds() {
        let s = Schedule::new(&schedule, 0.1).expect("bench config is valid");
        for (label, origin) in [("t<10k", 0u64), ("t~1e9", 1_000_000_000u64)] {
            let mut start = origin;
            group.bench_function(format!("{name}/{label}"), |b| {
                b.iter(|| {
                    start = if start >= origin + 9_000 { origin } else { start + STEPS };
                    for t in start..start + STEPS {
                        // What an optimizer step needs: the LR and (cycling kinds) the momentum.
                        black_box(s.values(black_box(t)));
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, per_step);
criterion_main!(benches);

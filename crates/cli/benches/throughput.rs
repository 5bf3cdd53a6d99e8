//! Training throughput of the full `train` path on a run config: samples per second between the
//! first and the last optimizer step (so start-up and evaluations are not counted; logging and
//! checkpoints as configured are), median of `REPEATS` runs after a short warm-up run, as JSON.
//!
//! `CONFIG=configs/x.yaml STEPS=500 cargo bench -p cli --bench throughput`
//! (extra `SET="key=value key=value"` overrides, as `--set`).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use trainer::{Observer, RunConfig, StepReport, Trainer};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config_path() -> String {
    std::env::var("CONFIG").unwrap_or_else(|_| "configs/constant.yaml".into())
}

fn config(steps: u64) -> RunConfig {
    let mut sets: Vec<String> =
        std::env::var("SET").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    sets.extend([
        format!("train.max_steps={steps}"),
        format!("train.eval_every={steps}"),
        "train.epochs=null".into(),
        "logging.every=1".into(),
    ]);
    match cli::load::load::<RunConfig>(std::path::Path::new(&config_path()), &sets) {
        Ok(l) => l.value,
        Err(e) => panic!("{e}"),
    }
}

/// The time of the first and the last step report.
#[derive(Default)]
struct Clock {
    first: Option<(u64, Instant)>,
    last: Option<(u64, Instant)>,
}

impl Observer for Clock {
    fn on_step(&mut self, report: &StepReport) {
        let now = (report.step, Instant::now());
        self.first.get_or_insert(now);
        self.last = Some(now);
    }
}

/// Samples per second of one run of `steps` optimizer steps.
fn run(steps: u64) -> f64 {
    let c = config(steps);
    let batch = c.train.batch_size * c.train.grad_accum_steps as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Trainer::build(c).unwrap_or_else(|e| panic!("{e}")).start(dir.path()).expect("start");
    let mut clock = Clock::default();
    t.run(&mut clock, &AtomicBool::new(false)).expect("run");
    let ((s0, t0), (s1, t1)) = (clock.first.expect("a step"), clock.last.expect("a step"));
    ((s1 - s0) as usize * batch) as f64 / (t1 - t0).as_secs_f64()
}

fn main() {
    // SAFETY: before any thread is spawned (as the cli's main does).
    unsafe { trainer::device::pin_cpu_threads() };
    trainer::allocator::tune();
    // Configs name data relative to the workspace root, as when run with `cargo run`.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).expect("workspace root");
    let steps = env("STEPS", 2000).max(3);
    let repeats = env("REPEATS", 3).max(1) as usize;
    let _ = run((steps / 10).max(3));
    let mut rates: Vec<f64> = (0..repeats).map(|_| run(steps)).collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "{{\"config\": {:?}, \"steps\": {steps}, \"samples_per_sec\": {:.1}, \"min\": {:.1}, \"max\": {:.1}}}",
        config_path(),
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1]
    );
}

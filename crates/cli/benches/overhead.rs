//! Toolkit overhead: the full `train` path (schedule, logging of every scalar every step to
//! TensorBoard and metrics.jsonl, the progress observer, checkpoints every 500 steps) against a
//! bare hand-written candle loop with the same MLP, data, batch, steps and optimizer, in the same
//! binary. Runs alternate; prints the medians and the ratio as JSON.
//!
//! `cargo bench -p cli --bench overhead` (STEPS and REPEATS env vars override 3000 and 5).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use trainer::data::{DataConfig, Inputs, Split};
use trainer::optim::{GroupStep, Optimizer, OptimizerConfig};
use trainer::rng::Rng;
use trainer::{RunConfig, Trainer};

const BATCH: usize = 64;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(steps: u64) -> RunConfig {
    let yaml = format!(
        "name: overhead
seed: 0
model: {{kind: mlp, hidden: [128]}}
data: {{kind: digits}}
optimizer: {{kind: sgd, lr: 0.1, momentum: 0.9}}
schedule: {{kind: cosine_restarts, t_0: 200, t_mult: 2, warmup: {{steps: 50, start_factor: 0.1}}}}
train: {{max_steps: {steps}, batch_size: {BATCH}, eval_every: {steps}, checkpoint_every: 500}}
"
    );
    serde_saphyr::from_str(&yaml).expect("bench config")
}

/// The bare loop: the whole training set as one tensor, index_select batches, two linear layers,
/// cross-entropy, backward, one optimizer step with a fixed LR. Returns seconds.
fn bare(steps: u64) -> f64 {
    let dev = Device::Cpu;
    let data = DataConfig::Digits(Default::default()).load().expect("digits");
    let n = data.len(Split::Train);
    let all = data.batch(Split::Train, &(0..n).collect::<Vec<_>>(), &dev).expect("batch");
    let Inputs::Dense(x_all) = all.inputs else { unreachable!("digits are dense") };
    let y_all = all.targets;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let l1 = candle_nn::linear(64, 128, vb.pp("fc0")).expect("fc0");
    let l2 = candle_nn::linear(128, 10, vb.pp("head")).expect("head");
    let cfg: OptimizerConfig = serde_saphyr::from_str("{kind: sgd, lr: 0.1, momentum: 0.9}").expect("opt");
    let mut opt = Optimizer::from_varmap(&cfg, &varmap).expect("optimizer");
    let mut rng = Rng::new(0);
    let mut order = rng.permutation(n);
    let mut pos = 0;
    let start = Instant::now();
    for _ in 0..steps {
        if pos + BATCH > n {
            order = rng.permutation(n);
            pos = 0;
        }
        let idx: Vec<u32> = order[pos..pos + BATCH].iter().map(|&i| i as u32).collect();
        pos += BATCH;
        let idx = Tensor::from_vec(idx, BATCH, &dev).expect("idx");
        let x = x_all.index_select(&idx, 0).expect("x");
        let y = y_all.index_select(&idx, 0).expect("y");
        let logits = l2.forward(&l1.forward(&x).expect("fc0").relu().expect("relu")).expect("head");
        let loss = candle_nn::loss::cross_entropy(&logits, &y).expect("loss");
        let grads = loss.backward().expect("backward");
        opt.step(&grads, &[GroupStep { lr: 0.1, momentum: None }]).expect("step");
        std::hint::black_box(loss.to_scalar::<f32>().expect("loss value"));
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = logits_check(&l2, &l1, &x_all);
    secs
}

fn logits_check(l2: &candle_nn::Linear, l1: &candle_nn::Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    l2.forward(&l1.forward(x)?.relu()?)?.argmax(D::Minus1)
}

/// The full path: Session::run with logging every step, a progress observer and checkpoints.
fn full(steps: u64) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Trainer::build(config(steps)).expect("build").start(dir.path()).expect("start");
    // Quiet progress prints ~20 lines per run: to stdout, as the cli does.
    let mut progress = cli::progress::Progress::new(steps, 0, true);
    let start = Instant::now();
    t.run(&mut progress, &AtomicBool::new(false)).expect("run");
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // SAFETY: before any thread is spawned (as the cli's main does).
    unsafe { trainer::device::pin_cpu_threads() };
    trainer::allocator::tune();
    let steps = env("STEPS", 3000);
    let repeats = env("REPEATS", 5) as usize;
    let (mut b, mut f) = (Vec::new(), Vec::new());
    // ONLY=bare or ONLY=full runs one side (for profiling).
    let only = std::env::var("ONLY").unwrap_or_default();
    // One short run of each first (thread pool start, page faults), then alternate the order
    // so neither side always runs on a warmer process.
    let _ = (bare(steps / 10), full(steps / 10));
    for i in 0..repeats {
        let order: [&str; 2] = if i % 2 == 0 { ["bare", "full"] } else { ["full", "bare"] };
        for side in order {
            if only.is_empty() || only == side {
                if side == "bare" { b.push(bare(steps)) } else { f.push(full(steps)) }
            }
        }
    }
    if !only.is_empty() {
        let v = if only == "bare" { b } else { f };
        println!("{{\"{only}_s\": {:.4}}}", median(v));
        return;
    }
    let ratios: Vec<f64> = f.iter().zip(&b).map(|(f, b)| f / b).collect();
    let (rmin, rmax) = ratios.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "{{\"steps\": {steps}, \"repeats\": {repeats}, \"bare_s\": {:.4}, \"full_s\": {:.4}, \"ratio_median\": {:.4}, \"ratio_min\": {rmin:.4}, \"ratio_max\": {rmax:.4}}}",
        median(b),
        median(f),
        median(ratios)
    );
}

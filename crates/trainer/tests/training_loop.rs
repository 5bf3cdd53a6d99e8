//! The training loop end to end on the embedded digits: logged LRs equal the schedule at every
//! step, determinism, gradient accumulation, hooks, early stopping, NaN watchdog, checkpoints.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use trainer::{RunConfig, Silent, StopReason, TrainError, Trainer};

fn config(yaml: &str) -> RunConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
}

const BASE: &str = "
name: t
seed: 3
model: {kind: mlp, hidden: [32]}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}
schedule: {kind: cosine_restarts, t_0: 30, t_mult: 2, eta_min: 0.001, warmup: {steps: 10, start_factor: 0.1}}
train: {max_steps: 300, batch_size: 32, eval_every: 50}
";

fn with(base: &str, extra: &str) -> RunConfig {
    config(&format!("{base}{extra}"))
}

/// `(step, tag) → value` from metrics.jsonl.
fn metrics(dir: &Path) -> Vec<(u64, String, f64)> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["step"].as_u64().unwrap(),
                v["tag"].as_str().unwrap().to_owned(),
                v["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn series(dir: &Path, tag: &str) -> Vec<(u64, f64)> {
    metrics(dir).into_iter().filter(|(_, t, _)| t == tag).map(|(s, _, v)| (s, v)).collect()
}

fn train(c: RunConfig, dir: &Path) -> trainer::Summary {
    let mut t = Trainer::build(c).unwrap().start(dir).unwrap();
    t.run(&mut Silent, &AtomicBool::new(false)).unwrap()
}

#[test]
fn logged_lr_is_the_schedule_value_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(BASE);
    let schedule = sched::Schedule::new(&c.schedule, 0.1).unwrap();
    let summary = train(c, dir.path());
    assert_eq!(summary.steps_done, 300);
    let lrs = series(dir.path(), "train/lr");
    assert_eq!(lrs.len(), 300);
    for (i, (step, lr)) in lrs.iter().enumerate() {
        assert_eq!(*step, i as u64);
        assert_eq!(lr.to_bits(), schedule.lr(*step).to_bits(), "step {step}");
    }
    // The restarts happened where the schedule puts them: the LR jumps back to the peak.
    for s in [40, 100, 220] {
        assert_eq!(lrs[s].1, 0.1, "restart at step {s}");
        assert!(lrs[s - 1].1 < 0.0015);
    }
    // It learns: well above chance on held-out digits.
    let acc = summary.final_eval.unwrap().accuracy().unwrap();
    assert!(acc > 0.9, "val accuracy {acc}");
    // Every logged tag is there, every step.
    for tag in ["train/loss", "train/grad_norm", "perf/samples_per_sec"] {
        assert_eq!(series(dir.path(), tag).len(), 300, "{tag}");
    }
    assert_eq!(series(dir.path(), "val/accuracy").len(), 6);
}

#[test]
fn groups_and_cycled_momentum_are_logged_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        "
name: g
model: {kind: mlp, hidden: [16]}
data: {kind: digits}
optimizer:
  kind: sgd
  lr: 0.05
  momentum: 0.9
  groups: [{name: head, prefix: head., lr_scale: 2.0}]
schedule: {kind: one_cycle, max_lr: 0.2, total_steps: 40}
train: {max_steps: 40, batch_size: 32, eval_every: 20}
",
    );
    let schedule = sched::Schedule::new(&c.schedule, 0.05).unwrap();
    train(c, dir.path());
    let default = series(dir.path(), "train/lr/default");
    let head = series(dir.path(), "train/lr/head");
    let momentum = series(dir.path(), "train/momentum");
    assert_eq!((default.len(), head.len(), momentum.len()), (40, 40, 40));
    for t in 0..40 {
        assert_eq!(default[t].1, schedule.group_lr(t as u64, 0.05));
        assert_eq!(head[t].1, schedule.group_lr(t as u64, 0.1));
        assert!((head[t].1 - 2.0 * default[t].1).abs() < 1e-15, "absolute kind scaled by lr_scale");
        assert_eq!(Some(momentum[t].1), schedule.momentum(t as u64));
    }
    assert_eq!(series(dir.path(), "train/lr"), default, "train/lr is group 0");
}

#[test]
fn same_seed_same_losses_and_other_seed_differs() {
    let runs: Vec<Vec<(u64, f64)>> = [3, 3, 4]
        .iter()
        .map(|&seed| {
            let dir = tempfile::tempdir().unwrap();
            let mut c = config(BASE);
            c.seed = seed;
            c.train.max_steps = Some(60);
            train(c, dir.path());
            series(dir.path(), "train/loss")
        })
        .collect();
    assert_eq!(runs[0], runs[1], "same config and seed: identical losses");
    assert_ne!(runs[0], runs[2]);
}

#[test]
fn gradient_accumulation_counts_optimizer_steps_and_matches_a_big_batch() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut big = config(BASE);
    big.train.max_steps = Some(12);
    big.train.batch_size = 64;
    let mut accum = big.clone();
    accum.train.batch_size = 32;
    accum.train.grad_accum_steps = 2;
    let s = train(accum, b.path());
    assert_eq!(s.steps_done, 12);
    train(big, a.path());
    let (la, lb) = (series(a.path(), "train/loss"), series(b.path(), "train/loss"));
    assert_eq!(lb.len(), 12, "one log line per optimizer step, not per micro-batch");
    for ((_, x), (_, y)) in la.iter().zip(&lb) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}

#[test]
fn clipping_logs_the_pre_clip_norm_and_changes_the_update() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut free = config(BASE);
    free.train.max_steps = Some(12);
    let mut clipped = free.clone();
    clipped.train.max_grad_norm = Some(0.01);
    train(free, a.path());
    train(clipped, b.path());
    let (na, nb) = (series(a.path(), "train/grad_norm"), series(b.path(), "train/grad_norm"));
    assert_eq!(na[0], nb[0], "the same first gradient, logged before clipping");
    assert!(na[0].1 > 0.01);
    assert_ne!(series(a.path(), "train/loss")[2], series(b.path(), "train/loss")[2]);
}

#[test]
fn snapshots_and_optimizer_reset_at_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let c = with(BASE, "hooks: {on_restart: {snapshot: true, reset_optimizer: true}}\n");
    let mut t = Trainer::build(c).unwrap().start(dir.path()).unwrap();
    t.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    let ck = dir.path().join("checkpoints");
    // Restarts at 40, 100, 220 (after the 10-step warmup): snapshots of cycles 0, 1, 2.
    for k in 0..3 {
        assert!(ck.join(format!("cycle-{k:03}/model.safetensors")).exists(), "cycle-{k:03}");
    }
    assert!(!ck.join("cycle-003").exists(), "cycle 3 ends at 460, after the run");
    // Moments were zeroed at the last restart (step 220): 80 updates since.
    let steps = t.trainer().optimizer().param_state("head.weight").unwrap().step();
    assert_eq!(steps, 80);
}

#[test]
fn early_stopping_and_plateau_stop() {
    let dir = tempfile::tempdir().unwrap();
    let c = with(
        BASE,
        "hooks: {on_plateau: {action: stop, monitor: val/accuracy, mode: max, patience: 0, threshold: 0.5}}\n",
    );
    let s = train(c, dir.path());
    assert_eq!(s.stop, StopReason::Plateau);
    assert_eq!(s.steps_done, 100, "first eval sets the best; the second (no 50% gain) is a plateau");

    let dir = tempfile::tempdir().unwrap();
    let mut c = with(BASE, "");
    // patience 0 means the same for both: act at the first evaluation that does not improve.
    c.train.early_stopping = Some(serde_saphyr::from_str("{monitor: val/loss, patience: 0, min_delta: 10.0}").unwrap());
    let s = train(c, dir.path());
    assert_eq!((s.stop, s.steps_done), (StopReason::EarlyStopping, 100));

    let dir = tempfile::tempdir().unwrap();
    let mut c = with(BASE, "");
    c.train.early_stopping = Some(serde_saphyr::from_str("{monitor: val/loss, patience: 1, min_delta: 10.0}").unwrap());
    let s = train(c, dir.path());
    assert_eq!(
        (s.stop, s.steps_done),
        (StopReason::EarlyStopping, 150),
        "one evaluation without improvement tolerated"
    );
}

#[test]
fn plateau_restart_hook_restarts_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let c = with(
        "
name: r
model: {kind: mlp, hidden: [16]}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1}
schedule: {kind: cosine, t_max: 400}
train: {max_steps: 200, batch_size: 32, eval_every: 50}
",
        "hooks: {on_plateau: {action: restart, patience: 0, threshold: 0.9}}\n",
    );
    train(c, dir.path());
    let lr = series(dir.path(), "train/lr");
    // Eval after step 49 sets the best; after 99 no 90 % gain → restart: step 100 is step 0 again.
    assert!(lr[99].1 < 0.1);
    assert_eq!(lr[100].1, 0.1);
    assert_eq!(lr[140].1, lr[40].1, "schedule time restarted at 100");
    assert_eq!(lr[150].1, 0.1, "and again after the next plateaued eval (threshold 0.9 is never met)");
}

#[test]
fn plateau_schedule_reduces_on_validation_loss() {
    let dir = tempfile::tempdir().unwrap();
    let c = with(
        "
name: p
model: {kind: mlp, hidden: [16]}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1}
schedule: {kind: plateau, factor: 0.5, patience: 0, threshold: 0.5, warmup: {steps: 20, start_factor: 0.5}}
train: {max_steps: 100, batch_size: 32, eval_every: 20}
",
        "",
    );
    train(c, dir.path());
    let lr = series(dir.path(), "train/lr");
    assert_eq!(lr[0].1, 0.05, "warmup first");
    assert_eq!(lr[20].1, 0.1);
    // Evals after steps 19 (warmup: ignored), 39 (sets best), 59 (no 50 % gain: reduce), 79.
    assert_eq!(lr[59].1, 0.1);
    assert_eq!(lr[60].1, 0.05);
    assert_eq!(lr[80].1, 0.025);
}

#[test]
fn nan_loss_stops_naming_the_step_and_the_checkpoint_before_it() {
    let dir = tempfile::tempdir().unwrap();
    // The LR stays within what the config checks accept (at most 1e6, rising 5000 a step); the
    // momentum makes the f32 weights overflow after the first checkpoints.
    let c = with(
        "
name: nan
model: {kind: mlp, hidden: [32], activation: gelu}
data: {kind: digits}
optimizer: {kind: sgd, lr: 1e6, momentum: 0.99}
schedule: {kind: linear, start_factor: 1e-7, end_factor: 1.0, total_iters: 200}
train: {max_steps: 200, batch_size: 32, eval_every: 1000, checkpoint_every: 1}
",
        "",
    );
    let mut t = Trainer::build(c).unwrap().start(dir.path()).unwrap();
    let err = t.run(&mut Silent, &AtomicBool::new(false)).unwrap_err();
    let TrainError::NonFiniteLoss { step, checkpoint, .. } = &err else { panic!("{err}") };
    let text = err.to_string();
    assert!(text.contains(&format!("at step {step}")), "{text}");
    let last = checkpoint.clone().expect("a checkpoint before the divergence");
    assert!(text.contains(&last.display().to_string()));
    let saved: u64 = last.file_name().unwrap().to_str().unwrap().trim_start_matches("step-").parse().unwrap();
    // Checkpoint `step` exists but holds the weights whose loss is not finite: the one named is
    // the one before.
    assert!(dir.path().join(format!("checkpoints/step-{step:08}")).is_dir());
    assert_eq!(saved + 1, *step, "checkpoint {saved} named for a failure at {step}");
}

#[test]
fn cuda_without_the_feature_is_a_config_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    let e = Trainer::build(with(BASE, "device: cuda:0\n")).err().unwrap();
    let TrainError::Config(issues) = e else { panic!("{e}") };
    assert_eq!(issues[0].path, "device");
    assert!(issues[0].message.contains("--features cuda"), "{}", issues[0].message);
}

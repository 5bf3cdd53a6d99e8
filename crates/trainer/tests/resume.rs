//! Exact resume: a run stopped at any point and resumed from its checkpoint logs the same LRs and
//! losses as an uninterrupted run; half-written and corrupt checkpoints are skipped.

mod common;

use std::sync::atomic::AtomicBool;

use common::{StopAt, series};
use trainer::{RunConfig, Silent, Trainer};

/// Every piece of state at once: dropout (RNG), accumulation (data position), a plateau in a
/// chained schedule with restarts (schedule state), Adam moments reset at restarts, early-stopping
/// and best trackers.
const CONFIG: &str = "
name: resume
seed: 11
model: {kind: mlp, hidden: [24], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: adamw, lr: 0.003, groups: [{name: head, prefix: head., lr_scale: 3.0}]}
schedule:
  kind: chained
  schedules:
    - {kind: cosine_restarts, t_0: 20, t_mult: 2}
    - {kind: plateau, factor: 0.5, patience: 0, threshold: 0.05}
train: {max_steps: 130, batch_size: 48, grad_accum_steps: 2, eval_every: 10, checkpoint_every: 7,
        early_stopping: {patience: 100}}
hooks: {on_restart: {reset_optimizer: true, snapshot: true}}
";

fn config() -> RunConfig {
    serde_saphyr::from_str(CONFIG).unwrap()
}

#[test]
fn stopped_and_resumed_runs_match_the_uninterrupted_run() {
    let whole = tempfile::tempdir().unwrap();
    let mut t = Trainer::build(config()).unwrap().start(whole.path()).unwrap();
    t.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    let (lr, loss, val) =
        (series(whole.path(), "train/lr"), series(whole.path(), "train/loss"), series(whole.path(), "val/loss"));
    assert_eq!(lr.len(), 130);

    for cut in [0, 6, 19, 20, 21, 59, 60, 99, 128] {
        let dir = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let mut first = Trainer::build(config()).unwrap().start(dir.path()).unwrap();
        let s = first.run(&mut StopAt { at: cut, flag: &flag }, &flag).unwrap();
        assert_eq!(s.steps_done, cut + 1);
        drop(first);

        let (mut second, info) = Trainer::build(config()).unwrap().resume(dir.path(), false).unwrap();
        assert_eq!(info.step, cut + 1);
        second.run(&mut Silent, &AtomicBool::new(false)).unwrap();
        assert_eq!(series(dir.path(), "train/lr"), lr, "lr after a stop at step {cut}");
        assert_eq!(series(dir.path(), "train/loss"), loss, "loss after a stop at step {cut}");
        assert_eq!(series(dir.path(), "val/loss"), val, "val/loss after a stop at step {cut}");
    }
}

#[test]
fn resume_from_an_older_checkpoint_replays_exactly() {
    // A kill between checkpoints: the newest checkpoint is older than the last logged step.
    let whole = tempfile::tempdir().unwrap();
    let mut t = Trainer::build(config()).unwrap().start(whole.path()).unwrap();
    t.run(&mut Silent, &AtomicBool::new(false)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let flag = AtomicBool::new(false);
    let mut first = Trainer::build(config()).unwrap().start(dir.path()).unwrap();
    first.run(&mut StopAt { at: 45, flag: &flag }, &flag).unwrap();
    drop(first); // the session holds the run directory's lock
    // Remove the stop's own checkpoint (step 46): the newest left is step 42, as after a kill.
    std::fs::remove_dir_all(dir.path().join("checkpoints/step-00000046")).unwrap();
    let (mut second, info) = Trainer::build(config()).unwrap().resume(dir.path(), false).unwrap();
    assert_eq!(info.step, 42);
    second.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    assert_eq!(series(dir.path(), "train/loss"), series(whole.path(), "train/loss"));
}

#[test]
fn half_written_and_corrupt_checkpoints_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.train.max_steps = Some(30);
    let mut t = Trainer::build(c.clone()).unwrap().start(dir.path()).unwrap();
    t.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    drop(t); // the session holds the run directory's lock
    let ck = dir.path().join("checkpoints");
    // A save killed half-way: a temporary directory with a truncated file, newer than any.
    let tmp = ck.join(".tmp-step-00000099-4242");
    std::fs::create_dir_all(&tmp).unwrap();
    let model = std::fs::read(ck.join("step-00000030/model.safetensors")).unwrap();
    std::fs::write(tmp.join("model.safetensors"), &model[..model.len() / 2]).unwrap();
    // And the newest complete-looking checkpoint corrupted on disk.
    let newest = ck.join("step-00000030/model.safetensors");
    std::fs::write(&newest, &model[..model.len() / 3]).unwrap();

    // The best checkpoint (the final evaluation, step 30) is as new: it is the fallback.
    std::fs::remove_dir_all(ck.join("best")).unwrap();
    let (_, info) = Trainer::build(c).unwrap().resume(dir.path(), false).unwrap();
    assert_eq!(info.step, 28, "falls back to the previous checkpoint");
    assert_eq!(info.skipped.len(), 1, "{:?}", info.skipped);
    assert!(info.skipped[0].contains("step-00000030"), "{:?}", info.skipped);
    assert!(!tmp.exists(), "leftovers of an interrupted save are cleaned up");
}

#[test]
fn a_changed_schedule_is_refused_with_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.train.max_steps = Some(10);
    let mut t = Trainer::build(c.clone()).unwrap().start(dir.path()).unwrap();
    t.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    drop(t); // the session holds the run directory's lock

    let mut changed = c.clone();
    if let sched::Kind::Chained(ch) = &mut changed.schedule.kind
        && let sched::Kind::CosineRestarts(r) = &mut ch.schedules[0].kind
    {
        r.t_0 = 25;
    }
    changed.optimizer =
        serde_saphyr::from_str("{kind: adamw, lr: 0.001, groups: [{name: head, prefix: head., lr_scale: 3.0}]}")
            .unwrap();
    let err = Trainer::build(changed.clone()).unwrap().resume(dir.path(), false).err().unwrap().to_string();
    assert!(err.contains("schedule.schedules[0].t_0: 20 → 25"), "{err}");
    assert!(err.contains("optimizer.lr: 0.003 → 0.001"), "{err}");
    assert!(err.contains("--allow-config-change"), "{err}");
    let info = Trainer::build(changed).unwrap().resume(dir.path(), true).unwrap().1;
    assert_eq!(info.accepted_changes.len(), 2);
    // max_steps is not part of the fingerprint: training longer is always allowed.
    c.train.max_steps = Some(20);
    assert!(Trainer::build(c).unwrap().resume(dir.path(), false).is_ok());
}

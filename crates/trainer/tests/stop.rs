//! A stop request that arrives inside an optimizer step (here: while the warm-restart hook runs,
//! just before the step's gradient accumulation) abandons the step: nothing of it is applied,
//! the checkpoint holds the last completed step, and the resumed run equals an uninterrupted one.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{StopAt, series};
use trainer::{Event, Observer, RunConfig, Silent, StopReason, Trainer};

/// Dropout (RNG), accumulation (data position) and a restart that resets Adam and snapshots.
const CONFIG: &str = "
name: stop
seed: 5
model: {kind: mlp, hidden: [16], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: adamw, lr: 0.003}
schedule: {kind: cosine_restarts, t_0: 20, t_mult: 2}
train: {max_steps: 70, batch_size: 32, grad_accum_steps: 3, eval_every: 10}
hooks: {on_restart: {reset_optimizer: true, snapshot: true}}
";

fn config() -> RunConfig {
    serde_saphyr::from_str(CONFIG).unwrap()
}

/// Requests a stop when the warm restart at the start of step 20 is announced.
struct StopAtRestart<'a>(&'a AtomicBool);

impl Observer for StopAtRestart<'_> {
    fn on_event(&mut self, event: &Event) {
        if matches!(event, Event::WarmRestart { step: 20, .. }) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// The run trained to its end without a stop.
fn uninterrupted() -> tempfile::TempDir {
    let whole = tempfile::tempdir().unwrap();
    let mut t = Trainer::build(config()).unwrap().start(whole.path()).unwrap();
    t.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    whole
}

#[test]
fn a_stop_inside_a_step_abandons_it_and_the_resumed_run_is_exact() {
    let whole = uninterrupted();

    let dir = tempfile::tempdir().unwrap();
    let flag = AtomicBool::new(false);
    let mut first = Trainer::build(config()).unwrap().start(dir.path()).unwrap();
    let s = first.run(&mut StopAtRestart(&flag), &flag).unwrap();
    assert_eq!(s.stop, StopReason::Interrupted);
    assert_eq!(s.steps_done, 20, "step 20 was abandoned, not applied");
    assert_eq!(series(dir.path(), "train/lr").len(), 20);
    assert!(dir.path().join("checkpoints/step-00000020").is_dir());
    drop(first);

    let (mut second, info) = Trainer::build(config()).unwrap().resume(dir.path(), false).unwrap();
    assert_eq!(info.step, 20);
    second.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    for tag in ["train/lr", "train/loss", "val/loss"] {
        assert_eq!(series(dir.path(), tag), series(whole.path(), tag), "{tag}");
    }
}

#[test]
fn a_stop_before_an_evaluation_finishes_abandons_it_and_the_resume_runs_it_first() {
    let whole = uninterrupted();

    let dir = tempfile::tempdir().unwrap();
    let flag = AtomicBool::new(false);
    let mut first = Trainer::build(config()).unwrap().start(dir.path()).unwrap();
    let s = first.run(&mut StopAt { at: 29, flag: &flag }, &flag).unwrap();
    drop(first);
    assert_eq!((s.stop, s.steps_done), (StopReason::Interrupted, 30));
    assert_eq!(series(dir.path(), "val/loss").len(), 2, "the evaluation after step 30 was abandoned");
    let state = std::fs::read_to_string(dir.path().join("checkpoints/step-00000030/state.json")).unwrap();
    assert!(state.contains("\"eval_pending\": true"), "{state}");

    let (mut second, _) = Trainer::build(config()).unwrap().resume(dir.path(), false).unwrap();
    second.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    for tag in ["train/lr", "train/loss", "val/loss", "val/accuracy"] {
        assert_eq!(series(dir.path(), tag), series(whole.path(), tag), "{tag}");
    }
    let state = std::fs::read_to_string(dir.path().join("checkpoints/step-00000030/state.json")).unwrap();
    assert!(!state.contains("eval_pending"), "saved again once the evaluation ran: {state}");
}

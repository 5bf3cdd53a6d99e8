//! Weight averages (`train.ema`, `train.swa`): the EMA in the checkpoints follows the trajectory
//! computed here from each step's raw weights; both averages are evaluated (`val_ema/…`,
//! `val_swa/…`, from the first evaluation after they took in weights) and continue exactly
//! across a stop and resume.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::Device;
use common::{StopAt, series};
use trainer::{RunConfig, Silent, Trainer};

const CONFIG: &str = "
name: averaging
seed: 3
model: {kind: mlp, hidden: [8], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}
schedule:
  kind: sequential
  milestones: [12]
  schedules:
    - {kind: cosine, t_max: 20}
    - {kind: swa, swa_lr: 0.05, anneal_steps: 4}
train: {max_steps: 20, batch_size: 32, eval_every: 5, checkpoint_every: 1, keep_checkpoints: 25,
        ema: {decay: 0.8, warmup: true, every: 2}, swa: {start_step: 12, every: 3}}
logging: {tensorboard: false}
";

fn config() -> RunConfig {
    serde_saphyr::from_str(CONFIG).unwrap()
}

fn tensors(path: &Path) -> HashMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

fn checkpoint(dir: &Path, step: u64, file: &str) -> HashMap<String, Vec<f32>> {
    tensors(&dir.join(format!("checkpoints/step-{step:08}/{file}")))
}

#[test]
fn the_ema_follows_the_hand_computed_trajectory_and_swa_the_mean() {
    let dir = tempfile::tempdir().unwrap();
    Trainer::build(config()).unwrap().start(dir.path()).unwrap().run(&mut Silent, &AtomicBool::new(false)).unwrap();

    // EMA updates after steps 2, 4, …, 20: update t uses d = 0, then min(0.8, (1 + t) / (10 + t)),
    // as `ema + (w − ema) · (1 − d)` in f32 (the weights' dtype).
    let mut ema: Option<HashMap<String, Vec<f32>>> = None;
    for (t, step) in (2..=20).step_by(2).enumerate() {
        let w = checkpoint(dir.path(), step, "model.safetensors");
        let d = if t == 0 { 0.0 } else { 0.8f64.min((1.0 + t as f64) / (10.0 + t as f64)) };
        let weight = (1.0 - d) as f32;
        ema = Some(match ema {
            None => w,
            Some(e) => e
                .into_iter()
                .map(|(k, e)| {
                    let next = e.iter().zip(&w[&k]).map(|(e, x)| e + (x - e) * weight).collect();
                    (k, next)
                })
                .collect(),
        });
        assert_eq!(ema.as_ref(), Some(&checkpoint(dir.path(), step, "ema.safetensors")), "EMA after step {step}");
    }
    // No EMA file before the first update; the averages are listed in the manifest.
    assert!(!dir.path().join("checkpoints/step-00000001/ema.safetensors").exists());
    let manifest = std::fs::read_to_string(dir.path().join("checkpoints/step-00000020/manifest.json")).unwrap();
    assert!(manifest.contains("\"ema.safetensors\"") && manifest.contains("\"swa.safetensors\""), "{manifest}");

    // SWA: the mean of the weights after steps 12, 15, 18.
    let swa = checkpoint(dir.path(), 20, "swa.safetensors");
    let ws: Vec<_> = [12, 15, 18].iter().map(|&s| checkpoint(dir.path(), s, "model.safetensors")).collect();
    for (k, avg) in &swa {
        for (i, a) in avg.iter().enumerate() {
            let mean = ws.iter().map(|w| f64::from(w[k][i])).sum::<f64>() / 3.0;
            assert!((f64::from(*a) - mean).abs() <= 1e-6 * mean.abs().max(1e-3), "{k}[{i}]: {a} vs {mean}");
        }
    }
    assert!(!dir.path().join("checkpoints/step-00000011/swa.safetensors").exists());

    // Evaluated alongside the raw weights: EMA from step 5 on, SWA once it has weights (15, 20).
    let steps = |tag: &str| series(dir.path(), tag).iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(steps("val/loss"), [4, 9, 14, 19]);
    assert_eq!(steps("val_ema/loss"), [4, 9, 14, 19]);
    assert_eq!(steps("val_ema/accuracy"), [4, 9, 14, 19]);
    assert_eq!(steps("val_swa/loss"), [14, 19]);
    assert_ne!(series(dir.path(), "val_ema/loss"), series(dir.path(), "val/loss"));
}

#[test]
fn evaluating_the_averages_leaves_training_unchanged() {
    let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    Trainer::build(config()).unwrap().start(with.path()).unwrap().run(&mut Silent, &AtomicBool::new(false)).unwrap();
    let mut plain = config();
    (plain.train.ema, plain.train.swa) = (None, None);
    Trainer::build(plain).unwrap().start(without.path()).unwrap().run(&mut Silent, &AtomicBool::new(false)).unwrap();
    for tag in ["train/loss", "val/loss", "val/accuracy"] {
        assert_eq!(series(with.path(), tag), series(without.path(), tag), "{tag}");
    }
    let manifest = std::fs::read_to_string(without.path().join("checkpoints/step-00000020/manifest.json")).unwrap();
    assert!(!manifest.contains("ema.safetensors"), "{manifest}");
}

#[test]
fn stopped_and_resumed_runs_evaluate_the_same_averages() {
    let whole = tempfile::tempdir().unwrap();
    let mut c = config();
    c.train.checkpoint_every = 4;
    Trainer::build(c.clone()).unwrap().start(whole.path()).unwrap().run(&mut Silent, &AtomicBool::new(false)).unwrap();
    let tags = ["val_ema/loss", "val_ema/accuracy", "val_swa/loss", "val/loss"];
    for cut in [0, 2, 6, 12, 13, 16] {
        let dir = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let mut first = Trainer::build(c.clone()).unwrap().start(dir.path()).unwrap();
        first.run(&mut StopAt { at: cut, flag: &flag }, &flag).unwrap();
        drop(first);
        // As after a kill: the stop's own checkpoint removed, resume from the periodic one before.
        if (cut + 1) % 4 != 0 && cut > 3 {
            std::fs::remove_dir_all(dir.path().join(format!("checkpoints/step-{:08}", cut + 1))).unwrap();
        }
        let (mut second, _) = Trainer::build(c.clone()).unwrap().resume(dir.path(), false).unwrap();
        second.run(&mut Silent, &AtomicBool::new(false)).unwrap();
        for tag in tags {
            assert_eq!(series(dir.path(), tag), series(whole.path(), tag), "{tag} after a stop at step {cut}");
        }
    }
}

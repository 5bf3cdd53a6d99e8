//! `train.precision` on CPU-emulated low precision ([`BuildOptions::low_precision_on_cpu`]):
//! bf16 and f16 runs track the f32 run with f32 master weights in the checkpoints; f16's dynamic
//! loss scale skips overflowing steps, halves, recovers, and resumes exactly; configs refuse
//! bf16/f16 on the CPU.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device};
use common::{StopAt, series};
use trainer::data::Split;
use trainer::run::evaluator::Evaluator;
use trainer::{BuildOptions, RunConfig, Silent, TrainError, Trainer};

const BASE: &str = "
name: amp
seed: 5
model: {kind: mlp, hidden: [32]}
data: {kind: digits}
optimizer: {kind: adamw, lr: 0.003}
schedule: {kind: cosine, t_max: 150}
";

fn config(train: &str) -> RunConfig {
    serde_saphyr::from_str(&format!("{BASE}train: {train}\n")).unwrap_or_else(|e| panic!("{e}"))
}

const EMULATED: BuildOptions = BuildOptions { low_precision_on_cpu: true };

fn build(train: &str) -> Trainer {
    Trainer::build_with(config(train), EMULATED).unwrap()
}

/// Trains a run to its end in `dir`.
fn train(train: &str, dir: &Path) -> trainer::Summary {
    build(train).start(dir).unwrap().run(&mut Silent, &AtomicBool::new(false)).unwrap()
}

/// The values of `tag` in the run's `metrics.jsonl`.
fn values(dir: &Path, tag: &str) -> Vec<f64> {
    series(dir, tag).into_iter().map(|(_, bits)| f64::from_bits(bits)).collect()
}

/// The dtypes of the weights in the run's final checkpoint.
fn checkpoint_dtypes(summary: &trainer::Summary) -> Vec<DType> {
    let file = summary.last_checkpoint.as_ref().unwrap().join("model.safetensors");
    candle_core::safetensors::load(file, &Device::Cpu).unwrap().values().map(|t| t.dtype()).collect()
}

#[test]
fn bf16_and_f16_runs_track_the_f32_run_with_f32_master_weights() {
    let common = "{max_steps: 150, batch_size: 32, eval_every: 150";
    let f32_dir = tempfile::tempdir().unwrap();
    train(&format!("{common}}}"), f32_dir.path());
    let reference = values(f32_dir.path(), "train/loss");
    assert_eq!(reference.len(), 150);
    for precision in ["bf16", "f16"] {
        let dir = tempfile::tempdir().unwrap();
        let summary = train(&format!("{common}, precision: {precision}}}"), dir.path());
        let losses = values(dir.path(), "train/loss");
        assert_eq!(losses.len(), 150);
        // Per step, and over the last 50 steps on average, near the f32 run (bf16 rounds to 8
        // bits of mantissa: ~0.4 % per value).
        let worst = losses.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 0.1, "{precision}: a step's loss differs by {worst}");
        let tail = |l: &[f64]| l[100..].iter().sum::<f64>() / 50.0;
        let (mine, theirs) = (tail(&losses), tail(&reference));
        assert!((mine - theirs).abs() < 0.02, "{precision}: mean loss of the last 50 steps {mine} vs f32 {theirs}");
        assert!(mine < reference[0] / 2.0, "{precision}: trained ({} → {mine})", reference[0]);
        let val = |d: &Path| values(d, "val/accuracy")[0];
        assert!((val(dir.path()) - val(f32_dir.path())).abs() < 0.03, "{precision}: val/accuracy");
        assert!(!losses.iter().zip(&reference).all(|(a, b)| a == b), "{precision}: ran in low precision");
        assert!(checkpoint_dtypes(&summary).iter().all(|d| *d == DType::F32), "{precision}: f32 checkpoints");
        // The checkpoint evaluates on the CPU from the run's own config (in f32), to the run's value.
        let c = config(&format!("{common}, precision: {precision}}}"));
        let evaluator =
            Evaluator::open(c, summary.last_checkpoint.as_deref(), trainer::optim::average::Weights::Raw).unwrap();
        let (e, _) = evaluator.evaluate(Split::Val).unwrap();
        assert_eq!(e.iter().find(|(_, m, _)| m.name == "val/accuracy").map(|(_, _, v)| v), Some(val(dir.path())));
        let scales = values(dir.path(), "train/loss_scale");
        match precision {
            "f16" => assert!(scales.len() == 150 && scales.iter().all(|s| *s == 65536.0), "{scales:?}"),
            _ => assert!(scales.is_empty(), "bf16 logs no loss scale"),
        }
    }
}

#[test]
fn an_absurd_f16_loss_scale_skips_steps_halves_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let t = "{max_steps: 150, batch_size: 32, eval_every: 10, eval_on_start: true, precision: f16, \
             loss_scale: {init: 1.0e30, growth_interval: 1000}}";
    train(t, dir.path());
    let scales = values(dir.path(), "train/loss_scale");
    assert_eq!(scales[0], 1.0e30);
    // Every step until the first applied one halves the scale; the gradients of the skipped
    // steps are not applied (no gradient norm logged), and the weights do not move.
    let skipped = scales.windows(2).take_while(|w| w[1] == w[0] / 2.0).count();
    assert!((70..100).contains(&skipped), "{skipped} skipped steps: {scales:?}");
    let norms = series(dir.path(), "train/grad_norm");
    assert_eq!(norms.first().map(|(s, _)| *s), Some(skipped as u64), "first applied step");
    let val = values(dir.path(), "val/loss");
    let evals_while_skipping = skipped / 10;
    assert!(val[..=evals_while_skipping].iter().all(|v| *v == val[0]), "weights moved while skipping: {val:?}");
    // Then it trains, skipping at most a few more steps (never growing: interval 1000).
    let later = scales[skipped..].windows(2).filter(|w| w[1] == w[0] / 2.0).count();
    assert!(later <= 5, "{later} more skips: {:?}", &scales[skipped..]);
    assert!(scales[skipped..].windows(2).all(|w| w[1] <= w[0]), "{:?}", &scales[skipped..]);
    assert!(*val.last().unwrap() < val[0] - 0.1, "trained after the skips: {val:?}");
}

/// A run with skipped steps and growth inside the resumed stretch.
const SCALED: &str = "{max_steps: 60, batch_size: 32, grad_accum_steps: 2, eval_every: 10, checkpoint_every: 7, \
                      precision: f16, loss_scale: {init: 1048576, growth_interval: 4}}";

#[test]
fn an_f16_run_stopped_and_resumed_matches_the_uninterrupted_run() {
    let whole = tempfile::tempdir().unwrap();
    train(SCALED, whole.path());
    let (loss, scale) = (series(whole.path(), "train/loss"), series(whole.path(), "train/loss_scale"));
    let skipped = scale.windows(2).filter(|w| f64::from_bits(w[1].1) < f64::from_bits(w[0].1)).count();
    let grown = scale.windows(2).filter(|w| f64::from_bits(w[1].1) > f64::from_bits(w[0].1)).count();
    assert!(skipped > 0 && grown > 0, "the run both skips and grows: {scale:?}");
    for cut in [3, 20, 41] {
        let dir = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let mut first = build(SCALED).start(dir.path()).unwrap();
        first.run(&mut StopAt { at: cut, flag: &flag }, &flag).unwrap();
        drop(first);
        let (mut second, info) = build(SCALED).resume(dir.path(), false).unwrap();
        assert_eq!(info.step, cut + 1);
        second.run(&mut Silent, &AtomicBool::new(false)).unwrap();
        assert_eq!(series(dir.path(), "train/loss_scale"), scale, "loss scale after a stop at step {cut}");
        assert_eq!(series(dir.path(), "train/loss"), loss, "loss after a stop at step {cut}");
    }
}

#[test]
fn low_precision_is_refused_on_the_cpu_without_the_test_switch() {
    for precision in ["bf16", "f16"] {
        let c = config(&format!("{{max_steps: 10, precision: {precision}}}"));
        let Err(TrainError::Config(issues)) = Trainer::build(c) else { panic!("{precision} accepted on the CPU") };
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "train.precision");
        assert!(issues[0].message.contains("GPU"), "{}", issues[0].message);
    }
    let c = config("{max_steps: 10, precision: bf16, loss_scale: {init: 8.0}}");
    let Err(TrainError::Config(issues)) = Trainer::build_with(c, EMULATED) else { panic!("loss_scale with bf16") };
    assert_eq!(issues[0].path, "train.loss_scale");
}

#[test]
fn a_cnn_trains_in_f16_near_its_f32_run() {
    let yaml = |p: &str| {
        format!(
            "name: c\nseed: 2\nmodel: {{kind: cnn, channels: [4], hidden: 16}}\ndata: {{kind: digits}}\n\
             optimizer: {{kind: adamw, lr: 0.003}}\nschedule: {{kind: constant}}\n\
             train: {{max_steps: 30, batch_size: 32, eval_every: 30, precision: {p}}}\n"
        )
    };
    let run = |p: &str| {
        let c: RunConfig = serde_saphyr::from_str(&yaml(p)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        Trainer::build_with(c, EMULATED)
            .unwrap()
            .start(dir.path())
            .unwrap()
            .run(&mut Silent, &AtomicBool::new(false))
            .unwrap();
        values(dir.path(), "train/loss")
    };
    let reference = run("f32");
    // Not bf16: candle's CPU convolution has no bf16 matmul (its plain matmul widens bf16 to f32,
    // its im2col convolution does not), so a bf16 CNN runs only on a GPU.
    let losses = run("f16");
    let worst = losses.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 0.05, "f16: a step's loss differs by {worst}");
    assert!(reference[29] < reference[0], "{reference:?}");
}

use candle_core::{DType, Device, Tensor, Var};

use super::*;

fn var(values: &[f64]) -> Var {
    Var::new(values, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_vec1::<f64>().unwrap()
}

/// The weights the "optimizer" writes after each step: step `k` sets `w = [k, 10 − k²]`.
fn weights_after(k: u64) -> Vec<f64> {
    let k = k as f64;
    vec![k, 10.0 - k * k]
}

#[test]
fn ema_follows_the_hand_computed_trajectory() {
    let w = var(&[0.0, 10.0]);
    let ema = EmaConfig { decay: 0.5, warmup: true, every: 2 };
    let mut avg = Averages::new(Some(&ema), None, &[("w".to_owned(), w.clone())]);
    // Updates after steps 2, 4, 6, 8 with decays 0, 2/11, 3/12, 4/13 (warmup below 0.5).
    let mut want: Option<Vec<f64>> = None;
    let mut t = 0;
    for k in 1..=8 {
        w.set(&Tensor::new(weights_after(k).as_slice(), &Device::Cpu).unwrap()).unwrap();
        avg.after_step(k).unwrap();
        if k % 2 == 0 {
            let d = [0.0, 2.0 / 11.0, 3.0 / 12.0, 4.0 / 13.0][t];
            let now = weights_after(k);
            want = Some(match want {
                None => now,
                Some(e) => e.iter().zip(&now).map(|(e, x)| e + (x - e) * (1.0 - d)).collect(),
            });
            t += 1;
        }
        let got = avg.tensors(Weights::Ema).map(|ts| values(&ts[0].1));
        assert_eq!(got, want, "after step {k}");
    }
    assert_eq!(avg.n_averaged(Weights::Ema), 4);
}

#[test]
fn swa_is_the_equal_weight_mean_from_start_step() {
    let w = var(&[0.0, 10.0]);
    let swa = SwaAverageConfig { start_step: 3, every: 2 };
    let mut avg = Averages::new(None, Some(&swa), &[("w".to_owned(), w.clone())]);
    for k in 1..=8 {
        w.set(&Tensor::new(weights_after(k).as_slice(), &Device::Cpu).unwrap()).unwrap();
        avg.after_step(k).unwrap();
    }
    // Steps 3, 5, 7: mean of [3, 1], [5, −15], [7, −39].
    let got = values(&avg.tensors(Weights::Swa).unwrap()[0].1);
    assert!((got[0] - 5.0).abs() < 1e-12 && (got[1] + 53.0 / 3.0).abs() < 1e-12, "{got:?}");
    assert_eq!(avg.n_averaged(Weights::Swa), 3);
    assert_eq!(avg.ready(), [Weights::Swa]);
}

#[test]
fn evaluating_an_average_puts_the_raw_weights_back_bit_for_bit() {
    let w = Var::new(&[0.1f32, -0.7, 3.3], &Device::Cpu).unwrap();
    let ema = EmaConfig { decay: 0.9, warmup: false, every: 1 };
    let mut avg = Averages::new(Some(&ema), None, &[("w".to_owned(), w.clone())]);
    avg.after_step(1).unwrap();
    w.set(&Tensor::new(&[1.0f32, 2.0, 3.0], &Device::Cpu).unwrap()).unwrap();
    avg.after_step(2).unwrap();
    let raw = w.as_tensor().to_vec1::<f32>().unwrap();
    let inside = avg.with_weights(Weights::Ema, || w.as_tensor().to_vec1::<f32>()).unwrap();
    let want: Vec<f32> = [0.1f32, -0.7, 3.3].iter().zip(&raw).map(|(e, x)| e + (x - e) * 0.1).collect();
    for (g, w) in inside.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "{inside:?} vs {want:?}");
    }
    let after = w.as_tensor().to_vec1::<f32>().unwrap();
    assert_eq!(
        after.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        raw.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // Even when the evaluation fails.
    let failed: Result<(), candle_core::Error> =
        avg.with_weights(Weights::Ema, || Err(candle_core::Error::Msg("x".into())));
    assert!(failed.is_err());
    assert_eq!(w.as_tensor().to_vec1::<f32>().unwrap(), raw);
}

#[test]
fn files_round_trip_and_mismatches_are_named() {
    let w = var(&[1.0, 2.0]);
    let b = Var::zeros(3, DType::F64, &Device::Cpu).unwrap();
    let vars = [("w".to_owned(), w.clone()), ("b".to_owned(), b)];
    let (ema, swa) = (EmaConfig { decay: 0.9, warmup: true, every: 1 }, SwaAverageConfig { start_step: 2, every: 1 });
    let mut avg = Averages::new(Some(&ema), Some(&swa), &vars);
    for k in 1..=3 {
        w.set(&Tensor::new(weights_after(k).as_slice(), &Device::Cpu).unwrap()).unwrap();
        avg.after_step(k).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in avg.files().unwrap() {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let mut back = Averages::new(Some(&ema), Some(&swa), &vars);
    back.load(dir.path()).unwrap();
    for which in [Weights::Ema, Weights::Swa] {
        assert_eq!(back.n_averaged(which), avg.n_averaged(which));
        let (a, b) = (avg.tensors(which).unwrap(), back.tensors(which).unwrap());
        assert_eq!(
            a.iter().map(|(n, t)| (n.clone(), values(t))).collect::<Vec<_>>(),
            b.iter().map(|(n, t)| (n.clone(), values(t))).collect::<Vec<_>>()
        );
    }
    // A model with another shape: refused, naming the file and the tensor.
    let other =
        [("w".to_owned(), var(&[1.0, 2.0, 3.0])), ("b".to_owned(), Var::zeros(3, DType::F64, &Device::Cpu).unwrap())];
    let e = Averages::new(Some(&ema), None, &other).load(dir.path()).unwrap_err();
    assert!(e.starts_with("ema.safetensors: `w` is F64 [2]"), "{e}");
    // The swa file read as an EMA: refused.
    std::fs::rename(dir.path().join(SWA_FILE), dir.path().join(EMA_FILE)).unwrap();
    let e = back.load(dir.path()).unwrap_err();
    assert!(e.contains("expected \"ema\""), "{e}");
    // No file: the average starts over.
    std::fs::remove_file(dir.path().join(EMA_FILE)).unwrap();
    let mut empty = Averages::new(Some(&ema), None, &vars);
    empty.load(dir.path()).unwrap();
    assert!(empty.ready().is_empty());
}

#[test]
fn metric_tags_name_the_weights() {
    assert_eq!(Weights::Ema.tag("val/accuracy"), "val_ema/accuracy");
    assert_eq!(Weights::Swa.tag("val/loss"), "val_swa/loss");
    assert_eq!(Weights::Raw.tag("val/loss"), "val/loss");
}

#[test]
fn a_checkpoint_average_loads_over_a_model() {
    let w = var(&[1.0, 2.0]);
    let ema = EmaConfig { decay: 0.5, warmup: false, every: 1 };
    let mut avg = Averages::new(Some(&ema), None, &[("w".to_owned(), w.clone())]);
    avg.after_step(1).unwrap();
    w.set(&Tensor::new(&[3.0f64, 4.0], &Device::Cpu).unwrap()).unwrap();
    avg.after_step(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in avg.files().unwrap() {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    // A model with the trainable `w` and a frozen `f` (not in the average).
    let varmap = candle_nn::VarMap::new();
    let (mw, mf) = (var(&[0.0, 0.0]), var(&[9.0]));
    varmap.data().lock().unwrap().extend([("w".to_owned(), mw.clone()), ("f".to_owned(), mf.clone())]);
    load_average(&varmap, dir.path(), Weights::Ema).unwrap();
    assert_eq!((values(mw.as_tensor()), values(mf.as_tensor())), (vec![2.0, 3.0], vec![9.0]));
    let e = load_average(&varmap, dir.path(), Weights::Swa).unwrap_err();
    assert!(e.contains("swa.safetensors"), "{e}");
}

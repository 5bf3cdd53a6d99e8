//! Forward + backward time of each fused op against its composed version at MiniLM's shapes
//! (batch 16, 32 tokens, hidden 384, 12 heads, intermediate 1536). Ignored: run with
//! `cargo test --release -p trainer --lib ops::timing -- --ignored --nocapture`.

use std::time::Instant;

use candle_core::{D, Tensor, Var};

use super::testing::randn;

/// Milliseconds of one `f(x)` and `backward` with respect to `var`.
fn once(var: &Var, f: &dyn Fn(&Tensor) -> Tensor) -> f64 {
    let start = Instant::now();
    let grads = f(var.as_tensor()).backward().unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(grads.get(var.as_tensor()).is_some());
    ms
}

/// Fastest and median of `reps` timings (after two warm-up runs); `alternate` interleaves the
/// two functions, otherwise each runs its reps back to back.
fn stats(var: &Var, a: &dyn Fn(&Tensor) -> Tensor, b: &dyn Fn(&Tensor) -> Tensor, alternate: bool) -> [f64; 4] {
    let reps = 32;
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    if alternate {
        for _ in 0..reps {
            ta.push(once(var, a));
            tb.push(once(var, b));
        }
    } else {
        ta.extend((0..reps).map(|_| once(var, a)));
        tb.extend((0..reps).map(|_| once(var, b)));
    }
    let summary = |t: &mut Vec<f64>| {
        t.drain(..2);
        t.sort_by(f64::total_cmp);
        (t[0], t[t.len() / 2])
    };
    let ((a0, am), (b0, bm)) = (summary(&mut ta), summary(&mut tb));
    [a0, am, b0, bm]
}

/// Prints composed against fused, run alternately and back to back (the two differ on a shared
/// VM: allocations and page faults of the other op's buffers land in between). Fastest is the
/// run least disturbed by other work; ratios are composed / fused.
fn compare(name: &str, x: &Tensor, fused: &dyn Fn(&Tensor) -> Tensor, composed: &dyn Fn(&Tensor) -> Tensor) {
    let var = Var::from_tensor(x).unwrap();
    for (mode, alternate) in [("alternating", true), ("back to back", false)] {
        let [c0, cm, f0, fm] = stats(&var, composed, fused, alternate);
        eprintln!(
            "{name:<15} {mode:<12} fastest {c0:7.3} / {f0:7.3} ms = {:5.1}x | median {cm:7.3} / {fm:7.3} ms = {:5.1}x",
            c0 / f0,
            cm / fm
        );
    }
}

#[test]
#[ignore = "timing, not a check: run it by name with --ignored --nocapture"]
fn fused_against_composed_at_minilm_shapes() {
    let hidden = randn(&[16, 32, 384], 1.0, 1);
    let (w, b) = ((randn(&[384], 0.1, 2) + 1.0).unwrap(), randn(&[384], 0.1, 3));
    compare("layer_norm", &hidden, &|x| super::layer_norm(x, &w, &b, 1e-12).unwrap(), &|x| {
        super::layer_norm::layer_norm_composed(x, &w, &b, 1e-12).unwrap()
    });
    let scores = randn(&[16, 12, 32, 32], 3.0, 4);
    compare("softmax_last", &scores, &|x| super::softmax_last(x).unwrap(), &|x| {
        candle_nn::ops::softmax(x, D::Minus1).unwrap()
    });
    let mask = randn(&[16, 1, 1, 32], 1.0, 5);
    compare("masked_softmax", &scores, &|x| super::masked_softmax(x, 0.125, &mask).unwrap(), &|x| {
        candle_nn::ops::softmax(&(x * 0.125).unwrap().broadcast_add(&mask).unwrap(), D::Minus1).unwrap()
    });
    let inter = randn(&[16, 32, 1536], 1.0, 6);
    compare("gelu_erf", &inter, &|x| super::gelu_erf(x).unwrap(), &|x| x.gelu_erf().unwrap());
}

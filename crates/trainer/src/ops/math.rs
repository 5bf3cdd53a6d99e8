//! Branch-free f32 `exp` and normal CDF the compiler can vectorise (std's `exp` and libm's
//! `erff` are scalar calls with branches): the GELU kernels' inner loops.

/// `exp(x)` to a few ulp (Cephes' `expf`: `2^n · e^r`, `r` reduced to ±ln2/2, a degree-6
/// polynomial), `x` clamped to [−87, 88] so the result stays a normal, finite f32: below −87 it
/// returns ~1.6e-38 rather than a subnormal or 0.
#[inline]
pub(super) fn exp(x: f32) -> f32 {
    // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer without a call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let big = x * std::f32::consts::LOG2_E + ROUND;
    let n = big - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = [1.987_569_2e-4, 1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5]
        .iter()
        .fold(0f32, |acc, &c| acc * r + c);
    let e_r = p * r * r + r + 1.0;
    // `big`'s low mantissa bits hold n (∈ [−126, 127] after the clamp) in two's complement:
    // 2^n's exponent field is n + 127, with no float-to-int conversion (wrapping arithmetic:
    // an overflow check's branch would stop the loop from being vectorised in checked builds).
    let n_bits = big.to_bits().wrapping_sub(ROUND.to_bits());
    e_r * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// The standard normal CDF `Φ(x) = erfc(−x/√2) / 2`, with `erfc` from Numerical Recipes'
/// `erfcc` (Chebyshev fit `t · exp(−z² + P(t))`, `t = 1 / (1 + z/2)`: relative error below
/// 1.2e-7 for every `z ≥ 0`) and [`exp`]. Taken on `|x|` and reflected, so the left tail keeps
/// its relative precision (`1 + erf(x)` cancels there).
#[inline]
pub(super) fn normal_cdf(x: f32) -> f32 {
    const C: [f32; 9] = [
        0.170_872_77,
        -0.822_152_23,
        1.488_515_9,
        -1.135_204,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_7,
    ];
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = C.iter().fold(0f32, |acc, &c| acc * t + c);
    let half_erfc = 0.5 * t * exp(-z * z - 1.265_512_2 + t * p);
    if x < 0.0 { half_erfc } else { 1.0 - half_erfc }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_is_within_4_ulp_of_candles_erf_and_keeps_the_left_tail() {
        let libm = |x: f32| (candle_core::cpu::erf::erf_f32(x * std::f32::consts::FRAC_1_SQRT_2) + 1.) * 0.5;
        let mut worst = (0f32, 0f32);
        for i in -300_000..=300_000 {
            let x = i as f32 * 5e-5;
            let d = (normal_cdf(x) - libm(x)).abs();
            if d > worst.0 {
                worst = (d, x);
            }
        }
        eprintln!("normal_cdf: max |fast − libm| = {:e} at {}", worst.0, worst.1);
        // 4 ulp of values in [0.5, 1): both sides round.
        assert!(worst.0 <= 4.0 * f32::EPSILON / 2.0, "{worst:?}");
        // Φ(−5) = 2.866516e-7 and Φ(−10) = 7.619853e-24 (tables), to 1e-5 relative.
        for (x, want) in [(-5f32, 2.866_516e-7f32), (-10.0, 7.619_853e-24)] {
            assert!((normal_cdf(x) / want - 1.0).abs() < 1e-5, "{x}: {}", normal_cdf(x));
        }
        assert!(normal_cdf(f32::NEG_INFINITY) < 1e-37 && normal_cdf(f32::INFINITY) == 1.0);
        assert!(normal_cdf(f32::NAN).is_nan());
    }

    #[test]
    fn exp_is_within_3_ulp_of_std_over_its_range() {
        let mut worst = (0f32, 0f32);
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            let want = x.exp();
            let rel = (exp(x) - want).abs() / want;
            if rel > worst.0 {
                worst = (rel, x);
            }
        }
        eprintln!("exp: max relative difference from std = {:e} at {}", worst.0, worst.1);
        assert!(worst.0 <= 3.0 * f32::EPSILON, "{worst:?}");
        assert!(exp(-1e30) > 0.0 && exp(-1e30) < 1e-37 && exp(f32::NEG_INFINITY) < 1e-37);
        assert!(exp(100.0).is_finite() && exp(0.0) == 1.0);
    }
}

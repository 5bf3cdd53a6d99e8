//! Mean, sample standard deviation and Welch's t-test, for the seed-to-seed spread of `compare
//! --seeds` and `sweep --seeds`.

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for one value).
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return Some((mean, 0.0));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

/// Two-sided p-value of Welch's t-test (unequal variances) that `a` and `b` have the same mean,
/// as `scipy.stats.ttest_ind(a, b, equal_var=False)`. None with fewer than two values on a side.
pub fn welch_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let ((ma, sa), (mb, sb)) = (mean_std(a)?, mean_std(b)?);
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (sa * sa / a.len() as f64, sb * sb / b.len() as f64);
    if va + vb == 0.0 {
        return Some(if ma == mb { 1.0 } else { 0.0 });
    }
    let t = (ma - mb) / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    // P(|T| > |t|) for Student's t with df degrees of freedom = I_{df/(df+t²)}(df/2, 1/2).
    Some(incomplete_beta(df / 2.0, 0.5, df / (df + t * t)))
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let s = G[1..].iter().enumerate().fold(G[0], |s, (i, g)| s + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

/// The regularized incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes
/// `betai`).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        for aa in [m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))] {
            d = 1.0 + aa * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + aa / c;
            c = if c.abs() < TINY { TINY } else { c };
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_is_the_sample_standard_deviation() {
        // [0.90, 0.92, 0.97]: mean 0.93; squared deviations 0.0009, 0.0001, 0.0016 sum to
        // 0.0026; / (3 − 1) = 0.0013; sqrt = 0.036055512754639…
        let (m, s) = mean_std(&[0.90, 0.92, 0.97]).unwrap();
        assert!((m - 0.93).abs() < 1e-15, "{m}");
        assert!((s - 0.036_055_512_754_639_9).abs() < 1e-15, "{s}");
        assert_eq!(mean_std(&[2.5]), Some((2.5, 0.0)));
        assert_eq!(mean_std(&[]), None);
    }

    #[test]
    fn welch_matches_a_reference() {
        // scipy.stats.ttest_ind(a, b, equal_var=False).pvalue; scipy is not installed here, so
        // the reference comes from the same definition in mpmath (50 digits):
        //   va, vb = var(a)/3, var(b)/4   (sample variances)
        //   t = (mean(a) - mean(b)) / sqrt(va + vb); df = (va+vb)^2 / (va^2/2 + vb^2/3)
        //   p = betainc(df/2, 1/2, 0, df/(df+t^2), regularized=True)
        // giving t = 2.2630095274240719, df = 3.9900936355000679, p = 0.086558245450186691.
        let (a, b) = ([0.91, 0.93, 0.95], [0.88, 0.90, 0.89, 0.92]);
        let p = welch_p(&a, &b).unwrap();
        assert!((p - 0.086_558_245_450_186_69).abs() < 1e-12, "{p}");
        assert_eq!(welch_p(&[1.0, 1.0], &[1.0, 1.0]), Some(1.0));
        assert_eq!(welch_p(&[1.0, 1.0], &[2.0, 2.0]), Some(0.0));
        assert_eq!(welch_p(&[1.0], &[2.0, 3.0]), None);
        // Student's t with 1 degree of freedom is Cauchy: P(|T| > 1) = 1/2.
        assert!((incomplete_beta(0.5, 0.5, 0.5) - 0.5).abs() < 1e-13);
    }
}

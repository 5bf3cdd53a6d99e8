//! One file per schedule kind, each built the same way:
//!
//! 1. `XConfig`: the serde config, with PyTorch's parameter names and defaults;
//! 2. `XConfig::build(&self, path) -> Result<X, FieldIssue>`: validates every field (reported at
//!    `path.<field>`) and precomputes what the closed form needs;
//! 3. `X`: the validated schedule, with `config()` and the closed form `lr`.
//!
//! Relative kinds scale a group's base LR: `X::lr(t, base)`. Absolute kinds (`cyclic`,
//! `one_cycle`) produce an LR from their own parameters, multiplied by the group's `scale`
//! (`group base LR / optimizer.lr`, so 1 for the primary group): `X::lr(t, scale)`; they also
//! cycle the momentum (`momentum(t)`, and `values(t, scale)` for both at once). `plateau` is
//! relative but a function of the metrics it observed, not of the step: `Plateau::lr(base)`.
//! `swa` anneals from the LR in effect when it starts to its absolute `swa_lr`:
//! `Swa::lr(t, start, scale)`.
//!
//! The compositions (`sequential`, `chained`) and the `warmup:` wrapper are built by
//! [`crate::Schedule::new`] from these.
//!
//! [`FieldIssue`]: crate::FieldIssue

pub mod constant;
pub mod cosine;
pub mod cosine_restarts;
pub mod cyclic;
pub mod exponential;
pub mod inverse_sqrt;
pub mod linear;
pub mod multistep;
pub mod one_cycle;
pub mod plateau;
pub mod polynomial;
pub mod step;
pub mod swa;
pub mod wsd;

/// `step` as f64 (exact below 2^53; steps beyond that are not meaningful for training).
#[inline]
pub(crate) fn f(step: u64) -> f64 {
    step as f64
}

/// Powers `base^k` of a fixed base for integer `k`: `powi` (exact repeated squaring, a few
/// ulps from Python's `base ** k`) for small `k`, `exp(k · ln base)` (relative error below 1e-13
/// wherever the result is a normal f64) for large `k`. Both are O(1) and several times faster
/// than `powf`, which matters at ~10 ns per step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geometric {
    base: f64,
    ln: f64,
}

impl Geometric {
    /// Powers of `base` (> 0).
    pub(crate) fn new(base: f64) -> Self {
        Self { base, ln: base.ln() }
    }

    /// `base^k`.
    #[inline]
    pub(crate) fn pow(&self, k: u64) -> f64 {
        if k < 32 {
            return self.base.powi(k as i32);
        }
        // Outside ±745 the result is 0 or inf anyway; libm's slow path there costs ~20 ns.
        let x = k as f64 * self.ln;
        if x < -746.0 {
            0.0
        } else if x > 710.0 {
            f64::INFINITY
        } else {
            x.exp()
        }
    }
}

/// `2^-k`, exactly (0 once it underflows).
#[inline]
pub(crate) fn inv_pow2(k: u64) -> f64 {
    if k < 1023 { f64::from_bits((1023 - k) << 52) } else { 0.5f64.powi(k.min(i32::MAX as u64) as i32) }
}

//! One file per schedule kind: its config (serde, with PyTorch's parameter names and defaults),
//! its validation, and its closed form.
//!
//! Relative kinds map a group's base LR to the LR at step `t`; absolute kinds (`cyclic`,
//! `one_cycle`) produce an LR from their own parameters, multiplied by the group's `scale`
//! (`group base LR / optimizer.lr`, so 1 for the primary group).

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
pub mod wsd;

/// `step` as f64 (exact below 2^53; steps beyond that are not meaningful for training).
#[inline]
pub(crate) fn f(step: u64) -> f64 {
    step as f64
}

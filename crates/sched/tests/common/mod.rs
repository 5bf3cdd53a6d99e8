//! Helpers shared by the integration tests.

use sched::kinds::cosine_restarts::CosineRestartsConfig;

/// The oracle: first step of cycle `i`, `t_0 · (t_mult^i − 1) / (t_mult − 1)` in exact integer
/// arithmetic (`i · t_0` when `t_mult = 1`), or `None` beyond `u64`.
pub(crate) fn cycle_start(c: &CosineRestartsConfig, i: u64) -> Option<u64> {
    let (t0, m) = (u128::from(c.t_0), u128::from(c.t_mult));
    let start = if m == 1 {
        t0.checked_mul(u128::from(i))?
    } else {
        t0.checked_mul(m.checked_pow(u32::try_from(i).ok()?)? - 1)? / (m - 1)
    };
    u64::try_from(start).ok()
}

//! `cosine_restarts`: PyTorch's `CosineAnnealingWarmRestarts`, with exact integer cycle arithmetic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Geometric, cosine::cosine_between, f};
use crate::{FieldIssue, check};

/// `CosineAnnealingWarmRestarts` (SGDR):
/// `lr(t) = eta_min + (base · cycle_decay^i − eta_min) · (1 + cos(π · t_cur / t_i)) / 2`,
/// where cycle `i` starts at `s_i = t_0 · (t_mult^i − 1) / (t_mult − 1)` (`i · t_0` when
/// `t_mult = 1`), lasts `t_i = t_0 · t_mult^i` steps, and `t_cur = t − s_i`.
///
/// The cycle index is found with integer arithmetic (a float estimate corrected exactly), so
/// restart boundaries are exact at any step; PyTorch's and timm's `log`-based index misplaces
/// some (e.g. `t_mult = 3` at `t = 121 · t_0`). O(1), no allocation.
///
/// Extensions beyond PyTorch: `cycle_decay` scales each cycle's peak, and after `cycle_limit`
/// cycles the LR holds `eta_min`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CosineRestartsConfig {
    /// Length of the first cycle in steps (≥ 1).
    pub t_0: u64,
    /// Growth factor of the cycle length (integer ≥ 1; default 1).
    #[serde(default = "one_u64")]
    pub t_mult: u64,
    /// Minimum LR (absolute, ≥ 0; default 0).
    #[serde(default)]
    pub eta_min: f64,
    /// Each cycle's peak is `base · cycle_decay^cycle`, in `(0, 1]` (default 1: no decay).
    #[serde(default = "one_f64")]
    pub cycle_decay: f64,
    /// Number of cycles to run (≥ 1); after them the LR holds `eta_min`. Unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_limit: Option<u64>,
}

fn one_u64() -> u64 {
    1
}
fn one_f64() -> f64 {
    1.0
}

/// Where step `t` lies in the restart cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CyclePosition {
    /// Cycle index, 0 for the first cycle.
    pub cycle: u64,
    /// First step of the cycle.
    pub start: u64,
    /// Length of the cycle in steps (`t_0 · t_mult^cycle`; u128 because it may exceed u64).
    pub length: u128,
}

impl CosineRestartsConfig {
    /// Validates the config (its fields at `path.<name>`) into a [`CosineRestarts`], precomputing
    /// its cycles (for `t_mult > 1`).
    pub fn build(&self, path: &str) -> Result<CosineRestarts, FieldIssue> {
        check::at_least(path, "t_0", self.t_0, 1)?;
        check::at_least(path, "t_mult", self.t_mult, 1)?;
        check::non_negative(path, "eta_min", self.eta_min)?;
        check::in_range(path, "cycle_decay", self.cycle_decay, (0.0, true), (1.0, false))?;
        if let Some(limit) = self.cycle_limit {
            check::at_least(path, "cycle_limit", limit, 1)?;
        }
        let (mut starts, mut lengths) = (Vec::new(), Vec::new());
        if self.t_mult > 1 {
            let mut i = 0;
            while let Some(s) = cycle_start(self.t_0, self.t_mult, i) {
                starts.push(s);
                lengths.push((u128::from(self.t_0) * u128::from(self.t_mult).pow(i as u32)) as f64);
                i += 1;
            }
        }
        Ok(CosineRestarts { config: self.clone(), starts, lengths, decay: Geometric::new(self.cycle_decay) })
    }
}

/// First step of cycle `i`, `t_0 · (t_mult^i − 1) / (t_mult − 1)` (`i · t_0` when `t_mult = 1`),
/// or `None` when it lies beyond `u64`.
fn cycle_start(t_0: u64, t_mult: u64, i: u64) -> Option<u64> {
    let (t0, m) = (u128::from(t_0), u128::from(t_mult));
    let start = if m == 1 {
        t0.checked_mul(u128::from(i))?
    } else {
        let pow = m.checked_pow(u32::try_from(i).ok()?)?;
        t0.checked_mul(pow - 1)? / (m - 1)
    };
    u64::try_from(start).ok()
}

/// A validated `cosine_restarts` schedule with its cycle starts and lengths precomputed, so a
/// step's cycle is a binary search over at most 65 starts (a leading-zero count when `t_mult` is
/// a power of two): O(1), no allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct CosineRestarts {
    config: CosineRestartsConfig,
    /// `starts[i]`: first step of cycle `i`, for every cycle that starts within `u64`.
    starts: Vec<u64>,
    /// `lengths[i]`: `t_0 · t_mult^i` as f64 (the divisor of PyTorch's `T_cur / T_i`).
    lengths: Vec<f64>,
    /// Powers of `cycle_decay`.
    decay: Geometric,
}

impl CosineRestarts {
    /// The validated config.
    pub fn config(&self) -> &CosineRestartsConfig {
        &self.config
    }

    /// First step of cycle `i`, or `None` when it lies beyond `u64`.
    pub(crate) fn cycle_start(&self, i: u64) -> Option<u64> {
        if self.config.t_mult == 1 {
            self.config.t_0.checked_mul(i)
        } else {
            usize::try_from(i).ok().and_then(|i| self.starts.get(i).copied())
        }
    }

    /// The cycle containing step `t`. Exact integer arithmetic; O(1), no allocation.
    pub fn position(&self, t: u64) -> CyclePosition {
        let (cycle, start, _) = self.locate(t);
        let length = u128::from(self.config.t_0) * u128::from(self.config.t_mult).pow(cycle as u32);
        CyclePosition { cycle, start, length }
    }

    /// `(cycle, first step of the cycle, cycle length)` at step `t`.
    #[inline]
    fn locate(&self, t: u64) -> (u64, u64, f64) {
        if self.config.t_mult == 1 {
            let cycle = t / self.config.t_0;
            return (cycle, cycle * self.config.t_0, f(self.config.t_0));
        }
        // starts[0] = 0 <= t, so the index is at least 0.
        let i = match self.power_of_two_cycle(t) {
            Some(i) if i < self.starts.len() => i,
            _ => self.starts.partition_point(|&s| s <= t).saturating_sub(1),
        };
        (i as u64, self.starts[i], self.lengths[i])
    }

    /// The cycle of step `t` by integer arithmetic when `t_mult = 2^k` (2, 4, 8, …): cycle `i`
    /// starts at `t_0 (m^i − 1) / (m − 1)`, so `t` is in cycle
    /// `⌊log_m(⌊t (m − 1) / t_0⌋ + 1)⌋`, a leading-zero count. Exact (u128, no float log).
    #[inline]
    fn power_of_two_cycle(&self, t: u64) -> Option<usize> {
        let m = self.config.t_mult;
        if m < 2 || !m.is_power_of_two() {
            return None;
        }
        // u64 division where the product fits (u128 division is a slow library call).
        let x = match t.checked_mul(m - 1) {
            Some(p) => u128::from(p / self.config.t_0) + 1,
            None => u128::from(t) * u128::from(m - 1) / u128::from(self.config.t_0) + 1,
        };
        Some(((127 - x.leading_zeros()) / m.trailing_zeros()) as usize)
    }

    /// Whether cycle `i` is past `cycle_limit` (the LR then holds `eta_min`).
    #[inline]
    fn finished(&self, cycle: u64) -> bool {
        self.config.cycle_limit.is_some_and(|limit| cycle >= limit)
    }

    /// LR at step `t` for base LR `base`.
    #[inline]
    pub fn lr(&self, t: u64, base: f64) -> f64 {
        let (cycle, start, length) = self.locate(t);
        let c = &self.config;
        if self.finished(cycle) {
            return c.eta_min;
        }
        let peak = if c.cycle_decay == 1.0 { base } else { base * self.decay.pow(cycle) };
        cosine_between(c.eta_min, peak, f(t - start), length)
    }

    /// `Some(cycle)` when step `t` is the first step of a cycle `≥ 1` that runs (a warm restart).
    #[inline]
    pub fn restart_at(&self, t: u64) -> Option<u64> {
        let (cycle, start, _) = self.locate(t);
        (cycle >= 1 && start == t && !self.finished(cycle)).then_some(cycle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leading-zero cycle index equals the binary search over the cycle starts at every
    /// cycle boundary (and its neighbours) and at the ends of `u64`.
    #[test]
    fn power_of_two_cycles_equal_the_search() {
        for t_mult in [2u64, 4, 8, 1 << 20] {
            for t_0 in [1u64, 3, 10, 1_000_003] {
                let config = CosineRestartsConfig { t_0, t_mult, ..serde_json::from_str("{\"t_0\": 1}").unwrap() };
                let s = config.build("schedule").unwrap();
                let search = |t: u64| s.starts.partition_point(|&x| x <= t) - 1;
                let mut probes = vec![0, 1, 2, u64::MAX - 1, u64::MAX];
                for &start in &s.starts {
                    probes.extend([start.saturating_sub(1), start, start.saturating_add(1)]);
                }
                for t in probes {
                    let fast = s.power_of_two_cycle(t).unwrap();
                    assert_eq!(fast, search(t), "t_mult {t_mult} t_0 {t_0} t {t}");
                    assert_eq!(s.locate(t).0 as usize, search(t));
                }
            }
        }
    }

    /// The cycle starts the key points list (the precomputed table, or `i · t_0`) equal the
    /// closed form, up to the end of `u64`.
    #[test]
    fn cycle_starts_equal_the_closed_form() {
        for t_mult in 1u64..=10 {
            for t_0 in [1u64, 7, 1_000_003] {
                let config = CosineRestartsConfig { t_0, t_mult, ..serde_json::from_str("{\"t_0\": 1}").unwrap() };
                let s = config.build("schedule").unwrap();
                for i in 0..70 {
                    assert_eq!(s.cycle_start(i), cycle_start(t_0, t_mult, i), "t_mult {t_mult} t_0 {t_0} i {i}");
                }
            }
        }
    }
}

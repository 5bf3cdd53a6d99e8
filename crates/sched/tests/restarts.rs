//! Warm restarts: integer cycle arithmetic puts every restart exactly where PyTorch's
//! step-by-step recursion does, at any step.

mod common;
use common::cycle_start;
use sched::kinds::cosine_restarts::{CosineRestarts, CosineRestartsConfig};
use sched::{CyclePosition, Kind, Schedule, ScheduleConfig};

fn config(t_0: u64, t_mult: u64) -> CosineRestartsConfig {
    CosineRestartsConfig { t_0, t_mult, eta_min: 0.001, cycle_decay: 1.0, cycle_limit: None }
}

/// The validated schedule, whose `position` is the fast path under test.
fn built(c: &CosineRestartsConfig) -> CosineRestarts {
    c.build("schedule").unwrap()
}

fn schedule(c: &CosineRestartsConfig) -> Schedule {
    let cfg = ScheduleConfig { kind: Kind::CosineRestarts(c.clone()), warmup: None };
    Schedule::new(&cfg, 0.1).unwrap()
}

/// The oracle: length of cycle `i`, `t_0 · t_mult^i`.
fn length(c: &CosineRestartsConfig, i: u64) -> u128 {
    u128::from(c.t_0) * u128::from(c.t_mult).pow(i as u32)
}

/// PyTorch's `CosineAnnealingWarmRestarts.step()` without an epoch argument: integer counters.
fn pytorch_recursion(t_0: u64, t_mult: u64, steps: u64) -> Vec<(u64, u64)> {
    let (mut t_cur, mut t_i) = (0u64, t_0);
    let mut out = Vec::new();
    for _ in 0..steps {
        out.push((t_cur, t_i));
        t_cur += 1;
        if t_cur >= t_i {
            t_cur -= t_i;
            t_i *= t_mult;
        }
    }
    out
}

#[test]
fn matches_pytorch_step_recursion_over_many_cycles() {
    for t_0 in [1, 2, 3, 7, 10] {
        for t_mult in [1, 2, 3, 5] {
            let c = config(t_0, t_mult);
            let (s, r) = (schedule(&c), built(&c));
            for (t, (t_cur, t_i)) in pytorch_recursion(t_0, t_mult, 5_000).into_iter().enumerate() {
                let t = t as u64;
                let p = r.position(t);
                assert_eq!((t - p.start, p.length), (t_cur, u128::from(t_i)), "t_0={t_0} t_mult={t_mult} t={t}");
                let want =
                    0.001 + (0.1 - 0.001) * (1.0 + (std::f64::consts::PI * t_cur as f64 / t_i as f64).cos()) / 2.0;
                assert_eq!(s.lr(t), want, "t_0={t_0} t_mult={t_mult} t={t}");
                assert_eq!(s.restart_at(t).is_some(), t_cur == 0 && t > 0, "t={t}");
            }
        }
    }
}

#[test]
fn t_mult_3_at_121_t0_is_a_restart_where_the_float_log_formula_is_not() {
    let (t_0, t_mult) = (10u64, 3u64);
    let t = 121 * t_0; // 10 · (3^5 − 1) / 2: cycle 5 starts here
    // PyTorch's epoch formula: n = int(log(t / T_0 · (T_mult − 1) + 1, T_mult)), Python's
    // two-argument log being log(x) / log(base).
    let float_n = ((t as f64 / t_0 as f64 * (t_mult - 1) as f64 + 1.0).ln() / (t_mult as f64).ln()) as u64;
    assert_eq!(float_n, 4, "the float formula misplaces this boundary (the bug this guards against)");
    let c = config(t_0, t_mult);
    let s = schedule(&c);
    assert_eq!(built(&c).position(t).cycle, 5);
    assert_eq!(s.restart_at(t), Some(5));
    assert_eq!(s.lr(t), 0.1, "a restart starts at the peak");
    assert!(s.lr(t - 1) < 0.0011, "the step before is the end of cycle 4: {}", s.lr(t - 1));
}

#[test]
fn every_boundary_is_exact_up_to_u64_limits() {
    for t_0 in [1u64, 3, 10, 1000, 123_456_789] {
        for t_mult in 1u64..=10 {
            let c = config(t_0, t_mult);
            let (s, r) = (schedule(&c), built(&c));
            let mut n = 1;
            while let Some(start) = cycle_start(&c, n) {
                let want = CyclePosition { cycle: n, start, length: length(&c, n) };
                assert_eq!(r.position(start), want, "t_0={t_0} t_mult={t_mult} start of {n}");
                let before = r.position(start - 1);
                assert_eq!(before.cycle, n - 1, "t_0={t_0} t_mult={t_mult} end of {}", n - 1);
                assert_eq!(s.restart_at(start), Some(n));
                if before.length > 1 {
                    assert_eq!(s.restart_at(start - 1), None);
                }
                assert_eq!(s.lr(start), 0.1);
                n += 1;
                if t_mult == 1 && n > 2_000 {
                    break;
                }
            }
        }
    }
}

#[test]
fn huge_steps_stay_finite_and_in_bounds() {
    for t_mult in [1, 2, 7] {
        let s = schedule(&config(10, t_mult));
        for t in [1_000_000_000u64, 1_000_000_007, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            let lr = s.lr(t);
            assert!(lr.is_finite() && (0.001..=0.1).contains(&lr), "t_mult={t_mult} t={t}: {lr}");
        }
    }
    // t_mult = 1: t = 1e9 is the start of cycle 1e8.
    let s = schedule(&config(10, 1));
    assert_eq!(s.restart_at(1_000_000_000), Some(100_000_000));
    assert_eq!(s.lr(1_000_000_000), 0.1);
}

#[test]
fn cycle_decay_and_limit() {
    let mut c = config(10, 2);
    c.cycle_decay = 0.5;
    c.cycle_limit = Some(3);
    let s = schedule(&c);
    assert_eq!(s.lr(0), 0.1);
    assert_eq!(s.lr(10), 0.05, "cycle 1 peaks at base · 0.5");
    assert_eq!(s.lr(30), 0.025, "cycle 2 peaks at base · 0.25");
    assert_eq!(s.restart_at(70), None, "cycle 3 would start at 70 but the limit is 3 cycles");
    for t in [70, 71, 1000, 1_000_000_000] {
        assert_eq!(s.lr(t), 0.001, "held at eta_min after the limit (t={t})");
    }
    let points = s.key_points(1000);
    let restarts: Vec<u64> = points.iter().map(|k| k.step).collect();
    assert_eq!(restarts, vec![10, 30]);
}

#[test]
fn key_points_are_counted_beyond_the_listing_cap() {
    // t_0 = 1: a restart every step; the listing stops at MAX_KEY_POINTS, the count does not.
    let s = schedule(&config(1, 1));
    assert_eq!(s.key_points(1_000_000).len(), sched::MAX_KEY_POINTS);
    assert_eq!(s.key_point_count(1_000_000), 999_999);
    let mut c = config(10, 2);
    c.cycle_limit = Some(3);
    assert_eq!(schedule(&c).key_point_count(1000), 2);
    let warm: sched::ScheduleConfig =
        serde_json::from_str(r#"{"kind": "cosine_restarts", "t_0": 1, "warmup": {"steps": 10}}"#).unwrap();
    let s = sched::Schedule::new(&warm, 0.1).unwrap();
    assert_eq!(s.key_point_count(20_010), 1 + 19_999);
    assert_eq!(s.key_point_count(20_010), s.key_point_count(20_010).max(s.key_points(20_010).len() as u64));
}

//! Property tests over random valid parameters: finite, ≥ 0, within each kind's bounds, exact
//! restart boundaries, save/restore identity.

mod common;
use common::cycle_start;
use proptest::prelude::*;
use sched::kinds::{
    cosine::CosineConfig,
    cosine_restarts::CosineRestartsConfig,
    cyclic::{CyclicConfig, CyclicMode},
    linear::LinearConfig,
    one_cycle::{AnnealStrategy, OneCycleConfig},
    step::StepConfig,
    swa::SwaConfig,
    wsd::{WsdConfig, WsdShape},
};
use sched::{Kind, Schedule, ScheduleConfig, WarmupConfig};

const BASE: f64 = 0.1;

fn steps() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..10_000, 0u64..u64::MAX, Just(1_000_000_000u64)]
}

fn leaf(kind: Kind) -> ScheduleConfig {
    ScheduleConfig { kind, warmup: None }
}

fn restarts() -> impl Strategy<Value = CosineRestartsConfig> {
    (1u64..500, 1u64..6, 0.0..0.05f64, 0.1..=1.0f64, proptest::option::of(1u64..8)).prop_map(
        |(t_0, t_mult, eta_min, cycle_decay, cycle_limit)| CosineRestartsConfig {
            t_0,
            t_mult,
            eta_min,
            cycle_decay,
            cycle_limit,
        },
    )
}

fn cyclic() -> impl Strategy<Value = CyclicConfig> {
    (
        0.0..0.05f64,
        0.0..0.5f64,
        1u64..300,
        proptest::option::of(1u64..300),
        prop_oneof![Just(CyclicMode::Triangular), Just(CyclicMode::Triangular2), Just(CyclicMode::ExpRange)],
        0.9..=1.0f64,
        0.5..0.9f64,
    )
        .prop_map(|(base_lr, extra, up, down, mode, gamma, base_m)| CyclicConfig {
            base_lr,
            max_lr: base_lr + extra,
            step_size_up: up,
            step_size_down: down,
            mode,
            gamma,
            cycle_momentum: true,
            base_momentum: base_m,
            max_momentum: base_m + 0.05,
        })
}

fn one_cycle() -> impl Strategy<Value = OneCycleConfig> {
    (0.001..1.0f64, 10u64..5000, 0.05..0.95f64, any::<bool>(), any::<bool>(), 1.0..100.0f64, 1.0..1e5f64).prop_map(
        |(max_lr, total, pct, cos, three, div, final_div)| OneCycleConfig {
            max_lr,
            total_steps: Some(total),
            epochs: None,
            steps_per_epoch: None,
            // three_phase needs pct_start < 0.5 (else phase 3 runs backwards: rejected).
            pct_start: if three { pct * 0.5 } else { pct },
            anneal_strategy: if cos { AnnealStrategy::Cos } else { AnnealStrategy::Linear },
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: div,
            final_div_factor: final_div,
            three_phase: three,
        },
    )
}

fn wsd() -> impl Strategy<Value = WsdConfig> {
    let shape = || prop_oneof![Just(WsdShape::Linear), Just(WsdShape::Cosine), Just(WsdShape::OneMinusSqrt)];
    (0u64..200, 0u64..200, 0u64..500, shape(), shape(), 0.0..=1.0f64).prop_map(|(w, d, s, wt, dt, r)| WsdConfig {
        num_warmup_steps: w,
        num_decay_steps: d,
        num_training_steps: None,
        num_stable_steps: Some(s),
        warmup_type: wt,
        decay_type: dt,
        min_lr_ratio: r,
        num_cycles: 0.5,
    })
}

fn swa() -> impl Strategy<Value = SwaConfig> {
    (1e-4..1.0f64, 0u64..500, prop_oneof![Just(AnnealStrategy::Cos), Just(AnnealStrategy::Linear)])
        .prop_map(|(swa_lr, anneal_steps, anneal_strategy)| SwaConfig { swa_lr, anneal_steps, anneal_strategy })
}

/// Any leaf kind with valid random parameters, optionally warmed up.
fn any_schedule() -> impl Strategy<Value = ScheduleConfig> {
    let kind = prop_oneof![
        (1u64..1000, 0.01..=1.0f64).prop_map(|(step_size, gamma)| Kind::Step(StepConfig { step_size, gamma })),
        (1u64..1000, 0.0..0.2f64).prop_map(|(t_max, eta_min)| Kind::Cosine(CosineConfig { t_max, eta_min })),
        (0.01..=1.0f64, 0.0..=1.0f64, 1u64..1000).prop_map(|(s, e, n)| Kind::Linear(LinearConfig {
            start_factor: s,
            end_factor: e,
            total_iters: n
        })),
        restarts().prop_map(Kind::CosineRestarts),
        cyclic().prop_map(Kind::Cyclic),
        one_cycle().prop_map(Kind::OneCycle),
        wsd().prop_map(Kind::WarmupStableDecay),
        swa().prop_map(Kind::Swa),
    ];
    let warmup = proptest::option::of(
        (1u64..300, 0.01..=1.0f64).prop_map(|(steps, start_factor)| WarmupConfig { steps, start_factor }),
    );
    (kind, warmup).prop_map(|(kind, warmup)| ScheduleConfig { kind, warmup })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_value_is_finite_and_non_negative(cfg in any_schedule(), t in steps()) {
        let s = Schedule::new(&cfg, BASE).unwrap();
        let lr = s.lr(t);
        prop_assert!(lr.is_finite() && lr >= 0.0, "lr({t}) = {lr} for {cfg:?}");
        if let Some(m) = s.momentum(t) {
            prop_assert!(m.is_finite() && (0.0..=1.0).contains(&m), "momentum({t}) = {m}");
        }
        // Group scaling: a group with twice the base LR gets twice the LR for these kinds,
        // except where an absolute eta_min enters.
        let g = s.group_lr(t, 2.0 * BASE);
        prop_assert!(g.is_finite() && g >= 0.0);
    }

    #[test]
    fn fused_values_equal_separate_calls(cfg in any_schedule(), t in steps()) {
        let s = Schedule::new(&cfg, BASE).unwrap();
        let (lr, m) = s.values(t);
        prop_assert_eq!(lr.to_bits(), s.lr(t).to_bits());
        prop_assert_eq!(m.map(f64::to_bits), s.momentum(t).map(f64::to_bits));
    }

    #[test]
    fn swa_moves_monotonically_from_the_start_lr_to_swa_lr(c in swa(), t in steps(), milestone in 0u64..300) {
        // After a constant factor 0.5 (LR 0.05) for `milestone` steps.
        let cfg: ScheduleConfig = serde_json::from_value(serde_json::json!({
            "kind": "sequential", "milestones": [milestone],
            "schedules": [{"kind": "constant", "factor": 0.5, "total_iters": 1_000_000}, leaf(Kind::Swa(c.clone()))],
        })).unwrap();
        let s = Schedule::new(&cfg, BASE).unwrap();
        let (lo, hi) = (c.swa_lr.min(0.05), c.swa_lr.max(0.05));
        let lr = s.lr(t);
        prop_assert!(lo * (1.0 - 1e-12) <= lr && lr <= hi * (1.0 + 1e-12), "lr({t}) = {lr}");
        if t >= milestone + c.anneal_steps.max(1) {
            prop_assert_eq!(lr, c.swa_lr);
        }
        if t > milestone && t < milestone + c.anneal_steps {
            let (prev, now) = (s.lr(t - 1), lr);
            prop_assert!((now - prev) * (c.swa_lr - 0.05) >= 0.0, "moves away from swa_lr at {t}");
        }
    }

    #[test]
    fn cosine_restarts_stay_between_eta_min_and_peak(c in restarts(), t in steps()) {
        let s = Schedule::new(&leaf(Kind::CosineRestarts(c.clone())), BASE).unwrap();
        let lr = s.lr(t);
        let p = c.build("schedule").unwrap().position(t);
        let peak = BASE * c.cycle_decay.powf(p.cycle as f64);
        let (lo, hi) = (c.eta_min.min(peak), c.eta_min.max(peak));
        prop_assert!(lr >= lo - 1e-15 && lr <= hi + 1e-15, "lr({t}) = {lr} outside [{lo}, {hi}]");
    }

    #[test]
    fn restart_boundaries_are_exact(c in restarts(), n in 1u64..40) {
        let s = Schedule::new(&leaf(Kind::CosineRestarts(c.clone())), BASE).unwrap();
        let r = c.build("schedule").unwrap();
        if let Some(start) = cycle_start(&c, n) {
            prop_assert_eq!(r.position(start).cycle, n);
            prop_assert_eq!(r.position(start - 1).cycle, n - 1);
            let runs = c.cycle_limit.is_none_or(|l| n < l);
            prop_assert_eq!(s.restart_at(start), runs.then_some(n));
            if runs {
                prop_assert!((s.lr(start) - BASE * c.cycle_decay.powf(n as f64)).abs() <= 1e-15);
            }
        }
    }

    #[test]
    fn cyclic_stays_between_base_and_max(c in cyclic(), t in 0u64..100_000) {
        let s = Schedule::new(&leaf(Kind::Cyclic(c.clone())), BASE).unwrap();
        let lr = s.lr(t);
        prop_assert!(lr >= c.base_lr - 1e-15 && lr <= c.max_lr + 1e-15, "lr({t}) = {lr}");
        let m = s.momentum(t).unwrap();
        prop_assert!(m >= c.base_momentum - 1e-15 && m <= c.max_momentum + 1e-15, "momentum({t}) = {m}");
    }

    #[test]
    fn one_cycle_stays_between_min_and_max(c in one_cycle(), t in 0u64..6000) {
        let Ok(s) = Schedule::new(&leaf(Kind::OneCycle(c.clone())), BASE) else {
            // pct_start · total_steps hit an empty phase: rejected, which is the other property.
            return Ok(());
        };
        let min = c.max_lr / c.div_factor / c.final_div_factor;
        let lr = s.lr(t);
        prop_assert!(lr >= min - 1e-15 && lr <= c.max_lr + 1e-12, "lr({t}) = {lr} not in [{min}, {}]", c.max_lr);
        if t + 1 >= c.total_steps.unwrap_or(0) {
            prop_assert!((lr - min).abs() <= 1e-15, "holds min_lr from total_steps - 1 on: {lr} vs {min}");
        }
    }

    #[test]
    fn warmup_ramps_linearly_to_the_kind(cfg in any_schedule(), t in 0u64..300) {
        let Some(w) = cfg.warmup.clone() else { return Ok(()) };
        let s = Schedule::new(&cfg, BASE).unwrap();
        let inner = Schedule::new(&ScheduleConfig { kind: cfg.kind.clone(), warmup: None }, BASE).unwrap();
        if t < w.steps {
            let want = BASE * (w.start_factor + (1.0 - w.start_factor) * t as f64 / w.steps as f64);
            prop_assert!((s.lr(t) - want).abs() <= 1e-12 * want.max(1e-3), "{} vs {want}", s.lr(t));
        } else {
            prop_assert_eq!(s.lr(t).to_bits(), inner.lr(t - w.steps).to_bits());
        }
    }

    #[test]
    fn growth_gamma_stays_finite_until_f64_overflows(gamma in 1.0001..3.0f64, t in 0u64..1_000_000) {
        // gamma > 1 is valid (LR range tests); like PyTorch's, the value only overflows once
        // base · gamma^k exceeds f64::MAX.
        let cfg = leaf(Kind::Exponential(sched::kinds::exponential::ExponentialConfig { gamma }));
        let lr = Schedule::new(&cfg, BASE).unwrap().lr(t);
        let fits = (t as f64) * gamma.ln() + BASE.ln() < f64::MAX.ln() - 1e-9;
        prop_assert!(lr > 0.0 && (lr.is_finite() || !fits), "lr({t}) = {lr}");
    }

    #[test]
    fn save_restore_is_identity(
        factor in 0.05..0.95f64,
        patience in 0u64..5,
        cooldown in 0u64..3,
        metrics in proptest::collection::vec(0.0..1.0f64, 1..200),
        cut_frac in 0.0..1.0f64,
    ) {
        let json = format!(
            r#"{{"kind": "plateau", "factor": {factor}, "patience": {patience}, "cooldown": {cooldown}, "min_lr": 1e-4}}"#
        );
        let cfg: ScheduleConfig = serde_json::from_str(&json).unwrap();
        let cut = (cut_frac * metrics.len() as f64) as usize;
        let mut whole = Schedule::new(&cfg, BASE).unwrap();
        let mut first = Schedule::new(&cfg, BASE).unwrap();
        for (t, m) in metrics.iter().enumerate().take(cut) {
            whole.observe(t as u64, "val/loss", *m);
            first.observe(t as u64, "val/loss", *m);
        }
        let mut resumed = Schedule::new(&cfg, BASE).unwrap();
        resumed.restore(&first.state()).unwrap();
        prop_assert_eq!(resumed.state(), whole.state());
        for (t, m) in metrics.iter().enumerate().skip(cut) {
            prop_assert_eq!(resumed.lr(t as u64).to_bits(), whole.lr(t as u64).to_bits());
            whole.observe(t as u64, "val/loss", *m);
            resumed.observe(t as u64, "val/loss", *m);
        }
        prop_assert_eq!(resumed.state(), whole.state());
    }

    #[test]
    fn config_round_trips_through_serde(cfg in any_schedule(), t in steps()) {
        let json = serde_json::to_string(&cfg).unwrap();
        let back: ScheduleConfig = serde_json::from_str(&json).unwrap();
        let (a, b) = (Schedule::new(&cfg, BASE).unwrap(), Schedule::new(&back, BASE).unwrap());
        prop_assert_eq!(a.lr(t).to_bits(), b.lr(t).to_bits());
    }
}

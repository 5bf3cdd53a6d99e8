//! [`check_horizon`]: a schedule's values over a whole run are usable — the LR finite, `>= 0` and
//! at most [`MAX_LR`], the momentum (where cycled) finite and `>= 0` — checked at the steps where
//! each closed form can be extreme, not at every step.
//!
//! Each leaf (kind) is checked alone first, so that the issue names the field to change (an
//! `exponential` that overflows names its `gamma`); then the whole tree at the union of the
//! leaves' extreme steps, which catches products of `chained` factors.

use crate::FieldIssue;
use crate::check::field;
use crate::kinds::cyclic::CyclicMode;
use crate::node::{Group, Node};
use crate::schedule::Schedule;

/// The largest LR a schedule may reach. No optimizer trains with a larger one; above it lie the
/// values on their way to overflow (`exponential` with `gamma > 1`, `one_cycle` with a tiny
/// `div_factor`).
pub const MAX_LR: f64 = 1e6;

/// Checks the LR and momentum of `schedule` over steps `0..steps` (the run's length): every LR
/// finite, in `[0, MAX_LR]`, every cycled momentum finite and `>= 0`. The issue names the field
/// responsible (`schedule.gamma`, `schedule.schedules[1].div_factor`, …), the step and the value.
///
/// Evaluates only the steps where a kind's closed form can be extreme: the first and last step of
/// each active stretch, `one_cycle`'s phase ends, `cyclic`'s first and last peaks and cycle starts;
/// the other kinds are monotone or bounded by their base LR between those.
pub fn check_horizon(schedule: &Schedule, steps: u64) -> Result<(), FieldIssue> {
    if steps == 0 {
        return Ok(());
    }
    let base = schedule.base_lr();
    if base > MAX_LR {
        return Err(FieldIssue::new("optimizer.lr", format!("must be at most {MAX_LR:e} (got {})", num(base))));
    }
    let mut all = Vec::new();
    check_node(schedule.root(), base, Span { offset: 0, len: steps, path: "schedule".into() }, &mut all)?;
    all.sort_unstable();
    all.dedup();
    for &t in &all {
        let (lr, momentum) = schedule.values(t);
        if let Some(what) = bad(lr, momentum) {
            return Err(FieldIssue::new("schedule", format!("the combined schedule's {what} at step {t}")));
        }
    }
    Ok(())
}

/// A stretch of global steps `[offset, offset + len)` in which a node is active, and its path.
struct Span {
    offset: u64,
    len: u64,
    path: String,
}

/// What is wrong with `(lr, momentum)`, if anything.
fn bad(lr: f64, momentum: Option<f64>) -> Option<String> {
    if lr.is_nan() {
        Some("LR becomes NaN".into())
    } else if lr == f64::INFINITY {
        Some("LR overflows to inf".into())
    } else if lr < 0.0 {
        Some(format!("LR goes negative ({})", num(lr)))
    } else if lr > MAX_LR {
        Some(format!("LR reaches {} (above the largest accepted, {MAX_LR:e})", num(lr)))
    } else {
        match momentum {
            Some(m) if !(m.is_finite() && m >= 0.0) => {
                Some(format!("momentum becomes {} (must stay finite and >= 0)", num(m)))
            }
            _ => None,
        }
    }
}

/// Checks `node` over `span` (leaves alone), appending the global steps to check the whole tree at.
fn check_node(node: &Node, base: f64, span: Span, all: &mut Vec<u64>) -> Result<(), FieldIssue> {
    match node {
        Node::Sequential { children, milestones, warmup } => {
            for (k, child) in children.iter().enumerate() {
                let start = if k == 0 { 0 } else { milestones[k - 1] };
                let end = milestones.get(k).copied().unwrap_or(u64::MAX).min(span.len);
                if start >= end {
                    continue;
                }
                let path = match (*warmup, k) {
                    (true, 0) => field(&span.path, "warmup"),
                    (true, _) => span.path.clone(),
                    (false, _) => format!("{}.schedules[{k}]", span.path),
                };
                check_node(child, base, Span { offset: span.offset + start, len: end - start, path }, all)?;
            }
            Ok(())
        }
        Node::Chained(children) => {
            for (k, child) in children.iter().enumerate() {
                let path = format!("{}.schedules[{k}]", span.path);
                check_node(child, base, Span { offset: span.offset, len: span.len, path }, all)?;
            }
            Ok(())
        }
        leaf => check_leaf(leaf, base, &span, all),
    }
}

/// Checks one kind over its local steps `0..span.len`.
fn check_leaf(leaf: &Node, base: f64, span: &Span, all: &mut Vec<u64>) -> Result<(), FieldIssue> {
    let last = span.len - 1;
    let mut local = vec![0, last];
    match leaf {
        Node::Cyclic(c) => local.extend(c.extremes(span.len)),
        Node::OneCycle(c) => local.extend(c.phase_ends()),
        _ => {}
    }
    local.retain(|&t| t <= last);
    local.sort_unstable();
    local.dedup();
    all.extend(local.iter().map(|t| span.offset + t));
    let group = Group::new(base, base);
    let value = |t: u64| leaf.values(t, group);
    let Some(i) = local.iter().position(|&t| bad(value(t).0, value(t).1).is_some()) else { return Ok(()) };
    let t = first_bad(local.get(i.wrapping_sub(1)).copied(), local[i], |t| bad(value(t).0, value(t).1).is_some());
    let (lr, momentum) = value(t);
    let what = bad(lr, momentum).unwrap_or_default();
    let (name, detail) = blame(leaf, base, t, lr);
    let global = if span.offset > 0 { format!(", step {} of the run", span.offset + t) } else { String::new() };
    Err(FieldIssue::new(field(&span.path, name), format!("the {what} at step {t}{global}{detail}")))
}

/// The first step in `(good, bad]` where `is_bad` holds, by bisection (the kinds' values are
/// monotone between their extreme steps).
fn first_bad(good: Option<u64>, mut hi: u64, is_bad: impl Fn(u64) -> bool) -> u64 {
    let Some(mut lo) = good else { return hi };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if is_bad(mid) { hi = mid } else { lo = mid }
    }
    hi
}

/// `x` in plain notation, or in scientific notation when very large or small.
fn num(x: f64) -> String {
    if x != 0.0 && !(1e-4..1e6).contains(&x.abs()) {
        let text = format!("{x:.4e}");
        match text.split_once('e') {
            Some((m, e)) if m.contains('.') => format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.')),
            _ => text,
        }
    } else {
        let text = format!("{x:.6}");
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
    }
}

/// The field of `leaf` to change, and how its LR at local step `t` came about.
fn blame(leaf: &Node, base: f64, t: u64, lr: f64) -> (&'static str, String) {
    match leaf {
        Node::Exponential(e) => ("gamma", format!(" ({}^{t} × {})", num(e.config().gamma), num(base))),
        Node::Step(s) => {
            let c = s.config();
            ("gamma", format!(" ({}^{} × {})", num(c.gamma), t / c.step_size, num(base)))
        }
        Node::Multistep(m) => ("gamma", format!(" ({} per milestone × {})", num(m.config().gamma), num(base))),
        Node::Cyclic(c) if c.config().mode == CyclicMode::ExpRange && c.config().gamma > 1.0 => {
            ("gamma", format!(" (exp_range scales the cycle by {}^{t})", num(c.config().gamma)))
        }
        Node::Cyclic(_) => ("max_lr", String::new()),
        Node::OneCycle(o) => {
            let c = o.config();
            if c.max_lr > MAX_LR {
                ("max_lr", String::new())
            } else if c.max_lr / c.div_factor > MAX_LR || !lr.is_finite() {
                (
                    "div_factor",
                    format!(" (initial LR = max_lr / div_factor = {} / {})", num(c.max_lr), num(c.div_factor)),
                )
            } else {
                ("final_div_factor", format!(" (final LR = max_lr / div_factor / final_div_factor = {})", num(lr)))
            }
        }
        Node::Swa(_) => ("swa_lr", String::new()),
        _ => ("kind", format!(" (LR {} from base LR {})", num(lr), num(base))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScheduleConfig;

    fn schedule(json: &str, base: f64) -> Schedule {
        let config: ScheduleConfig = serde_json::from_str(json).unwrap();
        Schedule::new(&config, base).unwrap()
    }

    fn issue(json: &str, steps: u64) -> FieldIssue {
        check_horizon(&schedule(json, 0.1), steps).unwrap_err()
    }

    #[test]
    fn an_exponential_that_overflows_names_gamma_and_the_first_bad_step() {
        let e = issue(r#"{"kind": "exponential", "gamma": 1.05}"#, 20_000);
        assert_eq!(e.path, "schedule.gamma");
        // 0.1 · 1.05^t first exceeds 1e6 at t = ⌈ln(1e7) / ln(1.05)⌉ = 331.
        assert!(e.message.contains("at step 331 (1.05^331 × 0.1)"), "{e}");
        assert!(e.message.contains("above the largest accepted, 1e6"), "{e}");
        // Short enough, the same gamma is fine; a decaying one is fine over any horizon.
        assert!(check_horizon(&schedule(r#"{"kind": "exponential", "gamma": 1.05}"#, 0.1), 300).is_ok());
        assert!(check_horizon(&schedule(r#"{"kind": "exponential", "gamma": 0.5}"#, 0.1), u64::MAX).is_ok());
    }

    #[test]
    fn cyclic_exp_range_growing_names_gamma() {
        let e = issue(
            r#"{"kind": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 10, "mode": "exp_range", "gamma": 2}"#,
            100,
        );
        assert_eq!(e.path, "schedule.gamma");
        assert!(e.message.contains("exp_range scales the cycle by 2^"), "{e}");
        let e = issue(
            r#"{"kind": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 10, "mode": "exp_range", "gamma": 2, "cycle_momentum": true}"#,
            2000,
        );
        assert_eq!(e.path, "schedule.gamma");
        let ok = r#"{"kind": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 10, "mode": "exp_range", "gamma": 0.99}"#;
        assert!(check_horizon(&schedule(ok, 0.1), 1_000_000).is_ok());
    }

    #[test]
    fn one_cycle_with_a_tiny_div_factor_names_it() {
        let e = issue(r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 100, "div_factor": 1e-300}"#, 100);
        assert_eq!(e.path, "schedule.div_factor");
        assert!(e.message.contains("at step 0") && e.message.contains("0.1 / 1e-300"), "{e}");
        assert!(
            check_horizon(&schedule(r#"{"kind": "one_cycle", "max_lr": 0.1, "total_steps": 100}"#, 0.1), 100).is_ok()
        );
        assert_eq!(num(1.0319484240592171e6), "1.0319e6");
        assert_eq!(num(-0.6999999999999996), "-0.7");
    }

    #[test]
    fn nested_schedules_name_the_child_and_the_run_step() {
        let seq = r#"{"kind": "sequential", "milestones": [50], "schedules": [
            {"kind": "constant"}, {"kind": "exponential", "gamma": 2.0}]}"#;
        let e = issue(seq, 200);
        assert_eq!(e.path, "schedule.schedules[1].gamma");
        // 0.1 · 2^24 > 1e6 first at the child's step 24, the run's step 74.
        assert!(e.message.contains("at step 24, step 74 of the run"), "{e}");
        assert!(check_horizon(&schedule(seq, 0.1), 70).is_ok());

        let warm = r#"{"kind": "exponential", "gamma": 3.0, "warmup": {"steps": 10}}"#;
        assert_eq!(issue(warm, 100).path, "schedule.gamma");

        let nested = r#"{"kind": "chained", "schedules": [{"kind": "constant"},
            {"kind": "sequential", "milestones": [5], "schedules": [{"kind": "constant"}, {"kind": "step", "step_size": 1, "gamma": 10}]}]}"#;
        let e = issue(nested, 100);
        assert_eq!(e.path, "schedule.schedules[1].schedules[1].gamma");
        assert!(e.message.contains("(10^8 × 0.1)"), "{e}");
    }

    #[test]
    fn chained_factors_that_overflow_together_are_refused_at_the_schedule() {
        // Each factor alone stays below 1e6 over 100 steps; their product does not.
        let c = r#"{"kind": "chained", "schedules": [{"kind": "exponential", "gamma": 1.15}, {"kind": "exponential", "gamma": 1.15}]}"#;
        let e = issue(c, 100);
        assert_eq!(e.path, "schedule");
        assert!(e.message.contains("combined schedule's LR reaches") && e.message.contains("at step 99"), "{e}");
    }

    #[test]
    fn every_bounded_kind_passes_over_a_huge_horizon() {
        for json in [
            r#"{"kind": "constant"}"#,
            r#"{"kind": "cosine", "t_max": 100}"#,
            r#"{"kind": "cosine_restarts", "t_0": 10, "t_mult": 2}"#,
            r#"{"kind": "linear", "total_iters": 10}"#,
            r#"{"kind": "plateau", "monitor": "val/loss"}"#,
            r#"{"kind": "cyclic", "base_lr": 0.01, "max_lr": 0.1}"#,
            r#"{"kind": "inverse_sqrt"}"#,
        ] {
            assert!(check_horizon(&schedule(json, 0.1), u64::MAX / 2).is_ok(), "{json}");
        }
        let e = check_horizon(&schedule(r#"{"kind": "constant"}"#, 1e7), 10).unwrap_err();
        assert_eq!(e.path, "optimizer.lr");
    }
}

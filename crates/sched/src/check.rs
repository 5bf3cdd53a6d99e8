//! Range and order checks for config fields, each returning a [`FieldIssue`] that names the field
//! `{path}.{name}` (see [`field`]). Shared by every schedule kind and by the other crates'
//! validation, so that the same rule reads the same everywhere.
//!
//! The messages are part of the interface (users and tests match them):
//!
//! | check | message |
//! |---|---|
//! | [`positive`] | `must be a finite number > 0 (got {value})` |
//! | [`non_negative`] | `must be a finite number >= 0 (got {value})` |
//! | [`in_range`] | `must be in [lo, hi] (got {value})`, `(`/`)` for open ends |
//! | [`at_least`] | `must be >= {min} (got {value})` |
//! | [`sorted`] | `milestones must be sorted in non-decreasing order ({b} follows {a})`, at `{path}.{name}[i]` |
//!
//! ```
//! use sched::check;
//! let e = check::positive("optimizer", "lr", -0.5).unwrap_err();
//! assert_eq!(e.to_string(), "optimizer.lr: must be a finite number > 0 (got -0.5)");
//! assert!(check::in_range("schedule", "factor", 1.0, (0.0, true), (1.0, false)).is_ok());
//! let e = check::in_range("model", "dropout", 1e300, (0.0, false), (1.0, true)).unwrap_err();
//! assert_eq!(e.message, "must be in [0, 1) (got 1e300)");
//! ```

use crate::FieldIssue;

/// `value` as written in messages: plain, or in scientific notation when very large or small
/// (`1e300`, not 301 digits).
pub fn show(value: f64) -> String {
    if value != 0.0 && value.is_finite() && !(1e-5..1e16).contains(&value.abs()) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Joins a parent path and a field name: `field("schedule", "gamma")` is `schedule.gamma`.
pub fn field(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

/// `value` must be finite and `> 0`.
pub fn positive(path: &str, name: &str, value: f64) -> Result<(), FieldIssue> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(FieldIssue::new(field(path, name), format!("must be a finite number > 0 (got {})", show(value))))
    }
}

/// `value` must be finite and `>= 0`.
pub fn non_negative(path: &str, name: &str, value: f64) -> Result<(), FieldIssue> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(FieldIssue::new(field(path, name), format!("must be a finite number >= 0 (got {})", show(value))))
    }
}

/// `value` must be finite and lie in `[lo, hi]`, with `lo_open`/`hi_open` excluding the ends.
pub fn in_range(
    path: &str,
    name: &str,
    value: f64,
    (lo, lo_open): (f64, bool),
    (hi, hi_open): (f64, bool),
) -> Result<(), FieldIssue> {
    let above = if lo_open { value > lo } else { value >= lo };
    let below = if hi_open { value < hi } else { value <= hi };
    if value.is_finite() && above && below {
        Ok(())
    } else {
        let (l, r) = (if lo_open { "(" } else { "[" }, if hi_open { ")" } else { "]" });
        Err(FieldIssue::new(
            field(path, name),
            format!("must be in {l}{}, {}{r} (got {})", show(lo), show(hi), show(value)),
        ))
    }
}

/// Integer `value` must be `>= min`.
pub fn at_least(path: &str, name: &str, value: u64, min: u64) -> Result<(), FieldIssue> {
    if value >= min {
        Ok(())
    } else {
        Err(FieldIssue::new(field(path, name), format!("must be >= {min} (got {value})")))
    }
}

/// `values` must be sorted in non-decreasing order; the issue names the first out-of-order
/// element, `{path}.{name}[i]`.
pub fn sorted(path: &str, name: &str, values: &[u64]) -> Result<(), FieldIssue> {
    match values.windows(2).position(|w| w[0] > w[1]) {
        None => Ok(()),
        Some(i) => Err(FieldIssue::new(
            format!("{}[{}]", field(path, name), i + 1),
            format!("milestones must be sorted in non-decreasing order ({} follows {})", values[i + 1], values[i]),
        )),
    }
}

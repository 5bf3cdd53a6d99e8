//! Small validation helpers shared by every kind: each returns a [`FieldIssue`] naming the field.

use crate::FieldIssue;

/// Joins a parent path and a field name.
pub(crate) fn field(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

/// `value` must be finite and `> 0`.
pub(crate) fn positive(path: &str, name: &str, value: f64) -> Result<(), FieldIssue> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(FieldIssue::new(field(path, name), format!("must be a finite number > 0 (got {value})")))
    }
}

/// `value` must be finite and `>= 0`.
pub(crate) fn non_negative(path: &str, name: &str, value: f64) -> Result<(), FieldIssue> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(FieldIssue::new(field(path, name), format!("must be a finite number >= 0 (got {value})")))
    }
}

/// `value` must lie in `[lo, hi]` (with `lo_open`/`hi_open` excluding the ends).
pub(crate) fn in_range(
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
        Err(FieldIssue::new(field(path, name), format!("must be in {l}{lo}, {hi}{r} (got {value})")))
    }
}

/// Integer `value` must be `>= min`.
pub(crate) fn at_least(path: &str, name: &str, value: u64, min: u64) -> Result<(), FieldIssue> {
    if value >= min {
        Ok(())
    } else {
        Err(FieldIssue::new(field(path, name), format!("must be >= {min} (got {value})")))
    }
}

/// `values` must be sorted in non-decreasing order.
pub(crate) fn sorted(path: &str, name: &str, values: &[u64]) -> Result<(), FieldIssue> {
    match values.windows(2).position(|w| w[0] > w[1]) {
        None => Ok(()),
        Some(i) => Err(FieldIssue::new(
            format!("{}[{}]", field(path, name), i + 1),
            format!("milestones must be sorted in non-decreasing order ({} follows {})", values[i + 1], values[i]),
        )),
    }
}

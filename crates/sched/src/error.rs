//! Errors of schedule construction and state restore.

/// An impossible schedule parameter: names the field (as a dotted path from the `schedule:` section)
/// and the rule it breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {rule}")]
pub struct ConfigError {
    /// Dotted field path, e.g. `schedule.schedules[1].gamma`.
    pub path: String,
    /// The rule the value breaks, e.g. `must be > 0 (got -0.5)`.
    pub rule: String,
}

impl ConfigError {
    /// Builds an error for `path` breaking `rule`.
    pub fn new(path: impl Into<String>, rule: impl Into<String>) -> Self {
        Self { path: path.into(), rule: rule.into() }
    }
}

/// A saved schedule state that does not fit the schedule it is restored into.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// The state holds a different number of plateau states than the schedule has plateaus.
    #[error("saved schedule state has {saved} plateau state(s) but the schedule has {expected}")]
    PlateauCount {
        /// Plateau states in the saved state.
        saved: usize,
        /// Plateaus in the schedule being restored.
        expected: usize,
    },
    /// A plateau state holds an impossible value (e.g. a NaN best metric in a counter field).
    #[error("saved plateau state #{index} is invalid: {reason}")]
    Invalid {
        /// Index of the plateau (depth-first order).
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

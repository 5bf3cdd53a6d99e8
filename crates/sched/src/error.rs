//! Errors of schedule construction and state restore.

/// A field with an impossible value: the field's path and what is wrong with it. The one
/// "field path + message" error of the workspace: schedule, optimizer and run-config
/// validation all report it (the [`crate::check`] helpers build it).
///
/// Displayed as `{path}: {message}`, e.g. `schedule.schedules[1].gamma: must be a finite number > 0 (got -0.5)`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldIssue {
    /// Dotted field path from the top of the run config, e.g. `schedule.schedules[1].gamma`.
    pub path: String,
    /// What is wrong with the value, e.g. `must be a finite number > 0 (got -0.5)`.
    pub message: String,
}

impl FieldIssue {
    /// An issue of the field at `path`, described by `message`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
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

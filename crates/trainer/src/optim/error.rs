//! [`OptimError`]: everything that can go wrong building, stepping, saving or loading an optimizer.

use std::path::PathBuf;

use candle_core::DType;
use sched::FieldIssue;

/// An optimizer error. Library code returns it instead of panicking.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// An impossible value in the `optimizer:` section (field path and rule).
    #[error("invalid optimizer config: {0}")]
    Config(#[from] FieldIssue),
    /// A configured parameter group matches no trainable parameter (e.g. a typo'd prefix).
    #[error(
        "optimizer.groups[{index}] (`{name}`) matches no trainable parameter (prefixes {prefixes:?}){}",
        shadowed_by.as_ref().map(|g| format!(": the parameters it matches all go to the earlier group `{g}`")).unwrap_or_default()
    )]
    UnmatchedGroup {
        /// Index of the group in `optimizer.groups`.
        index: usize,
        /// Group name.
        name: String,
        /// Its prefixes.
        prefixes: Vec<String>,
        /// An earlier group that takes the parameters this one would match, if any.
        shadowed_by: Option<String>,
    },
    /// The optimizer was given no floating-point parameter.
    #[error("the optimizer got no trainable (floating-point) parameter")]
    NoParameters,
    /// Two parameters were given under the same name.
    #[error("parameter name `{0}` given twice")]
    DuplicateParameter(String),
    /// `step` got a number of group settings different from the number of groups.
    #[error("optimizer step got {got} group setting(s) but the optimizer has {expected} group(s)")]
    GroupCount {
        /// Number of groups of the optimizer.
        expected: usize,
        /// Number of settings passed.
        got: usize,
    },
    /// A step's learning rate is negative or not finite.
    #[error("optimizer step: group `{group}`: learning rate must be a finite number >= 0 (got {lr})")]
    InvalidLr {
        /// Group name.
        group: String,
        /// The LR passed.
        lr: f64,
    },
    /// A step's momentum override is outside the range the optimizer accepts.
    #[error("optimizer step: group `{group}`: momentum must be in {range} (got {momentum})")]
    InvalidMomentum {
        /// Group name.
        group: String,
        /// The momentum passed.
        momentum: f64,
        /// The accepted range (`[0, 1]` for SGD, `[0, 1)` for Adam's `beta1`).
        range: &'static str,
    },
    /// A saved optimizer state does not fit this optimizer.
    #[error("optimizer state: {0}")]
    State(#[from] StateError),
    /// Reading or writing a state file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A tensor operation failed (device, memory, …).
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Why a saved optimizer state cannot be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// Not a safetensors file written by this module (bad header, missing or wrong metadata).
    #[error("not an optimizer state file: {0}")]
    Format(String),
    /// Saved by another optimizer kind.
    #[error("saved by a `{saved}` optimizer, cannot load into `{expected}`")]
    KindMismatch {
        /// Kind recorded in the file.
        saved: String,
        /// Kind of this optimizer.
        expected: &'static str,
    },
    /// A tensor the optimizer needs is absent (the state is from another model).
    #[error("tensor `{0}` is missing (was the state saved for another model?)")]
    Missing(String),
    /// A tensor that belongs to no parameter of this optimizer.
    #[error("tensor `{0}` belongs to no parameter of this optimizer (was the state saved for another model?)")]
    Unexpected(String),
    /// A tensor of the wrong shape.
    #[error("tensor `{name}` has shape {saved:?}, the parameter has shape {expected:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// Saved shape.
        saved: Vec<usize>,
        /// Expected shape.
        expected: Vec<usize>,
    },
    /// A tensor of the wrong dtype.
    #[error("tensor `{name}` has dtype {saved:?}, expected {expected:?}")]
    DType {
        /// Tensor name.
        name: String,
        /// Saved dtype.
        saved: DType,
        /// Expected dtype.
        expected: DType,
    },
    /// A step count that is not a non-negative I64 scalar.
    #[error("step count `{name}`: {reason}")]
    Step {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A parameter dtype that the safetensors state cannot hold.
    #[error("parameter `{name}` has dtype {dtype:?}, which optimizer state files do not support")]
    UnsupportedDType {
        /// Parameter name.
        name: String,
        /// Its dtype.
        dtype: DType,
    },
}

//! Notable steps of a schedule, for previews and validation output.

/// At most this many key points are listed (a `t_0 = 1` restart schedule has one per step).
pub const MAX_KEY_POINTS: usize = 10_000;

/// What happens at a key point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPointKind {
    /// The `warmup:` ramp ends; the kind starts at its step 0.
    WarmupEnd,
    /// A warm restart: cycle `cycle` (≥ 1) of a `cosine_restarts` schedule begins.
    Restart {
        /// Index of the cycle that begins.
        cycle: u64,
    },
    /// A `sequential` milestone: child `index + 1` takes over.
    Milestone {
        /// Index of the milestone in `milestones`.
        index: usize,
    },
}

/// A notable step of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPoint {
    /// The optimizer step at which it happens.
    pub step: u64,
    /// What happens.
    pub kind: KeyPointKind,
}

impl std::fmt::Display for KeyPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            KeyPointKind::WarmupEnd => write!(f, "step {}: warmup ends", self.step),
            KeyPointKind::Restart { cycle } => write!(f, "step {}: restart (cycle {cycle})", self.step),
            KeyPointKind::Milestone { index } => {
                write!(f, "step {}: milestone {index} (schedule {} starts)", self.step, index + 1)
            }
        }
    }
}

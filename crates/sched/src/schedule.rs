//! [`Schedule`]: a validated schedule ready to evaluate, observe and checkpoint.

use serde::{Deserialize, Serialize};

use crate::config::ScheduleConfig;
use crate::keypoints::{KeyPoint, MAX_KEY_POINTS};
use crate::kinds::plateau::{Observation, Plateau, PlateauState};
use crate::node::{Group, Leaves, Node};
use crate::{FieldIssue, StateError};

/// A validated learning-rate schedule.
///
/// `lr(t)` is the LR used by optimizer step `t` (0-based), a closed form of `t`; only plateaus
/// carry state, changed by [`Schedule::observe`] and captured by [`Schedule::state`].
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    root: Node,
    base_lr: f64,
}

/// Everything a schedule needs, beyond its config, to continue exactly: the state of each plateau
/// (depth-first order).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScheduleState {
    /// One state per plateau in the schedule tree.
    pub plateaus: Vec<PlateauState>,
}

impl Schedule {
    /// Validates `config` and builds the schedule for base LR `base_lr` (`optimizer.lr`).
    ///
    /// Every impossible parameter is a [`FieldIssue`] naming its field path (from `schedule`).
    pub fn new(config: &ScheduleConfig, base_lr: f64) -> Result<Self, FieldIssue> {
        if !(base_lr.is_finite() && base_lr > 0.0) {
            return Err(FieldIssue::new("optimizer.lr", format!("must be a finite number > 0 (got {base_lr})")));
        }
        Ok(Self { root: config.build(base_lr, "schedule", 0)?, base_lr })
    }

    /// The validated tree.
    pub(crate) fn root(&self) -> &Node {
        &self.root
    }

    /// The base LR the schedule was built for (`optimizer.lr`).
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// LR of the primary group (base LR `optimizer.lr`) at step `t`.
    #[inline]
    pub fn lr(&self, t: u64) -> f64 {
        self.root.lr(t, Group::new(self.base_lr, self.base_lr))
    }

    /// LR at step `t` of a parameter group whose base LR is `group_base_lr`. Relative kinds
    /// scale `group_base_lr`; absolute kinds (`cyclic`, `one_cycle`) are multiplied by
    /// `group_base_lr / optimizer.lr`.
    #[inline]
    pub fn group_lr(&self, t: u64, group_base_lr: f64) -> f64 {
        self.root.lr(t, Group::new(group_base_lr, self.base_lr))
    }

    /// Momentum (SGD `momentum`, Adam `betas[0]`) at step `t` when the active part of the schedule
    /// cycles it; `None` leaves the optimizer's own value.
    #[inline]
    pub fn momentum(&self, t: u64) -> Option<f64> {
        self.root.momentum(t)
    }

    /// LR of the primary group and momentum at step `t`, computed together: what the optimizer
    /// step `t` uses. Equal to `(lr(t), momentum(t))`, cheaper for the cycling kinds.
    #[inline]
    pub fn values(&self, t: u64) -> (f64, Option<f64>) {
        self.root.values(t, Group::new(self.base_lr, self.base_lr))
    }

    /// Whether the schedule can set the momentum at some step.
    pub fn cycles_momentum(&self) -> bool {
        let mut cycles = false;
        self.root.for_each_leaf(Leaves::All, &mut |node, _| {
            cycles |= match node {
                Node::Cyclic(c) => c.config().cycle_momentum,
                Node::OneCycle(c) => c.config().cycle_momentum,
                _ => false,
            }
        });
        cycles
    }

    /// Observes `value` of metric `monitor`, measured right after step `t`; plateaus monitoring
    /// that metric and active at `t` react (from step `t + 1` on).
    pub fn observe(&mut self, t: u64, monitor: &str, value: f64) -> Observation {
        let mut out = Observation::default();
        self.root.for_each_leaf_mut(Leaves::ActiveAt(t), &mut |node, _| match node {
            Node::Plateau(p) if p.config().monitor == monitor => out = out.merge(p.observe(value)),
            _ => {}
        });
        out
    }

    /// Names of the metrics monitored by the schedule's plateaus (deduplicated, in order).
    pub fn monitors(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for p in self.plateaus() {
            let name = p.config().monitor.as_str();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// `Some(cycle)` when step `t` begins a warm restart (cycle ≥ 1 of a `cosine_restarts`).
    #[inline]
    pub fn restart_at(&self, t: u64) -> Option<u64> {
        let mut restart = None;
        self.root.for_each_leaf(Leaves::ActiveAt(t), &mut |node, local| {
            if let (None, Node::CosineRestarts(c)) = (restart, node) {
                restart = c.restart_at(local);
            }
        });
        restart
    }

    /// Notable steps before `steps`: warmup end, restarts, sequential milestones (sorted; at most
    /// [`MAX_KEY_POINTS`]).
    pub fn key_points(&self, steps: u64) -> Vec<KeyPoint> {
        let mut out = Vec::new();
        self.root.key_points(0, steps, &mut out);
        out.truncate(MAX_KEY_POINTS);
        out.sort_by_key(|k| k.step);
        out
    }

    /// How many key points there are before `steps`, all of them (what [`Schedule::key_points`]
    /// lists is capped at [`MAX_KEY_POINTS`]).
    pub fn key_point_count(&self, steps: u64) -> u64 {
        self.root.key_point_count(steps)
    }

    /// The state to save with a checkpoint.
    pub fn state(&self) -> ScheduleState {
        ScheduleState { plateaus: self.plateaus().into_iter().map(|p| p.state().clone()).collect() }
    }

    /// Restores a state saved by [`Schedule::state`] from a schedule with the same config.
    pub fn restore(&mut self, state: &ScheduleState) -> Result<(), StateError> {
        let mut plateaus = Vec::new();
        self.root.for_each_leaf_mut(Leaves::All, &mut |node, _| {
            if let Node::Plateau(p) = node {
                plateaus.push(p);
            }
        });
        if plateaus.len() != state.plateaus.len() {
            return Err(StateError::PlateauCount { saved: state.plateaus.len(), expected: plateaus.len() });
        }
        for (i, (p, s)) in plateaus.into_iter().zip(&state.plateaus).enumerate() {
            p.set_state(s.clone(), i)?;
        }
        Ok(())
    }

    /// Every plateau of the tree, depth-first.
    fn plateaus(&self) -> Vec<&Plateau> {
        let mut plateaus = Vec::new();
        self.root.for_each_leaf(Leaves::All, &mut |node, _| {
            if let Node::Plateau(p) = node {
                plateaus.push(p);
            }
        });
        plateaus
    }
}

//! The validated schedule tree and its evaluation. Every evaluation is a closed form of the step:
//! no recursion over past steps, no allocation.

use crate::config::{ChainedConfig, Kind, ScheduleConfig, SequentialConfig};
use crate::keypoints::{KeyPoint, KeyPointKind, MAX_KEY_POINTS};
use crate::kinds::{
    constant::Constant, cosine::Cosine, cosine_restarts::CosineRestarts, cyclic::Cyclic, exponential::Exponential,
    inverse_sqrt::InverseSqrt, linear::Linear, multistep::MultiStep, one_cycle::OneCycle, plateau::Plateau,
    polynomial::Polynomial, step::Step, swa::Swa, wsd::Wsd,
};
use crate::{FieldIssue, check};

/// Deepest nesting of `sequential`/`chained`/`warmup` accepted (guards the stack).
const MAX_DEPTH: usize = 32;

/// The LR a parameter group is computed from: its base LR and its scale relative to the primary
/// LR (`base / optimizer.lr`), which multiplies the absolute kinds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    pub(crate) base: f64,
    pub(crate) scale: f64,
}

impl Group {
    /// The group with base LR `base` of a schedule built for `primary`.
    #[inline]
    pub(crate) fn new(base: f64, primary: f64) -> Self {
        Self { base, scale: base / primary }
    }
}

/// The leaves a traversal ([`Node::for_each_leaf`]) visits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Leaves {
    /// Every leaf of the tree.
    All,
    /// The leaves that make the LR at step `t`: the active child of each `sequential`, every
    /// child of each `chained`.
    ActiveAt(u64),
}

impl Leaves {
    /// The step passed to the visited leaves (0 for `All`).
    fn step(self) -> u64 {
        match self {
            Leaves::All => 0,
            Leaves::ActiveAt(t) => t,
        }
    }
}

/// One validated node of the schedule tree: a kind's validated schedule, or a composition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Constant(Constant),
    Step(Step),
    Multistep(MultiStep),
    Exponential(Exponential),
    Linear(Linear),
    Polynomial(Polynomial),
    Cosine(Cosine),
    CosineRestarts(CosineRestarts),
    Cyclic(Cyclic),
    OneCycle(OneCycle),
    Plateau(Plateau),
    InverseSqrt(InverseSqrt),
    Wsd(Wsd),
    /// Anneals from the LR in effect when it starts (see [`Node::lr_from`]).
    Swa(Swa),
    /// Children switched at milestones; `warmup` marks the `warmup:` wrapper.
    Sequential {
        children: Vec<Node>,
        milestones: Vec<u64>,
        warmup: bool,
    },
    /// Product of the children's factors.
    Chained(Vec<Node>),
}

impl ScheduleConfig {
    /// Validates the schedule at `path` (nested `depth` levels deep) into its node. `primary` is
    /// the optimizer's base LR (what plateaus check `eps` against).
    pub(crate) fn build(&self, primary: f64, path: &str, depth: usize) -> Result<Node, FieldIssue> {
        if depth > MAX_DEPTH {
            return Err(FieldIssue::new(path, format!("schedules nest deeper than {MAX_DEPTH} levels")));
        }
        let inner = self.kind.build(primary, path, depth)?;
        let Some(w) = &self.warmup else { return Ok(inner) };
        let ramp = w.build(&check::field(path, "warmup"))?;
        Ok(Node::Sequential { children: vec![Node::Linear(ramp), inner], milestones: vec![w.steps], warmup: true })
    }
}

impl Kind {
    /// Validates the kind's parameters (at `path`) with its config's `build`.
    fn build(&self, primary: f64, path: &str, depth: usize) -> Result<Node, FieldIssue> {
        Ok(match self {
            Kind::Constant(c) => Node::Constant(c.build(path)?),
            Kind::Step(c) => Node::Step(c.build(path)?),
            Kind::Multistep(c) => Node::Multistep(c.build(path)?),
            Kind::Exponential(c) => Node::Exponential(c.build(path)?),
            Kind::Linear(c) => Node::Linear(c.build(path)?),
            Kind::Polynomial(c) => Node::Polynomial(c.build(path)?),
            Kind::Cosine(c) => Node::Cosine(c.build(path)?),
            Kind::CosineRestarts(c) => Node::CosineRestarts(c.build(path)?),
            Kind::Cyclic(c) => Node::Cyclic(c.build(path)?),
            Kind::OneCycle(c) => Node::OneCycle(c.build(path)?),
            Kind::Plateau(c) => Node::Plateau(c.build(path)?.with_primary_lr(primary)),
            Kind::InverseSqrt(c) => Node::InverseSqrt(c.build(path)?),
            Kind::WarmupStableDecay(c) => Node::Wsd(c.build(path)?),
            Kind::Swa(c) => Node::Swa(c.build(path)?),
            Kind::Sequential(c) => c.build(primary, path, depth)?,
            Kind::Chained(c) => c.build(primary, path, depth)?,
        })
    }
}

impl SequentialConfig {
    /// Validates the children and the milestones into a sequential node.
    fn build(&self, primary: f64, path: &str, depth: usize) -> Result<Node, FieldIssue> {
        let children = build_children(&self.schedules, primary, path, depth)?;
        if self.milestones.len() + 1 != children.len() {
            return Err(FieldIssue::new(
                check::field(path, "milestones"),
                format!(
                    "needs exactly one milestone fewer than schedules ({} schedules, {} milestones)",
                    children.len(),
                    self.milestones.len()
                ),
            ));
        }
        check::sorted(path, "milestones", &self.milestones)?;
        Ok(Node::Sequential { children, milestones: self.milestones.clone(), warmup: false })
    }
}

impl ChainedConfig {
    /// Validates the children into a chained node.
    fn build(&self, primary: f64, path: &str, depth: usize) -> Result<Node, FieldIssue> {
        let children = build_children(&self.schedules, primary, path, depth)?;
        if let Some(k) = children.iter().position(Node::uses_start) {
            return Err(FieldIssue::new(
                format!("{path}.schedules[{k}]"),
                "swa cannot be chained (it anneals from the LR in effect when it starts, not from a factor): \
                 put it in a sequential after the schedule it follows",
            ));
        }
        Ok(Node::Chained(children))
    }
}

/// Validates the `schedules` of a composition at `path` (at least one).
fn build_children(configs: &[ScheduleConfig], primary: f64, path: &str, depth: usize) -> Result<Vec<Node>, FieldIssue> {
    if configs.is_empty() {
        return Err(FieldIssue::new(check::field(path, "schedules"), "needs at least one schedule"));
    }
    configs.iter().enumerate().map(|(i, c)| c.build(primary, &format!("{path}.schedules[{i}]"), depth + 1)).collect()
}

impl Node {
    /// Index of the child of a sequential node active at `t`, and `t` in that child's time.
    #[inline]
    fn active(milestones: &[u64], t: u64) -> (usize, u64) {
        let k = milestones.partition_point(|&m| m <= t);
        (k, if k == 0 { t } else { t - milestones[k - 1] })
    }

    /// LR at step `t` for group `g`.
    #[inline]
    pub(crate) fn lr(&self, t: u64, g: Group) -> f64 {
        self.lr_from(t, g, g.base)
    }

    /// LR at step `t` for group `g` of a node that took over when the LR was `start` (only `swa`
    /// uses it: the group's base LR at the top, the LR the previous child reached at a
    /// `sequential`'s milestone).
    #[inline]
    pub(crate) fn lr_from(&self, t: u64, g: Group, start: f64) -> f64 {
        match self {
            Node::Constant(c) => c.lr(t, g.base),
            Node::Step(c) => c.lr(t, g.base),
            Node::Multistep(c) => c.lr(t, g.base),
            Node::Exponential(c) => c.lr(t, g.base),
            Node::Linear(c) => c.lr(t, g.base),
            Node::Polynomial(c) => c.lr(t, g.base),
            Node::Cosine(c) => c.lr(t, g.base),
            Node::CosineRestarts(c) => c.lr(t, g.base),
            Node::InverseSqrt(c) => c.lr(t, g.base),
            Node::Wsd(c) => c.lr(t, g.base),
            Node::Swa(c) => c.lr(t, start, g.scale),
            Node::Plateau(p) => p.lr(g.base),
            Node::Cyclic(c) => c.lr(t, g.scale),
            Node::OneCycle(c) => c.lr(t, g.scale),
            Node::Sequential { children, milestones, warmup } => {
                let (k, local) = Self::active(milestones, t);
                children[k].lr_from(local, g, Self::start_of(children, milestones, *warmup, k, g, start))
            }
            Node::Chained(children) => {
                if g.base == 0.0 {
                    return 0.0;
                }
                children.iter().fold(g.base, |lr, c| lr * (c.lr(t, g) / g.base))
            }
        }
    }

    /// Whether the node's LR depends on the LR in effect when it starts (it has an `swa` leaf).
    pub(crate) fn uses_start(&self) -> bool {
        match self {
            Node::Swa(_) => true,
            Node::Sequential { children, .. } | Node::Chained(children) => children.iter().any(Node::uses_start),
            _ => false,
        }
    }

    /// The LR in effect when child `k` of a sequential (started at LR `start`) takes over: the LR
    /// child `k − 1` reached at milestone `k − 1` (in its own time, the length of its stretch);
    /// after a `warmup:` ramp, the group's base LR (where the ramp ends, without its rounding).
    /// Computed only for children that use it, so the other kinds stay O(1).
    fn start_of(children: &[Node], milestones: &[u64], warmup: bool, k: usize, g: Group, start: f64) -> f64 {
        if k == 0 || !children[k].uses_start() {
            return start;
        }
        if warmup {
            return g.base;
        }
        let begin = if k == 1 { 0 } else { milestones[k - 2] };
        let prev_start = Self::start_of(children, milestones, warmup, k - 1, g, start);
        children[k - 1].lr_from(milestones[k - 1] - begin, g, prev_start)
    }

    /// LR and momentum at step `t` for group `g`, computed together (cycling kinds share their
    /// phase computation).
    #[inline]
    pub(crate) fn values(&self, t: u64, g: Group) -> (f64, Option<f64>) {
        self.values_from(t, g, g.base)
    }

    /// [`Node::values`] of a node that took over when the LR was `start` (see [`Node::lr_from`]).
    #[inline]
    fn values_from(&self, t: u64, g: Group, start: f64) -> (f64, Option<f64>) {
        match self {
            Node::Cyclic(c) => c.values(t, g.scale),
            Node::OneCycle(c) => c.values(t, g.scale),
            Node::Sequential { children, milestones, warmup } => {
                let (k, local) = Self::active(milestones, t);
                children[k].values_from(local, g, Self::start_of(children, milestones, *warmup, k, g, start))
            }
            Node::Chained(children) => {
                if g.base == 0.0 {
                    return (0.0, children.iter().rev().find_map(|c| c.momentum(t)));
                }
                children.iter().fold((g.base, None), |(lr, m), c| {
                    let (clr, cm) = c.values(t, g);
                    (lr * (clr / g.base), cm.or(m))
                })
            }
            _ => (self.lr_from(t, g, start), None),
        }
    }

    /// Momentum at step `t`, where the node cycles it.
    pub(crate) fn momentum(&self, t: u64) -> Option<f64> {
        match self {
            Node::Cyclic(c) => c.momentum(t),
            Node::OneCycle(c) => c.momentum(t),
            Node::Sequential { children, milestones, .. } => {
                let (k, local) = Self::active(milestones, t);
                children[k].momentum(local)
            }
            Node::Chained(children) => children.iter().rev().find_map(|c| c.momentum(t)),
            _ => None,
        }
    }

    /// Calls `f(leaf, t)` on the leaves (kinds) that `which` selects, depth-first: every leaf
    /// (with `t = 0`), or those active at a step (with `t` in the leaf's own time). The one
    /// traversal of the tree behind plateaus, monitors, observations and restarts.
    pub(crate) fn for_each_leaf<'a>(&'a self, which: Leaves, f: &mut impl FnMut(&'a Node, u64)) {
        match (self, which) {
            (Node::Sequential { children, milestones, .. }, Leaves::ActiveAt(t)) => {
                let (k, local) = Self::active(milestones, t);
                children[k].for_each_leaf(Leaves::ActiveAt(local), f);
            }
            (Node::Sequential { children, .. } | Node::Chained(children), _) => {
                for c in children {
                    c.for_each_leaf(which, f);
                }
            }
            (leaf, _) => f(leaf, which.step()),
        }
    }

    /// [`Node::for_each_leaf`], mutably.
    pub(crate) fn for_each_leaf_mut<'a>(&'a mut self, which: Leaves, f: &mut impl FnMut(&'a mut Node, u64)) {
        match (self, which) {
            (Node::Sequential { children, milestones, .. }, Leaves::ActiveAt(t)) => {
                let (k, local) = Self::active(milestones, t);
                children[k].for_each_leaf_mut(Leaves::ActiveAt(local), f);
            }
            (Node::Sequential { children, .. } | Node::Chained(children), _) => {
                for c in children {
                    c.for_each_leaf_mut(which, f);
                }
            }
            (leaf, _) => f(leaf, which.step()),
        }
    }

    /// How many key points [`Node::key_points`] finds in `[0, span)`, counted without listing them
    /// (no cap).
    pub(crate) fn key_point_count(&self, span: u64) -> u64 {
        match self {
            Node::CosineRestarts(c) if span > 0 => {
                let cycles = c.position(span - 1).cycle;
                c.config().cycle_limit.map_or(cycles, |limit| cycles.min(limit.saturating_sub(1)))
            }
            Node::Sequential { children, milestones, .. } => {
                let mut n = 0;
                for (k, child) in children.iter().enumerate() {
                    let start = if k == 0 { 0 } else { milestones[k - 1] };
                    if start >= span {
                        break;
                    }
                    let end = milestones.get(k).copied().unwrap_or(u64::MAX).min(span);
                    n += u64::from(k > 0) + child.key_point_count(end - start);
                }
                n
            }
            Node::Chained(children) => children.iter().map(|c| c.key_point_count(span)).sum(),
            _ => 0,
        }
    }

    /// Appends the node's key points in `[offset, offset + span)` (global steps).
    pub(crate) fn key_points(&self, offset: u64, span: u64, out: &mut Vec<KeyPoint>) {
        match self {
            Node::CosineRestarts(c) => {
                for cycle in 1.. {
                    if out.len() >= MAX_KEY_POINTS {
                        break;
                    }
                    match c.cycle_start(cycle) {
                        Some(s) if s < span && c.restart_at(s).is_some() => {
                            out.push(KeyPoint { step: offset + s, kind: KeyPointKind::Restart { cycle } })
                        }
                        _ => break,
                    }
                }
            }
            Node::Sequential { children, milestones, warmup } => {
                for (k, child) in children.iter().enumerate() {
                    let start = if k == 0 { 0 } else { milestones[k - 1] };
                    if start >= span {
                        break;
                    }
                    if k > 0 && out.len() < MAX_KEY_POINTS {
                        let kind =
                            if *warmup { KeyPointKind::WarmupEnd } else { KeyPointKind::Milestone { index: k - 1 } };
                        out.push(KeyPoint { step: offset + start, kind });
                    }
                    let end = milestones.get(k).copied().unwrap_or(u64::MAX).min(span);
                    child.key_points(offset + start, end - start, out);
                }
            }
            Node::Chained(children) => children.iter().for_each(|c| c.key_points(offset, span, out)),
            _ => {}
        }
    }
}

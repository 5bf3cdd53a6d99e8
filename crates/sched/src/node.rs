//! The validated schedule tree and its evaluation. Every evaluation is a closed form of the step:
//! no recursion over past steps, no allocation.

use crate::config::{Kind, ScheduleConfig};
use crate::keypoints::{KeyPoint, KeyPointKind, MAX_KEY_POINTS};
use crate::kinds::{
    Geometric, constant::ConstantConfig, cosine::CosineConfig, cosine_restarts::CosineRestarts, cyclic::Cyclic,
    exponential::ExponentialConfig, inverse_sqrt::InverseSqrtConfig, linear::LinearConfig, multistep::MultiStepConfig,
    one_cycle::OneCycle, plateau::Observation, plateau::Plateau, polynomial::PolynomialConfig, step::StepConfig,
    wsd::WsdConfig,
};
use crate::{FieldIssue, check};

/// Deepest nesting of `sequential`/`chained`/`warmup` accepted (guards the stack).
const MAX_DEPTH: usize = 32;

/// The LR a parameter group is computed from: its base LR and its scale relative to the primary
/// LR (`base / optimizer.lr`), which multiplies the absolute kinds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    pub base: f64,
    pub scale: f64,
}

impl Group {
    /// The group with base LR `base` of a schedule built for `primary`.
    #[inline]
    pub(crate) fn new(base: f64, primary: f64) -> Self {
        Self { base, scale: base / primary }
    }
}

/// One validated node of the schedule tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Constant(ConstantConfig),
    Step(StepConfig, Geometric),
    /// With `gamma^k` for each number of passed milestones.
    Multistep(MultiStepConfig, Vec<f64>),
    Exponential(ExponentialConfig, Geometric),
    Linear(LinearConfig),
    Polynomial(PolynomialConfig),
    Cosine(CosineConfig),
    CosineRestarts(CosineRestarts),
    Cyclic(Cyclic),
    OneCycle(OneCycle),
    Plateau(Plateau),
    InverseSqrt(InverseSqrtConfig),
    Wsd(WsdConfig),
    /// Children switched at milestones; `warmup` marks the `warmup:` wrapper.
    Sequential {
        children: Vec<Node>,
        milestones: Vec<u64>,
        warmup: bool,
    },
    /// Product of the children's factors.
    Chained(Vec<Node>),
}

impl Node {
    /// Validates `cfg` (at `path`) and builds its node. `primary` is the optimizer's base LR.
    pub(crate) fn build(cfg: &ScheduleConfig, primary: f64, path: &str, depth: usize) -> Result<Node, FieldIssue> {
        if depth > MAX_DEPTH {
            return Err(FieldIssue::new(path, format!("schedules nest deeper than {MAX_DEPTH} levels")));
        }
        let inner = Self::build_kind(&cfg.kind, primary, path, depth)?;
        let Some(w) = &cfg.warmup else { return Ok(inner) };
        let wpath = check::field(path, "warmup");
        check::at_least(&wpath, "steps", w.steps, 1)?;
        check::in_range(&wpath, "start_factor", w.start_factor, (0.0, true), (1.0, false))?;
        let ramp = LinearConfig { start_factor: w.start_factor, end_factor: 1.0, total_iters: w.steps };
        Ok(Node::Sequential { children: vec![Node::Linear(ramp), inner], milestones: vec![w.steps], warmup: true })
    }

    fn build_kind(kind: &Kind, primary: f64, path: &str, depth: usize) -> Result<Node, FieldIssue> {
        macro_rules! simple {
            ($variant:ident, $c:expr) => {{
                $c.validate(path)?;
                Node::$variant($c.clone())
            }};
        }
        Ok(match kind {
            Kind::Constant(c) => simple!(Constant, c),
            Kind::Step(c) => {
                c.validate(path)?;
                Node::Step(c.clone(), Geometric::new(c.gamma))
            }
            Kind::Multistep(c) => {
                c.validate(path)?;
                Node::Multistep(c.clone(), c.powers())
            }
            Kind::Exponential(c) => {
                c.validate(path)?;
                Node::Exponential(c.clone(), Geometric::new(c.gamma))
            }
            Kind::Linear(c) => simple!(Linear, c),
            Kind::Polynomial(c) => simple!(Polynomial, c),
            Kind::Cosine(c) => simple!(Cosine, c),
            Kind::Cyclic(c) => Node::Cyclic(Cyclic::new(c, path)?),
            Kind::InverseSqrt(c) => simple!(InverseSqrt, c),
            Kind::WarmupStableDecay(c) => simple!(Wsd, c),
            Kind::CosineRestarts(c) => Node::CosineRestarts(CosineRestarts::new(c, path)?),
            Kind::OneCycle(c) => Node::OneCycle(OneCycle::new(c, path)?),
            Kind::Plateau(c) => Node::Plateau(Plateau::new(c, primary, path)?),
            Kind::Sequential(c) => {
                let children = Self::build_children(&c.schedules, primary, path, depth)?;
                if c.milestones.len() + 1 != children.len() {
                    return Err(FieldIssue::new(
                        check::field(path, "milestones"),
                        format!(
                            "needs exactly one milestone fewer than schedules ({} schedules, {} milestones)",
                            children.len(),
                            c.milestones.len()
                        ),
                    ));
                }
                check::sorted(path, "milestones", &c.milestones)?;
                Node::Sequential { children, milestones: c.milestones.clone(), warmup: false }
            }
            Kind::Chained(c) => Node::Chained(Self::build_children(&c.schedules, primary, path, depth)?),
        })
    }

    fn build_children(
        configs: &[ScheduleConfig],
        primary: f64,
        path: &str,
        depth: usize,
    ) -> Result<Vec<Node>, FieldIssue> {
        if configs.is_empty() {
            return Err(FieldIssue::new(check::field(path, "schedules"), "needs at least one schedule"));
        }
        configs
            .iter()
            .enumerate()
            .map(|(i, c)| Self::build(c, primary, &format!("{path}.schedules[{i}]"), depth + 1))
            .collect()
    }

    /// Index of the child of a sequential node active at `t`, and `t` in that child's time.
    #[inline]
    fn active(milestones: &[u64], t: u64) -> (usize, u64) {
        let k = milestones.partition_point(|&m| m <= t);
        (k, if k == 0 { t } else { t - milestones[k - 1] })
    }

    /// LR at step `t` for group `g`.
    #[inline]
    pub(crate) fn lr(&self, t: u64, g: Group) -> f64 {
        match self {
            Node::Constant(c) => c.lr(t, g.base),
            Node::Step(c, gamma) => c.lr(gamma, t, g.base),
            Node::Multistep(c, powers) => c.lr(powers, t, g.base),
            Node::Exponential(c, gamma) => c.lr(gamma, t, g.base),
            Node::Linear(c) => c.lr(t, g.base),
            Node::Polynomial(c) => c.lr(t, g.base),
            Node::Cosine(c) => c.lr(t, g.base),
            Node::CosineRestarts(c) => c.lr(t, g.base),
            Node::InverseSqrt(c) => c.lr(t, g.base),
            Node::Wsd(c) => c.lr(t, g.base),
            Node::Plateau(p) => p.lr(g.base),
            Node::Cyclic(c) => c.lr(t, g.scale),
            Node::OneCycle(c) => c.lr(t, g.scale),
            Node::Sequential { children, milestones, .. } => {
                let (k, local) = Self::active(milestones, t);
                children[k].lr(local, g)
            }
            Node::Chained(children) => {
                if g.base == 0.0 {
                    return 0.0;
                }
                children.iter().fold(g.base, |lr, c| lr * (c.lr(t, g) / g.base))
            }
        }
    }

    /// LR and momentum at step `t` for group `g`, computed together (cycling kinds share their
    /// phase computation).
    #[inline]
    pub(crate) fn values(&self, t: u64, g: Group) -> (f64, Option<f64>) {
        match self {
            Node::Cyclic(c) => c.values(t, g.scale),
            Node::OneCycle(c) => c.values(t, g.scale),
            Node::Sequential { children, milestones, .. } => {
                let (k, local) = Self::active(milestones, t);
                children[k].values(local, g)
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
            _ => (self.lr(t, g), None),
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

    /// Whether any node can set the momentum.
    pub(crate) fn cycles_momentum(&self) -> bool {
        match self {
            Node::Cyclic(c) => c.config().cycle_momentum,
            Node::OneCycle(c) => c.config().cycle_momentum,
            Node::Sequential { children, .. } | Node::Chained(children) => children.iter().any(Node::cycles_momentum),
            _ => false,
        }
    }

    /// Passes a metric observed right after step `t` to the plateaus that monitor `monitor` and
    /// are active at `t`.
    pub(crate) fn observe(&mut self, t: u64, monitor: &str, value: f64) -> Observation {
        match self {
            Node::Plateau(p) if p.config().monitor == monitor => p.observe(value),
            Node::Sequential { children, milestones, .. } => {
                let (k, local) = Self::active(milestones, t);
                children[k].observe(local, monitor, value)
            }
            Node::Chained(children) => {
                children.iter_mut().fold(Observation::default(), |acc, c| acc.merge(c.observe(t, monitor, value)))
            }
            _ => Observation::default(),
        }
    }

    /// All plateaus, depth-first.
    pub(crate) fn plateaus<'a>(&'a self, out: &mut Vec<&'a Plateau>) {
        match self {
            Node::Plateau(p) => out.push(p),
            Node::Sequential { children, .. } | Node::Chained(children) => {
                children.iter().for_each(|c| c.plateaus(out))
            }
            _ => {}
        }
    }

    /// All plateaus, depth-first, mutably.
    pub(crate) fn plateaus_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Plateau>) {
        match self {
            Node::Plateau(p) => out.push(p),
            Node::Sequential { children, .. } | Node::Chained(children) => {
                children.iter_mut().for_each(|c| c.plateaus_mut(out))
            }
            _ => {}
        }
    }

    /// `Some(cycle)` when a warm restart begins at step `t`.
    pub(crate) fn restart_at(&self, t: u64) -> Option<u64> {
        match self {
            Node::CosineRestarts(c) => c.restart_at(t),
            Node::Sequential { children, milestones, .. } => {
                let (k, local) = Self::active(milestones, t);
                children[k].restart_at(local)
            }
            Node::Chained(children) => children.iter().find_map(|c| c.restart_at(t)),
            _ => None,
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
                    match c.config().cycle_start(cycle) {
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

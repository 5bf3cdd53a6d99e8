//! `lr-find CONFIG [--min 1e-7 --max 10 --steps 100]`: the LR range test on the config's model
//! and data. The model and optimizer are thrown away; only `runs/<name>/lr-find-<n>/` is written.

use std::sync::atomic::{AtomicBool, Ordering};

use sched::kinds::exponential::ExponentialConfig;
use sched::{Kind, ScheduleConfig};
use trainer::config::HooksConfig;
use trainer::optim::OptimizerConfig;
use trainer::{Observer, RunConfig, StepReport, TrainError, Trainer};

use crate::args::LrFindArgs;
use crate::error::{CliError, locate};
use crate::load::{Loaded, load};
use crate::lr_find::{Point, RangeTest, suggest};
use crate::report::lr_find::{self as report, Sweep};

struct Recorder<'a> {
    test: RangeTest,
    stop: &'a AtomicBool,
}

impl Observer for Recorder<'_> {
    fn on_step(&mut self, r: &StepReport) {
        if self.test.push(r.step, r.lr, r.loss) {
            self.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// The config of the range test: exponential LR from `min` (groups keep their LR ratios), no
/// warmup, hooks, early stopping or logs; one evaluation at the end.
fn range_config(c: &RunConfig, min: f64, max: f64, steps: u64) -> RunConfig {
    let mut config = c.clone();
    let base = c.optimizer.lr();
    let (lr, groups) = match &mut config.optimizer {
        OptimizerConfig::Sgd(o) => (&mut o.lr, &mut o.groups),
        OptimizerConfig::Adam(o) => (&mut o.lr, &mut o.groups),
        OptimizerConfig::AdamW(o) => (&mut o.lr, &mut o.groups),
    };
    *lr = min;
    for g in groups.iter_mut() {
        if let Some(group_lr) = g.lr.take() {
            g.lr_scale = Some(group_lr / base);
        }
    }
    let gamma = (max / min).powf(1.0 / (steps.max(2) - 1) as f64);
    config.schedule = ScheduleConfig { kind: Kind::Exponential(ExponentialConfig { gamma }), warmup: None };
    let t = &mut config.train;
    t.max_steps = Some(steps);
    t.epochs = None;
    t.eval_every = steps;
    t.checkpoint_every = 0;
    t.early_stopping = None;
    config.hooks = HooksConfig::default();
    config.logging.tensorboard = false;
    config.logging.jsonl = false;
    config.logging.every = 1;
    config
}

/// Checks the sweep's arguments.
fn check_args(args: &LrFindArgs) -> Result<(), CliError> {
    if !(args.min > 0.0 && args.max > args.min && args.min.is_finite() && args.max.is_finite()) {
        return Err(CliError::Other(format!(
            "--min and --max must satisfy 0 < min < max (got {} and {})",
            args.min, args.max
        )));
    }
    if !(0.0..1.0).contains(&args.beta) {
        return Err(CliError::Other(format!("--beta must be in [0, 1) (got {})", args.beta)));
    }
    if args.steps < 3 {
        return Err(CliError::Other("--steps must be at least 3".into()));
    }
    Ok(())
}

/// The one build of the test: the user's config is checked section by section (no model or
/// data loaded), then only the range config is built; both report in the user's file, whose
/// model, data and device sections the range config keeps under the same paths.
fn build(loaded: &Loaded<RunConfig>, args: &LrFindArgs) -> Result<Trainer, CliError> {
    trainer::check::static_checks(&loaded.value).map_err(|issues| locate(TrainError::Config(issues), loaded))?;
    let config = range_config(&loaded.value, args.min, args.max, args.steps);
    Trainer::build(config).map_err(|e| locate(e, loaded))
}

/// Starts the built test in a scratch directory and runs it until the end or divergence;
/// returns the recorded points.
fn sweep(trainer: Trainer, args: &LrFindArgs) -> Result<Vec<Point>, CliError> {
    let scratch =
        tempfile::tempdir().map_err(|e| CliError::Other(format!("cannot create a scratch directory: {e}")))?;
    let mut session = trainer.start(scratch.path()).map_err(CliError::Train)?;
    let stop = AtomicBool::new(false);
    let mut rec = Recorder { test: RangeTest::new(args.beta), stop: &stop };
    crate::output::say(format_args!(
        "LR range test: {} steps, lr {:.1e} → {:.1e} (exponential)",
        args.steps, args.min, args.max
    ));
    match session.run(&mut rec, &stop) {
        Ok(_) | Err(TrainError::NonFiniteLoss { .. }) => Ok(rec.test.points),
        Err(e) => Err(CliError::Train(e)),
    }
}

/// Runs `lr-find`.
pub fn lr_find(args: &LrFindArgs) -> Result<(), CliError> {
    check_args(args)?;
    let loaded: Loaded<RunConfig> = load(&args.config, &args.overrides.set)?;
    let points = sweep(build(&loaded, args)?, args)?;
    let out_dir = crate::runs::create_numbered_dir(
        &std::path::Path::new(&loaded.value.logging.dir).join(&loaded.value.name),
        "lr-find-",
    )
    .map_err(|e| CliError::Other(format!("cannot create the output directory: {e}")))?;
    let sweep = Sweep { min: args.min, max: args.max, steps: args.steps };
    report::write_csv(&out_dir, &points, sweep)?;
    let suggestion = suggest(&points).ok_or_else(|| {
        CliError::Other("too few steps before the loss diverged to suggest an LR: lower --min".into())
    })?;
    report::write_png(&out_dir, &loaded.value.name, &points, &suggestion)?;
    let warning = crate::lr_find::early_divergence(&points, args.steps);
    if let Some(w) = &warning {
        crate::output::note(format_args!("warning: {w}"));
    }
    report::print_suggestion(&out_dir, &args.config, &suggestion, warning.is_none());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_config_sweeps_exponentially_and_keeps_group_ratios() {
        let yaml = "name: t
model: {kind: mlp, hidden: [8]}
data: {kind: digits}
optimizer:
  kind: adamw
  lr: 0.01
  groups:
    - {name: a, prefix: \"layers.0.\", lr: 0.001, weight_decay: 0.0}
    - {name: b, prefix: \"layers.1.\", lr_scale: 0.5}
schedule: {kind: cosine, t_max: 100, warmup: {steps: 10}}
train: {epochs: 3, eval_every: 7, checkpoint_every: 5, early_stopping: {patience: 2}}
hooks: {on_plateau: {action: stop, patience: 3}}
logging: {every: 10}
";
        let c: RunConfig = serde_saphyr::from_str(yaml).unwrap();
        let r = range_config(&c, 1e-6, 1.0, 7);
        assert_eq!(r.optimizer.lr(), 1e-6);
        let groups = r.optimizer.groups();
        assert_eq!((groups[0].lr, groups[0].lr_scale), (None, Some(0.001 / 0.01)));
        assert_eq!(groups[0].weight_decay, Some(0.0));
        assert_eq!((groups[1].lr, groups[1].lr_scale), (None, Some(0.5)));
        let gamma = (1.0_f64 / 1e-6).powf(1.0 / 6.0);
        assert_eq!(r.schedule, ScheduleConfig { kind: Kind::Exponential(ExponentialConfig { gamma }), warmup: None });
        let t = &r.train;
        assert_eq!((t.max_steps, t.epochs, t.eval_every, t.checkpoint_every), (Some(7), None, 7, 0));
        assert!(t.early_stopping.is_none());
        assert_eq!(r.hooks, HooksConfig::default());
        assert_eq!((r.logging.tensorboard, r.logging.jsonl, r.logging.every), (false, false, 1));
        assert_eq!((r.model, r.data, r.name, r.seed), (c.model, c.data, c.name, c.seed));
    }
}

//! The TensorBoard command the CLI recommends after a run.
//!
//! TensorBoard (2.x) serves at most 1000 points per scalar chart by default: a longer series is
//! randomly downsampled (the last point always kept). `--samples_per_plugin scalars=N` raises
//! that to N; `scalars=0` does **not** mean "all": the reservoir keeps every point, but the
//! scalars plugin then asks for 0 of them and every chart is empty (checked against the
//! TensorBoard 2.21 server, tests/tensorboard_server.rs). So the hint is plain
//! `tensorboard --logdir DIR` when the run logs at most 1000 points per tag, and adds
//! `--samples_per_plugin scalars=N` with N a round number above the run's count otherwise.

use trainer::RunConfig;

/// Points per scalar chart TensorBoard serves without `--samples_per_plugin`.
pub const DEFAULT_SCALAR_POINTS: u64 = 1000;

/// At most how many points any tag of a run of `total` steps logs: the training scalars every
/// `logging.every` steps and at the last step, the evaluations every `train.eval_every` steps,
/// at the end and (`train.eval_on_start`) before the first step.
pub fn points_per_tag(config: &RunConfig, total: u64) -> u64 {
    let every = config.logging.every.max(1).min(config.train.eval_every.max(1));
    total.div_ceil(every) + 1 + u64::from(config.train.eval_on_start)
}

/// The smallest of 1, 2, 5, 10, 20, 50, … that is at least `n`.
fn round_up(n: u64) -> u64 {
    let mut base = 1u64;
    loop {
        for m in [1, 2, 5] {
            let v = base.saturating_mul(m);
            if v >= n || v == u64::MAX {
                return v;
            }
        }
        base = base.saturating_mul(10);
    }
}

/// The command line that shows every point of a run logging up to `points` per tag, with
/// `logdir` as the log directory.
pub fn command(logdir: &str, points: u64) -> String {
    if points <= DEFAULT_SCALAR_POINTS {
        format!("tensorboard --logdir {logdir}")
    } else {
        format!("tensorboard --logdir {logdir} --samples_per_plugin scalars={}", round_up(points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_given_only_beyond_the_default_and_never_zero() {
        assert_eq!(command("runs", 770), "tensorboard --logdir runs");
        assert_eq!(command("runs", 1000), "tensorboard --logdir runs");
        assert_eq!(command("runs", 1001), "tensorboard --logdir runs --samples_per_plugin scalars=2000");
        assert_eq!(command("runs", 2001), "tensorboard --logdir runs --samples_per_plugin scalars=5000");
        assert_eq!(command("r", 12_000), "tensorboard --logdir r --samples_per_plugin scalars=20000");
        assert_eq!(round_up(1), 1);
        assert_eq!(round_up(u64::MAX), u64::MAX);
    }
}

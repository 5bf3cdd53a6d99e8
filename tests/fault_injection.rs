//! Fault injection through the real binary: a run is killed with SIGKILL at random moments (a
//! seeded generator picks the delays; checkpoints every 3 steps, so many kills land inside a
//! checkpoint write, and some before the first one), and between the restarts the newest
//! checkpoint is damaged at random (truncated, one byte flipped, one file deleted, its
//! `state.json` step edited). Resumes continue until the run completes; then its `train/lr` and
//! `train/loss` series equal an uninterrupted run's bit for bit. Every resume after a damage
//! names the damaged checkpoint as skipped; every failure is one clear `error:` line.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_same, cli, series, text};
use trainer::checkpoint::{Checkpointer, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE};

const CONFIG: &str = "
name: whole
seed: 5
model: {kind: mlp, hidden: [16], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: adamw, lr: 0.003}
schedule: {kind: cosine_restarts, t_0: 25}
train: {max_steps: 150, batch_size: 32, grad_accum_steps: 2, eval_every: 10, checkpoint_every: 3}
hooks: {on_restart: {reset_optimizer: true, snapshot: true}}
logging: {tensorboard: false}
";

/// The number of SIGKILLs before the run may finish.
const KILLS: usize = 50;

/// SplitMix64: the kill delays and damages, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// Damages the checkpoint `dir` one of four ways; returns what it did.
fn damage(dir: &Path, rng: &mut Rng) -> String {
    let file = [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE][rng.below(3) as usize];
    let path = dir.join(file);
    let bytes = std::fs::read(&path).unwrap();
    match rng.below(4) {
        0 => {
            let len = rng.below(bytes.len() as u64) as usize;
            std::fs::write(&path, &bytes[..len]).unwrap();
            format!("truncated {file} to {len} bytes")
        }
        1 => {
            let mut b = bytes;
            let at = rng.below(b.len() as u64) as usize;
            b[at] ^= 1 << rng.below(8);
            std::fs::write(&path, b).unwrap();
            format!("flipped a bit of byte {at} of {file}")
        }
        2 => {
            std::fs::remove_file(&path).unwrap();
            format!("deleted {file}")
        }
        _ => {
            let state = dir.join(STATE_FILE);
            let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
            let step = v["step"].as_u64().unwrap();
            v["step"] = (step + 1 + rng.below(1_000_000)).into();
            std::fs::write(&state, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
            format!("edited state.json's step {step}")
        }
    }
}

/// When to kill.
enum Kill {
    /// Never: let it finish.
    Never,
    /// As soon as this file exists (the run started, before its first checkpoint).
    When(PathBuf),
    /// Once `metrics.jsonl` holds `steps` losses, then `extra` later (the fault's moment, not a
    /// synchronisation): by progress, so the kills land mid-run however loaded the machine is.
    AtStep { metrics: PathBuf, steps: usize, extra: Duration },
}

/// The losses in `metrics`, counted only once it was written at or after `since` (a resume
/// first cuts the file back to its checkpoint: the killed run's lines do not count).
fn losses(metrics: &Path, since: std::time::SystemTime) -> usize {
    let fresh = std::fs::metadata(metrics).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    if !fresh {
        return 0;
    }
    std::fs::read_to_string(metrics).map_or(0, |t| t.matches("\"train/loss\"").count())
}

/// Runs `cli args…` in `dir`, killed with SIGKILL as `kill` says if still running. Returns
/// whether it was killed, and its output.
fn run_killed(dir: &Path, args: &[&str], kill: Kill) -> (bool, std::process::Output) {
    let spawned = std::time::SystemTime::now();
    let mut child = cli(dir).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    match kill {
        Kill::Never => {}
        Kill::AtStep { metrics, steps, extra } => {
            while child.try_wait().unwrap().is_none() {
                if steps == 0 || losses(&metrics, spawned) >= steps {
                    std::thread::sleep(extra);
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Kill::When(path) => {
            let start = Instant::now();
            while !path.exists() && start.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_micros(200));
            }
            let _ = child.kill();
        }
    }
    let out = child.wait_with_output().unwrap();
    (out.status.signal() == Some(9), out)
}

/// `n` of a `version_<n>` directory.
fn version(p: &Path) -> u64 {
    p.file_name().and_then(|n| n.to_str()?.strip_prefix("version_")?.parse().ok()).unwrap_or(0)
}

/// The newest version directory under `runs/faulty`, if a run got that far.
fn newest_version(dir: &Path) -> Option<PathBuf> {
    common::versions(dir, "faulty").into_iter().max_by_key(|p| version(p))
}

/// The state of a fault campaign and what it saw.
#[derive(Default)]
struct Campaign {
    /// The faulty run being resumed (`None`: start one).
    run_dir: Option<PathBuf>,
    /// The checkpoint damaged since the last resume, and how.
    damaged: Option<(PathBuf, String)>,
    kills: usize,
    mid_save: usize,
    before_first: usize,
    fresh_starts: usize,
    checked: usize,
    completed: usize,
}

impl Campaign {
    /// A resume that printed where it continues must have named the damaged checkpoint: skipped
    /// when tried, or set aside untried when its state.json is damaged.
    fn check_named(&mut self, stdout: &str) {
        if !stdout.contains("resuming ") {
            if self.damaged.as_ref().is_some_and(|(p, _)| !p.exists()) {
                self.damaged = None; // set aside by a resume killed before it printed
            }
            return;
        }
        let Some((path, what)) = self.damaged.take() else { return };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let named = stdout.lines().any(|l| {
            l.starts_with("skipped a checkpoint that does not load:") && l.contains(&format!("checkpoints/{name}: "))
                || l.starts_with(&format!("set aside checkpoints/{name} (damaged state.json)"))
        });
        assert!(named, "after {what} in {}, the resume did not name it:\n{stdout}", path.display());
        self.checked += 1;
    }

    /// Counts a kill, and whether it left a half-written checkpoint or none at all.
    fn killed(&mut self) {
        self.kills += 1;
        let Some(d) = &self.run_dir else { return };
        let leftovers = std::fs::read_dir(d.join("checkpoints")).map_or(0, |it| {
            it.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))).count()
        });
        self.mid_save += usize::from(leftovers > 0);
        self.before_first += usize::from(Checkpointer::new(d, 3).candidates().is_empty());
    }

    /// A failed command: one clear error, then a fresh start.
    fn failed(&mut self, out: &std::process::Output) {
        let stderr = text(out).1;
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("error: ") && stderr.lines().count() <= 8, "{stderr}");
        // Killed before its first checkpoint, or even before its config.yaml.
        if stderr.contains("no checkpoint was written before this run stopped")
            || stderr.contains("stopped before it wrote its config.yaml")
        {
            assert!(stderr.contains("start it again with `cli train <config>`"), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        } else {
            // Every checkpoint damaged or gone: a clear refusal.
            assert!(stderr.contains("no valid checkpoint in"), "{stderr}");
        }
        self.fresh_starts += 1;
        (self.run_dir, self.damaged) = (None, None);
    }

    /// Damages the checkpoint a resume would try first, one time in two.
    fn maybe_damage(&mut self, rng: &mut Rng) {
        if let Some(d) = &self.run_dir
            && self.damaged.is_none()
            && rng.below(2) == 0
            && let Some(newest) = Checkpointer::new(d, 3).candidates().into_iter().next()
            && [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE].iter().all(|f| newest.path.join(f).exists())
        {
            let what = damage(&newest.path, rng);
            self.damaged = Some((newest.path, what));
        }
    }
}

/// The run directory and arguments of the next command: a fresh faulty run (the first one
/// saving no periodic checkpoint), or a resume of the current one.
fn next_run(c: &Campaign, dir: &Path, round: usize) -> (PathBuf, Vec<String>) {
    let fresh = ["train", "tiny.yaml", "--set", "name=faulty", "-q"];
    match &c.run_dir {
        None => {
            let next = newest_version(dir).map_or(0, |p| version(&p) + 1);
            let extra: &[&str] = if round == 0 { &["--set", "train.checkpoint_every=0"] } else { &[] };
            let args = fresh.iter().chain(extra).map(|s| s.to_string()).collect();
            (dir.join(format!("runs/faulty/version_{next}")), args)
        }
        Some(d) => {
            let args = vec!["resume".into(), d.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), "-q".into()];
            (d.clone(), args)
        }
    }
}

#[test]
fn random_kills_and_damaged_checkpoints_never_change_the_result() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.yaml"), CONFIG).unwrap();
    let started = Instant::now();
    let (_, whole) = run_killed(dir.path(), &["train", "tiny.yaml", "-q"], Kill::Never);
    assert!(whole.status.success(), "{}", text(&whole).1);
    let whole_dir = dir.path().join("runs/whole/version_0");

    // FAULT_SEED=<n> explores other schedules of faults.
    let seed = std::env::var("FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0013);
    let mut rng = Rng(seed);
    let mut c = Campaign::default();
    for round in 0..KILLS * 4 {
        let (run_dir, args) = next_run(&c, dir.path(), round);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // The first run is killed as soon as it starts; then at a random step, up to 3 ms after
        // its loss is logged (3 steps per checkpoint: many kills land in a save).
        let metrics = run_dir.join("metrics.jsonl");
        let kill = match round {
            0 => Kill::When(metrics),
            _ if c.kills < KILLS => {
                // Mostly past what the killed run had logged (a resume re-logs from its checkpoint
                // on); one time in six during start-up.
                let logged = (losses(&metrics, std::time::UNIX_EPOCH) as u64).min(149);
                let ahead = if rng.below(6) == 0 { 0 } else { logged + 1 + rng.below(150 - logged) };
                let (steps, extra) = (ahead as usize, Duration::from_micros(rng.below(3000)));
                Kill::AtStep { metrics, steps, extra }
            }
            _ => Kill::Never,
        };
        let (killed, out) = run_killed(dir.path(), &args, kill);
        let stdout = text(&out).0;
        if c.run_dir.is_none() {
            c.run_dir = newest_version(dir.path());
        }
        c.check_named(&stdout);
        if killed {
            c.killed();
        } else if out.status.success() {
            assert!(stdout.contains("completed: 150/150 steps"), "{stdout}");
            let done = c.run_dir.take().expect("a run directory");
            for tag in ["train/lr", "train/loss"] {
                assert_same(&series(&done, tag), &series(&whole_dir, tag), tag);
            }
            (c.completed, c.damaged) = (c.completed + 1, None);
            if c.kills >= KILLS {
                break;
            }
        } else {
            c.failed(&out);
        }
        c.maybe_damage(&mut rng);
    }
    let Campaign { kills, mid_save, before_first, checked, fresh_starts, completed, .. } = c;
    eprintln!(
        "{kills} kills ({mid_save} left a half-written checkpoint, {before_first} came before the first one), {checked} damages detected, {fresh_starts} fresh starts, {completed} runs completed identical, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(kills, KILLS);
    assert!(completed >= 1 && c.run_dir.is_none(), "the last run did not complete");
    assert!(checked >= 3, "too few damaged checkpoints were resumed past ({checked})");
    assert!(mid_save >= 1, "no kill landed inside a checkpoint write");
    assert!(before_first >= 1 && fresh_starts >= 1, "no kill landed before the first checkpoint");
}

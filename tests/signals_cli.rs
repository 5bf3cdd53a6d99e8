//! The run's life through the real binary: SIGTERM and SIGHUP stop cleanly like Ctrl-C and exit
//! 128 + the signal, resumed runs equal uninterrupted ones, a stop inside a long gradient
//! accumulation is prompt, the run directory lock, and a standard output that goes away.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{assert_same, cli, newest_checkpoint, root, run, series, text};

fn config() -> String {
    root().join("configs/cosine_restart.yaml").to_string_lossy().into_owned()
}

/// `train` args: the digits config with `extra` `--set`s.
fn train_args(extra: &[&str]) -> Vec<String> {
    let mut v = vec!["train".to_owned(), config()];
    for s in extra {
        v.push("--set".to_owned());
        v.push((*s).to_owned());
    }
    v
}

/// Reads `child`'s stdout until a line starting with `prefix`; returns the reader.
fn read_until(child: &mut Child, prefix: &str) -> BufReader<std::process::ChildStdout> {
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "stdout ended before a `{prefix}` line");
        if line.starts_with(prefix) {
            return out;
        }
    }
}

fn signal(child: &Child, name: &str) {
    common::send_signal(child.id(), name);
}

/// Waits for `child` at most `limit`; its status code and the time it took.
fn wait(child: &mut Child, limit: Duration) -> (Option<i32>, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const RUN: &[&str] = &["train.max_steps=1500", "train.grad_accum_steps=6", "train.checkpoint_every=0"];

#[test]
fn sigterm_and_sighup_stop_cleanly_and_resume_to_the_uninterrupted_values() {
    let dir = tempfile::tempdir().unwrap();
    let whole = run(
        dir.path(),
        &train_args(&[RUN, &["name=whole", "train.eval_every=40"]].concat())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(whole.status.success(), "{}", text(&whole).1);
    let whole_dir = dir.path().join("runs/whole/version_0");

    for (sig, status, cargo) in [("TERM", 143, false), ("HUP", 129, true)] {
        let name = format!("name={sig}");
        let mut cmd = cli(dir.path());
        cmd.args(train_args(&[RUN, &[name.as_str(), "train.eval_every=40"]].concat())).stdout(Stdio::piped());
        if cargo {
            cmd.env("CARGO", "cargo").env("CARGO_PKG_NAME", "cli");
        } else {
            cmd.env_remove("CARGO");
        }
        let mut child = cmd.spawn().unwrap();
        let mut out = read_until(&mut child, "step ");
        signal(&child, sig);
        let (code, _) = wait(&mut child, Duration::from_secs(60));
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert_eq!(code, Some(status), "SIG{sig}: {rest}");
        assert!(rest.contains("interrupted:"), "{rest}");
        let program = if cargo { "cargo run -p cli --".to_owned() } else { env!("CARGO_BIN_EXE_cli").to_owned() };
        assert!(rest.contains(&format!("continue with: {program} resume runs/{sig}/version_0")), "{rest}");

        let run_dir = dir.path().join(format!("runs/{sig}/version_0"));
        let steps = series(&run_dir, "train/lr").len();
        assert!(steps < 1500, "SIG{sig} arrived after the end");
        assert!(run_dir.join(format!("checkpoints/step-{steps:08}")).is_dir(), "a checkpoint at the stop");
        let resumed = run(dir.path(), &["resume", run_dir.to_str().unwrap(), "-q"]);
        assert!(resumed.status.success(), "{}", text(&resumed).1);
        for tag in ["train/lr", "train/loss", "val/loss"] {
            assert_same(&series(&run_dir, tag), &series(&whole_dir, tag), &format!("{tag} after SIG{sig}"));
        }
    }
}

#[test]
fn a_stop_inside_a_huge_gradient_accumulation_is_prompt_and_the_size_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = cli(dir.path())
        .args(train_args(&["train.max_steps=30", "train.grad_accum_steps=65536"]))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = read_until(&mut child, "  digits");
    std::thread::sleep(Duration::from_millis(300)); // well inside the first step's ~10 s
    signal(&child, "INT");
    let (code, took) = wait(&mut child, Duration::from_secs(60));
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(3), "stopped {took:?} after SIGINT");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("interrupted: 0/30 steps"), "{rest}");

    let out = run(dir.path(), &["validate", &config(), "--set", "train.grad_accum_steps=65537"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("train.grad_accum_steps: must be <= 65536 (got 65537)"), "{}", text(&out).1);
}

fn event_files(run_dir: &Path) -> usize {
    std::fs::read_dir(run_dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("events."))
        .count()
}

#[test]
fn a_run_directory_in_use_is_refused_with_the_pid_until_its_process_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = cli(dir.path())
        .args(train_args(&["train.max_steps=200000", "train.checkpoint_every=100", "train.eval_every=1000"]))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let run_dir: PathBuf = dir.path().join("runs/cosine_restart/version_0");
    let _out = read_until(&mut child, "step ");
    let config_before = std::fs::read(run_dir.join("config.yaml")).unwrap();
    let lines_before = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap().lines().count();

    let out = run(dir.path(), &["resume", run_dir.to_str().unwrap(), "--set", "train.max_steps=50"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("is in use by process {}", child.id())), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(std::fs::read(run_dir.join("config.yaml")).unwrap(), config_before, "config.yaml untouched");
    assert_eq!(event_files(&run_dir), 1, "no new event file");
    let lines_after = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap().lines().count();
    assert!(lines_after >= lines_before, "metrics.jsonl not truncated ({lines_before} → {lines_after})");

    // A checkpoint to resume from, then SIGKILL: the lock file stays, the lock goes with the process.
    let first = run_dir.join("checkpoints/step-00000100/state.json");
    assert!(common::wait_for(&first, Duration::from_secs(120)), "no checkpoint at step 100");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(run_dir.join(".lock").exists());
    let target = (newest_checkpoint(&run_dir) + 10).to_string();
    let out =
        run(dir.path(), &["resume", run_dir.to_str().unwrap(), "--set", &format!("train.max_steps={target}"), "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
}

#[test]
fn training_into_a_reader_that_goes_away_finishes_with_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = cli(dir.path())
        .args(train_args(&["train.max_steps=600", "train.checkpoint_every=0"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..3 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
    }
    drop(out);
    let (code, _) = wait(&mut child, Duration::from_secs(120));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let run_dir = dir.path().join("runs/cosine_restart/version_0");
    assert!(run_dir.join("checkpoints/step-00000600/state.json").exists(), "the final checkpoint");
    assert_eq!(series(&run_dir, "train/lr").len(), 600);
    assert_eq!(series(&run_dir, "val/loss").len(), 12);
}

#[cfg(target_os = "linux")]
#[test]
fn commands_writing_to_a_full_disk_fail_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["validate", &config()],
        vec!["schedule", &config()],
        vec!["schedule", &config(), "--format", "csv"],
        vec!["schema"],
    ] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = cli(dir.path()).args(&args).stdout(full).output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error: cannot write to standard output")).count(),
            1,
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_schedule_into_a_closed_pipe_ends_at_once_and_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = cli(dir.path())
        .args(["schedule", &config(), "--steps", "200000000", "--format", "csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "step,lr\n");
    drop(out);
    let (code, took) = wait(&mut child, Duration::from_secs(120));
    assert!(took < Duration::from_secs(5), "went on for {took:?} after its reader left");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(141), "{stderr}");
    assert_eq!(stderr, "");
}

/// Commands that write a run directory (`sweep`, `lr-find`) do their work with standard output
/// on a full disk (or a closed pipe): the report is a courtesy, the files are the record.
#[test]
fn multi_run_commands_finish_their_files_when_standard_output_fails() {
    let dir = tempfile::tempdir().unwrap();
    let short = ["--set", "train.max_steps=30", "--set", "train.eval_every=10"];
    for (args, written) in [
        (vec!["sweep", &config(), "--grid", "optimizer.lr=0.05,0.1"], "runs/cosine_restart/sweep-0/summary.csv"),
        (vec!["lr-find", &config(), "--steps", "30"], "runs/cosine_restart/lr-find-0/lr_find.csv"),
    ] {
        let mut all: Vec<&str> = args.clone();
        if args[0] == "sweep" {
            all.extend(short);
        }
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = cli(dir.path()).args(&all).stdout(full).output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(dir.path().join(written).is_file(), "{args:?}: {written}");
    }
}

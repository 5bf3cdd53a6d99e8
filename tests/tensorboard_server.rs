//! The real TensorBoard server (the pinned PyPI version in `assets/venv-tb`), started with
//! exactly the command line the CLI prints (`watch it: tensorboard …`) and the README gives, on
//! a free loopback port: through its HTTP API (what the web page plots), every tag of a run has
//! every point of `metrics.jsonl`, with its value (as f32: TensorBoard keeps scalars as f32),
//! each step once and in order — for a finished run, a run still training (points appear while
//! it runs) and a run killed with SIGKILL and resumed.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assets, cli, metrics, root, run, text, wait_for};

/// Stops the server (or a training process) when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `tensorboard` and its port.
struct Server {
    process: KillOnDrop,
    port: u16,
}

/// A port that was free a moment ago (bound to port 0, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on the server: `(status, body)`, or `None` when it does not answer.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.split_whitespace().nth(1)?.parse().ok()?, body.to_owned()))
}

/// Starts `command` (a `tensorboard …` command line as recommended) in `dir`, adding only
/// `--host 127.0.0.1 --port N --reload_interval 1`; retries on another port if it exits (a
/// port taken in between).
fn start(dir: &Path, command: &str) -> Server {
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("tensorboard"), "{command}");
    let args: Vec<&str> = words.collect();
    let binary = assets().join("venv-tb/bin/tensorboard");
    for _attempt in 0..3 {
        let port = free_port();
        let log = std::fs::File::create(dir.join(format!("tensorboard-{port}.log"))).unwrap();
        let child = Command::new(&binary)
            .args(&args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--reload_interval", "1"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (scripts/fetch-assets.sh): {e}", binary.display()));
        let mut server = Server { process: KillOnDrop(child), port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if server.process.0.try_wait().unwrap().is_some() {
                break;
            }
            if get(port, "/data/runs").is_some_and(|(status, _)| status == 200) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(dir.join(format!("tensorboard-{port}.log"))).unwrap_or_default();
        eprintln!("tensorboard on port {port} did not come up:\n{log}");
        server.process.0.kill().ok();
    }
    panic!("tensorboard did not start");
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `tag -> [(step, value)]` as the server serves it for `run` (what the page plots).
type Served = BTreeMap<String, Vec<(u64, f64)>>;

fn served(server: &Server, run: &str) -> Served {
    let Some((200, body)) = get(server.port, "/data/plugin/scalars/tags") else { return Served::new() };
    let tags: serde_json::Value = serde_json::from_str(&body).unwrap();
    let Some(tags) = tags[run].as_object() else { return Served::new() };
    tags.keys()
        .map(|tag| {
            let path = format!("/data/plugin/scalars/scalars?run={}&tag={}", encode(run), encode(tag));
            let (status, body) = get(server.port, &path).unwrap_or_else(|| panic!("no answer for {path}"));
            assert_eq!(status, 200, "{path}: {body}");
            let rows: Vec<(f64, u64, f64)> = serde_json::from_str(&body).unwrap();
            (tag.clone(), rows.into_iter().map(|(_wall, step, value)| (step, value)).collect())
        })
        .collect()
}

/// `tag -> [(step, value)]` of the run's `metrics.jsonl`.
fn logged(run_dir: &Path) -> Served {
    let mut m = Served::new();
    for (step, tag, value) in metrics(run_dir) {
        m.entry(tag).or_default().push((step, value));
    }
    m
}

/// Whether the served points equal the logged ones: the same tags, and per tag the same steps,
/// each once and in order, with the same values as f32. The first difference otherwise.
fn difference(served: &Served, logged: &Served) -> Option<String> {
    if served.keys().ne(logged.keys()) {
        return Some(format!("tags: served {:?}, logged {:?}", served.keys(), logged.keys()));
    }
    for (tag, want) in logged {
        let got = &served[tag];
        if let Some(w) = got.windows(2).find(|w| w[1].0 <= w[0].0) {
            return Some(format!("{tag}: steps {} then {} (duplicate or out of order)", w[0].0, w[1].0));
        }
        if got.len() != want.len() {
            return Some(format!("{tag}: {} points served, {} logged", got.len(), want.len()));
        }
        for (g, w) in got.iter().zip(want) {
            if g.0 != w.0 || g.1 as f32 != w.1 as f32 {
                return Some(format!("{tag}: served (step {}, {}), logged (step {}, {})", g.0, g.1, w.0, w.1));
            }
        }
    }
    None
}

/// Waits (the server reloads every second) until the server shows exactly the run's logged
/// points, or fails with the difference.
fn assert_serves_every_point(server: &Server, run: &str, run_dir: &Path) {
    let logged = logged(run_dir);
    assert!(logged.get("train/lr").is_some_and(|p| !p.is_empty()), "nothing logged in {}", run_dir.display());
    let started = Instant::now();
    loop {
        let Some(diff) = difference(&served(server, run), &logged) else { return };
        if started.elapsed() > Duration::from_secs(90) {
            panic!("{run}: TensorBoard does not serve what metrics.jsonl holds: {diff}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The command of a `watch it: tensorboard …` line.
fn watch_command(stdout: &str) -> String {
    let line = stdout.lines().find_map(|l| l.trim_start().strip_prefix("watch it: "));
    line.unwrap_or_else(|| panic!("no `watch it:` line in:\n{stdout}")).trim().to_owned()
}

/// The `tensorboard …` command of the README's first code block (before its `#` comment).
fn readme_command() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme.lines().find(|l| l.starts_with("tensorboard ")).expect("a tensorboard line in README.md");
    line.split('#').next().unwrap().trim().to_owned()
}

fn config() -> String {
    root().join("configs/cosine_restart.yaml").to_string_lossy().into_owned()
}

/// `train` args: the digits config with `--set`s.
fn train_args(sets: &[&str]) -> Vec<String> {
    let mut v = vec!["train".to_owned(), config()];
    for s in sets {
        v.extend(["--set".to_owned(), (*s).to_owned()]);
    }
    v
}

#[test]
#[ignore = "needs assets/venv-tb (scripts/fetch-assets.sh)"]
fn a_finished_run_longer_than_the_default_sample_is_served_whole() {
    let dir = tempfile::tempdir().unwrap();
    // 1500 logged steps: more than the 1000 points per chart TensorBoard serves by default.
    let mut args = train_args(&["train.max_steps=1500"]);
    args.push("-q".to_owned());
    let out = cli(dir.path()).args(&args).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let command = watch_command(&stdout);
    assert_eq!(command, "tensorboard --logdir runs --samples_per_plugin scalars=2000");
    let server = start(dir.path(), &command);
    let run_dir = dir.path().join("runs/cosine_restart/version_0");
    assert_eq!(logged(&run_dir)["train/lr"].len(), 1500);
    assert_serves_every_point(&server, "cosine_restart/version_0", &run_dir);
}

#[test]
#[ignore = "needs assets/venv-tb (scripts/fetch-assets.sh)"]
fn a_run_still_training_is_served_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough never to finish here; 751 points per tag at most: the plain command.
    let args = train_args(&["train.max_steps=150000", "logging.every=200", "train.eval_every=5000"]);
    let child = cli(dir.path()).args(&args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut training = KillOnDrop(child);
    let mut out = BufReader::new(training.0.stdout.take().unwrap());
    let mut start_lines = String::new();
    while !start_lines.contains("watch it:") {
        assert!(out.read_line(&mut start_lines).unwrap() > 0, "no watch line:\n{start_lines}");
    }
    // Keep reading, so the run never writes into a full pipe.
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let command = watch_command(&start_lines);
    assert_eq!(command, "tensorboard --logdir runs");
    assert_eq!(command, readme_command(), "the README recommends what the CLI does");
    let run_dir = dir.path().join("runs/cosine_restart/version_0");
    assert!(wait_for(&run_dir.join("metrics.jsonl"), Duration::from_secs(30)));
    let server = start(dir.path(), &command);
    let run = "cosine_restart/version_0";
    let points = |s: &Server| served(s, run).get("train/lr").map_or(0, Vec::len);
    let mut seen = Vec::new();
    let started = Instant::now();
    while seen.len() < 2 && started.elapsed() < Duration::from_secs(120) {
        let n = points(&server);
        assert!(training.0.try_wait().unwrap().is_none(), "the run ended before the server showed it growing");
        if n > 0 && seen.last().is_none_or(|&last| n > last) {
            seen.push(n);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(seen.len(), 2, "points seen while training: {seen:?}");
    assert!(seen[1] < 751, "still training: {seen:?}");
    // Stop it (SIGINT: a clean stop) and compare everything it logged.
    common::send_signal(training.0.id(), "INT");
    let status = training.0.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", rest.join().unwrap_or_default());
    assert_serves_every_point(&server, run, &run_dir);
}

#[test]
#[ignore = "needs assets/venv-tb (scripts/fetch-assets.sh)"]
fn a_killed_and_resumed_run_is_served_once_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = train_args(&["train.max_steps=1500", "train.checkpoint_every=100", "train.keep_checkpoints=50"]);
    args.push("-q".to_owned());
    let run_dir = dir.path().join("runs/cosine_restart/version_0");
    let mut training = KillOnDrop(cli(dir.path()).args(&args).stdout(Stdio::null()).spawn().unwrap());
    assert!(wait_for(&run_dir.join("checkpoints/step-00000300"), Duration::from_secs(60)));
    training.0.kill().unwrap(); // SIGKILL: no summary
    training.0.wait().unwrap();
    // Resume from step 200: the first event file holds steps 200..299 (and maybe more), logged
    // again by the resume; TensorBoard must show each step once, with the resumed values.
    common::remove_checkpoints_from(&run_dir, 300);
    let out = run(dir.path(), &["resume", "runs/cosine_restart/version_0", "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("at step 200/1500"), "{stdout}");
    assert!(stdout.contains("completed: 1500/1500"), "{stdout}");
    let command = watch_command(&stdout);
    assert_eq!(command, "tensorboard --logdir runs --samples_per_plugin scalars=2000");
    let server = start(dir.path(), &command);
    let lr = &logged(&run_dir)["train/lr"];
    assert_eq!(lr.iter().map(|p| p.0).collect::<Vec<_>>(), (0..1500).collect::<Vec<_>>());
    assert_serves_every_point(&server, "cosine_restart/version_0", &run_dir);
}

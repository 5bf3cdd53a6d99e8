//! The files of a run directory through the real binary: planted symbolic links are never
//! written through, `logging.dir` expands `~`, and names with control characters are refused.

mod common;

use std::path::Path;

use common::{cli, run, text};

/// A tiny digits run named `files`: 20 steps, a checkpoint every 10.
fn tiny(dir: &Path, extra: &str) -> String {
    let text = format!(
        "name: files\nseed: 0\nmodel: {{kind: mlp, hidden: [16]}}\ndata: {{kind: digits}}\noptimizer: {{kind: sgd, lr: 0.1}}\nschedule: {{kind: constant}}\ntrain: {{max_steps: 20, batch_size: 16, eval_every: 10, checkpoint_every: 10}}\n{extra}"
    );
    std::fs::write(dir.join("c.yaml"), text).unwrap();
    "c.yaml".into()
}

/// Trains the tiny run and drops its last checkpoint, so that a resume trains steps 10..20.
fn trained(dir: &Path) -> std::path::PathBuf {
    let out = run(dir, &[&tiny(dir, ""), "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let run_dir = dir.join("runs/files/version_0");
    std::fs::remove_dir_all(run_dir.join("checkpoints/step-00000020")).unwrap();
    run_dir
}

fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

#[cfg(unix)]
#[test]
fn resume_writes_through_no_planted_link() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained(dir.path());
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    // The old fixed temporary names, and config.yaml itself, as links to files outside the run.
    for name in [".config.yaml.tmp", ".metrics.jsonl.tmp"] {
        std::fs::write(outside.join(name), "keep").unwrap();
        symlink(outside.join(name), run_dir.join(name)).unwrap();
    }
    let config_copy = outside.join("config.yaml");
    std::fs::rename(run_dir.join("config.yaml"), &config_copy).unwrap();
    symlink(&config_copy, run_dir.join("config.yaml")).unwrap();
    let config_before = std::fs::read(&config_copy).unwrap();

    // `--set` with the file's own value: nothing changes, but config.yaml is rewritten.
    let out = run(dir.path(), &["resume", run_dir.to_str().unwrap(), "--set", "seed=0", "-q"]);
    assert!(out.status.success(), "{}", text(&out).1);
    for name in [".config.yaml.tmp", ".metrics.jsonl.tmp"] {
        assert_eq!(std::fs::read_to_string(outside.join(name)).unwrap(), "keep", "{name}");
    }
    assert_eq!(std::fs::read(&config_copy).unwrap(), config_before, "the link's target is untouched");
    assert!(is_regular(&run_dir.join("config.yaml")), "config.yaml is a file of the run again");
    assert!(is_regular(&run_dir.join("metrics.jsonl")));
    let lr = common::series(&run_dir, "train/lr");
    assert_eq!(lr.iter().map(|x| x.0).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>(), "one history, whole");
}

#[cfg(unix)]
#[test]
fn resume_refuses_a_linked_metrics_file_and_leaves_its_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained(dir.path());
    let outside = dir.path().join("outside.jsonl");
    std::fs::rename(run_dir.join("metrics.jsonl"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, run_dir.join("metrics.jsonl")).unwrap();
    let before = std::fs::read(&outside).unwrap();
    let out = run(dir.path(), &["resume", run_dir.to_str().unwrap(), "-q"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("metrics.jsonl is a symbolic link"), "{stderr}");
    assert_eq!(std::fs::read(&outside).unwrap(), before);
}

#[test]
fn logging_dir_expands_a_leading_tilde_to_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let config = tiny(dir.path(), "logging: {dir: ~/runs}\n");
    let out = cli(dir.path()).args([config.as_str(), "-q"]).env("HOME", &home).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(home.join("runs/files/version_0/config.yaml").exists());
    assert!(!dir.path().join("~").exists(), "no directory named ~");
    let listing: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(listing.len(), 2, "{listing:?}");
}

#[test]
fn logging_dir_refuses_other_users_homes_and_a_missing_home() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(dir.path(), "logging: {dir: ~bob/runs}\n");
    let out = run(dir.path(), &[&config]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("c.yaml:8:") && stderr.contains("logging.dir: `~bob` (another user's home)"), "{stderr}");
    let config = tiny(dir.path(), "logging: {dir: ~/runs}\n");
    let out = cli(dir.path()).arg(&config).env_remove("HOME").output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("logging.dir: `~` stands for $HOME, which is not set"), "{stderr}");
    let listing: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(listing, ["c.yaml"], "no directory for a refused config");
}

#[test]
fn a_name_with_a_control_character_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["\"a\\nb\"", "\"tab\\there\"", "\"nul\\0\""] {
        let path = dir.path().join(tiny(dir.path(), ""));
        let config = std::fs::read_to_string(&path).unwrap().replace("name: files", &format!("name: {name}"));
        std::fs::write(&path, config).unwrap();
        let out = run(dir.path(), &["c.yaml"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("c.yaml:1:") && stderr.contains("name: must be a single directory name"),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("contains a control character"), "{name}: {stderr}");
        let listing: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(listing, ["c.yaml"], "{name}: no directory");
    }
}

#[test]
fn validate_reports_a_compare_label_that_is_not_a_directory_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(dir.path(), "compare:\n  - {label: ../up, schedule: {kind: constant}}\n");
    let out = run(dir.path(), &["validate", &config]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("c.yaml:9:") && stderr.contains("compare[0].label: must be a single directory name"),
        "{stderr}"
    );
    assert!(!dir.path().join("runs").exists());
}

//! Checkpoint integrity on resume: manifests catch damaged files, state.json is range-checked,
//! every kind of checkpoint is a fallback, newer ones are set aside, and a resume refuses the
//! config changes that would break its promise.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use trainer::checkpoint::{Kind, MANIFEST_FILE};
use trainer::{RunConfig, Silent, TrainError, Trainer};

const CONFIG: &str = "
name: integrity
seed: 3
model: {kind: mlp, hidden: [16], dropout: 0.1}
data: {kind: digits}
optimizer: {kind: adamw, lr: 0.003}
schedule: {kind: cosine, t_max: 30}
train: {max_steps: 30, batch_size: 32, grad_accum_steps: 2, eval_every: 10, checkpoint_every: 7}
";

fn config() -> RunConfig {
    serde_saphyr::from_str(CONFIG).unwrap()
}

/// A finished 30-step run: step-21, step-28, step-30 (keep 3) and best (step 30 or earlier).
fn finished() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::build(config()).unwrap().start(dir.path()).unwrap();
    t.run(&mut Silent, &AtomicBool::new(false)).unwrap();
    dir
}

fn ck(dir: &Path, name: &str) -> PathBuf {
    dir.join("checkpoints").join(name)
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x01;
    fs::write(path, b).unwrap();
}

fn set_state_field(dir: &Path, field: &str, value: serde_json::Value) {
    let path = dir.join("state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    v[field] = value;
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn best_step(dir: &Path) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&fs::read(ck(dir, "best/state.json")).unwrap()).unwrap();
    v["step"].as_u64().unwrap()
}

#[test]
fn every_checkpoint_has_a_manifest_of_its_files() {
    let dir = finished();
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(ck(dir.path(), "step-00000030/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["hash"], "crc32c");
    let files: Vec<&String> = m["files"].as_object().unwrap().keys().collect();
    assert_eq!(files, ["model.safetensors", "optimizer.safetensors", "state.json"]);
    let size = fs::metadata(ck(dir.path(), "step-00000030/model.safetensors")).unwrap().len();
    assert_eq!(m["files"]["model.safetensors"]["size"], size);
    assert!(ck(dir.path(), "best").join(MANIFEST_FILE).is_file());
}

#[test]
fn a_flipped_byte_in_the_optimizer_state_is_caught_and_the_resume_falls_back() {
    let dir = finished();
    assert_eq!(best_step(dir.path()), 30);
    flip_byte(&ck(dir.path(), "step-00000030/optimizer.safetensors"), 400);
    flip_byte(&ck(dir.path(), "best/optimizer.safetensors"), 400);
    let (_, info) = Trainer::build(config()).unwrap().resume(dir.path(), false).unwrap();
    assert_eq!((info.step, info.kind), (28, Kind::Step));
    assert_eq!(info.skipped.len(), 2, "{:?}", info.skipped);
    for (s, name) in info.skipped.iter().zip(["step-00000030", "best"]) {
        assert!(s.contains(name) && s.contains("optimizer.safetensors: checksum mismatch"), "{s}");
    }
    // Both are newer than step 28: set aside, not loadable any more.
    assert_eq!(info.invalidated.len(), 2, "{:?}", info.invalidated);
    assert!(!ck(dir.path(), "best").exists() && !ck(dir.path(), "step-00000030").exists());
    let stale: Vec<_> = fs::read_dir(ck(dir.path(), "stale")).unwrap().collect();
    assert_eq!(stale.len(), 2);
}

#[test]
fn a_best_checkpoint_is_a_fallback_when_no_newer_step_checkpoint_loads() {
    let dir = finished();
    let model = ck(dir.path(), "step-00000030/model.safetensors");
    let len = fs::metadata(&model).unwrap().len();
    fs::OpenOptions::new().write(true).open(&model).unwrap().set_len(len / 2).unwrap();
    let (_, info) = Trainer::build(config()).unwrap().resume(dir.path(), false).unwrap();
    assert_eq!((info.step, info.kind), (30, Kind::Best));
    assert!(
        info.skipped[0].contains("model.safetensors:") && info.skipped[0].contains("truncated"),
        "{:?}",
        info.skipped
    );
}

#[test]
fn state_json_out_of_range_is_refused_even_without_a_manifest() {
    let dir = finished();
    for name in ["step-00000030", "best", "step-00000028"] {
        fs::remove_file(ck(dir.path(), name).join(MANIFEST_FILE)).unwrap();
    }
    set_state_field(&ck(dir.path(), "step-00000030"), "step", 29.into());
    set_state_field(&ck(dir.path(), "best"), "step", 1_000_000.into());
    set_state_field(&ck(dir.path(), "step-00000028"), "data", serde_json::json!({"epoch": 0, "batch": 3}));
    let (_, info) = Trainer::build(config()).unwrap().resume(dir.path(), false).unwrap();
    assert_eq!(info.step, 21);
    let all = info.skipped.join("\n");
    assert!(all.contains("step 1000000 is beyond the run's 30 steps"), "{all}");
    assert!(all.contains("step 29 does not match the directory's step 30"), "{all}");
    assert!(all.contains("data position (epoch 0, batch 3) is not where step 28 leaves the data"), "{all}");
    assert!(!info.unverified, "step-21 has its manifest");
}

#[test]
fn an_old_checkpoint_without_a_manifest_or_new_fingerprint_fields_loads_with_a_note() {
    let dir = finished();
    let step30 = ck(dir.path(), "step-00000030");
    fs::remove_file(step30.join(MANIFEST_FILE)).unwrap();
    let path = step30.join("state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for k in ["model", "data", "seed", "train"] {
        v["fingerprint"].as_object_mut().unwrap().remove(k);
    }
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    // A changed seed is not refused when the checkpoint did not record it.
    let mut c = config();
    c.seed = 4;
    let (_, info) = Trainer::build(c).unwrap().resume(dir.path(), false).unwrap();
    assert_eq!((info.step, info.unverified), (30, true));
}

#[test]
fn changes_to_data_seed_batching_or_model_are_refused_with_the_diff() {
    let dir = finished();
    type Change = (&'static str, fn(&mut RunConfig));
    let changed: [Change; 6] = [
        ("seed: 3 → 4", |c| c.seed = 4),
        ("train.batch_size: 32 → 16", |c| c.train.batch_size = 16),
        ("train.grad_accum_steps: 2 → 1", |c| c.train.grad_accum_steps = 1),
        ("train.max_grad_norm: null → 1.0", |c| c.train.max_grad_norm = Some(1.0)),
        ("model.dropout: 0.1 → 0.2", |c| {
            *c = serde_saphyr::from_str(&CONFIG.replace("dropout: 0.1", "dropout: 0.2")).unwrap()
        }),
        ("data.val_fraction: 0.2 → 0.3", |c| {
            *c = serde_saphyr::from_str(&CONFIG.replace("{kind: digits}", "{kind: digits, val_fraction: 0.3}")).unwrap()
        }),
    ];
    for (want, change) in changed {
        let mut c = config();
        change(&mut c);
        let err = match Trainer::build(c.clone()).unwrap().resume(dir.path(), false) {
            Err(e @ TrainError::ConfigChanged(_)) => e.to_string(),
            Err(e) => panic!("{want}: {e}"),
            Ok(_) => panic!("{want}: accepted"),
        };
        assert!(err.contains(want), "{want}: {err}");
        let (_, info) = Trainer::build(c).unwrap().resume(dir.path(), true).unwrap();
        assert_eq!(info.accepted_changes.len(), 1, "{:?}", info.accepted_changes);
    }
    // What may change: logging, evaluation, checkpointing, the run's length.
    let mut c = config();
    c.train.eval_every = 5;
    c.train.checkpoint_every = 3;
    c.train.keep_checkpoints = 9;
    c.train.max_steps = Some(40);
    c.logging.every = 2;
    let (_, info) = Trainer::build(c).unwrap().resume(dir.path(), false).unwrap();
    assert!(info.accepted_changes.is_empty());
}

#[test]
fn a_run_that_never_wrote_a_checkpoint_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("checkpoints")).unwrap();
    let err = Trainer::build(config()).unwrap().resume(dir.path(), false).err().unwrap().to_string();
    assert!(err.contains("no checkpoint was written before this run stopped (checkpoint_every: 7: it stopped before step 7); start it again with `cli train <config>`"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_checkpoints_directory_that_is_a_link_is_refused_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("checkpoints")).unwrap();
    let mut t = Trainer::build(config()).unwrap().start(dir.path()).unwrap();
    let err = t.run(&mut Silent, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(err.contains("checkpoints"), "{err}");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written through the link");
}

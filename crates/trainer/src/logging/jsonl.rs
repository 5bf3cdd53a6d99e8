//! `metrics.jsonl`: one JSON object per scalar, appended to a file in the run directory.
//!
//! Each line is exactly
//! `{"step": 12, "tag": "train/loss", "value": 0.123, "wall_time": 1700000000.5}`:
//! keys in that order, `", "` and `": "` separators (as Python's `json.dumps`), `value` the
//! full `f64` (shortest text that reads back to the same `f64`). A NaN or infinite `value` (or
//! `wall_time`) is written as `null`, because JSON has no such numbers.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

use super::{BufferedFile, LogError};

/// The file name inside the run directory.
pub const FILE_NAME: &str = "metrics.jsonl";

/// Appends scalar lines to `<run_dir>/metrics.jsonl`.
pub struct JsonlWriter {
    pub(super) file: BufferedFile,
}

/// One line, in key order.
#[derive(Serialize)]
struct Line<'a> {
    step: u64,
    tag: &'a str,
    value: f64,
    wall_time: f64,
}

impl JsonlWriter {
    /// Opens `<run_dir>/metrics.jsonl` for appending (a resumed run continues the same file),
    /// creating the directory and file if missing. If the file ends in a partial line (a run
    /// killed mid-write), a newline is added first so that new lines stay whole. A symbolic link
    /// (or anything but a regular file) at that name is an error, never followed.
    pub fn open(run_dir: &Path) -> Result<Self, LogError> {
        fs::create_dir_all(run_dir).map_err(|source| LogError::CreateDir { path: run_dir.to_path_buf(), source })?;
        let path = run_dir.join(FILE_NAME);
        let open_error = |source| LogError::Open { path: path.clone(), source };
        let mut file = crate::safe_fs::open_append(&path).map_err(open_error)?;
        let torn = ends_without_newline(&mut file).map_err(open_error)?;
        let mut writer = Self { file: BufferedFile::new(path, file) };
        if torn {
            writer.file.write(b"\n")?;
        }
        Ok(writer)
    }

    /// The `metrics.jsonl` path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Appends one line. Flushes if the last flush is more than ~2 s ago.
    pub fn add_scalar(&mut self, tag: &str, step: u64, value: f64, wall_time: f64) -> Result<(), LogError> {
        let mut line = Vec::with_capacity(96);
        let mut ser = serde_json::Serializer::with_formatter(&mut line, SpacedFormatter);
        Line { step, tag, value, wall_time }
            .serialize(&mut ser)
            .map_err(|e| LogError::Write { path: self.path().to_path_buf(), source: e.into() })?;
        line.push(b'\n');
        self.file.write(&line)
    }

    /// Pushes buffered lines to the file.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.file.flush()
    }
}

/// Whether a non-empty file's last byte is not `\n`.
fn ends_without_newline(file: &mut fs::File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Compact JSON with `", "` between members and `": "` after keys.
struct SpacedFormatter;

impl serde_json::ser::Formatter for SpacedFormatter {
    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// Drops the lines of `<run_dir>/metrics.jsonl` logged at `step` or later (and any torn line),
/// atomically (a new file under a unique temporary name, then renamed; see
/// [`crate::safe_fs::write_atomic`]). A resume calls it so the file holds exactly one history. A
/// missing file is fine; a symbolic link at its name is an error, neither read nor written.
pub fn truncate_from(run_dir: &Path, step: u64) -> Result<(), LogError> {
    let path = run_dir.join(FILE_NAME);
    let text = match crate::safe_fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(LogError::Open { path, source }),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64))
                .is_some_and(|s| s < step)
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    crate::safe_fs::write_atomic(&path, kept.as_bytes()).map_err(|source| LogError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(dir: &Path) -> Vec<String> {
        fs::read_to_string(dir.join(FILE_NAME)).unwrap().lines().map(str::to_owned).collect()
    }

    #[test]
    fn line_format_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JsonlWriter::open(dir.path()).unwrap();
        w.add_scalar("train/loss", 7, 0.123, 1.7e9).unwrap();
        w.add_scalar("a\"b", 0, 0.1 + 0.2, 1.5).unwrap();
        w.flush().unwrap();
        assert_eq!(
            lines(dir.path()),
            [
                r#"{"step": 7, "tag": "train/loss", "value": 0.123, "wall_time": 1700000000.0}"#,
                r#"{"step": 0, "tag": "a\"b", "value": 0.30000000000000004, "wall_time": 1.5}"#,
            ]
        );
    }

    #[test]
    fn non_finite_values_are_null() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JsonlWriter::open(dir.path()).unwrap();
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            w.add_scalar("x", 1, v, 2.0).unwrap();
        }
        drop(w);
        for line in lines(dir.path()) {
            assert_eq!(line, r#"{"step": 1, "tag": "x", "value": null, "wall_time": 2.0}"#);
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert!(parsed["value"].is_null());
        }
    }

    #[test]
    fn values_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JsonlWriter::open(dir.path()).unwrap();
        let values = [1e-300, -2.5e300, std::f64::consts::PI, f64::MIN_POSITIVE, -0.0];
        for (step, v) in values.iter().enumerate() {
            w.add_scalar("v", step as u64, *v, 0.0).unwrap();
        }
        drop(w);
        for (line, v) in lines(dir.path()).iter().zip(values) {
            let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(parsed["value"].as_f64().unwrap().to_bits(), v.to_bits(), "{line}");
        }
    }

    #[test]
    fn reopening_appends_and_mends_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        JsonlWriter::open(dir.path()).unwrap().add_scalar("x", 1, 1.0, 1.0).unwrap();
        let mut w = JsonlWriter::open(dir.path()).unwrap();
        w.add_scalar("x", 2, 2.0, 2.0).unwrap();
        drop(w);
        assert_eq!(lines(dir.path()).len(), 2);

        let path = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(br#"{"step": 3, "ta"#);
        fs::write(&path, bytes).unwrap();
        JsonlWriter::open(dir.path()).unwrap().add_scalar("x", 4, 4.0, 4.0).unwrap();
        let all = lines(dir.path());
        assert_eq!(all.len(), 4);
        assert_eq!(all[3], r#"{"step": 4, "tag": "x", "value": 4.0, "wall_time": 4.0}"#);
    }

    #[test]
    fn unwritable_location_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not_a_dir");
        fs::write(&file, b"").unwrap();
        let err = JsonlWriter::open(&file).err().unwrap();
        assert!(matches!(err, LogError::CreateDir { .. }), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn write_failure_is_an_error() {
        let file = fs::OpenOptions::new().append(true).open("/dev/full").unwrap();
        let mut w = JsonlWriter { file: BufferedFile::new("/dev/full".into(), file) };
        w.add_scalar("x", 1, 1.0, 1.0).unwrap();
        let err = w.flush().err().unwrap();
        assert!(matches!(err, LogError::Write { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_metrics_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.jsonl");
        let line = "{\"step\": 9, \"tag\": \"x\", \"value\": 1.0, \"wall_time\": 1.0}\n";
        fs::write(&outside, line).unwrap();
        let run = dir.path().join("run");
        fs::create_dir(&run).unwrap();
        std::os::unix::fs::symlink(&outside, run.join(FILE_NAME)).unwrap();
        let err = JsonlWriter::open(&run).err().unwrap();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        let err = truncate_from(&run, 1).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert_eq!(fs::read_to_string(&outside).unwrap(), line);
        assert!(fs::symlink_metadata(run.join(FILE_NAME)).unwrap().file_type().is_symlink());
    }

    #[cfg(unix)]
    #[test]
    fn truncating_ignores_a_link_at_the_old_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "keep").unwrap();
        let run = dir.path().join("run");
        let mut w = JsonlWriter::open(&run).unwrap();
        w.add_scalar("x", 1, 1.0, 1.0).unwrap();
        w.add_scalar("x", 5, 5.0, 1.0).unwrap();
        drop(w);
        std::os::unix::fs::symlink(&outside, run.join(format!(".{FILE_NAME}.tmp"))).unwrap();
        truncate_from(&run, 3).unwrap();
        assert_eq!(fs::read_to_string(&outside).unwrap(), "keep");
        assert!(fs::symlink_metadata(run.join(FILE_NAME)).unwrap().is_file());
        assert_eq!(lines(&run).len(), 1);
    }

    #[test]
    fn truncate_from_keeps_earlier_steps_and_drops_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JsonlWriter::open(dir.path()).unwrap();
        for step in 0..10 {
            w.add_scalar("train/loss", step, step as f64, 1.0).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        let path = dir.path().join(FILE_NAME);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"step\": 3, \"tag\": \"x\", \"val");
        std::fs::write(&path, text).unwrap();
        truncate_from(dir.path(), 4).unwrap();
        let steps: Vec<u64> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, vec![0, 1, 2, 3]);
        truncate_from(&dir.path().join("missing"), 1).unwrap();
    }
}

//! `metrics.jsonl`: one JSON object per scalar, appended to a file in the run directory.
//!
//! Each line is exactly
//! `{"step": 12, "tag": "train/loss", "value": 0.123, "wall_time": 1700000000.5}`:
//! keys in that order, `", "` and `": "` separators (as Python's `json.dumps`), `value` the
//! full `f64` (shortest text that reads back to the same `f64`). A NaN or infinite `value` (or
//! `wall_time`) is written as `null`, because JSON has no such numbers.

use std::fs::{self, OpenOptions};
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
    /// killed mid-write), a newline is added first so that new lines stay whole.
    pub fn open(run_dir: &Path) -> Result<Self, LogError> {
        fs::create_dir_all(run_dir).map_err(|source| LogError::CreateDir { path: run_dir.to_path_buf(), source })?;
        let path = run_dir.join(FILE_NAME);
        let open_error = |source| LogError::Open { path: path.clone(), source };
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(open_error)?;
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
/// atomically (temporary file, then rename). A resume calls it so the file holds exactly one
/// history. A missing file is fine.
pub fn truncate_from(run_dir: &Path, step: u64) -> Result<(), LogError> {
    let path = run_dir.join(FILE_NAME);
    let text = match fs::read_to_string(&path) {
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
    let tmp = run_dir.join(format!(".{FILE_NAME}.tmp"));
    fs::write(&tmp, kept).map_err(|source| LogError::Write { path: tmp.clone(), source })?;
    fs::rename(&tmp, &path).map_err(|source| LogError::Write { path: path.clone(), source })
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
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.path().join(FILE_NAME)).unwrap();
        let mut w = JsonlWriter::open(dir.path()).unwrap();
        w.add_scalar("x", 1, 1.0, 1.0).unwrap();
        let err = w.flush().err().unwrap();
        assert!(matches!(err, LogError::Write { .. }), "{err}");
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

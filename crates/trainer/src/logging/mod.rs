//! Scalar logging: TensorBoard event files and metrics.jsonl.
//!
//! [`Scalars`] fans every scalar out to a TensorBoard [`EventWriter`] and a [`JsonlWriter`] in
//! the same run directory, with the same wall time; images (the confusion matrix,
//! [`confusion`]) go to the event file only. Both writers buffer; they flush when asked,
//! on drop, and while logging whenever [`AUTO_FLUSH_INTERVAL`] has passed since the last flush,
//! so a live run can be watched. I/O failures come back as [`LogError`], never as a panic.

pub mod confusion;
pub mod image;
pub mod jsonl;
pub mod tfevents;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use image::Image;
pub use jsonl::JsonlWriter;
pub use tfevents::EventWriter;

/// While logging, a writer flushes by itself once this much time has passed since its last flush.
pub const AUTO_FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// An I/O failure of a log writer, with the path it happened on.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log directory could not be created.
    #[error("cannot create log directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A log file could not be created or opened.
    #[error("cannot open log file {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing or flushing a log file failed.
    #[error("cannot write log file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An image could not be encoded as PNG.
    #[error("cannot encode {what} as PNG: {message}")]
    Image {
        /// The image.
        what: String,
        /// Why.
        message: String,
    },
}

/// Somewhere training scalars go (implemented by [`Scalars`]; tests may supply their own).
pub trait ScalarSink {
    /// Logs `value` for `tag` at `step`.
    fn scalar(&mut self, tag: &str, step: u64, value: f64) -> Result<(), LogError>;
    /// Logs `image` for `tag` at `step` (where images are kept: the TensorBoard event file).
    fn image(&mut self, tag: &str, step: u64, image: &Image) -> Result<(), LogError>;
    /// Marks a (re)start at `step`: readers drop points at `step` and later logged before it.
    fn session_start(&mut self, step: u64) -> Result<(), LogError>;
    /// Pushes buffered output to the files.
    fn flush(&mut self) -> Result<(), LogError>;
}

/// The run's scalar logs: a TensorBoard event file and/or `metrics.jsonl`, fed together.
pub struct Scalars {
    tensorboard: Option<EventWriter>,
    jsonl: Option<JsonlWriter>,
}

impl Scalars {
    /// Opens the enabled sinks in `run_dir` (created if missing): a new event file if
    /// `tensorboard`, and `metrics.jsonl` in append mode if `jsonl`.
    pub fn open(run_dir: &Path, tensorboard: bool, jsonl: bool) -> Result<Self, LogError> {
        let tensorboard = if tensorboard { Some(EventWriter::create(run_dir)?) } else { None };
        let jsonl = if jsonl { Some(JsonlWriter::open(run_dir)?) } else { None };
        Ok(Self { tensorboard, jsonl })
    }

    /// Flushes by itself whenever `interval` has passed since the last flush, instead of
    /// [`AUTO_FLUSH_INTERVAL`].
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        if let Some(w) = &mut self.tensorboard {
            w.file.interval = interval;
        }
        if let Some(w) = &mut self.jsonl {
            w.file.interval = interval;
        }
        self
    }

    /// The TensorBoard event file, if that sink is enabled.
    pub fn event_file(&self) -> Option<&Path> {
        self.tensorboard.as_ref().map(EventWriter::path)
    }

    /// Logs `value` for `tag` at `step` to every enabled sink, stamped with the current time.
    pub fn scalar(&mut self, tag: &str, step: u64, value: f64) -> Result<(), LogError> {
        let wall_time = wall_time_now();
        if let Some(w) = &mut self.tensorboard {
            w.add_scalar(tag, step, value, wall_time)?;
        }
        if let Some(w) = &mut self.jsonl {
            w.add_scalar(tag, step, value, wall_time)?;
        }
        Ok(())
    }

    /// Whether any sink keeps images (the TensorBoard event file is enabled): when not, there is
    /// no need to make them.
    pub fn keeps_images(&self) -> bool {
        self.tensorboard.is_some()
    }

    /// Logs `image` for `tag` at `step` to the TensorBoard event file, stamped with the current
    /// time. `metrics.jsonl` holds numbers only: it gets nothing.
    pub fn image(&mut self, tag: &str, step: u64, image: &Image) -> Result<(), LogError> {
        match &mut self.tensorboard {
            Some(w) => w.add_image(tag, step, image, wall_time_now()),
            None => Ok(()),
        }
    }

    /// Records a session start at `step` in the event file (call it on resume), so TensorBoard
    /// drops the stale points at `step` and later. `metrics.jsonl` has no such record: its
    /// readers take the last line for each (tag, step).
    pub fn session_start(&mut self, step: u64) -> Result<(), LogError> {
        match &mut self.tensorboard {
            Some(w) => w.add_session_start(step, wall_time_now()),
            None => Ok(()),
        }
    }

    /// Flushes every enabled sink.
    pub fn flush(&mut self) -> Result<(), LogError> {
        if let Some(w) = &mut self.tensorboard {
            w.flush()?;
        }
        if let Some(w) = &mut self.jsonl {
            w.flush()?;
        }
        Ok(())
    }
}

impl ScalarSink for Scalars {
    fn scalar(&mut self, tag: &str, step: u64, value: f64) -> Result<(), LogError> {
        Scalars::scalar(self, tag, step, value)
    }
    fn image(&mut self, tag: &str, step: u64, image: &Image) -> Result<(), LogError> {
        Scalars::image(self, tag, step, image)
    }
    fn session_start(&mut self, step: u64) -> Result<(), LogError> {
        Scalars::session_start(self, step)
    }
    fn flush(&mut self) -> Result<(), LogError> {
        Scalars::flush(self)
    }
}

/// Seconds since the Unix epoch (0.0 if the clock is set before it).
pub(crate) fn wall_time_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A buffered log file with the flush policy shared by both writers.
struct BufferedFile {
    path: PathBuf,
    out: BufWriter<File>,
    last_flush: Instant,
    interval: Duration,
}

impl BufferedFile {
    fn new(path: PathBuf, file: File) -> Self {
        Self { path, out: BufWriter::new(file), last_flush: Instant::now(), interval: AUTO_FLUSH_INTERVAL }
    }

    /// Appends `bytes`, flushing if the flush interval has passed since the last flush.
    fn write(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        self.out.write_all(bytes).map_err(|source| self.write_error(source))?;
        if self.last_flush.elapsed() > self.interval {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), LogError> {
        self.out.flush().map_err(|source| self.write_error(source))?;
        self.last_flush = Instant::now();
        Ok(())
    }

    fn write_error(&self, source: io::Error) -> LogError {
        LogError::Write { path: self.path.clone(), source }
    }
}

impl Drop for BufferedFile {
    fn drop(&mut self) {
        // Nobody can be told about a failure here; an explicit `flush` reports it.
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_fan_out_to_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Scalars::open(dir.path(), true, true).unwrap();
        s.scalar("train/loss", 3, 0.5).unwrap();
        s.session_start(3).unwrap();
        s.flush().unwrap();
        let event_file = s.event_file().unwrap().to_path_buf();
        let len = std::fs::metadata(&event_file).unwrap().len();
        assert!(len > 0);
        let image = Image { width: 1, height: 1, png: vec![7; 100] };
        assert!(s.keeps_images());
        s.image("val/confusion_matrix", 3, &image).unwrap();
        s.flush().unwrap();
        assert!(std::fs::metadata(&event_file).unwrap().len() > len + 100, "the image is in the event file");
        let lines = std::fs::read_to_string(dir.path().join(jsonl::FILE_NAME)).unwrap();
        assert_eq!(lines.lines().count(), 1, "and not in metrics.jsonl");
    }

    #[test]
    fn logging_flushes_by_itself_after_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let interval = Duration::from_millis(50);
        let mut s = Scalars::open(dir.path(), true, true).unwrap().with_flush_interval(interval);
        let jsonl = dir.path().join(jsonl::FILE_NAME);
        let event_file = s.event_file().unwrap().to_path_buf();
        let header_len = std::fs::metadata(&event_file).unwrap().len();
        s.scalar("x", 1, 1.0).unwrap();
        assert_eq!(std::fs::metadata(&jsonl).unwrap().len(), 0, "buffered");
        std::thread::sleep(interval + Duration::from_millis(20));
        s.scalar("x", 2, 2.0).unwrap();
        assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 2);
        assert!(std::fs::metadata(&event_file).unwrap().len() > header_len);
    }

    #[test]
    fn scalars_with_no_sink_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let mut s = Scalars::open(&run, false, false).unwrap();
        s.scalar("x", 0, 1.0).unwrap();
        s.image("m", 0, &Image { width: 1, height: 1, png: vec![1] }).unwrap();
        s.flush().unwrap();
        assert!(s.event_file().is_none());
        assert!(!s.keeps_images());
        assert!(!run.exists());
    }
}

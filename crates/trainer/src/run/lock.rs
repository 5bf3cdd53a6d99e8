//! [`RunLock`]: one process at a time in a run directory. `train` and `resume` hold an exclusive
//! advisory lock on `<run dir>/.lock` for as long as they live; the operating system releases it
//! when the process ends in any way (even `kill -9`), so a stale lock never blocks a later
//! resume. The holder writes its pid into the file, for the message a second process gets.
//!
//! The file is opened without following a symbolic link and is never deleted (deleting a lock
//! file opens a race between two processes that both think they created it).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = ".lock";

/// Why a run directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "run directory {} is in use by {} (a train or resume still running); wait for it or stop it",
        dir.display(),
        match pid { Some(p) => format!("process {p}"), None => "another process".to_owned() }
    )]
    InUse {
        /// The run directory.
        dir: PathBuf,
        /// The holder's pid, when it could be read.
        pid: Option<u32>,
    },
    /// The lock file could not be opened, locked or written.
    #[error("cannot lock run directory {}: {source}", dir.display())]
    Io {
        /// The run directory.
        dir: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// An exclusive lock on a run directory, held until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    /// The open, locked file: closing it releases the lock.
    _file: File,
}

impl RunLock {
    /// Locks `dir` (which must exist) for this process, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io_error = |source| LockError::Io { dir: dir.to_owned(), source };
        let mut file = open_no_follow(&dir.join(LOCK_FILE)).map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::InUse { dir: dir.to_owned(), pid: holder(&mut file) });
            }
            Err(TryLockError::Error(e)) => return Err(io_error(e)),
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush())
            .map_err(io_error)?;
        Ok(Self { _file: file })
    }
}

/// Whether a process holds the lock of run directory `dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// No process: the run is not training (or `dir` has no lock file).
    Nobody,
    /// A live process holds it (its pid, when written): the run is training.
    Process(Option<u32>),
}

/// Finds out, without blocking and without creating the lock file, whether another process
/// holds `dir`'s lock. (The probe takes the lock for an instant when it is free.)
pub fn probe(dir: &Path) -> io::Result<Holder> {
    let path = dir.join(LOCK_FILE);
    let mut options = OpenOptions::new();
    options.read(true);
    let mut file = match crate::safe_fs::no_follow(options).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Holder::Nobody),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(Holder::Nobody),
        Err(TryLockError::WouldBlock) => Ok(Holder::Process(holder(&mut file))),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The pid written by the holder (`None` when it has not written it yet, or it is unreadable).
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Opens (creating if missing, never truncating) `path` for reading and writing; a symbolic
/// link there is an error, not followed.
fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(io::Error::other("the lock file is a symbolic link"));
    }
    crate::safe_fs::no_follow(options).open(path).map_err(|e| {
        // ELOOP: the name is a symbolic link.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            io::Error::other(format!("{} is a symbolic link; remove it", path.display()))
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_pid_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let pid = std::process::id();
        assert_eq!(std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(), format!("{pid}\n"));
        // A second open file description of the same file conflicts even in this process.
        match RunLock::acquire(dir.path()) {
            Err(e @ LockError::InUse { pid: Some(p), .. }) => {
                assert_eq!(p, pid);
                assert!(e.to_string().contains(&format!("in use by process {pid}")), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(probe(dir.path()).unwrap(), Holder::Process(Some(pid)));
        drop(first);
        assert_eq!(probe(dir.path()).unwrap(), Holder::Nobody);
        let _again = RunLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn probing_a_directory_without_a_lock_file_creates_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe(dir.path()).unwrap(), Holder::Nobody);
        assert!(!dir.path().join(LOCK_FILE).exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_place_of_the_lock_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(LOCK_FILE)).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }
}

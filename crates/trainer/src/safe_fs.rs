//! Writing inside a run directory without following links: a symbolic link planted in a run
//! directory (under a file's name or a temporary name) is never written through.
//!
//! - [`write_atomic`]: a new file under a unique temporary name, created with `create_new`
//!   (`O_EXCL`, and `O_NOFOLLOW` on Unix), written, synced and renamed over the final name (a
//!   rename replaces a link at that name instead of following it), then the directory synced.
//! - [`create_new`]: a new file that must not exist yet (event files).
//! - [`open_append`]: an append-only file (`metrics.jsonl`) that must be a regular file, not a
//!   link; [`read_to_string`] reads such a file under the same rule.
//! - [`create_temporary_dir`]: a new directory under a unique temporary name (a checkpoint
//!   written whole, then renamed); [`ensure_dir`]: a directory that must not be a link.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Process-wide counter that, with the pid and the time, makes temporary names unique.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Options that never follow a link at the last component (on Unix).
pub(crate) fn no_follow(mut o: OpenOptions) -> OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o
}

/// An error for `path` that says it is a link when it is one, else `e` unchanged.
fn explain(path: &Path, e: io::Error) -> io::Error {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link: files in a run directory are never written or read through links (replace it with a regular file)",
                path.display()
            ),
        ),
        _ => e,
    }
}

/// Fails unless `file` (opened at `path`) is a regular file.
fn regular(path: &Path, file: File) -> io::Result<File> {
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())))
    }
}

/// A temporary name beside `path`, unique to this process, call and time:
/// `.tmp-<file name>-<pid>-<n>-<nanos>` (hidden, and `.tmp-` first, as the leftovers a
/// checkpoint directory's cleanup removes).
pub fn temporary_name(path: &Path) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".tmp-{name}-{}-{n}-{nanos:09}", std::process::id()))
}

/// Creates `path`, which must not exist (not even as a dangling link), for writing.
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    no_follow(o).open(path).map_err(|e| explain(path, e))
}

/// Replaces (or creates) `path` with `bytes` atomically: readers see the old file or the new
/// one, never a part; a link at `path` or at a temporary name is replaced or avoided, never
/// followed. The data and the directory entry are synced before it returns.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = loop {
        let tmp = temporary_name(path);
        match create_new(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let (tmp, mut file) = tmp;
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(path)
}

/// Syncs the directory holding `path`, so a rename into it survives a crash.
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates a new directory beside `path` under a unique temporary name (see
/// [`temporary_name`]) and returns it: it is new and empty (`create_dir` fails on anything
/// already there, a link included), so files created in it cannot be links planted earlier.
/// For a checkpoint written whole, then renamed to `path`.
pub fn create_temporary_dir(path: &Path) -> io::Result<PathBuf> {
    loop {
        let tmp = temporary_name(path);
        match std::fs::create_dir(&tmp) {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Creates the directory `path` (and its parents) if missing; fails if `path` is a symbolic
/// link or not a directory, so nothing is written through a planted link (e.g. `checkpoints`).
pub fn ensure_dir(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(explain(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a directory", path.display())),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(path),
        Err(e) => Err(e),
    }
}

/// Opens `path` to read and append, creating it if missing; a link or anything but a regular
/// file there is an error, never followed.
pub fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).append(true).create(true);
    let file = no_follow(o).open(path).map_err(|e| explain(path, e))?;
    regular(path, file)
}

/// Reads `path`, which must be a regular file, not a link.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut o = OpenOptions::new();
    o.read(true);
    let mut file = regular(path, no_follow(o).open(path).map_err(|e| explain(path, e))?)?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn atomic_writes_replace_a_link_and_leave_its_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let path = dir.path().join("config.yaml");
        symlink(&outside, &path).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary left: {names:?}");
    }

    #[test]
    fn temporary_dirs_are_new_and_directories_must_be_real() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("checkpoints/best");
        std::fs::create_dir(dir.path().join("checkpoints")).unwrap();
        let a = create_temporary_dir(&target).unwrap();
        let b = create_temporary_dir(&target).unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && a.parent() == target.parent());
        assert!(a.file_name().unwrap().to_str().unwrap().starts_with(".tmp-best-"));

        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let linked = dir.path().join("linked");
        symlink(&outside, &linked).unwrap();
        assert!(ensure_dir(&linked).unwrap_err().to_string().contains("is a symbolic link"));
        ensure_dir(&dir.path().join("new/deeper")).unwrap();
        assert!(dir.path().join("new/deeper").is_dir());
        ensure_dir(&dir.path().join("new")).unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        assert!(ensure_dir(&dir.path().join("file")).is_err());
    }

    #[test]
    fn temporary_names_are_unique_and_beside_the_file() {
        let p = Path::new("/r/metrics.jsonl");
        let (a, b) = (temporary_name(p), temporary_name(p));
        assert_ne!(a, b);
        assert_eq!(a.parent(), p.parent());
        assert!(a.file_name().unwrap().to_str().unwrap().starts_with(".tmp-metrics.jsonl-"));
    }

    #[test]
    fn links_are_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let link = dir.path().join("metrics.jsonl");
        symlink(&outside, &link).unwrap();
        for e in [open_append(&link).unwrap_err(), read_to_string(&link).unwrap_err(), create_new(&link).unwrap_err()] {
            assert!(e.to_string().contains("is a symbolic link") || e.kind() == io::ErrorKind::AlreadyExists, "{e}");
        }
        assert!(open_append(&link).unwrap_err().to_string().contains("is a symbolic link"));
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(create_new(&dangling).is_err());
        assert!(open_append(&dangling).is_err());
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert!(open_append(dir.path()).is_err(), "a directory is not a regular file");
    }
}

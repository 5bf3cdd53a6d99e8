//! Run directories: `<logging.dir>/<name>/version_<n>/`, a new version for every run, never
//! overwriting an old one.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Creates the next free `version_<n>` under `<root>/<name>` and returns it.
pub fn create_version_dir(root: &Path, name: &str) -> std::io::Result<PathBuf> {
    create_numbered_dir(&root.join(name), "version_")
}

/// Creates the next free `<prefix><n>` directory under `parent` (e.g. `compare-3`).
pub fn create_numbered_dir(parent: &Path, prefix: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(parent)?;
    let mut n = next_number(parent, prefix);
    loop {
        let dir = parent.join(format!("{prefix}{n}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// One more than the highest existing `<prefix><n>` (0 when none).
fn next_number(parent: &Path, prefix: &str) -> u64 {
    std::fs::read_dir(parent)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_prefix(prefix)?.parse::<u64>().ok())
                .map(|n| n + 1)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_and_never_reuse() {
        let root = tempfile::tempdir().unwrap();
        let a = create_version_dir(root.path(), "run").unwrap();
        let b = create_version_dir(root.path(), "run").unwrap();
        assert_eq!(a.file_name().unwrap(), "version_0");
        assert_eq!(b.file_name().unwrap(), "version_1");
        std::fs::remove_dir(&a).unwrap();
        assert_eq!(create_version_dir(root.path(), "run").unwrap().file_name().unwrap(), "version_2");
    }
}

//! Run directories: `<logging.dir>/<name>/version_<n>/`, a new version for every run, never
//! overwriting an old one.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use trainer::RunConfig;

use crate::commands::train::RUN_CONFIG;
use crate::error::CliError;

/// Creates the next free `version_<n>` under `<root>/<name>` and returns it.
pub fn create_version_dir(root: &Path, name: &str) -> std::io::Result<PathBuf> {
    create_numbered_dir(&root.join(name), "version_")
}

/// Creates the next free `<prefix><n>` directory under `parent` (e.g. `compare-3`); a leading
/// `~` of `parent` is `$HOME` (as `logging.dir` allows).
pub fn create_numbered_dir(parent: &Path, prefix: &str) -> std::io::Result<PathBuf> {
    let parent = trainer::paths::expand_home(parent).map_err(std::io::Error::other)?;
    let parent = parent.as_path();
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

/// Writes `config` as the run directory's `config.yaml` (what `resume` reads), atomically and
/// without following a link: a new file under a unique temporary name, renamed into place.
pub fn write_config(run_dir: &Path, config: &RunConfig) -> Result<(), CliError> {
    let text = serde_saphyr::to_string(config)
        .map_err(|e| CliError::Other(format!("cannot write the resolved config: {e}")))?;
    let header = "# The resolved run config (defaults filled in); `cli resume <this directory>` reads it.\n";
    let path = run_dir.join(RUN_CONFIG);
    trainer::safe_fs::write_atomic(&path, format!("{header}{text}").as_bytes())
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))
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

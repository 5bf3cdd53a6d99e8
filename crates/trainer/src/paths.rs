//! Names and paths a user gives that become directories: the rule every directory name obeys
//! (a run's `name`, a `compare` label) and the `~` of `logging.dir`.

use std::path::{Component, Path, PathBuf};

/// Why `name` cannot be one directory name inside its parent, or `None` when it can: it must be
/// non-empty (not only spaces), contain no `/` or `\` and no control character (newline, tab,
/// NUL, …), and be neither `.` nor `..`.
pub fn dir_name_problem(name: &str) -> Option<String> {
    let why = if name.trim().is_empty() {
        "is empty"
    } else if name.contains(['/', '\\']) {
        "contains `/` or `\\`"
    } else if name == "." || name == ".." {
        "is `.` or `..`"
    } else if name.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return None;
    };
    Some(format!(
        "must be a single directory name: not empty, not `.` or `..`, without `/`, `\\` or control characters ({name:?} {why})"
    ))
}

/// `dir` with a leading `~` or `~/` replaced by `$HOME`; other paths unchanged. A `~user`
/// form, or `~` while `HOME` is unset or empty, is an error saying so.
pub fn expand_home(dir: &Path) -> Result<PathBuf, String> {
    expand_home_with(dir, std::env::var_os("HOME").map(PathBuf::from))
}

/// [`expand_home`] with the home directory given.
fn expand_home_with(dir: &Path, home: Option<PathBuf>) -> Result<PathBuf, String> {
    let mut parts = dir.components();
    let first = match parts.next() {
        Some(Component::Normal(first)) => first,
        _ => return Ok(dir.to_path_buf()),
    };
    let Some(first) = first.to_str().filter(|f| f.starts_with('~')) else { return Ok(dir.to_path_buf()) };
    if first != "~" {
        return Err(format!(
            "`{first}` (another user's home) is not expanded: write the directory out in full, or use `~/…` for your own home"
        ));
    }
    match home.filter(|h| !h.as_os_str().is_empty()) {
        Some(home) => Ok(home.join(parts.as_path())),
        None => Err("`~` stands for $HOME, which is not set: set HOME or write the directory out in full".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_follow_one_rule() {
        for ok in ["run", "a b", "x-2", ".hidden", "...", "ünï"] {
            assert_eq!(dir_name_problem(ok), None, "{ok:?}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("  ", "is empty"),
            ("/abs/dir", "`/`"),
            ("../../x", "`/`"),
            ("./x", "`/`"),
            ("a\\b", "`/`"),
            (".", "`.` or `..`"),
            ("..", "`.` or `..`"),
            ("a\nb", "control"),
            ("a\tb", "control"),
            ("a\0b", "control"),
        ] {
            let problem = dir_name_problem(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(problem.contains(why), "{bad:?}: {problem}");
        }
    }

    #[test]
    fn a_leading_tilde_is_home() {
        let home = Some(PathBuf::from("/home/me"));
        let expand = |p: &str| expand_home_with(Path::new(p), home.clone());
        assert_eq!(expand("~/runs").unwrap(), PathBuf::from("/home/me/runs"));
        assert_eq!(expand("~").unwrap(), PathBuf::from("/home/me"));
        assert_eq!(expand("runs/~").unwrap(), PathBuf::from("runs/~"));
        assert_eq!(expand("/tmp/runs").unwrap(), PathBuf::from("/tmp/runs"));
        assert_eq!(expand("./~x").unwrap(), PathBuf::from("./~x"));
        assert!(expand("~bob/runs").unwrap_err().contains("another user's home"));
        for home in [None, Some(PathBuf::new())] {
            assert!(expand_home_with(Path::new("~/runs"), home).unwrap_err().contains("HOME, which is not set"));
        }
        assert_eq!(expand_home_with(Path::new("runs"), None).unwrap(), PathBuf::from("runs"));
    }
}

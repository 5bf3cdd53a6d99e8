//! How this program was invoked, for the commands it suggests (`continue with: … resume DIR`):
//! the program as typed (`cli`, `./target/release/cli`), or `cargo run -p cli --` (with the
//! profile's flag) when cargo ran it.

use std::ffi::OsString;
use std::path::Path;

/// The command line prefix that runs this program again, ready to paste into a shell.
pub fn program() -> String {
    let argv0 = std::env::args_os().next().unwrap_or_else(|| OsString::from("cli"));
    let cargo_run =
        std::env::var_os("CARGO").is_some() && std::env::var_os("CARGO_PKG_NAME").is_some_and(|p| p == "cli");
    program_from(&argv0, cargo_run)
}

/// [`program`] for `argv0`; `cargo_run`: cargo started the process (it sets `CARGO` and
/// `CARGO_PKG_NAME` for `cargo run`).
pub fn program_from(argv0: &std::ffi::OsStr, cargo_run: bool) -> String {
    let path = Path::new(argv0);
    let profile = path.parent().and_then(Path::file_name).and_then(|p| p.to_str());
    let in_target = path.parent().and_then(Path::parent).is_some();
    match (cargo_run && in_target, profile) {
        (true, Some("debug")) => "cargo run -p cli --".to_owned(),
        (true, Some("release")) => "cargo run --release -p cli --".to_owned(),
        (true, Some(p)) => format!("cargo run --profile {} -p cli --", shell_word(p)),
        _ => shell_word(&argv0.to_string_lossy()),
    }
}

/// `word` quoted for a POSIX shell when it needs it (single quotes).
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./+=:,@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_as_typed_or_cargo_run_with_its_profile() {
        let p = |a: &str, cargo| program_from(std::ffi::OsStr::new(a), cargo);
        assert_eq!(p("./target/release/cli", false), "./target/release/cli");
        assert_eq!(p("cli", false), "cli");
        assert_eq!(p("cli", true), "cli", "on the PATH: not a cargo target dir");
        assert_eq!(p("/w/target/debug/cli", true), "cargo run -p cli --");
        assert_eq!(p("/w/target/release/cli", true), "cargo run --release -p cli --");
        assert_eq!(p("/w/target/bench/cli", true), "cargo run --profile bench -p cli --");
        assert_eq!(p("/my tools/cli", false), "'/my tools/cli'");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("runs/a/version_0"), "runs/a/version_0");
        assert_eq!(shell_word("it's here"), r"'it'\''s here'");
        assert_eq!(shell_word(""), "''");
    }
}

//! One-screen config error reports: file:line:col, field path, message, hint, source line.

use std::fmt;

use super::{Pos, Source};

/// A config error placed in its file: what is wrong, in which field, on which line.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFileError {
    /// The config file (or `--set` for an override).
    pub file: String,
    /// Where in the file, when known.
    pub pos: Option<Pos>,
    /// The field path, e.g. `schedule.schedules[1].gamma`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// A suggestion (e.g. the closest valid key).
    pub hint: Option<String>,
    /// The offending source line, shown under the message.
    pub line_text: Option<String>,
}

impl ConfigFileError {
    /// An error placed in `source`.
    pub fn new(
        source: &Source,
        pos: Option<Pos>,
        field: Option<String>,
        message: String,
        hint: Option<String>,
    ) -> Self {
        let line_text = pos.and_then(|p| source.text.lines().nth(p.line.saturating_sub(1))).map(str::to_owned);
        Self { file: source.file.clone(), pos, field, message, hint, line_text }
    }

    /// An error about a whole file (e.g. it cannot be read).
    pub fn plain(file: &str, message: String) -> Self {
        Self { file: file.to_owned(), pos: None, field: None, message, hint: None, line_text: None }
    }
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(p) = self.pos {
            write!(f, ":{}:{}", p.line, p.col)?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        if let (Some(p), Some(line)) = (self.pos, &self.line_text) {
            let n = p.line.to_string();
            let pad = " ".repeat(n.len());
            let (line, caret) = crop(line, p.col.saturating_sub(1));
            let caret = " ".repeat(caret);
            write!(f, "\n {pad} |\n {n} | {line}\n {pad} | {caret}^")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigFileError {}

/// Longest source line quoted under an error, in characters.
const MAX_QUOTED: usize = 200;

/// `line` cut to at most [`MAX_QUOTED`] characters around character `col` (`…` marking the
/// cuts), and the caret's column in the cut line.
fn crop(line: &str, col: usize) -> (String, usize) {
    let len = line.chars().count();
    if len <= MAX_QUOTED {
        return (line.to_owned(), col.min(len));
    }
    let start = col.saturating_sub(MAX_QUOTED / 2).min(len - MAX_QUOTED);
    let body: String = line.chars().skip(start).take(MAX_QUOTED).collect();
    let (head, tail) = (if start > 0 { "…" } else { "" }, if start + MAX_QUOTED < len { "…" } else { "" });
    (format!("{head}{body}{tail}"), col - start + usize::from(start > 0))
}

/// `did you mean `x`?` for the valid name closest to `word`, when one is close enough.
pub fn did_you_mean(word: &str, valid: &[String]) -> Option<String> {
    valid
        .iter()
        .map(|v| (strsim::normalized_damerau_levenshtein(word, v), v))
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| format!("did you mean `{v}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = "x".repeat(50_000_000);
        let (cut, caret) = crop(&line, 1_000_000);
        assert_eq!(cut.chars().count(), MAX_QUOTED + 2);
        assert!(cut.starts_with('…') && cut.ends_with('…'));
        assert_eq!(caret, MAX_QUOTED / 2 + 1);
        assert_eq!(crop("short", 2), ("short".to_owned(), 2));
        let (cut, caret) = crop(&"y".repeat(300), 0);
        assert!(cut.ends_with('…') && !cut.starts_with('…'));
        assert_eq!(caret, 0);
    }
}

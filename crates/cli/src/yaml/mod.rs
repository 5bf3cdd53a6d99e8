//! Reading YAML config files with errors that name the field path and the file's line:column.

mod capped;
pub mod extends;
mod index;
mod plain;
pub(crate) use plain::translate;
mod report;
pub mod typing;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use capped::{MAX_CONFIG_BYTES, MAX_METRICS_BYTES, read_capped};
pub use index::{Pos, YamlIndex, parent};
pub use report::{ConfigFileError, did_you_mean};

/// A config file's text, kept to point errors at their place.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file name as the user gave it.
    pub file: String,
    /// The file's text.
    pub text: String,
    /// Field paths → positions.
    pub index: YamlIndex,
}

/// Budget for config files: far above any real config, far below an alias bomb.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 200_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_nodes = 100_000;
    budget.max_depth = 48;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = 16 * 1024 * 1024;
    budget.max_reader_input_bytes = Some(16 * 1024 * 1024);
    serde_saphyr::options! { budget: Some(budget) }
}

impl Source {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self, Box<ConfigFileError>> {
        let file = path.display().to_string();
        let text = read_capped(path, MAX_CONFIG_BYTES)
            .map_err(|e| Box::new(ConfigFileError::plain(&file, format!("cannot read the config file: {e}"))))?;
        Ok(Self::from_text(file, text))
    }

    /// Wraps text already in memory (`file` names it in errors).
    pub fn from_text(file: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let index = YamlIndex::build(&text);
        Self { file: file.into(), text, index }
    }

    /// Deserializes the whole document as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Box<ConfigFileError>> {
        serde_saphyr::from_str_with_options(&self.text, options()).map_err(|e| Box::new(self.yaml_error(&e)))
    }

    /// An error about field `path` (e.g. from validation), placed at the field, or at its
    /// nearest ancestor written in the file.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigFileError {
        let pos = self.index.locate(path);
        ConfigFileError::new(self, pos, Some(path.to_owned()), message.into(), None)
    }

    fn yaml_error(&self, err: &serde_saphyr::Error) -> ConfigFileError {
        let pos =
            err.location().filter(|l| l.line() > 0).map(|l| Pos { line: l.line() as usize, col: l.column() as usize });
        let raw = strip_trailing_location(&strip_location(&err.without_snippet().to_string()));
        let mut path = pos.and_then(|p| self.index.path_at(p)).map(str::to_owned);
        let message = plain::translate(&raw, path.as_deref().and_then(|p| self.index.locate(p)), pos);
        let mut at = pos;
        let mut hint = None;
        if let Some((word, expected)) = unknown_name(&message, "unknown field `") {
            // Inside tagged enums the deserializer points at an enclosing key: find the real one.
            let scope = path.as_deref().unwrap_or("");
            if let Some((p, where_)) =
                self.index.find_key_under(scope, word).or_else(|| self.index.find_key_under("", word))
            {
                path = Some(p.to_owned());
                at = Some(where_);
            }
            hint = did_you_mean(word, &expected);
        } else if let Some((word, expected)) = unknown_name(&message, "unknown variant `") {
            hint = did_you_mean(word, &expected);
        }
        ConfigFileError::new(self, at, path, message, hint)
    }
}

/// `"error: line 4 column 3: unknown field …"` → `"unknown field …"`.
fn strip_location(text: &str) -> String {
    let t = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
    if t.starts_with("line ")
        && let Some(i) = t.find(": ")
    {
        return t[i + 2..].to_owned();
    }
    t.to_owned()
}

/// `"… at line 8, column 3"` → `"…"` (the error is placed by its own position).
fn strip_trailing_location(text: &str) -> String {
    match text.rfind(" at line ") {
        Some(i)
            if text[i..].contains(", column ")
                && text[i..]
                    .split(", column ")
                    .nth(1)
                    .is_some_and(|c| c.trim().chars().all(|ch| ch.is_ascii_digit())) =>
        {
            text[..i].to_owned()
        }
        _ => text.to_owned(),
    }
}

/// For `unknown field `x`, expected one of a, b` returns (`x`, [a, b]).
fn unknown_name<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    let word = &rest[..end];
    let expected = rest[end..]
        .split_once("expected one of ")
        .or_else(|| rest[end..].split_once("expected "))
        .map(|(_, list)| list.split(", ").map(|s| s.trim_matches(|c| c == '`' || c == ' ').to_owned()).collect())
        .unwrap_or_default();
    Some((word, expected))
}

//! Loading a config file with `--set` overrides; every error names the field path and the
//! file's line:column (or the `--set` that caused it).

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::yaml::extends::{Layers, resolve};
use crate::yaml::{ConfigFileError, Source, typing};

/// One `--set KEY=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Dotted field path, e.g. `schedule.warmup.steps` or `optimizer.groups[0].lr`.
    pub key: String,
    /// The value as typed.
    pub raw: String,
    /// The value parsed as YAML.
    pub value: Value,
}

impl Override {
    /// Parses `KEY=VALUE` (VALUE is YAML: `0.1`, `cosine`, `[5, 10]`, `{steps: 5}`).
    pub fn parse(arg: &str) -> Result<Self, Box<ConfigFileError>> {
        let err = |m: String| Box::new(ConfigFileError::plain(&format!("--set {arg}"), m));
        let (key, raw) =
            arg.split_once('=').ok_or_else(|| err("expected KEY=VALUE, e.g. train.max_steps=200".into()))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(err(format!("`{key}` is not a field path (e.g. schedule.t_0)")));
        }
        let value: Value = if raw.trim().is_empty() {
            Value::Null
        } else {
            serde_saphyr::from_str(raw).map_err(|e| {
                let message = e.without_snippet().to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
                let plain = crate::yaml::translate(&message, None, None);
                err(if plain == message { format!("the value is not valid YAML: {message}") } else { plain })
            })?
        };
        Ok(Self { key: key.to_owned(), raw: raw.to_owned(), value })
    }

    /// `--set KEY=VALUE`, as the user typed it.
    pub fn label(&self) -> String {
        format!("--set {}={}", self.key, self.raw)
    }

    /// Whether the override sets `path` or a field around or inside it.
    pub fn touches(&self, path: &str) -> bool {
        let inside = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["));
        inside(path, &self.key) || inside(&self.key, path)
    }
}

/// A config read from a file, with overrides applied.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The typed config.
    pub value: T,
    /// The file, to place later (validation) errors.
    pub source: Source,
    /// The files it extends, and which one wrote each field.
    pub layers: Layers,
    /// The fields as written (the files merged, the overrides applied), before defaults.
    pub tree: Value,
    /// The overrides applied.
    pub overrides: Vec<Override>,
}

impl<T> Loaded<T> {
    /// Where field `path` was written: `file:line:col`, or the `--set` that set it.
    pub fn origin(&self, path: &str) -> String {
        match self.overrides.iter().rev().find(|o| o.touches(path)) {
            Some(o) => o.label(),
            None => self.layers.origin(path),
        }
    }

    /// Places an error about field `path`: at the `--set` that set it, else in the file.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigFileError {
        let message = message.into();
        match self.overrides.iter().rev().find(|o| o.touches(path)) {
            Some(o) => ConfigFileError { field: Some(path.to_owned()), ..ConfigFileError::plain(&o.label(), message) },
            None => self.layers.error_at(path, message),
        }
    }
}

/// Reads `path`, applies `sets`, and deserializes `T`.
pub fn load<T: DeserializeOwned + Serialize>(path: &Path, sets: &[String]) -> Result<Loaded<T>, Box<ConfigFileError>> {
    let source = Source::read(path)?;
    load_source(source, sets)
}

/// As [`load`], for a source already read.
///
/// The file and the `--set` values are typed the same way: the file is read into a tree (quoted
/// scalars stay text), the overrides are set in it, and the config is read from that tree written
/// back as YAML. A `kind:` that is not a name and a quoted number or boolean read into a number
/// or boolean field are refused, placed in the file or at the `--set` that wrote them. A file
/// with `extends:` is merged over its bases first ([`crate::yaml::extends`]); its errors are
/// placed in the file that wrote the value.
pub fn load_source<T: DeserializeOwned + Serialize>(
    source: Source,
    sets: &[String],
) -> Result<Loaded<T>, Box<ConfigFileError>> {
    let overrides = sets.iter().map(|s| Override::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let written: Value = source.parse()?;
    let (mut tree, layers) = resolve(&source, written)?;
    let file_only = Loaded { value: (), source, layers, tree: Value::Null, overrides: Vec::new() };
    check_tags::<T>(&tree, &file_only)?;
    // A file that extends none is read directly: its errors come with the deserializer's place.
    let alone =
        if file_only.layers.is_layered() { parse_tree::<T>(&tree, &file_only) } else { file_only.source.parse::<T>() };
    if let Ok(value) = &alone {
        check_quoted(&tree, value, &file_only)?;
    }
    let Loaded { source, layers, .. } = file_only;
    if overrides.is_empty() {
        return alone.map(|value| Loaded { value, source, layers, tree, overrides });
    }
    for o in &overrides {
        set_path(&mut tree, &o.key, o.value.clone()).map_err(|m| {
            Box::new(ConfigFileError { field: Some(o.key.clone()), ..ConfigFileError::plain(&o.label(), m) })
        })?;
    }
    let placed = Loaded { value: (), source, layers, tree: Value::Null, overrides };
    check_tags::<T>(&tree, &placed)?;
    match parse_tree::<T>(&tree, &placed) {
        Ok(value) => {
            check_quoted(&tree, &value, &placed)?;
            Ok(Loaded { value, source: placed.source, layers: placed.layers, tree, overrides: placed.overrides })
        }
        Err(merged) => {
            // The file alone may already be wrong: then its located error is the useful one.
            if let Err(e) = alone
                && !e.field.as_deref().is_some_and(|f| placed.overrides.iter().any(|o| o.touches(f)))
            {
                return Err(e);
            }
            Err(merged)
        }
    }
}

/// Reads `T` from `tree` written as YAML; an error is placed at the `--set` that touched its
/// field, else in the file.
fn parse_tree<T: DeserializeOwned>(tree: &Value, placed: &Loaded<()>) -> Result<T, Box<ConfigFileError>> {
    let mut label = placed.overrides.iter().map(Override::label).collect::<Vec<_>>().join(" ");
    if label.is_empty() {
        label.clone_from(&placed.source.file);
    }
    let text = serde_saphyr::to_string(tree).map_err(|e| Box::new(ConfigFileError::plain(&label, e.to_string())))?;
    Source::from_text(label.clone(), text).parse::<T>().map_err(|e| {
        Box::new(match &e.field {
            Some(field) => ConfigFileError { hint: e.hint.clone(), ..placed.error_at(field, e.message.clone()) },
            None => ConfigFileError::plain(&label, e.message.clone()),
        })
    })
}

/// Refuses a `kind:` that is not a name (serde would read the number `6` as its 7th variant).
fn check_tags<T: DeserializeOwned>(tree: &Value, placed: &Loaded<()>) -> Result<(), Box<ConfigFileError>> {
    let Some((path, text)) = typing::non_string_tags(tree).into_iter().next() else { return Ok(()) };
    // The same value as a name gives serde's own "unknown variant" with the list of kinds.
    let mut probe = tree.clone();
    let listed = set_path(&mut probe, &path, Value::String(text.clone()))
        .ok()
        .and_then(|()| serde_saphyr::to_string(&probe).ok())
        .and_then(|yaml| Source::from_text("", yaml).parse::<T>().err())
        .filter(|e| e.message.starts_with("unknown variant"));
    let (message, hint) = match listed {
        Some(e) => (e.message.clone(), e.hint.clone()),
        None => (format!("unknown variant `{text}`: `kind` takes a name (e.g. `kind: cosine`)"), None),
    };
    Err(Box::new(ConfigFileError { hint, ..placed.error_at(&path, message) }))
}

/// Refuses quoted text read into a number or boolean field (`max_steps: '100'`).
fn check_quoted<T: Serialize>(tree: &Value, value: &T, placed: &Loaded<()>) -> Result<(), Box<ConfigFileError>> {
    let Ok(typed) = serde_json::to_value(value) else { return Ok(()) };
    let Some((path, text)) = typing::quoted_scalars(tree, &typed).into_iter().next() else { return Ok(()) };
    Err(Box::new(placed.error_at(
        &path,
        format!("`\"{text}\"` is quoted, so it is text, not a number or boolean: write it without quotes"),
    )))
}

/// One segment of a field path.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Result<Vec<Segment<'_>>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| format!("unclosed `[` in `{path}`"))?;
            let i = r[..end].parse().map_err(|_| format!("`{}` is not an index in `{path}`", &r[..end]))?;
            out.push(Segment::Index(i));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("cannot read `{part}` in `{path}`"));
        }
    }
    Ok(out)
}

/// Sets `path` in `tree` to `value`, creating missing maps on the way.
pub fn set_path(tree: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let segs = segments(path)?;
    let mut node = tree;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        node = match seg {
            Segment::Key(k) => {
                if node.is_null() {
                    *node = Value::Object(Default::default());
                }
                let map =
                    node.as_object_mut().ok_or_else(|| format!("`{k}` is set inside a value that is not a map"))?;
                if last {
                    map.insert((*k).to_owned(), value);
                    return Ok(());
                }
                map.entry((*k).to_owned()).or_insert(Value::Null)
            }
            Segment::Index(idx) => {
                let list =
                    node.as_array_mut().ok_or_else(|| format!("[{idx}] is set inside a value that is not a list"))?;
                let len = list.len();
                let slot = list
                    .get_mut(*idx)
                    .ok_or_else(|| format!("index {idx} is out of range (the list has {len} items)"))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_path_creates_maps_and_indexes_lists() {
        let mut v = json!({"train": {"max_steps": 10}, "optimizer": {"groups": [{"name": "a"}]}});
        set_path(&mut v, "train.max_steps", json!(20)).unwrap();
        set_path(&mut v, "schedule.warmup.steps", json!(5)).unwrap();
        set_path(&mut v, "optimizer.groups[0].lr", json!(0.1)).unwrap();
        assert_eq!(v["train"]["max_steps"], 20);
        assert_eq!(v["schedule"]["warmup"]["steps"], 5);
        assert_eq!(v["optimizer"]["groups"][0]["lr"], 0.1);
        assert!(set_path(&mut v, "optimizer.groups[3].lr", json!(1)).unwrap_err().contains("out of range"));
        assert!(set_path(&mut v, "train.max_steps.x", json!(1)).unwrap_err().contains("not a map"));
    }

    #[test]
    fn override_parsing() {
        let o = Override::parse("schedule.milestones=[5, 10]").unwrap();
        assert_eq!(o.value, json!([5, 10]));
        assert!(o.touches("schedule.milestones[1]"));
        assert!(o.touches("schedule"));
        assert!(!o.touches("schedule.gamma"));
        assert!(Override::parse("noequals").is_err());
        assert!(Override::parse("a..b=1").is_err());
        assert_eq!(Override::parse("name=run").unwrap().value, json!("run"));
    }
}

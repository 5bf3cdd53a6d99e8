//! `extends: base.yaml`: a config written on top of another one.
//!
//! The base is merged under the file that names it: maps are merged key by key, lists and
//! scalars replaced, and a key set to `null` removed. The path is relative to the file that says
//! `extends:`; chains are followed (at most [`MAX_DEPTH`] files) and cycles refused. Every value
//! of the merged tree keeps the file that wrote it ([`Layers`]), so that an error about it names
//! that file and the line:column where the value is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{ConfigFileError, Pos, Source, parent};

/// Most files in one `extends:` chain (the config itself included).
pub const MAX_DEPTH: usize = 8;

/// The files a merged config was read from, and which one wrote each field.
#[derive(Debug, Clone)]
pub struct Layers {
    /// The files: the config itself first, then its base, its base's base…
    files: Vec<Source>,
    /// Field path → the file (index in `files`) that wrote it.
    origins: BTreeMap<String, usize>,
}

impl Layers {
    /// Whether the config extends another file.
    pub fn is_layered(&self) -> bool {
        self.files.len() > 1
    }

    /// The file that wrote `path` (or its nearest written ancestor); the config itself when no
    /// file wrote it.
    fn owner(&self, path: &str) -> Option<&Source> {
        let mut p = Some(path);
        while let Some(q) = p {
            if let Some(&i) = self.origins.get(q) {
                return self.files.get(i);
            }
            p = parent(q);
        }
        self.files.first()
    }

    /// An error about field `path`, placed in the file that wrote it.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigFileError {
        match self.owner(path) {
            Some(source) => source.error_at(path, message),
            None => ConfigFileError { field: Some(path.to_owned()), ..ConfigFileError::plain("", message.into()) },
        }
    }

    /// `file:line:col` where `path` is written (`file` alone when its place is not known).
    pub fn origin(&self, path: &str) -> String {
        match self.owner(path) {
            Some(source) => match source.index.locate(path) {
                Some(Pos { line, col }) => format!("{}:{line}:{col}", source.file),
                None => source.file.clone(),
            },
            None => String::new(),
        }
    }
}

/// Follows `extends:` from `source` (whose tree is `tree`): the merged tree, and where each of
/// its values was written.
pub fn resolve(source: &Source, tree: Value) -> Result<(Value, Layers), Box<ConfigFileError>> {
    let mut layers = Layers { files: Vec::new(), origins: BTreeMap::new() };
    let start = std::fs::canonicalize(&source.file).unwrap_or_else(|_| PathBuf::from(&source.file));
    let mut chain = vec![(start, source.file.clone())];
    let merged = layer(source.clone(), tree, &mut chain, &mut layers)?;
    Ok((merged, layers))
}

/// Reads one file of the chain: its base first (recursively), then its own values on top.
fn layer(
    source: Source,
    mut tree: Value,
    chain: &mut Vec<(PathBuf, String)>,
    layers: &mut Layers,
) -> Result<Value, Box<ConfigFileError>> {
    let index = layers.files.len();
    let named = tree.as_object_mut().and_then(|m| m.remove("extends"));
    layers.files.push(source);
    let Some(named) = named else {
        record(&tree, "", index, &mut layers.origins);
        return Ok(tree);
    };
    let here = &layers.files[index];
    let err = |m: String| Box::new(here.error_at("extends", m));
    let Value::String(name) = named else {
        return Err(err("`extends` takes the path of a config file (e.g. `extends: base.yaml`)".into()));
    };
    let path = Path::new(&here.file).parent().unwrap_or(Path::new("")).join(&name);
    let canonical = std::fs::canonicalize(&path).map_err(|e| err(format!("cannot read `{}`: {e}", path.display())))?;
    if let Some(i) = chain.iter().position(|(p, _)| *p == canonical) {
        let mut names: Vec<&str> = chain[i..].iter().map(|(_, f)| f.as_str()).collect();
        let shown = path.display().to_string();
        names.push(&shown);
        return Err(err(format!("`extends` makes a cycle: {}", names.join(" → "))));
    }
    if chain.len() >= MAX_DEPTH {
        return Err(err(format!("`extends` chains more than {MAX_DEPTH} files")));
    }
    let base = Source::read(&path)?;
    let base_tree: Value = base.parse()?;
    if !base_tree.is_object() {
        return Err(Box::new(ConfigFileError::plain(&base.file, "a base config must be a map of fields".into())));
    }
    chain.push((canonical, base.file.clone()));
    let mut merged = layer(base, base_tree, chain, layers)?;
    chain.pop();
    merge(&mut merged, tree, "", index, &mut layers.origins);
    Ok(merged)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Writes `child` over `base`: maps merged, anything else replaced, `null` removes the key.
fn merge(base: &mut Value, child: Value, path: &str, file: usize, origins: &mut BTreeMap<String, usize>) {
    let child_map = match child {
        Value::Object(map) if base.is_object() => map,
        other => {
            forget(origins, path);
            record(&other, path, file, origins);
            *base = other;
            return;
        }
    };
    let Some(base_map) = base.as_object_mut() else { return };
    for (key, value) in child_map {
        let p = join(path, &key);
        match (base_map.get_mut(&key), value) {
            (_, Value::Null) => {
                base_map.remove(&key);
                forget(origins, &p);
            }
            (Some(b @ Value::Object(_)), v @ Value::Object(_)) => {
                origins.insert(p.clone(), file);
                merge(b, v, &p, file, origins);
            }
            (_, v) => {
                forget(origins, &p);
                record(&v, &p, file, origins);
                base_map.insert(key, v);
            }
        }
    }
}

/// Records `file` as the origin of `path` and of every field under it.
fn record(value: &Value, path: &str, file: usize, origins: &mut BTreeMap<String, usize>) {
    if !path.is_empty() {
        origins.insert(path.to_owned(), file);
    }
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| record(v, &join(path, k), file, origins)),
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, v)| record(v, &format!("{path}[{i}]"), file, origins))
        }
        _ => {}
    }
}

/// Drops the origins of `path` and of every field under it.
fn forget(origins: &mut BTreeMap<String, usize>, path: &str) {
    origins.retain(|p, _| !(p == path || p.starts_with(&format!("{path}.")) || p.starts_with(&format!("{path}["))));
}

/// The run config's JSON Schema with `extends:` added: a file that extends another needs none
/// of the required sections (its base may write them).
pub fn add_to_schema(root: &mut serde_json::Map<String, Value>) {
    if let Some(Value::Object(props)) = root.get_mut("properties") {
        props.insert(
            "extends".into(),
            serde_json::json!({
                "description": "A config file (relative to this one) to merge this one over: maps are merged, lists and scalars replaced, `null` removes a key.",
                "type": "string"
            }),
        );
    }
    if let Some(required) = root.get_mut("required") {
        let required = required.take();
        root.insert("if".into(), serde_json::json!({"not": {"required": ["extends"]}}));
        root.insert("then".into(), serde_json::json!({ "required": required }));
        root.retain(|k, _| k != "required");
    }
}

/// The leaf fields of `tree` (scalars, empty maps and lists) with their values as YAML.
pub fn leaves(tree: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) if !map.is_empty() => map.iter().for_each(|(k, v)| walk(v, &join(path, k), out)),
            Value::Array(items) if !items.is_empty() => {
                items.iter().enumerate().for_each(|(i, v)| walk(v, &format!("{path}[{i}]"), out))
            }
            v => out.push((path.to_owned(), serde_json::to_string(v).unwrap_or_default())),
        }
    }
    let mut out = Vec::new();
    walk(tree, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn resolved(path: &Path) -> Result<(Value, Layers), Box<ConfigFileError>> {
        let source = Source::read(path)?;
        let tree = source.parse()?;
        resolve(&source, tree)
    }

    #[test]
    fn maps_merge_lists_replace_and_null_removes() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "base.yaml", "a: {x: 1, y: 2, l: [1, 2, 3]}\nb: 5\nc: {d: 1}\n");
        let child = write(dir.path(), "child.yaml", "extends: base.yaml\na:\n  y: 3\n  l: [9]\nc: null\n");
        let (tree, layers) = resolved(&child).unwrap();
        assert_eq!(tree, json!({"a": {"x": 1, "y": 3, "l": [9]}, "b": 5}));
        let base = dir.path().join("base.yaml").display().to_string();
        let child = child.display().to_string();
        assert_eq!(layers.origin("a.x"), format!("{base}:1:5"));
        assert_eq!(layers.origin("a.y"), format!("{child}:3:3"));
        assert_eq!(layers.origin("a.l[0]"), format!("{child}:4:7"));
        assert_eq!(layers.origin("b"), format!("{base}:2:1"));
    }

    #[test]
    fn chains_follow_relative_paths_and_cycles_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        write(dir.path(), "sub/base.yaml", "extends: ../root.yaml\nb: 2\n");
        write(dir.path(), "root.yaml", "a: 1\nb: 1\n");
        let child = write(dir.path(), "child.yaml", "extends: sub/base.yaml\nc: 3\n");
        assert_eq!(resolved(&child).unwrap().0, json!({"a": 1, "b": 2, "c": 3}));
        write(dir.path(), "root.yaml", "extends: child.yaml\n");
        let e = resolved(&child).unwrap_err();
        assert!(e.message.contains("cycle") && e.message.contains("child.yaml"), "{e}");
        assert!(e.file.ends_with("root.yaml") && e.pos == Some(Pos { line: 1, col: 1 }), "{e}");
    }

    #[test]
    fn chains_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_DEPTH {
            write(dir.path(), &format!("f{i}.yaml"), &format!("extends: f{}.yaml\nk{i}: {i}\n", i + 1));
        }
        write(dir.path(), &format!("f{MAX_DEPTH}.yaml"), "last: 1\n");
        let e = resolved(&dir.path().join("f0.yaml")).unwrap_err();
        assert!(e.message.contains(&format!("more than {MAX_DEPTH} files")), "{e}");
        let (tree, _) = resolved(&dir.path().join("f1.yaml")).unwrap();
        assert_eq!(tree["last"], 1);
        assert_eq!(tree["k1"], 1);
    }
}

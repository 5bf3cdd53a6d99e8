//! One typing for config files and `--set` values: what the YAML wrote (the untyped tree, quoted
//! scalars kept as strings) against what the config read (the typed config serialized back).
//!
//! Two things the deserializer lets through are refused here:
//! - a `kind:` (or a mode) that is not a name (`kind: 6` would pick serde's 7th variant);
//! - a quoted value read as a number or boolean (`max_steps: '100'`): quotes make text.

use serde_json::Value;

/// `path` joined with a key.
fn key_path(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Keys whose values are always names of an enum variant in a config: `kind` (the tag serde
/// would read a number for as a variant index) and the modes and options (inside a tagged
/// section serde would blame a neighbouring field for a number).
const NAME_KEYS: &[&str] = &[
    "kind",
    "mode",
    "threshold_mode",
    "anneal_strategy",
    "warmup_type",
    "decay_type",
    "activation",
    "action",
    "pooling",
    "hidden_act",
    "format",
    "task",
];

/// The fields of `tree` that take a name ([`NAME_KEYS`]) whose value is not a string:
/// `(path, value as written)`.
pub fn non_string_tags(tree: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk_tags(tree, "", &mut out);
    out
}

fn walk_tags(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = key_path(path, k);
                if NAME_KEYS.contains(&k.as_str()) && !child.is_string() && !child.is_object() && !child.is_array() {
                    out.push((p.clone(), scalar_text(child)));
                }
                walk_tags(child, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk_tags(child, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// A value as it reads in an error message.
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// The fields written as quoted text in `tree` that `typed` (the config read from it) holds as
/// a number or a boolean: `(path, text)`.
pub fn quoted_scalars(tree: &Value, typed: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk_quoted(tree, typed, "", &mut out);
    out
}

fn walk_quoted(tree: &Value, typed: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match (tree, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, child) in a {
                if let Some(t) = b.get(k) {
                    walk_quoted(child, t, &key_path(path, k), out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk_quoted(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (Value::String(s), Value::Number(_) | Value::Bool(_)) => out.push((path.to_owned(), s.clone())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_that_are_not_names_are_found_at_any_depth() {
        let tree = json!({"schedule": {"kind": 6, "schedules": [{"kind": "constant"}, {"kind": true}]}, "model": {"kind": "mlp"}});
        assert_eq!(
            non_string_tags(&tree),
            vec![
                ("schedule.kind".to_owned(), "6".to_owned()),
                ("schedule.schedules[1].kind".to_owned(), "true".to_owned())
            ]
        );
    }

    #[test]
    fn quoted_numbers_read_as_numbers_are_found() {
        let tree = json!({"train": {"max_steps": "100", "x": [1, "2"]}, "name": "7"});
        let typed = json!({"train": {"max_steps": 100, "x": [1, 2], "batch_size": 32}, "name": "7"});
        assert_eq!(
            quoted_scalars(&tree, &typed),
            vec![("train.max_steps".to_owned(), "100".to_owned()), ("train.x[1]".to_owned(), "2".to_owned())]
        );
    }
}

//! Records from data files: JSON (an array of objects), JSONL (one object per line) or CSV (a
//! header row, then one record per line). Each record is a map from field name to value, with
//! its place in the file (`element 7`, `line 12`) for error messages.

use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// A data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON array of objects.
    Json,
    /// One JSON object per line (blank lines ignored).
    Jsonl,
    /// Comma-separated values with a header row naming the fields (RFC 4180 quoting).
    Csv,
}

impl Format {
    /// The format given in the config, else the one the file name's extension says
    /// (`.json`, `.jsonl`/`.ndjson`, `.csv`).
    pub fn of(path: &Path, given: Option<Format>) -> Result<Format, String> {
        if let Some(f) = given {
            return Ok(f);
        }
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("json") => Ok(Format::Json),
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            Some("csv") => Ok(Format::Csv),
            _ => Err(format!(
                "cannot tell the format of {} from its extension: set data.format to json, jsonl or csv",
                path.display()
            )),
        }
    }
}

/// One record of a data file.
#[derive(Debug, Clone)]
pub struct Record {
    /// Where it is, for messages: `element 7` (JSON), `line 12` (JSONL, CSV).
    pub place: String,
    /// Field name → value (CSV values are strings).
    pub fields: Map<String, Value>,
}

/// Reads every record of `path` (none from an empty file). The error names the file and the
/// row.
pub fn read(path: &Path, format: Format) -> Result<Vec<Record>, String> {
    let text = crate::data::capped::read_text(path)?;
    if text.trim().is_empty() {
        return Ok(Vec::new()); // an empty file holds no records, in every format
    }
    let at = |place: &str, what: String| format!("{}, {place}: {what}", path.display());
    match format {
        Format::Json => {
            let value: Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
            let Value::Array(items) = value else {
                return Err(format!("{}: expected a JSON array of objects, got {}", path.display(), kind_of(&value)));
            };
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let place = format!("element {}", i + 1);
                    match v {
                        Value::Object(fields) => Ok(Record { place, fields }),
                        other => Err(at(&place, format!("expected an object, got {}", kind_of(&other)))),
                    }
                })
                .collect()
        }
        Format::Jsonl => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                let place = format!("line {}", i + 1);
                match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(fields)) => Ok(Record { place, fields }),
                    Ok(other) => Err(at(&place, format!("expected a JSON object, got {}", kind_of(&other)))),
                    Err(e) => Err(at(&place, format!("not valid JSON: {e}"))),
                }
            })
            .collect(),
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
            let header: Vec<String> = reader
                .headers()
                .map_err(|e| format!("{}: cannot read the CSV header: {e}", path.display()))?
                .iter()
                .map(|h| h.trim().to_owned())
                .collect();
            let mut out = Vec::new();
            for record in reader.records() {
                let record = record.map_err(|e| {
                    let line = e.position().map_or_else(String::new, |p| format!("line {}: ", p.line()));
                    format!("{}: {line}{}", path.display(), csv_error_text(&e))
                })?;
                let place = format!("line {}", record.position().map_or(0, |p| p.line()));
                let fields = header.iter().cloned().zip(record.iter().map(|v| Value::String(v.to_owned()))).collect();
                out.push(Record { place, fields });
            }
            Ok(out)
        }
    }
}

fn csv_error_text(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields, but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
        _ => e.to_string(),
    }
}

/// `a string`, `a number`… for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether a field is absent, null, or an empty (or blank) string.
pub fn is_missing(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

/// A number from a JSON number or a numeric string (CSV).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One file path or several (`path: a.json` or `path: [a.json, b.json]`); relative paths are
/// relative to the working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathList(pub Vec<String>);

impl PathList {
    /// The paths.
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.0.iter().map(PathBuf::from)
    }

    /// `a.json` or `a.json, b.json` for messages.
    pub fn describe(&self) -> String {
        self.0.join(", ")
    }
}

impl Serialize for PathList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PathList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file path or a list of file paths")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PathList, E> {
                Ok(PathList(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PathList, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element::<String>()? {
                    out.push(p);
                }
                Ok(PathList(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for PathList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PathList".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A file path, or a list of file paths (read in order).",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1}
            ]
        })
    }
}

/// Checks a path list: non-empty, no empty path.
pub(crate) fn check_paths(out: &mut Vec<crate::FieldIssue>, path: &str, list: &PathList) {
    if list.0.is_empty() {
        out.push(crate::FieldIssue::new(path, "needs at least one file"));
    }
    if let Some(i) = list.0.iter().position(|p| p.trim().is_empty()) {
        let at = if list.0.len() == 1 { path.to_owned() } else { format!("{path}[{i}]") };
        out.push(crate::FieldIssue::new(at, "must not be empty"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_the_three_formats_with_places() {
        let dir = tempfile::tempdir().unwrap();
        let json = write(dir.path(), "a.json", r#"[{"text": "hi", "class": 1}, {"text": "", "class": null}]"#);
        let rows = read(&json, Format::of(&json, None).unwrap()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].place, "element 2");
        assert!(is_missing(rows[1].fields.get("text")) && is_missing(rows[1].fields.get("class")));
        let jsonl = write(dir.path(), "a.jsonl", "{\"x\": 1}\n\n{\"x\": 2}\n");
        let rows = read(&jsonl, Format::Jsonl).unwrap();
        assert_eq!(rows.iter().map(|r| r.place.as_str()).collect::<Vec<_>>(), ["line 1", "line 3"]);
        let csv = write(dir.path(), "a.csv", "text,label\n\"a, quoted\nline\",1\nplain,0\n");
        let rows = read(&csv, Format::Csv).unwrap();
        assert_eq!(rows[0].fields["text"], "a, quoted\nline");
        assert_eq!(rows[1].place, "line 4");
        assert_eq!(number(&rows[1].fields["label"]), Some(0.0));
    }

    #[test]
    fn malformed_files_name_the_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.jsonl", "{\"x\": 1}\n{\"x\": \n");
        let e = read(&p, Format::Jsonl).unwrap_err();
        assert!(e.contains("bad.jsonl, line 2: not valid JSON"), "{e}");
        let p = write(dir.path(), "bad.json", r#"[{"x": 1}, 3]"#);
        assert!(read(&p, Format::Json).unwrap_err().contains("bad.json, element 2: expected an object, got a number"));
        let p = write(dir.path(), "obj.json", r#"{"x": 1}"#);
        assert!(read(&p, Format::Json).unwrap_err().contains("expected a JSON array of objects"));
        let p = write(dir.path(), "bad.csv", "a,b\n1,2\n1,2,3\n");
        let e = read(&p, Format::Csv).unwrap_err();
        assert!(e.contains("bad.csv: line 3: 3 fields, but the header has 2"), "{e}");
        assert!(read(&dir.path().join("none.csv"), Format::Csv).unwrap_err().contains("cannot read"));
        assert!(Format::of(Path::new("x.txt"), None).unwrap_err().contains("data.format"));
    }

    #[test]
    fn path_lists_take_one_path_or_several() {
        let one: PathList = serde_json::from_str(r#""a.json""#).unwrap();
        let two: PathList = serde_json::from_str(r#"["a.json", "b.json"]"#).unwrap();
        assert_eq!((one.0.len(), two.0.len()), (1, 2));
        assert_eq!(serde_json::to_string(&one).unwrap(), r#""a.json""#);
        assert_eq!(serde_json::to_string(&two).unwrap(), r#"["a.json","b.json"]"#);
        let e = serde_json::from_str::<PathList>("3").unwrap_err().to_string();
        assert!(e.contains("a file path or a list of file paths"), "{e}");
    }
}

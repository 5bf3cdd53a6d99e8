//! A map from field paths (`schedule.schedules[1].gamma`) to their line:column in a YAML file,
//! built from the parser's event stream. Used to point every config error at its place.

use serde_saphyr::granit_parser::{Event, Parser};

/// A 1-based line and column in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

/// One mapping entry or sequence item.
#[derive(Debug, Clone)]
struct Entry {
    path: String,
    /// Where the key is (mapping entries) or the item starts (sequence items).
    at: Pos,
    /// Where the value starts.
    value: Pos,
}

/// Field paths of a YAML document with their positions.
#[derive(Debug, Clone, Default)]
pub struct YamlIndex {
    entries: Vec<Entry>,
}

enum Frame {
    Map { path: String, key: Option<(String, Pos)> },
    Seq { path: String, next: usize },
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

impl YamlIndex {
    /// Indexes `src`, best effort: a syntax error ends the walk (the deserializer reports it).
    pub fn build(src: &str) -> Self {
        let mut entries = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(src) {
            let Ok((event, span)) = item else { break };
            let pos = Pos { line: span.start.line(), col: span.start.col() + 1 };
            let is_start = matches!(event, Event::MappingStart(..) | Event::SequenceStart(..));
            let is_node = is_start || matches!(event, Event::Scalar(..) | Event::Alias(..));
            if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
                continue;
            }
            if !is_node {
                continue;
            }
            // A scalar in key position is a key, not a node to record.
            if let (Some(Frame::Map { key: key @ None, .. }), Event::Scalar(text, ..)) = (stack.last_mut(), &event) {
                *key = Some((text.to_string(), pos));
                continue;
            }
            let (path, at) = match stack.last_mut() {
                None => (String::new(), pos),
                Some(Frame::Map { path, key }) => match key.take() {
                    Some((k, kpos)) => (join(path, &k), kpos),
                    None => (join(path, "?"), pos), // complex (non-scalar) key: not addressable
                },
                Some(Frame::Seq { path, next }) => {
                    *next += 1;
                    (format!("{path}[{}]", *next - 1), pos)
                }
            };
            if !path.is_empty() {
                entries.push(Entry { path: path.clone(), at, value: pos });
            }
            match event {
                Event::MappingStart(..) => stack.push(Frame::Map { path, key: None }),
                Event::SequenceStart(..) => stack.push(Frame::Seq { path, next: 0 }),
                _ => {}
            }
        }
        Self { entries }
    }

    /// Where `path` is written (its key), or its nearest written ancestor.
    pub fn locate(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(e) = self.entries.iter().find(|e| e.path == p) {
                return Some(e.at);
            }
            p = parent(p)?;
        }
    }

    /// The path of the entry whose key or value starts at `pos`.
    pub fn path_at(&self, pos: Pos) -> Option<&str> {
        self.entries.iter().rev().find(|e| e.at == pos || e.value == pos).map(|e| e.path.as_str())
    }

    /// The first key named `key` at or below `prefix` (`prefix` itself included), with its
    /// position: finds a misspelt key that the deserializer reported at an enclosing map.
    pub fn find_key_under(&self, prefix: &str, key: &str) -> Option<(&str, Pos)> {
        self.entries
            .iter()
            .filter(|e| {
                prefix.is_empty()
                    || e.path == prefix
                    || e.path.starts_with(&format!("{prefix}."))
                    || e.path.starts_with(&format!("{prefix}["))
            })
            .find(|e| last_segment(&e.path) == key)
            .map(|e| (e.path.as_str(), e.at))
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → None.
pub fn parent(path: &str) -> Option<&str> {
    if path.ends_with(']') {
        return path.rfind('[').map(|i| &path[..i]);
    }
    path.rfind('.').map(|i| &path[..i])
}

/// The last key of a path (`a.b[2].c` → `c`).
fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "name: run\noptimizer:\n  lr: 0.1\n  groups:\n    - {name: head, prefix: \"fc.\"}\nschedule:\n  kind: sequential\n  milestones: [5]\n  schedules:\n    - kind: constant\n    - kind: step\n      step_sze: 4\n";

    #[test]
    fn paths_map_to_their_keys() {
        let idx = YamlIndex::build(SRC);
        assert_eq!(idx.locate("optimizer.lr"), Some(Pos { line: 3, col: 3 }));
        assert_eq!(idx.locate("optimizer.groups[0].prefix"), Some(Pos { line: 5, col: 20 }));
        assert_eq!(idx.locate("schedule.schedules[1].step_sze"), Some(Pos { line: 12, col: 7 }));
        assert_eq!(idx.locate("schedule.milestones[0]"), Some(Pos { line: 8, col: 16 }));
        // Absent field: its nearest ancestor.
        assert_eq!(idx.locate("schedule.schedules[1].gamma"), Some(Pos { line: 11, col: 7 }));
        assert_eq!(idx.locate("train.max_steps"), None);
    }

    #[test]
    fn positions_map_back_to_paths() {
        let idx = YamlIndex::build(SRC);
        assert_eq!(idx.path_at(Pos { line: 3, col: 3 }), Some("optimizer.lr"));
        assert_eq!(idx.path_at(Pos { line: 3, col: 7 }), Some("optimizer.lr"));
        assert_eq!(
            idx.find_key_under("schedule", "step_sze"),
            Some(("schedule.schedules[1].step_sze", Pos { line: 12, col: 7 }))
        );
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a"), None);
    }
}

//! The names classes go by in per-class tags (`val/precision/<class>`): the data's class names
//! made safe for tags, else the class indices.
//!
//! A name keeps its ASCII letters, digits, `_`, `.` and `-`; every other character becomes `_`
//! (`"very good"` → `very_good`, `"très"` → `tr_s`). If the data names no classes, names a
//! different number of classes than the model predicts, or two names come out the same (or
//! one empty), every class goes by its index (`0`, `1`, …) instead: a tag always names one
//! class.

/// The tag names of `k` classes named `names` (in class-index order), by the module's rule.
pub(super) fn class_tags(names: &[String], k: usize) -> Vec<String> {
    let indices = || (0..k).map(|c| c.to_string()).collect();
    if names.len() != k {
        return indices();
    }
    let tags: Vec<String> = names.iter().map(|n| sanitize(n)).collect();
    let mut sorted: Vec<&String> = tags.iter().collect();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != tags.len() || tags.iter().any(String::is_empty) { indices() } else { tags }
}

/// `name` with every character but ASCII letters, digits, `_`, `.` and `-` made `_`.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn names_are_kept_with_unsafe_characters_replaced() {
        assert_eq!(
            class_tags(&names(&["setosa", "very good", "très/bien", "a.b-c_D9"]), 4),
            ["setosa", "very_good", "tr_s_bien", "a.b-c_D9"]
        );
    }

    #[test]
    fn indices_when_names_are_missing_miscounted_clash_or_empty() {
        assert_eq!(class_tags(&[], 3), ["0", "1", "2"]);
        assert_eq!(class_tags(&names(&["a", "b"]), 3), ["0", "1", "2"]);
        assert_eq!(class_tags(&names(&["a b", "a_b", "c"]), 3), ["0", "1", "2"], "both sanitise to a_b");
        assert_eq!(class_tags(&names(&["", "x"]), 2), ["0", "1"]);
    }
}

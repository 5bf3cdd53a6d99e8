//! The YAML reader's messages in plain words: its budget breaches (`budget breached: Events {
//! events: 200001 }`), duplicate keys (`set DuplicateKeyPolicy in Options`) and non-finite
//! numbers (`rejected by the configured policy`) name what the user wrote, not the library's types.

use super::Pos;

/// `message` with library wording replaced; `first` is where the field the error is about is
/// first written (for duplicate keys), `at` where the error is.
pub(crate) fn translate(message: &str, first: Option<Pos>, at: Option<Pos>) -> String {
    if let Some(rest) = message.split_once("budget breached: ").map(|(_, r)| r) {
        return budget(rest);
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest).trim();
        return match first.filter(|f| Some(*f) != at) {
            Some(f) => format!("duplicate key `{key}` (first at line {})", f.line),
            None => format!("duplicate key `{key}`"),
        };
    }
    if let Some(rest) = message.strip_prefix("non-finite float ") {
        let value = rest.split(" rejected by the configured policy").next().unwrap_or(rest);
        return format!("{value} is not a finite number: NaN and infinities are not accepted");
    }
    message.to_owned()
}

/// `Events { events: 200001 }` → what was exceeded, in words.
fn budget(breach: &str) -> String {
    let name = breach.split([' ', '{']).next().unwrap_or(breach);
    let count: String = breach.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    let what = match name {
        "Events" => "parser events (the file is too large)",
        "Nodes" => "values (the file is too large)",
        "Depth" | "InclusionDepth" => "levels of nesting",
        "Aliases" | "AliasAnchorRatio" => "alias uses (`*name`)",
        "Anchors" => "anchors (`&name`)",
        "Documents" => "YAML documents (a config is one document)",
        "ScalarBytes" | "InputBytes" | "CommentBytes" => "bytes (the file is too large)",
        "MergeKeys" => "merge keys (`<<`)",
        _ => "YAML elements",
    };
    if count.is_empty() {
        format!("the file exceeds the config reader's budget: too many {what}")
    } else {
        format!("the file exceeds the config reader's budget: {count} {what}, more than a config file may hold")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_wording_becomes_plain() {
        assert_eq!(
            translate("budget breached: Events { events: 200001 }", None, None),
            "the file exceeds the config reader's budget: 200001 parser events (the file is too large), more than a config file may hold"
        );
        assert!(translate("budget breached: Depth { depth: 49 }", None, None).contains("49 levels of nesting"));
        let dup = "duplicate mapping key: seed, set DuplicateKeyPolicy in Options if acceptable";
        let (first, at) = (Some(Pos { line: 2, col: 1 }), Some(Pos { line: 3, col: 1 }));
        assert_eq!(translate(dup, first, at), "duplicate key `seed` (first at line 2)");
        assert_eq!(translate("unknown field `x`", None, None), "unknown field `x`");
        assert_eq!(
            translate("non-finite float `.nan` rejected by the configured policy", None, None),
            "`.nan` is not a finite number: NaN and infinities are not accepted"
        );
    }
}

//! Where in a scenario file a problem is: the line and the dotted field name.
//!
//! serde reports a wrong type or an unknown key as a byte span in the text and a
//! message written for programmers ("invalid type: string \"three\", expected u32").
//! A student editing a scenario needs the line, the field and what to write instead,
//! so the span is mapped back onto the document's keys (toml's spanned `DeTable`) and
//! the message is rewritten in plain words.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A field of the document: its dotted name and the span of its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: Range<usize>,
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The deepest field whose key or value contains `offset`, if the text parses as TOML.
pub fn field_at(text: &str, offset: usize) -> Option<Field> {
    let doc = DeTable::parse(text).ok()?;
    in_table(doc.get_ref(), "", offset)
}

/// Line of the field named `dotted` (such as `load.rates_rps`), if the file sets it.
pub fn line_of_field(text: &str, dotted: &str) -> Option<usize> {
    let doc = DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, value) = table.iter().find(|(k, _)| k.get_ref() == part)?;
        if parts.peek().is_none() {
            return Some(line_of(text, key.span().start));
        }
        table = value.get_ref().as_table()?;
    }
    None
}

fn in_table(table: &DeTable<'_>, prefix: &str, offset: usize) -> Option<Field> {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        if key.span().contains(&offset) {
            return Some(Field {
                name,
                value: value.span(),
            });
        }
        if let Some(found) = in_value(value, &name, offset) {
            return Some(found);
        }
    }
    None
}

fn in_value(value: &Spanned<DeValue<'_>>, name: &str, offset: usize) -> Option<Field> {
    // `[section]` and `[[section]]` tables span only their header: search their keys
    // whatever the span.
    match value.get_ref() {
        DeValue::Table(t) => {
            if let Some(found) = in_table(t, name, offset) {
                return Some(found);
            }
        }
        DeValue::Array(items) => {
            for item in items.iter() {
                if let DeValue::Table(t) = item.get_ref() {
                    if let Some(found) = in_table(t, name, offset) {
                        return Some(found);
                    }
                }
            }
        }
        _ => {}
    }
    if !value.span().contains(&offset) {
        return None;
    }
    if let DeValue::Array(items) = value.get_ref() {
        for item in items.iter() {
            if item.span().contains(&offset) {
                return Some(Field {
                    name: name.to_string(),
                    value: item.span(),
                });
            }
        }
    }
    Some(Field {
        name: name.to_string(),
        value: value.span(),
    })
}

/// serde's message in plain words: what the field should hold.
pub fn plain_reason(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        if let Some((_, expected)) = rest.rsplit_once(", expected ") {
            return format!("expected {}", plain_type(expected));
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // "unknown field `x`, expected one of `a`, `b`" -> keep the list.
        if let Some((_, expected)) = rest.split_once(", expected ") {
            return format!("unknown field (expected {expected})");
        }
        return "unknown field".into();
    }
    message.replace('\n', " ")
}

fn plain_type(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a string" | "a borrowed string" => "a string in quotes".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list such as [1, 2]".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e => e.into(),
    }
}

/// The value's text as written, on one line and short enough for a message.
pub fn value_text(text: &str, span: &Range<usize>) -> String {
    let raw = text.get(span.clone()).unwrap_or("").trim();
    let one_line: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 60 {
        format!("{}…", one_line.chars().take(60).collect::<String>())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name = \"t\"\nplatforms = [\"native\"]\n[startup]\nrepetitions = \"three\"\n[[x]]\ny = 1\n";

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn field_found_by_value_and_key_offset() {
        let at = DOC.find("\"three\"").unwrap() + 1;
        let f = field_at(DOC, at).unwrap();
        assert_eq!(f.name, "startup.repetitions");
        assert_eq!(value_text(DOC, &f.value), "\"three\"");
        let f = field_at(DOC, DOC.find("platforms").unwrap()).unwrap();
        assert_eq!(f.name, "platforms");
        let f = field_at(DOC, DOC.find("y = 1").unwrap()).unwrap();
        assert_eq!(f.name, "x.y");
    }

    #[test]
    fn field_lines_by_name() {
        assert_eq!(line_of_field(DOC, "startup.repetitions"), Some(4));
        assert_eq!(line_of_field(DOC, "platforms"), Some(2));
        assert_eq!(line_of_field(DOC, "load.rates_rps"), None);
    }

    #[test]
    fn serde_messages_in_plain_words() {
        assert_eq!(
            plain_reason("invalid type: string \"three\", expected u32"),
            "expected a whole number (0 or more)"
        );
        assert_eq!(
            plain_reason("invalid value: integer `-1`, expected u64"),
            "expected a whole number (0 or more)"
        );
        assert_eq!(
            plain_reason("invalid type: integer `3`, expected a sequence"),
            "expected a list such as [1, 2]"
        );
        assert_eq!(
            plain_reason("unknown field `repetition`, expected `repetitions` or `timeout_s`"),
            "unknown field (expected `repetitions` or `timeout_s`)"
        );
    }
}

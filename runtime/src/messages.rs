//! What a connector says, made fit to print: every string from the guest that the host prints
//! or returns (log lines, error messages, info fields) passes through [`clean`] here, once.
//!
//! A connector is untrusted, so its text is masked for the transfer's secrets first (before
//! anything is cut, so that a secret straddling the cut is masked whole), then its control
//! characters are escaped (no ANSI sequences reach a terminal, and a log line cannot forge a
//! line of the host's own), then it is cut to a bound with a visible mark.

use crate::secrets::Secrets;

/// Longest log line kept, in bytes.
pub const MAX_LOG_LINE: usize = 4096;
/// Longest error message kept, in bytes (a validation error lists every problem).
pub const MAX_ERROR: usize = 16 * 1024;
/// Longest `info` field kept (name, version, description), in bytes.
pub const MAX_INFO_FIELD: usize = 1024;
/// Longest access schema kept, in bytes.
pub const MAX_SCHEMA: usize = 1024 * 1024;

/// Whether line breaks survive: log lines are one line; an error message may list problems
/// one per line (the command indents the lines after the first).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// `bytes` as lower-case hexadecimal (cache entry names, digests in messages, masks).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` masked, escaped and cut to `max` bytes (see the module documentation).
pub fn clean(text: &str, secrets: &Secrets, lines: Lines, max: usize) -> String {
    // Only a prefix can survive the cut; masking it (with room for the longest mask across
    // the cut) costs the same for a 100 MiB message as for a short one.
    let prefix = &text[..floor_char_boundary(text, max + secrets.longest_mask())];
    let masked = secrets.redact(prefix);
    let mut out = String::with_capacity(masked.len().min(max) + 32);
    for c in masked.chars() {
        match c {
            '\n' if lines == Lines::Many => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_format(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
        if out.len() > max {
            break;
        }
    }
    if out.len() > max || prefix.len() < text.len() {
        out.truncate(floor_char_boundary(&out, max));
        out.push_str(&format!(" [cut: {} bytes in all]", text.len()));
    }
    out
}

/// Format characters and separators that can make a line read other than it is:
/// bidirectional marks and overrides, zero-width characters, line and paragraph separators,
/// the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// A JSON document from a connector (its access schema) with every string and key cleaned
/// as a one-line message of at most `max` bytes.
pub fn clean_json(value: serde_json::Value, max: usize) -> serde_json::Value {
    use serde_json::Value;
    let none = Secrets::default();
    let text = |s: &str| clean(s, &none, Lines::One, max);
    match value {
        Value::String(s) => Value::String(text(&s)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| clean_json(v, max)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (text(&k), clean_json(v, max)))
                .collect(),
        ),
        other => other,
    }
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_cuts_with_a_mark() {
        let none = Secrets::default();
        let forged = "ok\nred-wasm: denied: fake\x1b[31mred\u{202e}\u{9b}\u{2028}\u{feff}\u{61c}";
        let line = clean(forged, &none, Lines::One, MAX_LOG_LINE);
        assert_eq!(
            line,
            "ok\\nred-wasm: denied: fake\\u{1b}[31mred\\u{202e}\\u{9b}\\u{2028}\\u{feff}\\u{61c}"
        );
        let schema = clean_json(serde_json::json!({"a\u{202e}": ["x\u{9b}y"]}), 100);
        assert_eq!(schema, serde_json::json!({"a\\u{202e}": ["x\\u{9b}y"]}));
        assert_eq!(clean("a\nb", &none, Lines::Many, 100), "a\nb");
        let long = "é".repeat(10_000);
        let cut = clean(&long, &none, Lines::One, 101);
        assert!(cut.starts_with(&"é".repeat(50)), "{cut}");
        assert!(cut.ends_with(" [cut: 20000 bytes in all]"), "{cut}");
        assert!(cut.len() < 101 + 40);
    }

    #[test]
    fn a_secret_across_the_cut_is_masked_whole() {
        let (_, secrets) = Secrets::seal(r#"{"password": "Pa55word-across"}"#, &[]).unwrap();
        let text = format!("{}Pa55word-across and more", "x".repeat(4090));
        let line = clean(&text, &secrets, Lines::One, MAX_LOG_LINE);
        assert!(!line.contains("Pa55"), "{line}");
        assert!(line.contains("[cut:"), "{line}");
    }
}

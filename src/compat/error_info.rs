//! The reference's error object: `{type, message, line, key_info, traceback}`, with its
//! `key_info` hints for the Coder agent.

use super::truncate;
use crate::executions::ErrorInfo;
use serde_json::{json, Value};

/// Python's `\w` on a `str` pattern: Unicode letters, digits and underscore.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// First match of `<prefix>'(\w+)'<suffix>` in `text` (regex semantics, without a regex crate).
fn quoted_word(text: &str, prefix: &str, suffix: &str) -> Option<String> {
    let open = format!("{prefix}'");
    let close = format!("'{suffix}");
    text.char_indices().find_map(|(pos, _)| {
        let body = text[pos..].strip_prefix(open.as_str())?;
        let word: String = body.chars().take_while(|c| is_word(*c)).collect();
        (!word.is_empty() && body[word.len()..].starts_with(close.as_str())).then_some(word)
    })
}

pub fn key_info(kind: &str, message: &str) -> Value {
    match kind {
        "SyntaxError" => {
            if message.contains("invalid decimal literal") {
                json!({"issue": "Invalid number format (possibly CSS in Python code)"})
            } else if message.contains("format code") {
                json!({"issue": "f-string formatting error"})
            } else if message.contains("unexpected EOF") {
                json!({"issue": "Missing closing bracket or quote"})
            } else {
                json!({})
            }
        }
        "ValueError" => {
            if message.contains("Unknown format code") {
                json!({"issue": "f-string format specifier error"})
            } else if message.contains("Cannot specify") {
                json!({"issue": "Invalid format combination"})
            } else {
                json!({})
            }
        }
        "NameError" => match quoted_word(message, "", " is not defined") {
            Some(name) => json!({"undefined_variable": name}),
            None => json!({}),
        },
        "ImportError" | "ModuleNotFoundError" => match quoted_word(message, "No module named ", "")
        {
            Some(name) => json!({"missing_module": name}),
            None => json!({}),
        },
        _ => json!({}),
    }
}

/// A Python failure in the reference's shape.
pub fn python(e: &ErrorInfo) -> Value {
    json!({
        "type": e.kind,
        "message": truncate::field(&e.message),
        "line": e.line,
        "key_info": key_info(&e.kind, &e.message),
        "traceback": truncate::field(&e.traceback),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_info_rules() {
        let k = |t, m| key_info(t, m);
        assert_eq!(
            k("SyntaxError", "invalid decimal literal"),
            json!({"issue": "Invalid number format (possibly CSS in Python code)"})
        );
        assert_eq!(
            k("SyntaxError", "f-string: invalid format code"),
            json!({"issue": "f-string formatting error"})
        );
        assert_eq!(
            k("SyntaxError", "unexpected EOF while parsing"),
            json!({"issue": "Missing closing bracket or quote"})
        );
        assert_eq!(k("SyntaxError", "invalid syntax"), json!({}));
        assert_eq!(
            k(
                "ValueError",
                "Unknown format code 'd' for object of type 'float'"
            ),
            json!({"issue": "f-string format specifier error"})
        );
        assert_eq!(
            k("ValueError", "Cannot specify ',' with 's'."),
            json!({"issue": "Invalid format combination"})
        );
        assert_eq!(
            k("NameError", "name 'df' is not defined"),
            json!({"undefined_variable": "df"})
        );
        assert_eq!(
            k("NameError", "name '매출' is not defined"),
            json!({"undefined_variable": "매출"})
        );
        assert_eq!(
            k("ModuleNotFoundError", "No module named 'polars'"),
            json!({"missing_module": "polars"})
        );
        assert_eq!(k("ImportError", "No module named 'a.b'"), json!({}));
        assert_eq!(k("KeyError", "'x'"), json!({}));
    }
}

//! The reference executor's output truncation and field caps, reproduced exactly. Lengths are
//! Python `len()` of a `str`: characters, not bytes (this matters for Korean output).

const LIMIT: usize = 8192;

fn char_prefix(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// `stdout`/`stderr` as the reference returns them.
pub fn output(text: &str) -> String {
    let len = text.chars().count();
    if text.trim().is_empty() || len <= LIMIT {
        return text.to_string();
    }
    let lines: Vec<&str> = python_strip(text).split('\n').collect();
    let n = lines.len();
    if n > 6 {
        format!(
            "{}\n\n... ({} lines omitted) ...\n\n{}\n\n[Output truncated: {len} chars, {n} lines total]",
            lines[..3].join("\n"),
            n - 6,
            lines[n - 3..].join("\n"),
        )
    } else {
        format!(
            "{}...\n\n[Output truncated: {len} chars total]",
            char_prefix(text, LIMIT)
        )
    }
}

/// Error `message` and `traceback`: at most 8192 characters, then `...`.
pub fn field(text: &str) -> String {
    cap(text, LIMIT)
}

/// At most `n` characters, then `...` when anything was cut (the reference's `s[:n] + "..."`).
pub fn cap(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// Python's `str.strip()` with no argument: Unicode whitespace on both ends.
fn python_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_blank_text_is_unchanged() {
        assert_eq!(output(""), "");
        assert_eq!(output("hello\n"), "hello\n");
        let blank = " \n".repeat(9000);
        assert_eq!(output(&blank), blank);
        let exact = "x".repeat(8192);
        assert_eq!(output(&exact), exact);
    }

    #[test]
    fn many_lines_keep_three_and_three() {
        let text: String = (0..3000).map(|i| format!("line {i}\n")).collect();
        let len = text.chars().count();
        let out = output(&text);
        let expected = format!(
            "line 0\nline 1\nline 2\n\n... (2994 lines omitted) ...\n\nline 2997\nline 2998\nline 2999\n\n[Output truncated: {len} chars, 3000 lines total]"
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn few_long_lines_are_cut_at_8192_chars() {
        let text = format!("{}\n{}", "가".repeat(5000), "나".repeat(5000));
        let out = output(&text);
        assert!(out.starts_with(&"가".repeat(5000)));
        assert!(out.ends_with("...\n\n[Output truncated: 10001 chars total]"));
        assert_eq!(
            out.chars().count(),
            8192 + "...\n\n[Output truncated: 10001 chars total]"
                .chars()
                .count()
        );
    }

    #[test]
    fn fields_are_capped() {
        assert_eq!(field("abc"), "abc");
        let long = "é".repeat(9000);
        let f = field(&long);
        assert_eq!(f.chars().count(), 8195);
        assert!(f.ends_with("é..."));
    }
}

//! `# noqa` suppressions: a bare `# noqa` or `# noqa: CODES` on a finding's first line, and a file-level
//! `# asynclint: noqa`. Codes may be ours (AL101), rule names, or the ruff / flake8-async codes of the same check.

use super::diagnostic::Diagnostic;
use super::document::Document;
use super::rules;

const FILE_LEVEL: &str = "# asynclint: noqa";

/// What a `# noqa` comment on one line suppresses.
#[derive(Debug, PartialEq, Eq)]
pub enum Noqa<'a> {
    All,
    Codes(Vec<&'a str>),
}

/// The `# noqa` directive of a line, if any. `# noqa:AL101,AL102` and `# NOQA: AL101 AL102` are accepted.
pub fn parse_line(line: &str) -> Option<Noqa<'_>> {
    let at = line.to_ascii_lowercase().find("# noqa")?;
    let rest = &line[at + "# noqa".len()..];
    let Some(codes) = rest.trim_start().strip_prefix(':') else { return Some(Noqa::All) };
    let codes: Vec<&str> = codes
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .take_while(|code| !code.starts_with('#'))
        .filter(|code| !code.is_empty())
        .collect();
    if codes.is_empty() {
        Some(Noqa::All)
    } else {
        Some(Noqa::Codes(codes))
    }
}

/// Whether a code written in a `# noqa` names this diagnostic's rule.
fn names_rule(written: &str, diagnostic: &Diagnostic) -> bool {
    let Some(rule) = rules::find(diagnostic.code) else { return false };
    written.eq_ignore_ascii_case(rule.code)
        || written == rule.name
        || rule.equivalents.iter().any(|equivalent| written.eq_ignore_ascii_case(equivalent))
}

/// Drops the diagnostics that a `# noqa` on their first line, or a file-level `# asynclint: noqa`, suppresses.
pub fn apply(document: &Document, diagnostics: &mut Vec<Diagnostic>) {
    let text = document.text();
    if text.lines().any(|line| line.trim_start().eq_ignore_ascii_case(FILE_LEVEL)) {
        diagnostics.clear();
        return;
    }
    if !text.contains("noqa") && !text.contains("NOQA") {
        return;
    }
    let rope = document.rope();
    diagnostics.retain(|diagnostic| {
        let line = rope.byte_to_line(diagnostic.range.start.min(text.len()));
        let start = rope.line_to_byte(line);
        let end = if line + 1 < rope.len_lines() { rope.line_to_byte(line + 1) } else { text.len() };
        match parse_line(&text[start..end]) {
            None => true,
            Some(Noqa::All) => false,
            Some(Noqa::Codes(codes)) => !codes.iter().any(|code| names_rule(code, diagnostic)),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noqa_comments_parse() {
        assert_eq!(parse_line("x()  # noqa"), Some(Noqa::All));
        assert_eq!(parse_line("x()  # NOQA: AL101,ASYNC251 # why"), Some(Noqa::Codes(vec!["AL101", "ASYNC251"])));
        assert_eq!(parse_line("x()  # noqa:blocking-sleep"), Some(Noqa::Codes(vec!["blocking-sleep"])));
        assert_eq!(parse_line("x()  # a comment"), None);
    }
}

//! `# noqa` suppressions: a bare `# noqa` or `# noqa: CODES` on a finding's first line, and a file-level
//! `# asynclint: noqa`. Codes may be ours (AL101), rule names, or the ruff / flake8-async codes of the same check.

use crate::core::syntax::KindName;
use std::collections::BTreeMap;

use super::diagnostic::{Diagnostic, Edit, TextRange};
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
    let codes = written_codes(line)?;
    if codes.is_empty() {
        Some(Noqa::All)
    } else {
        Some(Noqa::Codes(codes))
    }
}

/// The codes a line's `# noqa: ...` lists, as slices of the line; empty for a bare `# noqa`, None without one.
fn written_codes(line: &str) -> Option<Vec<&str>> {
    let at = line.to_ascii_lowercase().find("# noqa")?;
    let rest = &line[at + "# noqa".len()..];
    let Some(codes) = rest.trim_start().strip_prefix(':') else { return Some(Vec::new()) };
    let codes = codes
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .take_while(|code| !code.starts_with('#'))
        .filter(|code| !code.is_empty())
        .collect();
    Some(codes)
}

/// The code written in a `# noqa: ...` list that the byte `offset` of the document falls on (its end included, where
/// an editor's cursor rests after typing it), and its range: what the editor's hover explains.
pub fn noqa_code_at(document: &Document, offset: usize) -> Option<(TextRange, &str)> {
    let text = document.text();
    let rope = document.rope();
    let line = rope.byte_to_line(offset.min(text.len()));
    let start = rope.line_to_byte(line);
    let end = if line + 1 < rope.len_lines() { rope.line_to_byte(line + 1) } else { text.len() };
    let content = &text[start..end];
    written_codes(content)?.into_iter().find_map(|code| {
        // Each code is a slice of `content`: its address gives its place in the line.
        let code_start = start + (code.as_ptr() as usize - content.as_ptr() as usize);
        let range = TextRange::new(code_start, code_start + code.len());
        (range.start <= offset && offset <= range.end).then_some((range, code))
    })
}

/// Whether a code written in a `# noqa` names this diagnostic's rule.
fn names_rule(written: &str, diagnostic: &Diagnostic) -> bool {
    rules::find(diagnostic.code).is_some_and(|rule| rule.is_named_by(written))
}

/// Whether a line of `text` is the file-level directive: a comment line, so only lines whose first non-blank is a `#`
/// are looked at (found with `memchr`, not by splitting every line of a 50,000-line file on each keystroke).
fn has_file_level_directive(text: &str) -> bool {
    memchr::memchr_iter(b'#', text.as_bytes()).any(|hash| {
        let line_start = memchr::memrchr(b'\n', &text.as_bytes()[..hash]).map_or(0, |newline| newline + 1);
        let line_end = memchr::memchr(b'\n', &text.as_bytes()[hash..]).map_or(text.len(), |newline| hash + newline);
        // As `str::lines` gives them: without the `\r` of a CRLF ending.
        let line = text[line_start..line_end].strip_suffix('\r').unwrap_or(&text[line_start..line_end]);
        line_start + (line.len() - line.trim_start().len()) == hash
            && line.trim_start().eq_ignore_ascii_case(FILE_LEVEL)
    })
}

/// Drops the diagnostics that a `# noqa` on their first line, or a file-level `# asynclint: noqa`, suppresses.
pub fn apply(document: &Document, diagnostics: &mut Vec<Diagnostic>) {
    let text = document.text();
    if has_file_level_directive(text) {
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

/// The edits that suppress `diagnostics` with `# noqa` (`--add-noqa`, and the editor's suppress action): one per
/// line, adding the codes to the line's `# noqa: ...` list or appending a new comment. A line whose end is inside a
/// string or continued with `\` cannot take a comment and is left out.
pub fn noqa_edits(document: &Document, diagnostics: &[Diagnostic]) -> Vec<Edit> {
    let text = document.text();
    let rope = document.rope();
    let mut codes_by_line: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for diagnostic in diagnostics {
        let codes = codes_by_line.entry(rope.byte_to_line(diagnostic.range.start.min(text.len()))).or_default();
        if !codes.contains(&diagnostic.code) {
            codes.push(diagnostic.code);
        }
    }
    let mut edits = Vec::new();
    for (line, codes) in codes_by_line {
        let line_start = rope.line_to_byte(line);
        let line_end = if line + 1 < rope.len_lines() { rope.line_to_byte(line + 1) } else { text.len() };
        let content = text[line_start..line_end].trim_end_matches(['\n', '\r']);
        let content_end = line_start + content.len();
        if content.trim_end().ends_with('\\') || inside_string(document, content_end) {
            continue;
        }
        let codes = codes.join(", ");
        let edit = match parse_line(content) {
            Some(Noqa::All) => continue,
            Some(Noqa::Codes(_)) => Edit::insert(line_start + end_of_noqa_codes(content), format!(", {codes}")),
            None => Edit::insert(content_end, format!("  # noqa: {codes}")),
        };
        edits.push(edit);
    }
    edits
}

/// Where the code list of a line's `# noqa: ...` ends (before any trailing space or further comment).
fn end_of_noqa_codes(line: &str) -> usize {
    let directive = line.to_ascii_lowercase().find("# noqa").unwrap_or(0);
    let colon = directive + line[directive..].find(':').unwrap_or(0) + 1;
    let list = &line[colon..];
    let list_end = list.find('#').unwrap_or(list.len());
    colon + list[..list_end].trim_end().len()
}

/// Whether `offset` falls strictly inside a string literal (a line end inside a triple-quoted string).
fn inside_string(document: &Document, offset: usize) -> bool {
    let mut node = document.node_at(offset);
    while let Some(current) = node {
        if current.kind_name() == "string" && current.start_byte() < offset && offset < current.end_byte() {
            return true;
        }
        node = current.parent();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diagnostic::{Severity, TextRange};

    #[test]
    fn noqa_comments_parse() {
        assert_eq!(parse_line("x()  # noqa"), Some(Noqa::All));
        assert_eq!(parse_line("x()  # NOQA: AL101,ASYNC251 # why"), Some(Noqa::Codes(vec!["AL101", "ASYNC251"])));
        assert_eq!(parse_line("x()  # noqa:blocking-sleep"), Some(Noqa::Codes(vec!["blocking-sleep"])));
        assert_eq!(parse_line("x()  # a comment"), None);
    }

    #[test]
    fn the_noqa_code_under_an_offset_is_found_with_its_range() {
        let text = "x = 1\ntime.sleep(1)  # noqa: AL101,ASYNC251  # AL102\n";
        let document = Document::new("m.py", text);
        let code_at =
            |offset: usize| noqa_code_at(&document, offset).map(|(range, code)| (&text[range.start..range.end], code));
        let first = text.find("AL101").unwrap();
        assert_eq!(code_at(first), Some(("AL101", "AL101")));
        assert_eq!(code_at(first + 5), Some(("AL101", "AL101")), "the end of a code counts");
        assert_eq!(code_at(text.find("SYNC251").unwrap()), Some(("ASYNC251", "ASYNC251")));
        assert_eq!(code_at(text.find("noqa").unwrap()), None);
        assert_eq!(code_at(text.find("AL102").unwrap()), None, "a later comment is not part of the list");
        assert_eq!(code_at(2), None, "another line");
    }

    #[test]
    fn noqa_edits_extend_or_add_a_comment_per_line() {
        let text = "a()\nb()  # noqa: AL102  # why\nc = '''x\ny'''\nd(1, \\\n  2)\n";
        let document = Document::new("m.py", text);
        let at = |needle: &str, code: &'static str| Diagnostic {
            code,
            name: "",
            message: String::new(),
            range: TextRange::empty(text.find(needle).unwrap()),
            severity: Severity::Warning,
            fixes: Vec::new(),
            related: Vec::new(),
        };
        let findings = [at("a()", "AL101"), at("a()", "AL104"), at("a()", "AL101"), at("b()", "AL101")];
        let unfit = [at("c =", "AL101"), at("d(", "AL101")];
        let edits = noqa_edits(&document, &[&findings[..], &unfit[..]].concat());
        assert_eq!(
            crate::core::fix::apply_edits(text, &edits),
            "a()  # noqa: AL101, AL104\nb()  # noqa: AL102, AL101  # why\nc = '''x\ny'''\nd(1, \\\n  2)\n"
        );
    }
}

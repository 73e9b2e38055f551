//! Quick fixes for one requested range, at a cost that follows the range rather than the file.
//!
//! The core builds a fix for every finding, and in a file with a syntax error it validates each one by re-parsing
//! the whole file; an editor asks for code actions on every cursor move. Here the findings are first found without
//! fixes, and fixes are built only when some finding overlaps the range. In a file with syntax errors they are built
//! on a *focused* copy in which the bodies of the top-level definitions away from the range are blanked (byte for
//! byte, so every offset stays valid): the errors elsewhere go, and so do the findings whose fixes the core would
//! validate by re-parsing the file. A fix is kept only if its finding is in the real document too (same code and range)
//! and it re-parses no worse there, checked once per fix in the range.

use crate::core::check::{check, check_model, ModuleInfo};
use crate::core::diagnostic::{Diagnostic, TextRange};
use crate::core::document::Document;
use crate::core::fix::apply_checked;
use crate::core::index::ProjectIndex;
use crate::core::semantic::SemanticModel;
use crate::core::settings::Settings;

/// The findings overlapping `requested`, each with the fixes offered for it.
pub fn findings_with_fixes(
    document: &Document,
    module: &ModuleInfo,
    index: &ProjectIndex,
    settings: &Settings,
    requested: TextRange,
) -> Vec<Diagnostic> {
    let model = SemanticModel::build(document, &module.name, module.is_package, settings.catalogue());
    let mut wanted: Vec<Diagnostic> = check_model(document, &model, index, settings, false)
        .into_iter()
        .filter(|finding| finding.range.intersects(requested))
        .collect();
    if wanted.is_empty() {
        return wanted;
    }
    if !document.tree().root_node().has_error() {
        // Fixes in a valid file are built without re-parsing.
        return check(document, module, index, settings)
            .into_iter()
            .filter(|f| f.range.intersects(requested))
            .collect();
    }
    let focused = Document::new(document.path.clone(), focused_text(document.text(), requested));
    let candidates = check(&focused, module, index, settings);
    for finding in &mut wanted {
        // Not the message: where a bracket is left open, the real tree may put the finding in the wrong function.
        let same =
            candidates.iter().find(|candidate| (candidate.code, candidate.range) == (finding.code, finding.range));
        if let Some(candidate) = same {
            finding.fixes =
                candidate.fixes.iter().filter(|fix| apply_checked(document, fix).is_some()).cloned().collect();
        }
    }
    wanted
}

/// The document's text with the body of every top-level definition (`def`, `async def`, `class`, with its decorators)
/// that does not overlap `requested` blanked: its lines after the header become `0` and spaces. Units are found from
/// the lines, not the tree, because an unclosed bracket makes the tree swallow everything after it. Line breaks stay,
/// so lines and offsets stay; the other top-level statements (imports, assignments, `if __name__ ...`) stay whole.
fn focused_text(text: &str, requested: TextRange) -> String {
    let mut lines = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        lines.push(TextRange::new(start, start + line.len()));
        start += line.len();
    }
    let line_text = |line: TextRange| &text[line.start..line.end];
    let starts_statement =
        |line: &str| line.starts_with(|c: char| !c.is_whitespace() && c != '#' && !")]}".contains(c));
    let is_definition =
        |line: &str| ["def ", "async def ", "class ", "@"].iter().any(|keyword| line.starts_with(keyword));
    // Each unit is a run of lines from one top-level statement to the next; decorators open their definition's unit.
    let mut units: Vec<std::ops::Range<usize>> = Vec::new();
    for (number, &line) in lines.iter().enumerate() {
        let current = line_text(line);
        let decorated = number > 0 && line_text(lines[number - 1]).starts_with('@');
        if units.is_empty() || (starts_statement(current) && !decorated) {
            units.push(number..number + 1);
        } else if let Some(unit) = units.last_mut() {
            unit.end = number + 1;
        }
    }
    let mut bytes = text.as_bytes().to_vec();
    for unit in units {
        let span = TextRange::new(lines[unit.start].start, lines[unit.end - 1].end);
        if !is_definition(line_text(lines[unit.start])) || span.intersects(requested) {
            continue;
        }
        let header_end = unit.clone().find(|&number| {
            let line = line_text(lines[number]);
            line.split('#').next().unwrap_or(line).trim_end().ends_with(':')
        });
        let Some(header_end) = header_end else { continue };
        let body = (header_end + 1..unit.end).map(|number| lines[number]);
        // The replacement statement goes on the first indented line: a body needs one, and indented.
        let Some(first) = body.clone().find(|&line| {
            let line = line_text(line);
            line.starts_with([' ', '\t']) && !line.trim().is_empty()
        }) else {
            continue;
        };
        for line in body {
            blank(&mut bytes[line.start..line.end]);
        }
        let indent = line_text(first).len() - line_text(first).trim_start().len();
        bytes[first.start + indent] = b'0';
    }
    // Only whole bytes were replaced, by ASCII, including every byte of any multi-byte character: still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned())
}

/// Turns every byte but line breaks into a space.
fn blank(line: &mut [u8]) {
    for byte in line.iter_mut().filter(|byte| **byte != b'\n' && **byte != b'\r') {
        *byte = b' ';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "import time\n\n\nasync def first():\n    time.sleep(1)\n    x = (\n\n\nasync def second():\n    \"\"\"Sleeps.\"\"\"\n    time.sleep(2)\n";

    fn range_of(text: &str, needle: &str) -> TextRange {
        let start = text.find(needle).unwrap();
        TextRange::new(start, start + needle.len())
    }

    #[test]
    fn the_focused_copy_blanks_other_bodies_and_keeps_offsets() {
        let document = Document::new("t.py", SOURCE);
        let focused = focused_text(document.text(), range_of(SOURCE, "time.sleep(2)"));
        assert_eq!(focused.len(), SOURCE.len());
        assert_eq!(focused.lines().count(), SOURCE.lines().count());
        assert!(focused.contains("async def first():\n    0"), "{focused}");
        assert!(!focused.contains("x = ("), "{focused}");
        assert!(focused.ends_with("async def second():\n    \"\"\"Sleeps.\"\"\"\n    time.sleep(2)\n"), "{focused}");
        assert!(!Document::new("t.py", focused).tree().root_node().has_error());
    }

    #[test]
    fn a_broken_file_gets_the_same_fix_as_the_file_without_the_break() {
        let settings = Settings::default();
        let module = ModuleInfo::default();
        let index = ProjectIndex::default();
        let broken = Document::new("t.py", SOURCE);
        let requested = range_of(SOURCE, "time.sleep(2)");
        let found = findings_with_fixes(&broken, &module, &index, &settings, requested);
        assert_eq!(found.len(), 1);
        let repaired_text = SOURCE.replace("    x = (\n", "    x = ()\n");
        let repaired = Document::new("t.py", repaired_text.as_str());
        let expected =
            findings_with_fixes(&repaired, &module, &index, &settings, range_of(&repaired_text, "time.sleep(2)"));
        let shifted = |finding: &Diagnostic| finding.fixes.iter().map(|fix| fix.title.clone()).collect::<Vec<_>>();
        assert!(!found[0].fixes.is_empty());
        assert_eq!(shifted(&found[0]), shifted(&expected[0]));
        // Nothing overlaps an empty line: no fix is built at all.
        let nowhere = range_of(SOURCE, "\n\n\nasync def second");
        assert!(findings_with_fixes(&broken, &module, &index, &settings, TextRange::empty(nowhere.start)).is_empty());
    }
}

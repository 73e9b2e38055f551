//! Conversions between core values (byte offsets, diagnostics, fixes) and LSP types, in the negotiated position
//! encoding. The only place outside `core::positions` that turns offsets into lines and columns.

use std::collections::HashMap;

use tower_lsp_server::ls_types::{
    self as lsp, CodeAction, CodeActionKind, DiagnosticRelatedInformation, DiagnosticSeverity, Hover, HoverContents,
    Location, MarkupContent, MarkupKind, NumberOrString, Position, TextEdit, Uri, WorkspaceEdit,
};

use crate::core::diagnostic::{Applicability, Diagnostic, Edit, Fix, Severity, TextRange};
use crate::core::document::Document;
use crate::core::positions::{self, Encoding, LineCol};
use crate::core::rules::RuleMeta;

pub const SOURCE: &str = "asynclint";

pub fn fix_all_kind() -> CodeActionKind {
    CodeActionKind::new("source.fixAll.asynclint")
}

fn column(position: LineCol, encoding: Encoding) -> u32 {
    match encoding {
        Encoding::Utf8 => position.utf8,
        Encoding::Utf16 => position.utf16,
    }
}

pub fn position(document: &Document, offset: usize, encoding: Encoding) -> Position {
    let at = document.line_col(offset);
    Position { line: at.line, character: column(at, encoding) }
}

pub fn range(document: &Document, range: TextRange, encoding: Encoding) -> lsp::Range {
    lsp::Range { start: position(document, range.start, encoding), end: position(document, range.end, encoding) }
}

/// The byte offset of an LSP position; positions past a line's end or the document's end are clamped.
pub fn offset(document: &Document, position: Position, encoding: Encoding) -> usize {
    positions::offset_at(document.rope(), document.text(), position.line, position.character, encoding)
}

pub fn text_range(document: &Document, range: lsp::Range, encoding: Encoding) -> TextRange {
    let start = offset(document, range.start, encoding);
    let end = offset(document, range.end, encoding).max(start);
    TextRange::new(start, end)
}

fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Information => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    }
}

pub fn diagnostic(document: &Document, diagnostic: &Diagnostic, encoding: Encoding) -> lsp::Diagnostic {
    let related: Vec<DiagnosticRelatedInformation> = diagnostic
        .related
        .iter()
        .filter_map(|related| {
            let uri = Uri::from_file_path(&related.file)?;
            let span = related.span;
            let range = lsp::Range {
                start: Position { line: span.start.line, character: column(span.start, encoding) },
                end: Position { line: span.end.line, character: column(span.end, encoding) },
            };
            Some(DiagnosticRelatedInformation { location: Location { uri, range }, message: related.message.clone() })
        })
        .collect();
    lsp::Diagnostic {
        range: range(document, diagnostic.range, encoding),
        severity: Some(severity(diagnostic.severity)),
        code: Some(NumberOrString::String(diagnostic.code.to_owned())),
        source: Some(SOURCE.to_owned()),
        message: diagnostic.message.clone(),
        related_information: (!related.is_empty()).then_some(related),
        ..lsp::Diagnostic::default()
    }
}

pub fn text_edits(document: &Document, edits: &[Edit], encoding: Encoding) -> Vec<TextEdit> {
    edits
        .iter()
        .map(|edit| TextEdit { range: range(document, edit.range, encoding), new_text: edit.new_text.clone() })
        .collect()
}

pub fn workspace_edit(uri: &Uri, edits: Vec<TextEdit>) -> WorkspaceEdit {
    WorkspaceEdit { changes: Some(HashMap::from([(uri.clone(), edits)])), ..WorkspaceEdit::default() }
}

/// A quick fix for one finding. The safe fix is the preferred one.
pub fn quick_fix(document: &Document, uri: &Uri, finding: &Diagnostic, fix: &Fix, encoding: Encoding) -> CodeAction {
    let title = match fix.applicability {
        Applicability::Safe => format!("{} ({})", fix.title, finding.code),
        Applicability::Unsafe => format!("{} ({}, unsafe)", fix.title, finding.code),
    };
    CodeAction {
        title,
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![diagnostic(document, finding, encoding)]),
        edit: Some(workspace_edit(uri, text_edits(document, &fix.edits, encoding))),
        is_preferred: Some(fix.applicability == Applicability::Safe),
        ..CodeAction::default()
    }
}

/// The hover of findings under the cursor: each one's rule explained, and the call chain of a transitive finding (its
/// related locations, in order, linked to their files), over the first finding's range.
pub fn findings_hover(document: &Document, findings: &[Diagnostic], encoding: Encoding) -> Option<Hover> {
    let first = findings.first()?;
    let sections: Vec<String> = findings
        .iter()
        .map(|finding| {
            let mut text = crate::core::rules::find(finding.code).map(RuleMeta::explanation).unwrap_or_default();
            if !finding.related.is_empty() {
                text.push_str("\n## Call chain\n");
                for (number, related) in finding.related.iter().enumerate() {
                    let line = related.span.start.line + 1;
                    let name = std::path::Path::new(&related.file).file_name().map(|name| name.to_string_lossy());
                    let place = format!("{}:{line}", name.unwrap_or_default());
                    let place = match Uri::from_file_path(&related.file) {
                        Some(uri) => format!("[{place}]({}#L{line})", uri.as_str()),
                        None => place,
                    };
                    text.push_str(&format!("{}. {} ({place})\n", number + 1, related.message));
                }
            }
            text
        })
        .collect();
    Some(markdown_hover(sections.join("\n---\n\n"), range(document, first.range, encoding)))
}

/// The hover of a code written in a `# noqa`: the rules it names explained (a peer linter's code may name two).
pub fn rules_hover(document: &Document, rules: &[&RuleMeta], code: TextRange, encoding: Encoding) -> Option<Hover> {
    if rules.is_empty() {
        return None;
    }
    let sections: Vec<String> = rules.iter().map(|rule| rule.explanation()).collect();
    Some(markdown_hover(sections.join("\n---\n\n"), range(document, code, encoding)))
}

fn markdown_hover(value: String, range: lsp::Range) -> Hover {
    Hover { contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }), range: Some(range) }
}

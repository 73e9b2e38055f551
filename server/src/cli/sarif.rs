//! SARIF 2.1.0 output (`--output-format sarif`): every rule's metadata, and each finding with its location, the hops
//! of its explanation and its fix, in the shape GitHub code scanning uploads. In a notebook, lines count within the
//! finding's cell, and the result's properties name the cell (`"cell": 3`).

use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};

use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::positions::Span;
use crate::core::rules;

use super::run::FileReport;

/// The base that relative artifact URIs resolve against: the directory asynclint ran in.
const SOURCE_ROOT: &str = "%SRCROOT%";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Information | Severity::Hint => "note",
    }
}

/// Percent-encodes a path for a URI, keeping `/` and the characters RFC 3986 leaves unreserved.
fn encode_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A file as shown to the user (relative to the working directory when under it) as a SARIF artifact location.
fn artifact(shown: &str) -> Value {
    if Path::new(shown).is_absolute() {
        json!({ "uri": format!("file://{}", encode_path(shown)) })
    } else {
        json!({ "uri": encode_path(shown), "uriBaseId": SOURCE_ROOT })
    }
}

/// A region in the run's column kind (UTF-16 code units), 1-based.
fn region(span: Span) -> Value {
    json!({
        "startLine": span.start.line + 1,
        "startColumn": span.start.utf16 + 1,
        "endLine": span.end.line + 1,
        "endColumn": span.end.utf16 + 1,
    })
}

fn result(report: &FileReport, diagnostic: &Diagnostic) -> Value {
    let at = |offset: usize| report.source.locate(offset).position;
    let span = |start: usize, end: usize| Span { start: at(start), end: at(end) };
    let location = json!({
        "physicalLocation": {
            "artifactLocation": artifact(&report.source.display),
            "region": region(span(diagnostic.range.start, diagnostic.range.end)),
        }
    });
    let related: Vec<Value> = diagnostic
        .related
        .iter()
        .enumerate()
        .map(|(id, hop)| {
            // A hop in this notebook counts lines within its cell, as the result does.
            let within = |position| report.source.locate_line_col(position).position;
            let span = if hop.file == report.source.display {
                Span { start: within(hop.span.start), end: within(hop.span.end) }
            } else {
                hop.span
            };
            json!({
                "id": id,
                "message": { "text": hop.message },
                "physicalLocation": { "artifactLocation": artifact(&hop.file), "region": region(span) },
            })
        })
        .collect();
    let fixes: Vec<Value> = diagnostic
        .preferred_fix()
        .into_iter()
        .map(|fix| {
            let replacements: Vec<Value> = fix
                .edits
                .iter()
                .map(|edit| {
                    json!({
                        "deletedRegion": region(span(edit.range.start, edit.range.end)),
                        "insertedContent": { "text": edit.new_text },
                    })
                })
                .collect();
            json!({
                "description": { "text": format!("{} ({})", fix.title, fix.applicability.as_str()) },
                "artifactChanges": [{ "artifactLocation": artifact(&report.source.display), "replacements": replacements }],
            })
        })
        .collect();
    let rule_index = rules::ALL.iter().position(|rule| rule.code == diagnostic.code);
    let mut result = json!({
        "ruleId": diagnostic.code,
        "level": level(diagnostic.severity),
        "message": { "text": diagnostic.message },
        "locations": [location],
    });
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    if let Some(cell) = report.source.locate(diagnostic.range.start).cell {
        result["properties"] = json!({ "cell": cell });
    }
    if !related.is_empty() {
        result["relatedLocations"] = Value::Array(related);
    }
    if !fixes.is_empty() {
        result["fixes"] = Value::Array(fixes);
    }
    result
}

/// Writes one SARIF log with one run. `working_directory` is where relative paths start.
pub fn write_sarif(out: &mut impl Write, reports: &[FileReport], working_directory: &Path) -> io::Result<()> {
    let rules: Vec<Value> = rules::ALL
        .iter()
        .map(|rule| {
            json!({
                "id": rule.code,
                "name": rule.name,
                "shortDescription": { "text": rule.summary },
                "fullDescription": { "text": rule.doc.trim() },
                "help": { "text": rule.doc.trim(), "markdown": rule.doc.trim() },
                "defaultConfiguration": { "level": level(rule.default_severity) },
                "properties": { "tags": ["asyncio"] },
            })
        })
        .collect();
    let results: Vec<Value> = reports
        .iter()
        .flat_map(|report| report.diagnostics.iter().map(move |diagnostic| result(report, diagnostic)))
        .collect();
    let base = format!("file://{}/", encode_path(working_directory.to_string_lossy().trim_end_matches('/')));
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "asynclint",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "invocations": [{ "executionSuccessful": true }],
            "originalUriBaseIds": { SOURCE_ROOT: { "uri": base } },
            "columnKind": "utf16CodeUnits",
            "results": results,
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::positions::LineCol;

    #[test]
    fn paths_become_uris() {
        assert_eq!(encode_path("src/my app/ü.py"), "src/my%20app/%C3%BC.py");
        assert_eq!(artifact("/abs/a b.py")["uri"], "file:///abs/a%20b.py");
        assert_eq!(artifact("pkg/a.py"), json!({"uri": "pkg/a.py", "uriBaseId": SOURCE_ROOT}));
    }

    #[test]
    fn columns_count_utf16_units_from_one() {
        let at = |line, utf16| LineCol { line, utf8: 0, utf16, chars: 0 };
        let span = Span { start: at(0, 2), end: at(3, 0) };
        assert_eq!(region(span), json!({"startLine": 1, "startColumn": 3, "endLine": 4, "endColumn": 1}));
    }
}

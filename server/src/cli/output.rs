//! Output formats of `asynclint check`: `full` (code frames), `concise`, `json` and `json-lines` (ruff's shape),
//! `github`, `gitlab`, `junit`, the `--diff`, `--statistics` and `--show-fixes` reports. SARIF has its own module.
//!
//! In a notebook, rows count within the finding's cell, and every format names the cell (its 1-based number among
//! all cells): `demo.ipynb:cell 3:2:5`, `"cell": 3` in JSON as ruff writes it, and `cell 3: ` before the message
//! where a format has no place for it.

use std::io::{self, Write};

use serde::Serialize;

use crate::core::diagnostic::{Applicability, Diagnostic, Severity};
use crate::core::positions::LineCol;

use super::run::{FileReport, FixMode, Location, SourceText};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Full,
    Concise,
    Json,
    /// One JSON object (ruff's shape) per line.
    JsonLines,
    /// GitHub Actions workflow commands: annotations on the pull request.
    Github,
    /// GitLab Code Quality report.
    Gitlab,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// JUnit XML: one test case per finding, grouped by file.
    Junit,
}

/// ANSI styling, on only for terminals without `NO_COLOR`.
#[derive(Clone, Copy)]
pub struct Style {
    pub enabled: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    fn red(self, text: &str) -> String {
        self.paint("1;31", text)
    }
    fn cyan(self, text: &str) -> String {
        self.paint("36", text)
    }
    fn blue(self, text: &str) -> String {
        self.paint("1;34", text)
    }
    fn yellow(self, text: &str) -> String {
        self.paint("1;33", text)
    }
}

/// 1-based row and column (in characters), as people and ruff's JSON count them.
fn human(position: LineCol) -> (usize, usize) {
    (position.line as usize + 1, position.chars as usize + 1)
}

/// `row:column`, after `cell N:` in a notebook.
fn place(location: Location) -> String {
    let (row, column) = human(location.position);
    match location.cell {
        Some(cell) => format!("cell {cell}:{row}:{column}"),
        None => format!("{row}:{column}"),
    }
}

/// What goes before a message in the formats that have no field for a notebook's cell.
fn cell_prefix(location: Location) -> String {
    location.cell.map(|cell| format!("cell {cell}: ")).unwrap_or_default()
}

fn fix_marker(diagnostic: &Diagnostic, fix_mode: FixMode) -> &'static str {
    let offered = diagnostic
        .preferred_fix()
        .is_some_and(|fix| fix.applicability == Applicability::Safe || fix_mode == FixMode::SafeAndUnsafe);
    if offered {
        " [*]"
    } else {
        ""
    }
}

pub fn write_concise(out: &mut impl Write, reports: &[FileReport], style: Style, fix_mode: FixMode) -> io::Result<()> {
    for report in reports {
        for diagnostic in &report.diagnostics {
            let location = report.source.locate(diagnostic.range.start);
            writeln!(
                out,
                "{}:{}: {}{} {}",
                style.bold(&report.source.display),
                place(location),
                style.red(diagnostic.code),
                fix_marker(diagnostic, fix_mode),
                diagnostic.message
            )?;
        }
    }
    Ok(())
}

pub fn write_full(out: &mut impl Write, reports: &[FileReport], style: Style, fix_mode: FixMode) -> io::Result<()> {
    for report in reports {
        for diagnostic in &report.diagnostics {
            write_frame(out, &report.source, diagnostic, style, fix_mode)?;
        }
    }
    Ok(())
}

/// One finding with the flagged lines underlined:
/// ```text
/// AL101 [*] `time.sleep` blocks the event loop ...
///  --> app.py:4:5
///   |
/// 4 |     time.sleep(1)
///   |     ^^^^^^^^^^^^^
///   |
/// help: Replace with `await asyncio.sleep(...)`
/// ```
fn write_frame(
    out: &mut impl Write,
    document: &SourceText,
    diagnostic: &Diagnostic,
    style: Style,
    fix_mode: FixMode,
) -> io::Result<()> {
    let start = document.line_col(diagnostic.range.start);
    let end = document.line_col(diagnostic.range.end);
    // Rows as shown: within the cell, in a notebook.
    let shown_row = |line: u32| document.locate_line_col(LineCol { line, ..start }).position.line + 1;
    let colour = |text: &str| match diagnostic.severity {
        Severity::Error | Severity::Warning => style.red(text),
        Severity::Information | Severity::Hint => style.yellow(text),
    };
    writeln!(
        out,
        "{}{} {}",
        colour(diagnostic.code),
        fix_marker(diagnostic, fix_mode),
        style.bold(&diagnostic.message)
    )?;
    let last_line = end.line.max(start.line);
    let gutter = (start.line..=last_line).map(|line| shown_row(line).to_string().len()).max().unwrap_or(1);
    let pad = " ".repeat(gutter);
    let location = place(document.locate(diagnostic.range.start));
    writeln!(out, "{pad}{} {}:{location}", style.blue("-->"), document.display)?;
    writeln!(out, "{pad} {}", style.blue("|"))?;
    let rope = document.rope();
    // Show at most a few lines of a long span.
    const MAX_FRAME_LINES: u32 = 6;
    for line in start.line..=last_line.min(start.line + MAX_FRAME_LINES - 1) {
        let text = rope.line(line as usize).to_string();
        let text = text.trim_end_matches(['\n', '\r']).replace('\t', "    ");
        let number = format!("{:>gutter$}", shown_row(line));
        writeln!(out, "{} {} {text}", style.blue(&number), style.blue("|"))?;
        let from = if line == start.line { start.chars as usize } else { text.len() - text.trim_start().len() };
        let to = if line == end.line { end.chars as usize } else { text.chars().count() };
        let width = to.saturating_sub(from).max(1);
        writeln!(out, "{pad} {} {}{}", style.blue("|"), " ".repeat(from), colour(&"^".repeat(width)))?;
    }
    writeln!(out, "{pad} {}", style.blue("|"))?;
    for related in &diagnostic.related {
        // A hop in this notebook is shown in its cell; the index knows other files as they are.
        let location = if related.file == document.display {
            document.locate_line_col(related.span.start)
        } else {
            Location { cell: None, position: related.span.start }
        };
        writeln!(out, "{pad} {} {}:{}: {}", style.blue("="), related.file, place(location), related.message)?;
    }
    if let Some(fix) = diagnostic.preferred_fix() {
        let note = if fix.applicability == Applicability::Unsafe { " (unsafe)" } else { "" };
        writeln!(out, "{}: {}{note}", style.cyan("help"), fix.title)?;
    }
    writeln!(out)
}

#[derive(Serialize)]
struct JsonLocation {
    row: usize,
    column: usize,
}

#[derive(Serialize)]
struct JsonEdit {
    content: String,
    location: JsonLocation,
    end_location: JsonLocation,
}

#[derive(Serialize)]
struct JsonFix {
    applicability: &'static str,
    message: String,
    edits: Vec<JsonEdit>,
}

/// The fields of ruff's JSON output, so existing tooling reads ours.
#[derive(Serialize)]
struct JsonDiagnostic {
    cell: Option<usize>,
    code: &'static str,
    end_location: JsonLocation,
    filename: String,
    fix: Option<JsonFix>,
    location: JsonLocation,
    message: String,
    noqa_row: usize,
    url: Option<String>,
}

fn location(document: &SourceText, offset: usize) -> JsonLocation {
    let (row, column) = human(document.locate(offset).position);
    JsonLocation { row, column }
}

fn json_items(reports: &[FileReport]) -> Vec<JsonDiagnostic> {
    let mut items = Vec::new();
    for report in reports {
        let document = &report.source;
        let filename = std::path::absolute(&report.path).unwrap_or_else(|_| report.path.clone()).display().to_string();
        for diagnostic in &report.diagnostics {
            let fix = diagnostic.preferred_fix().map(|fix| JsonFix {
                applicability: fix.applicability.as_str(),
                message: fix.title.clone(),
                edits: fix
                    .edits
                    .iter()
                    .map(|edit| JsonEdit {
                        content: edit.new_text.clone(),
                        location: location(document, edit.range.start),
                        end_location: location(document, edit.range.end),
                    })
                    .collect(),
            });
            let start = document.locate(diagnostic.range.start);
            items.push(JsonDiagnostic {
                cell: start.cell,
                code: diagnostic.code,
                end_location: location(document, diagnostic.range.end),
                filename: filename.clone(),
                fix,
                location: location(document, diagnostic.range.start),
                message: diagnostic.message.clone(),
                noqa_row: start.position.line as usize + 1,
                url: None,
            });
        }
    }
    items
}

pub fn write_json(out: &mut impl Write, reports: &[FileReport]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &json_items(reports))?;
    writeln!(out)
}

pub fn write_json_lines(out: &mut impl Write, reports: &[FileReport]) -> io::Result<()> {
    for item in json_items(reports) {
        serde_json::to_writer(&mut *out, &item)?;
        writeln!(out)?;
    }
    Ok(())
}

/// `::warning file=...,line=...::message` lines, which GitHub Actions turns into annotations.
pub fn write_github(out: &mut impl Write, reports: &[FileReport]) -> io::Result<()> {
    // Workflow commands reserve `%`, CR and LF in values, and `,` and `:` in properties.
    let escape_value = |text: &str| text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let escape_property = |text: &str| escape_value(text).replace(':', "%3A").replace(',', "%2C");
    for report in reports {
        let file = escape_property(&report.source.display);
        for diagnostic in &report.diagnostics {
            let start = report.source.locate(diagnostic.range.start);
            let (row, column) = human(start.position);
            let (end_row, end_column) = human(report.source.locate(diagnostic.range.end).position);
            let level = match diagnostic.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Information | Severity::Hint => "notice",
            };
            writeln!(
                out,
                "::{level} title=asynclint ({}),file={file},line={row},col={column},endLine={end_row},endColumn={end_column}::{}",
                diagnostic.code,
                escape_value(&format!("{}{} {}", cell_prefix(start), diagnostic.code, diagnostic.message))
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct GitlabLines {
    begin: usize,
    end: usize,
}

#[derive(Serialize)]
struct GitlabLocation {
    path: String,
    lines: GitlabLines,
}

#[derive(Serialize)]
struct GitlabIssue {
    description: String,
    check_name: &'static str,
    fingerprint: String,
    severity: &'static str,
    location: GitlabLocation,
}

/// A GitLab Code Quality report: a JSON array of issues with stable fingerprints.
pub fn write_gitlab(out: &mut impl Write, reports: &[FileReport]) -> io::Result<()> {
    use std::hash::{Hash, Hasher};
    let mut issues = Vec::new();
    for report in reports {
        for diagnostic in &report.diagnostics {
            let start = report.source.locate(diagnostic.range.start);
            let begin = start.position.line as usize + 1;
            let end = report.source.locate(diagnostic.range.end).position.line as usize + 1;
            // Stable across runs and unrelated edits: the file, the rule and the flagged text.
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (
                &report.source.display,
                diagnostic.code,
                &report.source.text[diagnostic.range.start..diagnostic.range.end],
            )
                .hash(&mut hasher);
            issues.push(GitlabIssue {
                description: format!("{}{} {}", cell_prefix(start), diagnostic.code, diagnostic.message),
                check_name: diagnostic.code,
                fingerprint: format!("{:016x}", hasher.finish()),
                severity: match diagnostic.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                    Severity::Information | Severity::Hint => "info",
                },
                location: GitlabLocation { path: report.source.display.clone(), lines: GitlabLines { begin, end } },
            });
        }
    }
    serde_json::to_writer_pretty(&mut *out, &issues)?;
    writeln!(out)
}

/// Escapes text for an XML attribute or element.
fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            '\t' => escaped.push_str("&#9;"),
            // Not allowed in XML 1.0 at all, even escaped.
            character if (character as u32) < 0x20 => escaped.push('\u{fffd}'),
            character => escaped.push(character),
        }
    }
    escaped
}

/// JUnit XML as CI systems read it (ruff's layout): a test suite per file, a failing test case per finding, and one
/// passing case when there is nothing to report.
pub fn write_junit(out: &mut impl Write, reports: &[FileReport]) -> io::Result<()> {
    let total: usize = reports.iter().map(|report| report.diagnostics.len()).sum();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, r#"<testsuites name="asynclint" tests="{}" failures="{total}" errors="0">"#, total.max(1))?;
    if total == 0 {
        writeln!(
            out,
            r#"    <testsuite name="asynclint" tests="1" disabled="0" errors="0" failures="0" package="org.asynclint">"#
        )?;
        writeln!(out, r#"        <testcase name="No errors found" classname="asynclint"/>"#)?;
        writeln!(out, "    </testsuite>")?;
    }
    for report in reports.iter().filter(|report| !report.diagnostics.is_empty()) {
        let file = xml_escape(&report.source.display);
        let count = report.diagnostics.len();
        writeln!(
            out,
            r#"    <testsuite name="{file}" tests="{count}" disabled="0" errors="0" failures="{count}" package="org.asynclint">"#
        )?;
        for diagnostic in &report.diagnostics {
            let start = report.source.locate(diagnostic.range.start);
            let (row, column) = human(start.position);
            let message = xml_escape(&diagnostic.message);
            let cell = xml_escape(&cell_prefix(start).replace(':', ","));
            writeln!(
                out,
                r#"        <testcase name="org.asynclint.{}" classname="{file}" line="{row}" column="{column}">"#,
                diagnostic.code
            )?;
            writeln!(
                out,
                r#"            <failure message="{message}">{cell}line {row}, col {column}, {message}</failure>"#
            )?;
            writeln!(out, "        </testcase>")?;
        }
        writeln!(out, "    </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

/// `--show-fixes`: what fixing changed, per file and rule, as ruff lists it.
pub fn write_fixes_applied(out: &mut impl Write, reports: &[FileReport]) -> io::Result<()> {
    let total: usize = reports.iter().map(|report| report.fixed.len()).sum();
    if total == 0 {
        return Ok(());
    }
    writeln!(out, "\nFixed {total} error{}:", if total == 1 { "" } else { "s" })?;
    for report in reports.iter().filter(|report| !report.fixed.is_empty()) {
        writeln!(out, "- {}:", report.source.display)?;
        let mut codes = report.fixed.clone();
        codes.sort_unstable();
        for group in codes.chunk_by(|a, b| a == b) {
            let name = crate::core::rules::find(group[0]).map_or("", |rule| rule.name);
            writeln!(out, "    {} × {} ({name})", group.len(), group[0])?;
        }
    }
    Ok(())
}

/// A unified diff of each file fixes changed (of each changed cell, in a notebook); returns how many files changed.
pub fn write_diff(out: &mut impl Write, reports: &[FileReport]) -> io::Result<usize> {
    let mut changed = 0;
    for report in reports {
        let Some(original) = &report.original else { continue };
        changed += 1;
        let name = &report.source.display;
        let (Some(before), Some(after)) = (&original.notebook, &report.source.notebook) else {
            let diff = similar::TextDiff::from_lines(original.text.as_str(), report.source.text.as_str());
            write!(out, "{}", diff.unified_diff().header(name, name))?;
            continue;
        };
        // Fixes change no cell's kind or place: the code cells pair up in order.
        for ((number, old), (_, new)) in before.cell_sources().zip(after.cell_sources()) {
            if old != new {
                let diff = similar::TextDiff::from_lines(old, new);
                let header = format!("{name}:cell {number}");
                write!(out, "{}", diff.unified_diff().missing_newline_hint(false).header(&header, &header))?;
            }
        }
    }
    Ok(changed)
}

/// `--statistics`: how many findings each rule has, most first.
pub fn write_statistics(out: &mut impl Write, reports: &[FileReport], fix_mode: FixMode) -> io::Result<()> {
    let mut counts: Vec<(&'static str, &'static str, usize, bool)> = Vec::new();
    for diagnostic in reports.iter().flat_map(|report| &report.diagnostics) {
        let fixable = !fix_marker(diagnostic, fix_mode).is_empty();
        match counts.iter_mut().find(|(code, ..)| *code == diagnostic.code) {
            Some(entry) => {
                entry.2 += 1;
                entry.3 |= fixable;
            }
            None => counts.push((diagnostic.code, diagnostic.name, 1, fixable)),
        }
    }
    counts.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    for (code, name, count, fixable) in counts {
        writeln!(out, "{count:>5}\t{code}\t{}\t{name}", if fixable { "[*]" } else { "   " })?;
    }
    Ok(())
}

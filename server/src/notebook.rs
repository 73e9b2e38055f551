//! Jupyter notebooks (`.ipynb`, nbformat 4) for `check`: their code cells as one Python text to analyse, IPython's
//! magics masked, and fixes carried back into the notebook's JSON text, where only the edited cells' `source` changes.
//!
//! The code cells are joined in order, each followed by a line break, so that module-level facts (an import in the
//! first cell, a function defined in the second) hold in later cells. A magic is masked by text of the same length
//! (a comment when it starts its line, else `0` then spaces, so that an indented block keeps a statement), so a byte
//! offset means the same in the masked text and in the cells as written: a position maps to its cell by the cells'
//! start offsets alone, and a fix's edits apply to the cells as written unchanged.
//!
//! A magic starts a logical line (outside brackets, strings and continuations): `%line` and `%%cell` magics, `!shell`
//! commands, help (`obj?`, `?obj`), and `name = %magic` or `name = !cmd`. A cell whose first line is a `%%` magic is
//! not Python, and is masked whole, unless the magic is one whose body is Python (`%%time`, `%%timeit`,
//! `%%capture`, `%%prun`, `%%debug`): then only that line is. Auto-call (`/f x`, `,f x`) is not recognised.
//!
//! Pure: text in, values out. Reading and writing the file is the CLI's.

use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::core::diagnostic::Edit;
use crate::core::fix;
use crate::core::units;

/// Cell magics whose body is Python: only their first line is masked.
const PYTHON_CELL_MAGICS: &[&str] = &["time", "timeit", "capture", "prun", "debug"];

/// A notebook read from its JSON text.
#[derive(Debug)]
pub struct Notebook {
    json: String,
    /// The code cells, in order (none when the notebook's language is not Python).
    cells: Vec<CodeCell>,
    /// What is analysed: each code cell's source with its magics masked, then a line break.
    code: String,
    /// `code` with the magics as written: the same length, line breaks and offsets.
    shown: String,
}

#[derive(Debug)]
struct CodeCell {
    /// Its 1-based position among all the notebook's cells (markdown and raw ones too), as Jupyter and ruff count.
    number: usize,
    source: SourceValue,
    /// Where its source lies in `code` and `shown`, without the line break that follows it.
    range: Range<usize>,
    /// Its magics, by their offsets in `code`.
    masks: Vec<Mask>,
}

/// Where a cell's `source` value lies in the JSON text, and how it is written there.
#[derive(Debug)]
struct SourceValue {
    span: Range<usize>,
    layout: Layout,
}

#[derive(Debug)]
enum Layout {
    /// One JSON string.
    String,
    /// A list of strings (Jupyter writes one per line), with the text before the first element, between two and
    /// after the last, as written.
    Lines { lines: Vec<RawLine>, open: String, separator: String, close: String },
}

#[derive(Debug)]
struct RawLine {
    text: String,
    /// The element's JSON text, kept as written (escapes included) when its line does not change.
    span: Range<usize>,
}

/// A masked magic. Fixes may not touch one; `pinned_start` and `pinned_end` also forbid inserting right before or
/// after it: a cell magic must stay on its cell's first line, and a cell that is not Python takes no code at all.
#[derive(Debug, Clone)]
struct Mask {
    range: Range<usize>,
    pinned_start: bool,
    pinned_end: bool,
}

#[derive(Deserialize)]
struct RawNotebook<'a> {
    #[serde(borrow, default)]
    cells: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    nbformat: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct RawCell<'a> {
    #[serde(default)]
    cell_type: Option<String>,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
}

impl Notebook {
    /// Reads a notebook, or says what is wrong with it: invalid JSON, no `cells` list, a code cell whose `source` is
    /// not a string or a list of strings, nbformat 3 or older. A notebook whose language is not Python has no code
    /// cells.
    pub fn parse(json: String) -> Result<Notebook, String> {
        let code_cells = read_code_cells(&json)?;
        let mut notebook = Notebook { json, cells: Vec::new(), code: String::new(), shown: String::new() };
        for (number, source, text) in code_cells {
            let (masked, masks) = mask_cell(&text);
            let start = notebook.code.len();
            notebook.code.push_str(&masked);
            notebook.shown.push_str(&text);
            let range = start..notebook.code.len();
            notebook.code.push('\n');
            notebook.shown.push('\n');
            let masks = masks
                .into_iter()
                .map(|mask| Mask { range: mask.range.start + start..mask.range.end + start, ..mask })
                .collect();
            notebook.cells.push(CodeCell { number, source, range, masks });
        }
        Ok(notebook)
    }

    /// The notebook's JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The code cells joined, magics masked: the text to analyse.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The code cells joined as written: the text to show, at the offsets of [`Notebook::code`].
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Each code cell's number (1-based, among all cells) and where its source starts in the code, in order.
    pub fn cell_starts(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.cells.iter().map(|cell| (cell.number, cell.range.start))
    }

    /// Each code cell's number and its source as written, in order.
    pub fn cell_sources(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        self.cells.iter().map(|cell| (cell.number, &self.shown[cell.range.clone()]))
    }

    /// The notebook after the fixes whose edits `rounds` holds (each round sorted, in the code as it was before that
    /// round), which turned the code into `fixed_code`. Only the `source` of the cells they change is rewritten; the
    /// rest of the JSON text stays byte for byte. Refused when an edit reaches across cells or touches a magic, since
    /// the cells could then not be told apart, or the magic would be lost.
    pub fn apply(&self, rounds: &[Vec<Edit>], fixed_code: &str) -> Result<Notebook, String> {
        let mut shown = self.shown.clone();
        let mut ranges: Vec<Range<usize>> = self.cells.iter().map(|cell| cell.range.clone()).collect();
        let mut masks: Vec<Mask> = self.cells.iter().flat_map(|cell| cell.masks.iter().cloned()).collect();
        for edits in rounds {
            for edit in edits {
                let (start, end) = (edit.range.start, edit.range.end);
                if !ranges.iter().any(|range| range.start <= start && end <= range.end) {
                    return Err("a fix reaches across cells".to_owned());
                }
                if masks.iter().any(|mask| mask.touched_by(start, end)) {
                    return Err("a fix touches an IPython magic".to_owned());
                }
            }
            if !fix::edits_are_well_formed(&shown, edits) {
                return Err("the fixes do not fit the cells".to_owned());
            }
            shown = fix::apply_edits(&shown, edits);
            for range in &mut ranges {
                *range = shifted(edits, range.start, false)..shifted(edits, range.end, true);
            }
            for mask in &mut masks {
                let start = shifted(edits, mask.range.start, true);
                mask.range = start..start + mask.range.len();
            }
        }
        let mut json = String::with_capacity(self.json.len() + shown.len().saturating_sub(self.shown.len()));
        let mut cursor = 0;
        for (cell, range) in self.cells.iter().zip(&ranges) {
            let source = &shown[range.clone()];
            if source == &self.shown[cell.range.clone()] {
                continue;
            }
            json.push_str(&self.json[cursor..cell.source.span.start]);
            json.push_str(&render(&self.json, &cell.source, source));
            cursor = cell.source.span.end;
        }
        json.push_str(&self.json[cursor..]);
        // Reading the result back must give exactly the fixed code: the check that the cells, their magics and the
        // JSON written for them all came out as meant.
        match Notebook::parse(json) {
            Ok(notebook) if notebook.code == fixed_code => Ok(notebook),
            _ => Err("the fixed cells would not read back as they were fixed".to_owned()),
        }
    }
}

impl Mask {
    /// Whether an edit of `start..end` changes the magic, or puts text where the mask is pinned.
    fn touched_by(&self, start: usize, end: usize) -> bool {
        let Range { start: mask_start, end: mask_end } = self.range;
        if start < end {
            return start < mask_end && mask_start < end;
        }
        (mask_start < start && start < mask_end)
            || (start == mask_start && self.pinned_start)
            || (start == mask_end && self.pinned_end)
    }
}

/// Where `offset` moves to once `edits` (sorted, none strictly around it) are applied. An insertion at the offset
/// itself goes before it when `after_insertions` (the offset ends a cell, or starts a magic) and after it otherwise.
fn shifted(edits: &[Edit], offset: usize, after_insertions: bool) -> usize {
    let (mut inserted, mut removed) = (0, 0);
    for edit in edits {
        let (start, end) = (edit.range.start, edit.range.end);
        let before = end < offset || (end == offset && (start < offset || after_insertions));
        if !before {
            break;
        }
        inserted += edit.new_text.len();
        removed += end - start;
    }
    offset + inserted - removed
}

/// A cell's `source` in the layout it was written in. Lines that did not change keep their JSON text as written.
fn render(json: &str, value: &SourceValue, source: &str) -> String {
    let quoted = |text: &str| Value::String(text.to_owned()).to_string();
    let Layout::Lines { lines, open, separator, close } = &value.layout else { return quoted(source) };
    let new: Vec<&str> = source.split_inclusive('\n').collect();
    if new.is_empty() {
        return "[]".to_owned();
    }
    let same = |old: &RawLine, new: &&str| old.text == *new;
    let prefix = lines.iter().zip(&new).take_while(|(old, new)| same(old, new)).count();
    let suffix =
        lines[prefix..].iter().rev().zip(new[prefix..].iter().rev()).take_while(|(old, new)| same(old, new)).count();
    let elements: Vec<String> = new
        .iter()
        .enumerate()
        .map(|(position, line)| {
            let kept = if position < prefix {
                Some(&lines[position])
            } else if position >= new.len() - suffix {
                Some(&lines[lines.len() - (new.len() - position)])
            } else {
                None
            };
            kept.map_or_else(|| quoted(line), |old| json[old.span.clone()].to_owned())
        })
        .collect();
    format!("{open}{}{close}", elements.join(separator))
}

/// Where `part`, a slice of `json`, lies in it.
fn span_in(json: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - json.as_ptr() as usize;
    start..start + part.len()
}

/// The code cells: number, where and how their source is written, and the source.
fn read_code_cells(json: &str) -> Result<Vec<(usize, SourceValue, String)>, String> {
    let notebook: RawNotebook = serde_json::from_str(json).map_err(|error| format!("not a valid notebook: {error}"))?;
    if let Some(version) = notebook.nbformat.as_ref().and_then(Value::as_u64).filter(|&version| version < 4) {
        return Err(format!("nbformat {version} notebooks are not supported (only nbformat 4)"));
    }
    let cells = notebook.cells.ok_or("not a valid notebook: it has no `cells` list")?;
    let language = notebook.metadata.as_ref().and_then(|metadata| {
        metadata.pointer("/language_info/name").or_else(|| metadata.pointer("/kernelspec/language"))
    });
    if language.and_then(Value::as_str).is_some_and(|language| !language.eq_ignore_ascii_case("python")) {
        return Ok(Vec::new());
    }
    let mut code_cells = Vec::new();
    for (position, raw) in cells.iter().enumerate() {
        let number = position + 1;
        let cell: RawCell =
            serde_json::from_str(raw.get()).map_err(|error| format!("cell {number} is not a valid cell: {error}"))?;
        let cell_type = cell.cell_type.ok_or_else(|| format!("cell {number} has no `cell_type`"))?;
        if cell_type != "code" {
            continue;
        }
        let source = cell.source.ok_or_else(|| format!("cell {number}: a code cell without `source`"))?;
        let (value, text) = read_source(json, source)
            .ok_or_else(|| format!("cell {number}: `source` is not a string or a list of strings"))?;
        code_cells.push((number, value, text));
    }
    Ok(code_cells)
}

/// A `source` value: where it is, how it is written, and the text it holds.
fn read_source(json: &str, raw: &RawValue) -> Option<(SourceValue, String)> {
    let span = span_in(json, raw.get());
    if raw.get().starts_with('"') {
        let text: String = serde_json::from_str(raw.get()).ok()?;
        return Some((SourceValue { span, layout: Layout::String }, text));
    }
    let elements: Vec<&RawValue> = serde_json::from_str(raw.get()).ok()?;
    let mut lines = Vec::with_capacity(elements.len());
    for element in elements {
        let text: String = serde_json::from_str(element.get()).ok()?;
        lines.push(RawLine { text, span: span_in(json, element.get()) });
    }
    let (open, separator, close) = match lines.as_slice() {
        [] => {
            // Nothing to copy: Jupyter's own layout, one space deeper than the line of the `source` key.
            let line_start = json[..span.start].rfind('\n').map_or(0, |index| index + 1);
            let indent: String = json[line_start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            (format!("[\n{indent} "), format!(",\n{indent} "), format!("\n{indent}]"))
        }
        [only] => {
            let open = json[span.start..only.span.start].to_owned();
            let separator = format!(",{}", &open[1..]);
            (open, separator, json[only.span.end..span.end].to_owned())
        }
        [first, second, ..] => (
            json[span.start..first.span.start].to_owned(),
            json[first.span.end..second.span.start].to_owned(),
            json[lines[lines.len() - 1].span.end..span.end].to_owned(),
        ),
    };
    let text = lines.iter().map(|line| line.text.as_str()).collect();
    Some((SourceValue { span, layout: Layout::Lines { lines, open, separator, close } }, text))
}

/// A cell's source with its magics masked, and the masks (offsets in the source).
fn mask_cell(source: &str) -> (String, Vec<Mask>) {
    let first_line_end = source.find('\n').unwrap_or(source.len());
    let first_line = source[..first_line_end].trim_end_matches('\r');
    let mut masks = Vec::new();
    let mut body = 0;
    if let Some(magic) = first_line.strip_prefix("%%") {
        let name = magic.split_whitespace().next().unwrap_or_default();
        if !PYTHON_CELL_MAGICS.contains(&name) {
            masks.push(Mask { range: 0..source.len(), pinned_start: true, pinned_end: true });
            return (masked(source, &masks), masks);
        }
        masks.push(Mask { range: 0..first_line.len(), pinned_start: true, pinned_end: false });
        body = (first_line_end + 1).min(source.len());
    }
    for range in units::claimed_lines(&source[body..], magic_start) {
        masks.push(Mask { range: range.start + body..range.end + body, pinned_start: false, pinned_end: false });
    }
    (masked(source, &masks), masks)
}

/// Where the magic on a logical line starts, if it holds one.
fn magic_start(line: &str) -> Option<usize> {
    let code = line.trim_start_matches([' ', '\t']);
    let indent = line.len() - code.len();
    let code_end = code.trim_end();
    // A `?` ending a line is help (`obj?`), unless it may be in a comment.
    if code.starts_with(['%', '!', '?']) || (code_end.ends_with('?') && !code_end.contains('#')) {
        return Some(indent);
    }
    assignment_magic(code).map(|at| indent + at)
}

/// `files = !ls` or `t = %timeit -o f()`: where the magic after the `=` starts.
fn assignment_magic(code: &str) -> Option<usize> {
    let equals = code.find('=')?;
    let target = &code[..equals];
    let is_target = |c: char| c.is_alphanumeric() || "_., \t[]()*".contains(c);
    if target.trim().is_empty() || !target.chars().all(is_target) {
        return None;
    }
    let value = code[equals + 1..].trim_start();
    value.starts_with(['%', '!']).then(|| code.len() - value.len())
}

/// `source` with every mask replaced by text of the same length: a `#` (at a line's start) or a `0` (after code or
/// indentation), then spaces, keeping the line breaks.
fn masked(source: &str, masks: &[Mask]) -> String {
    let mut text = String::with_capacity(source.len());
    let mut cursor = 0;
    for mask in masks {
        let Range { start, end } = mask.range;
        text.push_str(&source[cursor..start]);
        let at_line_start = start == 0 || source.as_bytes()[start - 1] == b'\n';
        for (position, character) in source[start..end].char_indices() {
            match character {
                '\n' | '\r' => text.push(character),
                _ if position == 0 => {
                    text.push(if at_line_start { '#' } else { '0' });
                    text.extend(std::iter::repeat_n(' ', character.len_utf8() - 1));
                }
                _ => text.extend(std::iter::repeat_n(' ', character.len_utf8())),
            }
        }
        cursor = end;
    }
    text.push_str(&source[cursor..]);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diagnostic::TextRange;

    /// A notebook in Jupyter's own layout (indent 1, one string per line).
    fn notebook(cells: &[(&str, &[&str])]) -> String {
        let cells: Vec<Value> = cells
            .iter()
            .map(|(kind, lines)| {
                let mut cell = serde_json::json!({ "cell_type": kind, "metadata": {}, "source": lines });
                if *kind == "code" {
                    cell["execution_count"] = Value::Null;
                    cell["outputs"] = serde_json::json!([]);
                }
                cell
            })
            .collect();
        let value = serde_json::json!({
            "cells": cells,
            "metadata": { "language_info": { "name": "python" } },
            "nbformat": 4,
            "nbformat_minor": 5,
        });
        let mut text = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
        serde::Serialize::serialize(&value, &mut serializer).unwrap();
        String::from_utf8(text).unwrap() + "\n"
    }

    #[test]
    fn code_cells_join_into_one_text_numbered_among_all_cells() {
        let json = notebook(&[
            ("markdown", &["# Title"]),
            ("code", &["import asyncio\n", "x = 1"]),
            ("raw", &["raw"]),
            ("code", &["print(x)\n"]),
        ]);
        let notebook = Notebook::parse(json).unwrap();
        assert_eq!(notebook.code(), "import asyncio\nx = 1\nprint(x)\n\n");
        assert_eq!(notebook.cell_starts().collect::<Vec<_>>(), [(2, 0), (4, 21)]);
        assert_eq!(notebook.cell_sources().collect::<Vec<_>>(), [(2, "import asyncio\nx = 1"), (4, "print(x)\n")]);
    }

    #[test]
    fn magics_are_masked_at_the_same_offsets() {
        let cases = [
            ("%time f()\nx = 1", "#        \nx = 1"),
            ("!pip install aiohttp\nimport aiohttp", "#                   \nimport aiohttp"),
            ("files = !ls *.py\nprint(files)", "files = 0       \nprint(files)"),
            ("for i in range(2):\n    %time f(i)\n", "for i in range(2):\n    0         \n"),
            ("obj?\nobj??\n?obj", "#   \n#    \n#   "),
            ("%%time\nawait main()\n%time x", "#     \nawait main()\n#      "),
            ("%%bash\necho 'é'\nls", "#     \n         \n  "),
            ("x = (a\n% b)\ns = '''\n!not\n'''", "x = (a\n% b)\ns = '''\n!not\n'''"),
            ("y = x  # really?\nz = 1 != 2", "y = x  # really?\nz = 1 != 2"),
            // The continuation goes too: left in, it would continue a masked `0` line.
            ("!echo é \\\n  more\nok = 1", "#         \n      \nok = 1"),
        ];
        for (source, expected) in cases {
            let (masked, _) = mask_cell(source);
            assert_eq!(masked, expected, "for {source:?}");
            assert_eq!(masked.len(), source.len());
        }
    }

    #[test]
    fn broken_notebooks_say_what_is_wrong() {
        let fails = |json: &str| Notebook::parse(json.to_owned()).unwrap_err();
        assert!(fails("{\"cells\": [").starts_with("not a valid notebook: "));
        assert!(fails("[]").starts_with("not a valid notebook: "));
        assert_eq!(fails("{\"metadata\": {}}"), "not a valid notebook: it has no `cells` list");
        assert_eq!(
            fails(r#"{"cells": [{"cell_type": "markdown", "source": ""}, {"cell_type": "code", "source": 3}]}"#),
            "cell 2: `source` is not a string or a list of strings"
        );
        assert_eq!(
            fails(r#"{"cells": [{"cell_type": "code", "source": ["a", 1]}]}"#),
            "cell 1: `source` is not a string or a list of strings"
        );
        assert_eq!(fails(r#"{"cells": [{"cell_type": "code"}]}"#), "cell 1: a code cell without `source`");
        assert_eq!(fails(r#"{"cells": [{"source": ""}]}"#), "cell 1 has no `cell_type`");
        assert_eq!(
            fails(r#"{"nbformat": 3, "worksheets": []}"#),
            "nbformat 3 notebooks are not supported (only nbformat 4)"
        );
        let r = r#"{"cells": [{"cell_type": "code", "source": "x"}], "metadata": {"kernelspec": {"language": "R"}}}"#;
        assert_eq!(Notebook::parse(r.to_owned()).unwrap().code(), "", "not Python: no code cells");
    }

    fn fixed(notebook: &Notebook, rounds: &[Vec<Edit>]) -> Result<Notebook, String> {
        let mut code = notebook.code().to_owned();
        for edits in rounds {
            code = fix::apply_edits(&code, edits);
        }
        notebook.apply(rounds, &code)
    }

    fn replace(text: &str, needle: &str, new_text: &str) -> Edit {
        let start = text.find(needle).unwrap();
        Edit::replace(TextRange::new(start, start + needle.len()), new_text)
    }

    #[test]
    fn fixes_rewrite_only_the_sources_they_change_in_their_layout() {
        let json = notebook(&[
            ("code", &["import asyncio\n", "# caf\u{e9}\n", "%time f()\n", "asyncio.run(main())\n", "print(1)"]),
            ("markdown", &["text"]),
            ("code", &["asyncio.run(main())"]),
        ]);
        // A line as another tool may have escaped it stays as written.
        let json = json.replace("# caf\u{e9}", "# caf\\u00e9");
        let original = Notebook::parse(json.clone()).unwrap();
        let code = original.code().to_owned();
        let first = replace(&code, "asyncio.run(main())", "await main()");
        let last_start = code.rfind("asyncio.run(main())").unwrap();
        let second = Edit::replace(TextRange::new(last_start, last_start + 19), "await main()");
        let after = fixed(&original, &[vec![first, second]]).unwrap();
        let expected = json
            .replacen("\"asyncio.run(main())\\n\"", "\"await main()\\n\"", 1)
            .replace("\"asyncio.run(main())\"", "\"await main()\"");
        assert_eq!(after.json(), expected);
        assert_eq!(after.cell_sources().map(|(number, _)| number).collect::<Vec<_>>(), [1, 3]);
        // An insertion in one round and a replacement after it in the next: the cells' bounds follow.
        let import = Edit::insert(0, "import time\n");
        let round_two = |text: &str| vec![replace(text, "print(1)", "print(2)")];
        let once = fix::apply_edits(&code, std::slice::from_ref(&import));
        let twice = fixed(&original, &[vec![import], round_two(&once)]).unwrap();
        assert!(twice.json().contains("  \"import time\\n\",\n    \"import asyncio\\n\",\n"), "{}", twice.json());
        assert!(twice.json().contains("\"print(2)\""));
        assert_eq!(twice.code().matches("asyncio.run(main())").count(), 2);
    }

    #[test]
    fn a_string_source_stays_a_string_and_an_empty_list_takes_jupyters_layout() {
        let json = "{\"cells\": [{\"cell_type\": \"code\", \"source\": \"a = f()\\nb\"},\n  {\"cell_type\": \"code\", \"source\": []}], \"nbformat\": 4}";
        let original = Notebook::parse(json.to_owned()).unwrap();
        let code = original.code().to_owned();
        let edits = vec![replace(&code, "f()", "await f()"), Edit::insert(code.len() - 1, "pass")];
        let after = fixed(&original, &[edits]).unwrap();
        assert_eq!(
            after.json(),
            "{\"cells\": [{\"cell_type\": \"code\", \"source\": \"a = await f()\\nb\"},\n  {\"cell_type\": \"code\", \"source\": [\n   \"pass\"\n  ]}], \"nbformat\": 4}"
        );
    }

    #[test]
    fn fixes_across_cells_or_over_magics_are_refused() {
        let json =
            notebook(&[("code", &["x = 1"]), ("code", &["%%time\n", "y = 2\n", "!ls"]), ("code", &["%%bash\n", "ls"])]);
        let original = Notebook::parse(json).unwrap();
        let code = original.code().to_owned();
        let across = replace(&code, "1\n#", "2\n#");
        assert_eq!(fixed(&original, &[vec![across]]).unwrap_err(), "a fix reaches across cells");
        let over_magic = replace(&code, "#  ", "x  ");
        assert_eq!(fixed(&original, &[vec![over_magic]]).unwrap_err(), "a fix touches an IPython magic");
        let before_cell_magic = Edit::insert(code.find("#     \ny").unwrap(), "import asyncio\n");
        assert_eq!(fixed(&original, &[vec![before_cell_magic]]).unwrap_err(), "a fix touches an IPython magic");
        let into_bash = Edit::insert(code.len() - 1, "\nx");
        assert_eq!(fixed(&original, &[vec![into_bash]]).unwrap_err(), "a fix touches an IPython magic");
        // Right after a line magic's line is fine: the magic stays whole.
        let after_line_magic = Edit::insert(code.find("y = 2").unwrap(), "z = 3\n");
        let after = fixed(&original, &[vec![after_line_magic]]).unwrap();
        assert_eq!(after.cell_sources().nth(1), Some((2, "%%time\nz = 3\ny = 2\n!ls")));
    }
}

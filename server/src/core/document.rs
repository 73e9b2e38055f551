//! The document model: the text, a rope for line arithmetic and edits, and the tree-sitter-python tree.

use ropey::Rope;
use tree_sitter::{InputEdit, Node, Parser, Point, Tree};

use super::diagnostic::TextRange;
use super::positions::{self, LineCol, Span};
use super::syntax;

#[derive(Clone)]
pub struct Document {
    /// How the project index and the user know this file (a path as given, or a URI's path).
    pub path: String,
    text: String,
    rope: Rope,
    /// The units (see `units`), in order, covering the text.
    units: Vec<Unit>,
}

/// A top-level statement with its decorators and trailing comments, parsed on its own: its tree's nodes carry
/// offsets into the whole text.
#[derive(Clone)]
struct Unit {
    start: usize,
    end: usize,
    /// The row of `start`, counted in `\n` as tree-sitter counts.
    row: usize,
    tree: Tree,
    /// False when the unit nests too deeply to parse safely: its tree is then an empty module.
    parsed: bool,
    /// Given anew each time a unit is parsed, and kept while its tree is only moved: two units with the same serial
    /// hold the same text, so what was worked out for one still holds for the other (see `incremental`).
    serial: u64,
}

/// The next unit serial: unique in the process, so that units of different documents never share one.
static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A unit as the analysis sees it: its serial, its byte range and its tree's root.
#[derive(Clone, Copy)]
pub struct UnitView<'t> {
    pub serial: u64,
    pub start: usize,
    pub end: usize,
    pub root: Node<'t>,
}

thread_local! {
    // A parser is cheap to reuse and costly to create; each worker thread keeps one.
    static PARSER: std::cell::RefCell<Parser> = std::cell::RefCell::new(new_parser());
}

fn new_parser() -> Parser {
    super::parser_allocator::install();
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the bundled tree-sitter-python grammar matches the tree-sitter ABI");
    parser
}

/// Nesting beyond which the grammar's external scanner could overflow its fixed 1 KiB state buffer, which aborts the
/// whole process from C (no unwinding can catch it). Python itself allows 100 indentation levels.
const MAX_SAFE_NESTING: usize = 256;

/// Parses `text[start..end]` alone, with nodes at their offsets in `text` (`start` is at the start of row `row`), or,
/// when its nesting could overflow the grammar's scanner, an empty module (so the unit yields no findings instead of
/// killing the process). With `old`, the unit's previous tree already told of the edit, the parse is incremental.
fn parse_unit(text: &str, start: usize, end: usize, row: usize, old: Option<&Tree>) -> Unit {
    let unit_text = &text[start..end];
    let parsed = nesting_is_safe(unit_text);
    let end_row = row + memchr::memchr_iter(b'\n', unit_text.as_bytes()).count();
    let end_column = end - memchr::memrchr(b'\n', unit_text.as_bytes()).map_or(start, |index| start + index + 1);
    let range = tree_sitter::Range {
        start_byte: start,
        end_byte: end,
        start_point: Point { row, column: 0 },
        end_point: Point { row: end_row, column: end_column },
    };
    let tree = PARSER.with(|parser| {
        let mut parser = parser.borrow_mut();
        parser.reset();
        // No included ranges means the whole source: the empty one.
        let (source, ranges) = if parsed { (text, std::slice::from_ref(&range)) } else { ("", &[][..]) };
        parser.set_included_ranges(ranges).expect("one range within the text is a valid set of included ranges");
        // `parse` only returns None on cancellation or a missing language; neither is possible here.
        let parse = |parser: &mut Parser, old| {
            parser.parse(source, old).expect("parsing without a timeout or cancellation flag always yields a tree")
        };
        let tree = parse(&mut parser, old.filter(|_| parsed));
        // Tree-sitter's error recovery depends on the subtrees it reuses: an incremental parse of broken code can
        // recover differently from a fresh parse (found by fuzzing). A broken unit is parsed afresh, so a document's
        // trees never depend on its edit history; valid text keeps the speed of incremental parsing.
        if old.is_some() && tree.root_node().has_error() {
            parser.reset();
            return parse(&mut parser, None);
        }
        tree
    });
    let serial = NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Unit { start, end, row, tree, parsed, serial }
}

/// Parses the units of `text` that start at `starts` (the first at row `row`), the last ending at `end`.
fn parse_units(text: &str, starts: &[usize], end: usize, row: usize) -> Vec<Unit> {
    let mut row = row;
    let ends = starts.iter().skip(1).copied().chain(std::iter::once(end));
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| {
            let unit = parse_unit(text, start, end, row, None);
            row += memchr::memchr_iter(b'\n', &text.as_bytes()[start..end]).count();
            unit
        })
        .collect()
}

/// Whether the indentation stack and the nesting of f-strings stay well inside what the scanner can serialise.
/// Both are over-estimated (lines inside strings count too), which only ever refuses absurd files.
fn nesting_is_safe(text: &str) -> bool {
    let mut indents: Vec<usize> = vec![0];
    for line in text.lines() {
        let content = line.trim_start_matches([' ', '\t', '\x0c']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let width =
            line[..line.len() - content.len()]
                .chars()
                .fold(0, |width, c| if c == '\t' { (width / 8 + 1) * 8 } else { width + 1 });
        while indents.len() > 1 && width < indents[indents.len() - 1] {
            indents.pop();
        }
        if width > indents[indents.len() - 1] {
            indents.push(width);
            if indents.len() > MAX_SAFE_NESTING {
                return false;
            }
        }
    }
    // An f-string inside a replacement field pushes the scanner's delimiter stack.
    let nested_fstrings = ["{f\"", "{f'", "{rf\"", "{rf'", "{fr\"", "{fr'", "{F\"", "{F'"]
        .iter()
        .map(|pattern| memchr::memmem::find_iter(text.as_bytes(), pattern.as_bytes()).count())
        .sum::<usize>();
    nested_fstrings <= MAX_SAFE_NESTING
}

impl Document {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let units = whole_text_units(&text);
        let rope = Rope::from_str(&text);
        Self { path: path.into(), text, rope, units }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Gives up the text, dropping the trees.
    pub fn into_text(self) -> String {
        self.text
    }

    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    /// The root (`module`) node of each unit, in order: together they hold every top-level statement.
    pub fn roots(&self) -> impl Iterator<Item = Node<'_>> {
        self.units.iter().map(|unit| unit.tree.root_node())
    }

    /// The units in order, each with its serial and range.
    pub fn units(&self) -> impl Iterator<Item = UnitView<'_>> {
        self.units.iter().map(|unit| UnitView {
            serial: unit.serial,
            start: unit.start,
            end: unit.end,
            root: unit.tree.root_node(),
        })
    }

    /// The named top-level nodes of the module (statements and comments), in order.
    pub fn top_level_nodes(&self) -> impl Iterator<Item = Node<'_>> {
        self.roots().flat_map(syntax::named_children)
    }

    /// Walks every unit's tree in order, as one walk over the module.
    pub fn walk<'t>(&'t self, visitor: &mut impl syntax::Visitor<'t>) {
        for root in self.roots() {
            syntax::walk_node(root, visitor);
        }
    }

    /// Whether some unit has an `ERROR` or `MISSING` node.
    pub fn has_syntax_error(&self) -> bool {
        self.roots().any(|root| root.has_error())
    }

    /// The smallest node that spans `offset`, in the unit holding it.
    pub fn node_at(&self, offset: usize) -> Option<Node<'_>> {
        let unit = &self.units[self.unit_at(offset)];
        unit.tree.root_node().descendant_for_byte_range(offset, offset)
    }

    /// False when some part of the text nests too deeply (indentation or f-strings) to be parsed safely; that part is
    /// then analysed as empty.
    pub fn parsed(&self) -> bool {
        self.units.iter().all(|unit| unit.parsed)
    }

    pub fn line_col(&self, offset: usize) -> LineCol {
        positions::line_col(&self.rope, &self.text, offset)
    }

    pub fn span(&self, range: TextRange) -> Span {
        positions::span(&self.rope, &self.text, range.start, range.end)
    }

    /// Every unit's range and every node of its tree with its place, one per line: two documents that describe
    /// alike have the same trees. For tests and fuzzing, which compare an edited document with a fresh parse.
    pub fn describe_trees(&self) -> String {
        struct Describe(String, usize);
        impl<'t> syntax::Visitor<'t> for Describe {
            fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
                use std::fmt::Write;
                let (start, end) = (node.start_position(), node.end_position());
                let _ = writeln!(
                    self.0,
                    "{:indent$}{} {}..{} {}:{}-{}:{}",
                    "",
                    syntax::KindName::kind_name(&node),
                    node.start_byte(),
                    node.end_byte(),
                    start.row,
                    start.column,
                    end.row,
                    end.column,
                    indent = self.1
                );
                self.1 += 1;
                true
            }
            fn leave(&mut self, _node: Node<'t>) {
                self.1 -= 1;
            }
        }
        let mut describe = Describe(String::new(), 0);
        for unit in &self.units {
            describe.0.push_str(&format!("unit {}..{} row {}\n", unit.start, unit.end, unit.row));
            syntax::walk_node(unit.tree.root_node(), &mut describe);
        }
        describe.0
    }

    /// The index of the unit that holds `offset` (the last one for the end of the text).
    fn unit_at(&self, offset: usize) -> usize {
        self.units.partition_point(|unit| unit.start <= offset).saturating_sub(1)
    }

    /// Replaces `range` (bytes) with `new_text`, re-parsing only the units the edit touches: the scanner re-splits
    /// from the unit before the edit until its split points meet the old ones again, and the later units keep their
    /// trees, moved. Out-of-range or mid-character offsets are clamped to the nearest valid boundary.
    pub fn edit(&mut self, range: TextRange, new_text: &str) {
        let start = clamp_to_boundary(&self.text, range.start);
        let end = clamp_to_boundary(&self.text, range.end.max(start));
        let start_position = self.point(start);
        let old_end_position = self.point(end);

        let start_char = self.rope.byte_to_char(start);
        let end_char = self.rope.byte_to_char(end);
        self.rope.remove(start_char..end_char);
        self.rope.insert(start_char, new_text);
        self.text.replace_range(start..end, new_text);

        let new_end = start + new_text.len();
        let edit = InputEdit {
            start_byte: start,
            old_end_byte: end,
            new_end_byte: new_end,
            start_position,
            old_end_position,
            new_end_position: self.point_after_edit(start, start_position, new_end),
        };
        self.resplit(&edit);
    }

    /// Brings the units up to date with the text after `edit`.
    fn resplit(&mut self, edit: &InputEdit) {
        let touched = self.unit_at(edit.start_byte);
        let first = touched.saturating_sub(1);
        let from = self.units[first].start;
        let grows = edit.new_end_byte as isize - edit.old_end_byte as isize;
        let row_shift = edit.new_end_position.row as isize - edit.old_end_position.row as isize;
        // Old unit starts after the edit, as they stand in the new text.
        let later_starts: Vec<usize> = self.units[first + 1..]
            .iter()
            .filter(|unit| unit.start >= edit.old_end_byte && unit.start > edit.start_byte)
            .map(|unit| unit.start.wrapping_add_signed(grows))
            .collect();
        let mut starts = vec![from];
        let mut resumes_at = None;
        for split in super::units::split_points(&self.text, from) {
            if split >= edit.new_end_byte && later_starts.binary_search(&split).is_ok() {
                resumes_at = Some(split);
                break;
            }
            starts.push(split);
        }
        let end = resumes_at.unwrap_or(self.text.len());
        let mut kept: Vec<Unit> = self.units.drain(first..).collect();
        // Units before the edit whose text and place are unchanged keep their trees.
        let mut redone = Vec::with_capacity(starts.len());
        let mut row = kept[0].row;
        let ends: Vec<usize> = starts.iter().skip(1).copied().chain(std::iter::once(end)).collect();
        for (&unit_start, &unit_end) in starts.iter().zip(&ends) {
            let unchanged = kept
                .iter()
                .find(|unit| unit.start == unit_start && unit.end == unit_end && unit_end <= edit.start_byte);
            // The unit the edit fell in, when the edit moved no split point around it, re-parses incrementally.
            let edited = kept.iter().find(|unit| {
                unit.start == unit_start
                    && unit.end.wrapping_add_signed(grows) == unit_end
                    && unit.start <= edit.start_byte
                    && edit.old_end_byte <= unit.end
                    && unit.parsed
            });
            let unit = match (unchanged, edited) {
                (Some(unit), _) => unit.clone(),
                (None, Some(unit)) => {
                    let mut tree = unit.tree.clone();
                    tree.edit(edit);
                    parse_unit(&self.text, unit_start, unit_end, row, Some(&tree))
                }
                (None, None) => parse_unit(&self.text, unit_start, unit_end, row, None),
            };
            row += memchr::memchr_iter(b'\n', &self.text.as_bytes()[unit_start..unit_end]).count();
            redone.push(unit);
        }
        self.units.extend(redone);
        if let Some(resume) = resumes_at {
            let old_resume = resume.wrapping_add_signed(-grows);
            let position =
                kept.iter().position(|unit| unit.start == old_resume).expect("the resumed unit was an old unit");
            for mut unit in kept.drain(position..) {
                unit.start = unit.start.wrapping_add_signed(grows);
                unit.end = unit.end.wrapping_add_signed(grows);
                unit.row = unit.row.wrapping_add_signed(row_shift);
                if unit.tree.root_node().has_error() {
                    // Error recovery weighs the whitespace before a unit, which here is the whole text before it: a
                    // broken unit is parsed again where it now stands, as a fresh parse of the text would.
                    unit = parse_unit(&self.text, unit.start, unit.end, unit.row, None);
                } else {
                    unit.tree.edit(edit);
                }
                self.units.push(unit);
            }
        }
    }

    /// Replaces the whole text (full sync), re-parsing from scratch.
    pub fn set_text(&mut self, text: String) {
        self.units = whole_text_units(&text);
        self.rope = Rope::from_str(&text);
        self.text = text;
    }

    /// A tree-sitter point for an offset of the current text. Tree-sitter counts rows by `\n` only and columns in
    /// bytes, so this is counted from the start of the offset's unit, whose row is known.
    fn point(&self, offset: usize) -> Point {
        let unit = &self.units[self.unit_at(offset)];
        let within = &self.text.as_bytes()[unit.start..offset];
        let row = unit.row + memchr::memchr_iter(b'\n', within).count();
        let line_start = memchr::memrchr(b'\n', within).map_or(unit.start, |index| unit.start + index + 1);
        Point { row, column: offset - line_start }
    }

    /// The point of `offset` in the edited text, counted from the edit's start (whose point is `start_position`).
    fn point_after_edit(&self, start: usize, start_position: Point, offset: usize) -> Point {
        let inserted = &self.text.as_bytes()[start..offset];
        match memchr::memrchr(b'\n', inserted) {
            Some(last) => Point {
                row: start_position.row + memchr::memchr_iter(b'\n', inserted).count(),
                column: offset - (start + last + 1),
            },
            None => Point { row: start_position.row, column: start_position.column + inserted.len() },
        }
    }
}

/// The units of a whole text, parsed afresh.
fn whole_text_units(text: &str) -> Vec<Unit> {
    let starts: Vec<usize> = std::iter::once(0).chain(super::units::split_points(text, 0)).collect();
    parse_units(text, &starts, text.len(), 0)
}

fn clamp_to_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn an_edit_to_broken_code_gives_the_tree_of_a_fresh_parse() {
        // Found by fuzzing (fuzz/regressions/incremental_edits): tree-sitter's incremental error recovery differed.
        let initial = "ble \u{1}\0\0\0\0\0\u{1}0sync def flush(n):\n   task(flush(1))  # exp0.01)\n    print(f\"fly\0hed {n}\")\n\n\nas";
        let mut document = Document::new("m.py", initial);
        document.edit(TextRange::empty(initial.len()), "e");
        let fresh = Document::new("m.py", format!("{initial}e"));
        assert_eq!(nodes(&document), nodes(&fresh));
    }

    type Place = (&'static str, usize, usize, Point, Point);

    /// Every node under `root`, with its place in bytes and in tree-sitter's points, but the `module` roots.
    fn places(root: Node, into: &mut Vec<Place>) {
        struct Collect<'v>(&'v mut Vec<Place>);
        impl<'t> syntax::Visitor<'t> for Collect<'_> {
            fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
                use syntax::KindName;
                if node.kind_name() != "module" {
                    self.0.push((
                        node.kind_name(),
                        node.start_byte(),
                        node.end_byte(),
                        node.start_position(),
                        node.end_position(),
                    ));
                }
                true
            }
            fn leave(&mut self, _node: Node<'t>) {}
        }
        syntax::walk_node(root, &mut Collect(into));
    }

    /// Every node of every unit with its place; asserts that the units are those of a fresh split of the text.
    fn nodes(document: &Document) -> Vec<Place> {
        let mut found = Vec::new();
        for root in document.roots() {
            places(root, &mut found);
        }
        let units: Vec<_> = document.units.iter().map(|unit| (unit.start, unit.end, unit.row)).collect();
        let fresh: Vec<_> =
            whole_text_units(document.text()).iter().map(|unit| (unit.start, unit.end, unit.row)).collect();
        assert_eq!(units, fresh, "the units of an edited document are those of its text");
        found
    }

    fn assert_same_tree(edited: &Document, text: &str) {
        let fresh = Document::new("x.py", text);
        assert_eq!(edited.text(), text);
        assert_eq!(edited.rope().to_string(), text);
        assert_eq!(nodes(edited), nodes(&fresh));
    }

    #[test]
    fn incremental_edits_match_a_fresh_parse() {
        let mut doc = Document::new("x.py", "async def f():\n    time.sleep(1)\n");
        let at = doc.text().find("time").unwrap();
        doc.edit(TextRange::new(at, at + 4), "t");
        assert_same_tree(&doc, "async def f():\n    t.sleep(1)\n");
        doc.edit(TextRange::empty(0), "import time as t\r\n😀 = 1\n");
        assert_same_tree(&doc, "import time as t\r\n😀 = 1\nasync def f():\n    t.sleep(1)\n");
        let end = doc.text().len();
        doc.edit(TextRange::new(end - 3, end), "");
        assert_same_tree(&doc, "import time as t\r\n😀 = 1\nasync def f():\n    t.sleep(");
    }

    #[test]
    fn nesting_that_would_overflow_the_scanner_is_not_parsed() {
        let mut deep = String::new();
        for level in 0..1000 {
            deep.push_str(&"    ".repeat(level));
            deep.push_str(&format!("def f{level}():\n"));
        }
        deep.push_str(&"    ".repeat(1000));
        deep.push_str("pass\n");
        let document = Document::new("deep.py", deep);
        assert!(!document.parsed());
        assert_eq!(document.top_level_nodes().count(), 0);
        let fstrings = format!("x = {}\n", "f'{f\"{".repeat(400));
        assert!(!Document::new("f.py", fstrings).parsed());
        let mut edited = Document::new("ok.py", "x = 1\n");
        assert!(edited.parsed());
        edited.edit(TextRange::empty(0), &"{f'".repeat(300));
        assert!(!edited.parsed());
        edited.set_text("y = 2\n".to_owned());
        assert!(edited.parsed());
    }

    #[test]
    fn out_of_range_edits_are_clamped() {
        let mut doc = Document::new("x.py", "é");
        doc.edit(TextRange::new(1, 99), "a");
        assert_same_tree(&doc, "a");
    }

    fn python_files(folder: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                python_files(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "py") {
                found.push(path);
            }
        }
    }

    /// Every `.py` file under `fixtures/`, sorted: the corpus of the core's equivalence tests.
    pub(in crate::core) fn fixture_files() -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        python_files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures"), &mut files);
        files.sort();
        assert!(files.len() > 40, "the fixtures are found");
        files
    }

    #[test]
    fn units_hold_exactly_the_nodes_of_a_whole_file_parse() {
        let mut compared = 0;
        for file in fixture_files() {
            let text = std::fs::read_to_string(&file).unwrap();
            let whole = PARSER.with(|parser| {
                let mut parser = parser.borrow_mut();
                parser.set_included_ranges(&[]).unwrap();
                parser.parse(&text, None).unwrap()
            });
            if whole.root_node().has_error() || !nesting_is_safe(&text) {
                continue;
            }
            let document = Document::new("m.py", text.as_str());
            let from_units = nodes(&document);
            let mut from_whole = Vec::new();
            places(whole.root_node(), &mut from_whole);
            assert_eq!(from_units, from_whole, "{}", file.display());
            compared += 1;
        }
        assert!(compared > 30);
    }

    #[test]
    fn random_edits_give_the_units_and_trees_of_a_fresh_parse() {
        let pieces = [
            "import asyncio\n",
            "\n",
            "@decorator\n",
            "def f(x):\n",
            "    return x\n",
            "async def g():\n",
            "    await asyncio.sleep(1)\n",
            "class C:\n",
            "    def m(self):\n",
            "        pass\n",
            "# comment\n",
            "else:\n",
            "x = (\n",
            ")\n",
            "\"\"\"\n",
            "s = f\"{x:#x}\"\n",
            "'",
            "\\\n",
            "try:\n",
            "except E:\n",
            "é",
            "\r\n",
            "def",
            " ",
            "(",
            "\"",
        ];
        let mut seed: u64 = 0x5eed;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        for _ in 0..40 {
            let initial: String = (0..30).map(|_| pieces[next(pieces.len())]).collect();
            let mut document = Document::new("m.py", initial.as_str());
            for _ in 0..25 {
                let length = document.text().len();
                let start = clamp_to_boundary(document.text(), next(length + 1));
                let end = clamp_to_boundary(document.text(), (start + next(12)).min(length));
                let insert: String = (0..next(3)).map(|_| pieces[next(pieces.len())]).collect();
                document.edit(TextRange::new(start, end), &insert);
                let fresh = Document::new("m.py", document.text());
                assert_eq!(nodes(&document), nodes(&fresh), "after an edit, the text being {:?}", document.text());
            }
        }
    }
}

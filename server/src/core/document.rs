//! The document model: the text, a rope for line arithmetic and edits, and the tree-sitter-python tree.

use ropey::Rope;
use tree_sitter::{InputEdit, Parser, Point, Tree};

use super::diagnostic::TextRange;
use super::positions::{self, LineCol, Span};

pub struct Document {
    /// How the project index and the user know this file (a path as given, or a URI's path).
    pub path: String,
    text: String,
    rope: Rope,
    tree: Tree,
    /// False when the text nests too deeply to parse safely: the tree is then an empty module.
    parsed: bool,
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

/// Parses `text`, or, when its nesting could overflow the grammar's scanner, an empty module (so the file yields no
/// findings instead of killing the process). Returns whether the text itself was parsed.
fn parse(text: &str, old: Option<&Tree>) -> (Tree, bool) {
    let safe = nesting_is_safe(text);
    let tree = PARSER.with(|parser| {
        let mut parser = parser.borrow_mut();
        parser.reset();
        let (source, old) = if safe { (text, old) } else { ("", None) };
        // `parse` only returns None on cancellation or a missing language; neither is possible here.
        parser.parse(source, old).expect("parsing without a timeout or cancellation flag always yields a tree")
    });
    (tree, safe)
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
        let (tree, parsed) = parse(&text, None);
        let rope = Rope::from_str(&text);
        Self { path: path.into(), text, rope, tree, parsed }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Gives up the text, dropping the tree.
    pub fn into_text(self) -> String {
        self.text
    }

    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// False when the text nests too deeply (indentation or f-strings) to be parsed safely; it is then analysed as
    /// an empty module.
    pub fn parsed(&self) -> bool {
        self.parsed
    }

    pub fn line_col(&self, offset: usize) -> LineCol {
        positions::line_col(&self.rope, &self.text, offset)
    }

    pub fn span(&self, range: TextRange) -> Span {
        positions::span(&self.rope, &self.text, range.start, range.end)
    }

    /// Replaces `range` (bytes) with `new_text`: edits the rope, tells the old tree, and re-parses incrementally.
    /// Out-of-range or mid-character offsets are clamped to the nearest valid boundary.
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
            new_end_position: self.point(new_end),
        };
        if self.parsed {
            self.tree.edit(&edit);
        }
        let old = self.parsed.then_some(&self.tree);
        let (tree, parsed) = parse(&self.text, old);
        // Tree-sitter's error recovery depends on the subtrees it reuses: an incremental parse of broken code can
        // recover differently from a fresh parse (found by fuzzing). Broken text is parsed afresh, so a document's
        // tree never depends on its edit history; valid text keeps the speed of incremental parsing.
        (self.tree, self.parsed) =
            if parsed && tree.root_node().has_error() { parse(&self.text, None) } else { (tree, parsed) };
    }

    /// Replaces the whole text (full sync), re-parsing from scratch.
    pub fn set_text(&mut self, text: String) {
        (self.tree, self.parsed) = parse(&text, None);
        self.rope = Rope::from_str(&text);
        self.text = text;
    }

    /// A tree-sitter point for an offset of the current text. Tree-sitter counts rows by `\n` only and columns in
    /// bytes, so this is computed from the text rather than from the rope's line model.
    fn point(&self, offset: usize) -> Point {
        let before = &self.text.as_bytes()[..offset];
        let row = memchr::memchr_iter(b'\n', before).count();
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |index| index + 1);
        Point { row, column: offset - line_start }
    }
}

fn clamp_to_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_to_broken_code_gives_the_tree_of_a_fresh_parse() {
        // Found by fuzzing (fuzz/regressions/incremental_edits): tree-sitter's incremental error recovery differed.
        let initial = "ble \u{1}\0\0\0\0\0\u{1}0sync def flush(n):\n   task(flush(1))  # exp0.01)\n    print(f\"fly\0hed {n}\")\n\n\nas";
        let mut document = Document::new("m.py", initial);
        document.edit(TextRange::empty(initial.len()), "e");
        let fresh = Document::new("m.py", format!("{initial}e"));
        assert_eq!(document.tree().root_node().to_sexp(), fresh.tree().root_node().to_sexp());
    }

    fn assert_same_tree(edited: &Document, text: &str) {
        let fresh = Document::new("x.py", text);
        assert_eq!(edited.text(), text);
        assert_eq!(edited.rope().to_string(), text);
        assert_eq!(edited.tree().root_node().to_sexp(), fresh.tree().root_node().to_sexp());
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
        assert_eq!(document.tree().root_node().child_count(), 0);
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
}

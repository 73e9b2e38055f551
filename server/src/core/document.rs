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
}

thread_local! {
    // A parser is cheap to reuse and costly to create; each worker thread keeps one.
    static PARSER: std::cell::RefCell<Parser> = std::cell::RefCell::new(new_parser());
}

fn new_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the bundled tree-sitter-python grammar matches the tree-sitter ABI");
    parser
}

fn parse(text: &str, old: Option<&Tree>) -> Tree {
    PARSER.with(|parser| {
        let mut parser = parser.borrow_mut();
        parser.reset();
        // `parse` only returns None on cancellation or a missing language; neither is possible here.
        parser.parse(text, old).expect("parsing without a timeout or cancellation flag always yields a tree")
    })
}

impl Document {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let tree = parse(&text, None);
        let rope = Rope::from_str(&text);
        Self { path: path.into(), text, rope, tree }
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

    pub fn slice(&self, range: TextRange) -> &str {
        &self.text[range.start..range.end]
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
        self.tree.edit(&edit);
        self.tree = parse(&self.text, Some(&self.tree));
    }

    /// Replaces the whole text (full sync), re-parsing from scratch.
    pub fn set_text(&mut self, text: String) {
        self.tree = parse(&text, None);
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
    fn out_of_range_edits_are_clamped() {
        let mut doc = Document::new("x.py", "é");
        doc.edit(TextRange::new(1, 99), "a");
        assert_same_tree(&doc, "a");
    }
}

//! The one place where byte offsets become lines and columns (UTF-8, UTF-16 or characters) and back.
//!
//! Lines break at `\n`, `\r\n` and a lone `\r`, as both Python and the LSP specification count them.

use ropey::Rope;
use serde::{Deserialize, Serialize};

/// A position: a 0-based line and the column before the position in three units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct LineCol {
    pub line: u32,
    /// Bytes from the line start.
    pub utf8: u32,
    /// UTF-16 code units from the line start (the LSP default).
    pub utf16: u32,
    /// Unicode scalar values from the line start (what people and ruff's JSON call a column, minus one).
    pub chars: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Span {
    pub start: LineCol,
    pub end: LineCol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// The line and columns of a byte offset. Offsets past the end clamp to the end; an offset inside a character
/// moves back to that character's start.
pub fn line_col(rope: &Rope, text: &str, offset: usize) -> LineCol {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let line = rope.byte_to_line(offset);
    let line_start = rope.line_to_byte(line);
    let before = &text[line_start..offset];
    LineCol {
        line: line as u32,
        utf8: before.len() as u32,
        utf16: before.chars().map(char::len_utf16).sum::<usize>() as u32,
        chars: before.chars().count() as u32,
    }
}

pub fn span(rope: &Rope, text: &str, start: usize, end: usize) -> Span {
    Span { start: line_col(rope, text, start), end: line_col(rope, text, end) }
}

/// The byte offset of a (line, column) in the given encoding. A line past the end gives the text's end; a column past
/// the line's end gives the line's end (before its line break), as the LSP specification asks.
pub fn offset_at(rope: &Rope, text: &str, line: u32, column: u32, encoding: Encoding) -> usize {
    let line = line as usize;
    if line >= rope.len_lines() {
        return text.len();
    }
    let line_start = rope.line_to_byte(line);
    let line_end = if line + 1 < rope.len_lines() { rope.line_to_byte(line + 1) } else { text.len() };
    let content = text[line_start..line_end].trim_end_matches(['\n', '\r']);
    let mut units = 0u32;
    for (index, ch) in content.char_indices() {
        if units >= column {
            return line_start + index;
        }
        units += match encoding {
            Encoding::Utf8 => ch.len_utf8() as u32,
            Encoding::Utf16 => ch.len_utf16() as u32,
        };
    }
    line_start + content.len()
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, offset: usize) -> LineCol {
        line_col(&Rope::from_str(text), text, offset)
    }

    #[test]
    fn columns_count_emoji_and_cjk_in_each_unit() {
        let text = "x = '😀漢'; y\n";
        let y = text.find('y').unwrap();
        let pos = at(text, y);
        assert_eq!(pos.line, 0);
        assert_eq!(pos.utf8, 15);
        assert_eq!(pos.utf16, 11);
        assert_eq!(pos.chars, 10);
    }

    #[test]
    fn crlf_and_lone_cr_both_break_lines() {
        let text = "a\r\nb\rc\n";
        assert_eq!(at(text, text.find('b').unwrap()).line, 1);
        assert_eq!(at(text, text.find('c').unwrap()).line, 2);
        assert_eq!(at(text, text.find('c').unwrap()).utf16, 0);
    }

    #[test]
    fn unicode_line_separator_does_not_break_a_line() {
        let text = "s = '\u{2028}'; z\n";
        assert_eq!(at(text, text.find('z').unwrap()).line, 0);
    }

    #[test]
    fn offset_round_trips_in_both_encodings() {
        let text = "é😀 = 1\r\nprint(漢)\n";
        let rope = Rope::from_str(text);
        for (offset, _) in text.char_indices() {
            let pos = line_col(&rope, text, offset);
            if text[offset..].starts_with('\n') && offset > 0 && text.as_bytes()[offset - 1] == b'\r' {
                continue; // between \r and \n is not a position a client can name
            }
            assert_eq!(offset_at(&rope, text, pos.line, pos.utf16, Encoding::Utf16), offset, "utf16 at {offset}");
            assert_eq!(offset_at(&rope, text, pos.line, pos.utf8, Encoding::Utf8), offset, "utf8 at {offset}");
        }
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let text = "ab\ncd";
        let rope = Rope::from_str(text);
        assert_eq!(offset_at(&rope, text, 0, 99, Encoding::Utf16), 2);
        assert_eq!(offset_at(&rope, text, 9, 0, Encoding::Utf16), text.len());
        assert_eq!(at(text, 999).line, 1);
        let inside_emoji = "😀";
        assert_eq!(at(inside_emoji, 2).utf8, 0);
    }
}

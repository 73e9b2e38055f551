//! Fuzz target (c): a random sequence of incremental edits applied to a document must give the same text and the
//! same tree as a fresh parse of the final text.
#![no_main]

use arbitrary::Arbitrary;
use asynclint::core::diagnostic::TextRange;
use asynclint::core::document::Document;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Edit {
    start: u16,
    length: u8,
    inserted: String,
}

#[derive(Debug, Arbitrary)]
struct Session {
    initial: String,
    edits: Vec<Edit>,
}

fn floor_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fuzz_target!(|session: Session| {
    let mut document = Document::new("fuzz.py", session.initial.clone());
    let mut expected = session.initial;
    for edit in session.edits.iter().take(32) {
        let start = floor_boundary(&expected, usize::from(edit.start));
        let end = floor_boundary(&expected, start + usize::from(edit.length));
        expected.replace_range(start..end, &edit.inserted);
        document.edit(TextRange::new(start, end), &edit.inserted);
        assert_eq!(document.text(), expected);
    }
    let fresh = Document::new("fuzz.py", expected);
    assert_eq!(document.parsed(), fresh.parsed());
    assert_eq!(document.describe_trees(), fresh.describe_trees());
});

//! Fuzz target (c): a random sequence of incremental edits applied to a document must give the same text and the
//! same tree as a fresh parse of the final text, and after every edit the findings kept unit by unit
//! (`core::incremental`, what the language server publishes) must equal a whole check's.
#![no_main]

use arbitrary::Arbitrary;
use asynclint::core::check::{build_model, check_model, FixScope, ModuleInfo};
use asynclint::core::diagnostic::TextRange;
use asynclint::core::document::Document;
use asynclint::core::incremental::IncrementalCheck;
use asynclint::core::{ProjectIndex, Settings};
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
    let (settings, index) = (Settings::default(), ProjectIndex::default());
    let module = ModuleInfo { name: "fuzz".to_owned(), ..ModuleInfo::default() };
    let mut kept = IncrementalCheck::default();
    let whole_check = |document: &Document| {
        let model = build_model(document, &module, settings.catalogue());
        check_model(document, &model, &index, &settings, FixScope::None)
    };
    assert_eq!(kept.check(&document, &module, &index, &settings, 0), whole_check(&document));
    for edit in session.edits.iter().take(32) {
        let start = floor_boundary(&expected, usize::from(edit.start));
        let end = floor_boundary(&expected, start + usize::from(edit.length));
        expected.replace_range(start..end, &edit.inserted);
        document.edit(TextRange::new(start, end), &edit.inserted);
        assert_eq!(document.text(), expected);
        assert_eq!(kept.check(&document, &module, &index, &settings, 0), whole_check(&document));
    }
    let fresh = Document::new("fuzz.py", expected);
    assert_eq!(document.parsed(), fresh.parsed());
    assert_eq!(document.describe_trees(), fresh.describe_trees());
});

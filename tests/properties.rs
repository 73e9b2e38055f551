//! Property tests: random edits, texts and positions. Incremental edits always equal a fresh parse, positions
//! round-trip in both encodings, and every fix has sorted, non-overlapping edits that re-parse.

use asynclint::core::check::{check, ModuleInfo};
use asynclint::core::diagnostic::TextRange;
use asynclint::core::document::Document;
use asynclint::core::fix;
use asynclint::core::index::ProjectIndex;
use asynclint::core::positions::{line_col, offset_at, Encoding};
use asynclint::core::settings::Settings;
use proptest::prelude::*;

/// Python-ish fragments with the characters that break naive position code: emoji, CJK, CRLF, lone CR, tabs.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("import time\n".to_owned()),
        Just("async def f(x):\n".to_owned()),
        Just("    time.sleep(1)\n".to_owned()),
        Just("    await g(x)\r\n".to_owned()),
        Just("    s = '😀漢字'; open(s)\n".to_owned()),
        Just("\tif x:\r".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("\"\"\"".to_owned()),
        "[a-z_ ]{0,8}".prop_map(|text| text),
    ]
}

fn source() -> impl Strategy<Value = String> {
    proptest::collection::vec(fragment(), 0..12).prop_map(|parts| parts.concat())
}

fn floor_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn incremental_edits_equal_a_fresh_parse(
        initial in source(),
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), fragment()), 1..6),
    ) {
        let mut document = Document::new("p.py", initial.clone());
        let mut expected = initial;
        for (a, b, inserted) in edits {
            let start = floor_boundary(&expected, a % (expected.len() + 1));
            let end = floor_boundary(&expected, start + b % (expected.len() - start + 1));
            expected.replace_range(start..end, &inserted);
            document.edit(TextRange::new(start, end), &inserted);
        }
        let fresh = Document::new("p.py", expected.clone());
        prop_assert_eq!(document.text(), expected.as_str());
        prop_assert_eq!(document.describe_trees(), fresh.describe_trees());
    }

    #[test]
    fn positions_round_trip_in_both_encodings(text in source(), offset in any::<usize>()) {
        let document = Document::new("p.py", text.clone());
        let offset = floor_boundary(&text, offset % (text.len() + 1));
        // Between the two bytes of a CRLF is no position a client can name.
        prop_assume!(!(offset > 0 && text.as_bytes().get(offset) == Some(&b'\n') && text.as_bytes()[offset - 1] == b'\r'));
        let position = line_col(document.rope(), &text, offset);
        prop_assert_eq!(offset_at(document.rope(), &text, position.line, position.utf16, Encoding::Utf16), offset);
        prop_assert_eq!(offset_at(document.rope(), &text, position.line, position.utf8, Encoding::Utf8), offset);
    }

    #[test]
    fn fixes_have_sorted_non_overlapping_edits_that_reparse(text in source()) {
        let document = Document::new("p.py", text);
        let module = ModuleInfo { name: "p".to_owned(), ..ModuleInfo::default() };
        let settings = Settings::default();
        for diagnostic in check(&document, &module, &ProjectIndex::default(), &settings) {
            for offered in &diagnostic.fixes {
                prop_assert!(fix::edits_are_well_formed(document.text(), &offered.edits), "{:?}", offered);
                prop_assert!(fix::apply_checked(&document, offered).is_some(), "{:?} does not re-parse", offered);
            }
        }
    }
}

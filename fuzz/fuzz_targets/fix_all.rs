//! Fuzz target (b): apply every fix (unsafe ones too) round after round, as `--fix --unsafe-fixes` does, re-checking
//! each time. Every round must keep the edits well formed and never parse worse than the text it started from.
#![no_main]

use asynclint::core::check::{check, ModuleInfo};
use asynclint::core::document::Document;
use asynclint::core::fix;
use asynclint::core::index::ProjectIndex;
use asynclint::core::settings::Settings;
use libfuzzer_sys::fuzz_target;

const ROUNDS: usize = 10;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let module = ModuleInfo { name: "fuzz".to_owned(), is_package: false };
    let settings = Settings::default();
    let index = ProjectIndex::default();
    let mut document = Document::new("fuzz.py", text);
    let errors_before = fix::syntax_error_count(&document);
    for _ in 0..ROUNDS {
        let diagnostics = check(&document, &module, &index, &settings);
        for offered in diagnostics.iter().flat_map(|diagnostic| &diagnostic.fixes) {
            assert!(fix::edits_are_well_formed(document.text(), &offered.edits), "{offered:?}");
        }
        let (fixed, applied) =
            fix::apply_non_overlapping(&document, diagnostics.iter().flat_map(|d| d.preferred_fix()));
        if applied == 0 {
            break;
        }
        document = Document::new("fuzz.py", fixed);
        let errors = fix::syntax_error_count(&document);
        assert!(
            errors <= errors_before,
            "fixing added syntax errors ({errors_before} -> {errors}):\n{}",
            document.text()
        );
    }
});

//! Fuzz target (b): apply every fix (unsafe ones too) round after round, as `--fix --unsafe-fixes` does. Every
//! offered fix must have well-formed edits, and the fixed text must never parse worse than the original.
#![no_main]

use asynclint::core::check::{check, fix_all, ModuleInfo};
use asynclint::core::document::Document;
use asynclint::core::fix;
use asynclint::core::index::ProjectIndex;
use asynclint::core::settings::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let module = ModuleInfo { name: "fuzz".to_owned(), ..ModuleInfo::default() };
    let settings = Settings::default();
    let index = ProjectIndex::default();
    let document = Document::new("fuzz.py", text);
    for diagnostic in check(&document, &module, &index, &settings) {
        for offered in &diagnostic.fixes {
            assert!(fix::edits_are_well_formed(document.text(), &offered.edits), "{offered:?}");
        }
    }
    let errors_before = fix::syntax_error_count(&document);
    let outcome = fix_all(document, &module, &index, &settings, |_| true);
    let errors = fix::syntax_error_count(&outcome.document);
    assert!(
        errors <= errors_before,
        "fixing added syntax errors ({errors_before} -> {errors}):\n{}",
        outcome.document.text()
    );
});

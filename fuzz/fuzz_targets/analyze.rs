//! Fuzz target (a): arbitrary bytes analysed as a Python file, by both the batch path and the full check.
#![no_main]

use asynclint::core::check::{analyze, check, ModuleInfo};
use asynclint::core::document::Document;
use asynclint::core::index::ProjectIndex;
use asynclint::core::settings::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // Editors hand the server any text; the CLI skips invalid UTF-8, so the lossy text covers both.
    let text = String::from_utf8_lossy(bytes).into_owned();
    let document = Document::new("fuzz.py", text);
    let module = ModuleInfo { name: "fuzz".to_owned(), ..ModuleInfo::default() };
    let settings = Settings::default();
    let analysis = analyze(&document, &module, &settings);
    let index = ProjectIndex::new(vec![analysis.summary]);
    for diagnostic in check(&document, &module, &index, &settings) {
        let range = diagnostic.range;
        assert!(range.start <= range.end && range.end <= document.text().len(), "{diagnostic:?}");
        assert!(document.text().is_char_boundary(range.start) && document.text().is_char_boundary(range.end));
    }
});

//! The one entry point the CLI, the language server and the tests share: `check(document, index, settings)`.

use super::diagnostic::{Diagnostic, Related, TextRange};
use super::document::Document;
use super::index::ProjectIndex;
use super::rules::{self, RuleMeta};
use super::semantic::SemanticModel;
use super::settings::Settings;
use super::summary::{summarize, ModuleSummary};

/// What every rule gets: the document, its semantic model, the project index and the settings.
pub struct Checker<'a> {
    pub document: &'a Document,
    pub model: &'a SemanticModel<'a>,
    pub index: &'a ProjectIndex,
    pub settings: &'a Settings,
}

impl Checker<'_> {
    pub fn enabled(&self, rule: &RuleMeta) -> bool {
        self.settings.is_enabled(rule)
    }

    pub fn diagnostic(&self, rule: &'static RuleMeta, range: TextRange, message: String) -> Diagnostic {
        Diagnostic {
            code: rule.code,
            name: rule.name,
            message,
            range,
            severity: self.settings.severity(rule),
            fixes: Vec::new(),
            related: Vec::<Related>::new(),
        }
    }
}

/// Where a document sits in its project: its dotted module name and whether it is a package's `__init__.py`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    pub name: String,
    pub is_package: bool,
}

/// Checks one document against the project. Never fails: broken Python yields fewer diagnostics.
/// Diagnostics come sorted by position, then code.
pub fn check(document: &Document, module: &ModuleInfo, index: &ProjectIndex, settings: &Settings) -> Vec<Diagnostic> {
    // A file with no `async` has no async context, so no rule can fire in it.
    if memchr::memmem::find(document.text().as_bytes(), b"async").is_none() {
        return Vec::new();
    }
    let catalogue = settings.catalogue();
    let model = SemanticModel::build(document, &module.name, module.is_package, catalogue);
    let checker = Checker {
        document,
        model: &model,
        index,
        settings,
    };
    let mut diagnostics = Vec::new();
    rules::blocking::check(&checker, &mut diagnostics);
    if checker.enabled(&rules::transitive_blocking::RULE) {
        rules::transitive_blocking::check(&checker, &mut diagnostics);
    }
    diagnostics.sort_by(|a, b| (a.range.start, a.code, a.range.end).cmp(&(b.range.start, b.code, b.range.end)));
    diagnostics
}

/// The module summary of a document, for the project index.
pub fn summarize_document(document: &Document, module: &ModuleInfo, settings: &Settings) -> ModuleSummary {
    let catalogue = settings.catalogue();
    let model = SemanticModel::build(document, &module.name, module.is_package, catalogue);
    summarize(document, &model, catalogue)
}

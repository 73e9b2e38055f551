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
    if !mentions_async(document) {
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
    run_local_rules(&checker, &mut diagnostics);
    if checker.enabled(&rules::transitive_blocking::RULE) {
        rules::transitive_blocking::check(&checker, &mut diagnostics);
    }
    sort(&mut diagnostics);
    diagnostics
}

/// What one parse of a file yields for a batch run: its summary for the project index, the findings that need no
/// index, and the callees whose blocking only the index can tell.
pub struct FileAnalysis {
    pub summary: ModuleSummary,
    /// Findings of the rules that look at this file alone, sorted.
    pub local_diagnostics: Vec<Diagnostic>,
    /// Qualified names called from async code that may be blocking project functions (AL110 candidates).
    pub project_callees: Vec<String>,
}

impl FileAnalysis {
    /// Whether the project-wide rules find something here, so that the file needs the full [`check`]. The batch
    /// path then gives the same diagnostics as [`check`] without holding every parse tree until the index is built.
    pub fn needs_project_check(&self, index: &ProjectIndex, settings: &Settings) -> bool {
        settings.is_enabled(&rules::transitive_blocking::RULE)
            && self.project_callees.iter().any(|callee| index.blocks(callee))
    }
}

/// Summarises a document and runs the index-free rules on the same parse.
pub fn analyze(document: &Document, module: &ModuleInfo, settings: &Settings) -> FileAnalysis {
    let catalogue = settings.catalogue();
    let model = SemanticModel::build(document, &module.name, module.is_package, catalogue);
    let summary = summarize(document, &model, catalogue);
    let mut local_diagnostics = Vec::new();
    let mut project_callees = Vec::new();
    if mentions_async(document) {
        let empty_index = ProjectIndex::default();
        let checker = Checker {
            document,
            model: &model,
            index: &empty_index,
            settings,
        };
        run_local_rules(&checker, &mut local_diagnostics);
        sort(&mut local_diagnostics);
        project_callees = rules::transitive_blocking::candidate_callees(&model, catalogue);
    }
    FileAnalysis {
        summary,
        local_diagnostics,
        project_callees,
    }
}

/// The module summary of a document, for the project index.
pub fn summarize_document(document: &Document, module: &ModuleInfo, settings: &Settings) -> ModuleSummary {
    let catalogue = settings.catalogue();
    let model = SemanticModel::build(document, &module.name, module.is_package, catalogue);
    summarize(document, &model, catalogue)
}

/// The rules that need nothing beyond the file itself.
fn run_local_rules(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    rules::blocking::check(checker, diagnostics);
}

fn mentions_async(document: &Document) -> bool {
    memchr::memmem::find(document.text().as_bytes(), b"async").is_some()
}

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| (a.range.start, a.code, a.range.end).cmp(&(b.range.start, b.code, b.range.end)));
}

//! The one entry point the CLI, the language server and the tests share: `check(document, index, settings)`.

use std::hash::{Hash, Hasher};

use super::catalogue::Catalogue;
use super::diagnostic::{Applicability, Diagnostic, Edit, Fix, Related, TextRange};
use super::document::Document;
use super::fix;
use super::index::ProjectIndex;
use super::lifecycle;
use super::rules::{self, RuleMeta};
use super::semantic::SemanticModel;
use super::settings::Settings;
use super::summary::{summarize, summarize_calls, Branches, ModuleSummary};
use super::suppressions;

/// What every rule gets: the document, its semantic model, the project index and the settings.
pub struct Checker<'a> {
    pub document: &'a Document,
    pub model: &'a SemanticModel<'a>,
    pub index: &'a ProjectIndex,
    pub settings: &'a Settings,
    /// Which findings get their fixes built: publishing diagnostics needs none, `--fix` all, a code action those in
    /// its range.
    pub fixes: FixScope,
}

/// Which findings a check builds fixes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixScope {
    None,
    All,
    /// The findings that overlap the range.
    Within(TextRange),
}

impl Checker<'_> {
    /// Attaches the fix `build` makes, when fixes are wanted. In a file that already has syntax errors, a rewrite can
    /// make the parse worse in ways no local check sees (a call inside an unclosed bracket), so the fix is offered
    /// only if its result re-parses no worse.
    pub fn offer(&self, diagnostic: &mut Diagnostic, build: impl FnOnce() -> Option<Fix>) {
        let wanted = match self.fixes {
            FixScope::None => false,
            FixScope::All => true,
            FixScope::Within(range) => diagnostic.range.intersects(range),
        };
        if !wanted {
            return;
        }
        let Some(fix) = build() else { return };
        if self.document.has_syntax_error() && fix::apply_checked(self.document, &fix).is_none() {
            return;
        }
        diagnostic.fixes.push(fix);
    }

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

/// Where a document sits in its project: its dotted module name, whether it is a package's `__init__.py`, and
/// whether it is the code of a Jupyter notebook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ModuleInfo {
    pub name: String,
    pub is_package: bool,
    /// The document is a notebook's code cells, one after the other: its top level runs inside the kernel's event
    /// loop, so `await` is valid there and starting another loop is not.
    pub notebook: bool,
}

/// The semantic model of a document as the module it is.
pub fn build_model<'t>(document: &'t Document, module: &ModuleInfo, catalogue: &'t Catalogue) -> SemanticModel<'t> {
    with_module_info(SemanticModel::build(document, &module.name, module.is_package, catalogue), module)
}

/// A model told what its module's place implies beyond its name (a notebook's top level runs in an event loop).
pub fn with_module_info<'t>(mut model: SemanticModel<'t>, module: &ModuleInfo) -> SemanticModel<'t> {
    model.top_level_await = module.notebook;
    model
}

/// Checks one document against the project. Never fails: broken Python yields fewer diagnostics.
/// Diagnostics come sorted by position, then code.
pub fn check(document: &Document, module: &ModuleInfo, index: &ProjectIndex, settings: &Settings) -> Vec<Diagnostic> {
    let model = build_model(document, module, settings.catalogue());
    check_model(document, &model, index, settings, FixScope::All)
}

/// The findings that overlap `range`, with their fixes: what a code action offers. Only their fixes are built (and,
/// in a file with syntax errors, checked by re-parsing the units they touch), so the cost follows the range.
pub fn check_range(
    document: &Document,
    module: &ModuleInfo,
    index: &ProjectIndex,
    settings: &Settings,
    range: TextRange,
) -> Vec<Diagnostic> {
    let model = build_model(document, module, settings.catalogue());
    let mut found = check_model(document, &model, index, settings, FixScope::Within(range));
    found.retain(|finding| finding.range.intersects(range));
    found
}

/// [`check`] on a model the caller already built (the language server builds one per edit, for the summary and the
/// check alike), building the fixes `fixes` asks for: publishing needs none.
pub fn check_model(
    document: &Document,
    model: &SemanticModel,
    index: &ProjectIndex,
    settings: &Settings,
    fixes: FixScope,
) -> Vec<Diagnostic> {
    let checker = Checker { document, model, index, settings, fixes };
    let mut diagnostics = Vec::new();
    run_rules(&checker, &mut diagnostics);
    diagnostics
}

/// Rounds of fixing before giving up on convergence (a fix may enable another, e.g. after `import asyncio` lands).
pub const MAX_FIX_ROUNDS: usize = 10;

/// A document after fixing, with what is left.
pub struct FixedDocument {
    pub document: Document,
    /// The findings of the fixed text.
    pub diagnostics: Vec<Diagnostic>,
    /// The code of each fix applied, in order.
    pub fixed: Vec<&'static str>,
    /// The edits applied in each round, sorted, in the text as it was before that round: what a front end needs to
    /// carry the fixes over to a text that is not the document's (a notebook's cells).
    pub rounds: Vec<Vec<Edit>>,
    /// False when fixes still applied after [`MAX_FIX_ROUNDS`] rounds.
    pub converged: bool,
}

/// Applies the preferred fix of every finding that `allowed` accepts, round after round, re-checking in between,
/// until no fix applies. What `--fix`, fix-all in the editor and the tests all use.
pub fn fix_all(
    mut document: Document,
    module: &ModuleInfo,
    index: &ProjectIndex,
    settings: &Settings,
    allowed: impl Fn(Applicability) -> bool,
) -> FixedDocument {
    let mut fixed = Vec::new();
    let mut rounds = Vec::new();
    let mut diagnostics = check(&document, module, index, settings);
    for round in 0..=MAX_FIX_ROUNDS {
        let (codes, fixes): (Vec<&'static str>, Vec<&Fix>) = diagnostics
            .iter()
            .filter_map(|diagnostic| diagnostic.preferred_fix().map(|fix| (diagnostic.code, fix)))
            .filter(|(_, fix)| allowed(fix.applicability))
            .unzip();
        let (text, applied) = fix::apply_non_overlapping(&document, &fixes);
        if applied.is_empty() {
            return FixedDocument { document, diagnostics, fixed, rounds, converged: true };
        }
        if round == MAX_FIX_ROUNDS {
            break;
        }
        fixed.extend(applied.iter().map(|&position| codes[position]));
        let mut edits: Vec<Edit> = applied.iter().flat_map(|&position| fixes[position].edits.iter().cloned()).collect();
        edits.sort_by_key(|edit| (edit.range.start, edit.range.end));
        rounds.push(edits);
        document = Document::new(document.path.clone(), text);
        diagnostics = check(&document, module, index, settings);
    }
    FixedDocument { document, diagnostics, fixed, rounds, converged: false }
}

/// What one parse of a file yields for a batch run: its summary for the project index, the findings that need no
/// index, and the callees whose blocking, or whose suspending, only the index can tell.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileAnalysis {
    pub summary: ModuleSummary,
    /// Findings of the rules that look at this file alone, sorted.
    pub local_diagnostics: Vec<Diagnostic>,
    /// Qualified names called from async code that may be blocking project functions (AL110 candidates).
    pub blocking_candidates: Vec<String>,
    /// Qualified names called without using the result that may be project coroutine functions (AL204 candidates).
    pub coroutine_candidates: Vec<String>,
    /// Async functions of this file that create tasks: AL203 applies if one is a program's root.
    pub spawning_functions: Vec<String>,
    /// Qualified names awaited in this file's AL301 findings that may be project coroutines that never suspend.
    pub awaited_candidates: Vec<String>,
    /// Qualified names of the coroutines this file runs as tasks, which may be project coroutines that never yield
    /// (AL111 candidates).
    pub scheduled_candidates: Vec<String>,
    /// False when the file nests too deeply to be parsed safely, and was analysed as empty.
    pub parsed: bool,
}

impl FileAnalysis {
    /// Whether the project-wide rules could find something here once the index is built: false means
    /// [`Self::needs_project_check`] is false for every index, so the file's text need not be kept.
    pub fn may_need_project_check(&self) -> bool {
        !self.blocking_candidates.is_empty()
            || !self.coroutine_candidates.is_empty()
            || !self.spawning_functions.is_empty()
            || !self.awaited_candidates.is_empty()
            || !self.scheduled_candidates.is_empty()
    }

    /// Whether the project-wide rules find something here, so that the file needs the full [`check`]. The batch
    /// path then gives the same diagnostics as [`check`] without holding every parse tree until the index is built.
    pub fn needs_project_check(&self, index: &ProjectIndex, settings: &Settings) -> bool {
        let enabled = |rule| settings.is_enabled(rule);
        (enabled(&rules::transitive_blocking::RULE)
            && self.blocking_candidates.iter().any(|callee| index.blocks(callee)))
            || (enabled(&rules::unawaited_coroutine::RULE)
                && self.coroutine_candidates.iter().any(|callee| index.is_coroutine_function(callee)))
            || self.spawning_functions.iter().any(|function| index.is_root(function))
            || (enabled(&rules::sequential_awaits::RULE)
                && self.awaited_candidates.iter().any(|callee| index.never_suspends(callee)))
            || (enabled(&rules::coroutine_never_yields::RULE)
                && self.scheduled_candidates.iter().any(|callee| index.never_yields(callee).is_some()))
    }

    /// Hashes every answer of the index that the project-wide rules use for this file: the blocking chains of its
    /// candidates (names, files and positions of each hop, which messages and related locations show), which
    /// candidates are coroutine functions, which spawning functions are a program's root, which awaited callees never
    /// suspend, and why each scheduled coroutine never yields. Two indexes that hash
    /// alike give this file the same findings, so a batch run may keep them from the run before.
    pub fn hash_project_answers(&self, index: &ProjectIndex, hasher: &mut impl Hasher) {
        for callee in &self.blocking_candidates {
            callee.hash(hasher);
            let chain = index.blocking_chain(callee).unwrap_or_default();
            chain.first().map(|link| index.blocking_calls_made(link.function)).hash(hasher);
            for link in chain {
                (&link.function.name, &link.function.display, link.path, link.distribution, &link.hop).hash(hasher);
                (link.function.is_generator, index.guards(&link.function.qualname)).hash(hasher);
            }
            hasher.write_u8(0xff);
        }
        for callee in &self.coroutine_candidates {
            (callee, index.is_coroutine_function(callee)).hash(hasher);
        }
        for function in &self.spawning_functions {
            (function, index.is_root(function)).hash(hasher);
        }
        for callee in &self.awaited_candidates {
            (callee, index.never_suspends(callee)).hash(hasher);
        }
        for callee in &self.scheduled_candidates {
            callee.hash(hasher);
            match index.never_yields(callee) {
                Some(found) => found.hash_answer(hasher),
                None => hasher.write_u8(0),
            }
            hasher.write_u8(0xff);
        }
    }
}

/// Summarises a document and runs the index-free rules on the same parse.
pub fn analyze(document: &Document, module: &ModuleInfo, settings: &Settings) -> FileAnalysis {
    let catalogue = settings.catalogue();
    let model = build_model(document, module, catalogue);
    let summary = summarize(document, &model, catalogue);
    let mut analysis = FileAnalysis {
        summary,
        local_diagnostics: Vec::new(),
        blocking_candidates: Vec::new(),
        coroutine_candidates: Vec::new(),
        spawning_functions: Vec::new(),
        awaited_candidates: Vec::new(),
        scheduled_candidates: Vec::new(),
        parsed: document.parsed(),
    };
    {
        // With an empty index the rules report exactly what this file shows on its own.
        let empty_index = ProjectIndex::default();
        let checker = Checker { document, model: &model, index: &empty_index, settings, fixes: FixScope::All };
        run_rules(&checker, &mut analysis.local_diagnostics);
        analysis.blocking_candidates = rules::transitive_blocking::candidate_callees(&model, catalogue);
        analysis.coroutine_candidates = rules::unawaited_coroutine::candidate_callees(&model);
        let mut spawning: Vec<String> = model
            .calls
            .iter()
            .filter(|call| model.scope(call.scope).is_async_function() && lifecycle::spawns_task(&model, call))
            .map(|call| model.scope(call.scope).qualname.clone())
            .collect();
        spawning.dedup();
        analysis.spawning_functions = spawning;
        analysis.awaited_candidates = rules::sequential_awaits::candidate_callees(&model, &analysis.local_diagnostics);
        analysis.scheduled_candidates = rules::coroutine_never_yields::candidate_callees(&model);
    }
    analysis
}

/// The module summary of a document, for the project index.
pub fn summarize_document(document: &Document, module: &ModuleInfo, settings: &Settings) -> ModuleSummary {
    let catalogue = settings.catalogue();
    let model = build_model(document, module, catalogue);
    summarize(document, &model, catalogue)
}

/// The module summary of an installed dependency's file, keeping only the calls that run whenever their function
/// runs (see [`Branches::Unconditional`]).
pub fn summarize_dependency(document: &Document, module: &ModuleInfo, settings: &Settings) -> ModuleSummary {
    let catalogue = settings.catalogue();
    let model = build_model(document, module, catalogue);
    summarize_calls(document, &model, catalogue, Branches::Unconditional)
}

/// A rule's check function.
type RuleCheck = fn(&Checker, &mut Vec<Diagnostic>);

/// The findings of every enabled rule on `model`, without fixes, sorted, before `# noqa` comments take any away: what
/// a unit's findings are kept as between edits (see `incremental`), since a comment elsewhere may change what is
/// suppressed.
pub fn findings_before_suppression(
    document: &Document,
    model: &SemanticModel,
    index: &ProjectIndex,
    settings: &Settings,
) -> Vec<Diagnostic> {
    let checker = Checker { document, model, index, settings, fixes: FixScope::None };
    let mut diagnostics = Vec::new();
    run_every_rule(&checker, &mut diagnostics);
    sort(&mut diagnostics);
    diagnostics
}

/// Runs every enabled rule and sorts the findings. Rules that need the project see what the index holds.
fn run_rules(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    run_every_rule(checker, diagnostics);
    suppressions::apply(checker.document, diagnostics);
    sort(diagnostics);
}

fn run_every_rule(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    rules::blocking::check(checker, diagnostics);
    let other_rules: [(&RuleMeta, RuleCheck); 9] = [
        (&rules::transitive_blocking::RULE, rules::transitive_blocking::check),
        (&rules::coroutine_never_yields::RULE, rules::coroutine_never_yields::check),
        (&rules::asyncio_run_in_notebook::RULE, rules::asyncio_run_in_notebook::check),
        (&rules::dangling_task::RULE, rules::dangling_task::check),
        (&rules::task_never_awaited::RULE, rules::task_never_awaited::check),
        (&rules::root_exits_with_pending_tasks::RULE, rules::root_exits_with_pending_tasks::check),
        (&rules::unawaited_coroutine::RULE, rules::unawaited_coroutine::check),
        (&rules::sequential_awaits::RULE, rules::sequential_awaits::check),
        (&rules::await_in_loop::RULE, rules::await_in_loop::check),
    ];
    for (rule, check) in other_rules {
        if checker.enabled(rule) {
            check(checker, diagnostics);
        }
    }
}

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| (a.range.start, a.code, a.range.end).cmp(&(b.range.start, b.code, b.range.end)));
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROKEN: &str = "import time\n\n\nasync def first():\n    time.sleep(1)\n    x = (\n\n\nasync def second():\n    \"\"\"Sleeps.\"\"\"\n    time.sleep(2)\n";

    fn range_of(text: &str, needle: &str) -> TextRange {
        let start = text.find(needle).unwrap();
        TextRange::new(start, start + needle.len())
    }

    #[test]
    fn a_range_gets_the_fixes_of_its_findings_even_beside_a_syntax_error() {
        let (settings, module, index) = (Settings::default(), ModuleInfo::default(), ProjectIndex::default());
        let broken = Document::new("t.py", BROKEN);
        let found = check_range(&broken, &module, &index, &settings, range_of(BROKEN, "time.sleep(2)"));
        assert_eq!(found.len(), 1);
        let repaired_text = BROKEN.replace("    x = (\n", "    x = ()\n");
        let repaired = Document::new("t.py", repaired_text.as_str());
        let expected = check_range(&repaired, &module, &index, &settings, range_of(&repaired_text, "time.sleep(2)"));
        let titles = |finding: &Diagnostic| finding.fixes.iter().map(|fix| fix.title.clone()).collect::<Vec<_>>();
        assert!(!found[0].fixes.is_empty());
        assert_eq!(titles(&found[0]), titles(&expected[0]));
        // Nothing overlaps an empty line.
        let nowhere = range_of(BROKEN, "\n\n\nasync def second");
        assert!(check_range(&broken, &module, &index, &settings, TextRange::empty(nowhere.start)).is_empty());
    }

    #[test]
    fn only_the_findings_in_the_range_get_fixes() {
        let (settings, index) = (Settings::default(), ProjectIndex::default());
        let text = "import time\n\n\nasync def a():\n    time.sleep(1)\n\n\nasync def b():\n    time.sleep(2)\n";
        let document = Document::new("t.py", text);
        let model = SemanticModel::build(&document, "t", false, settings.catalogue());
        let range = range_of(text, "time.sleep(2)");
        let found = check_model(&document, &model, &index, &settings, FixScope::Within(range));
        let with_fixes: Vec<bool> = found.iter().map(|finding| !finding.fixes.is_empty()).collect();
        assert_eq!(with_fixes, [false, true]);
    }
}

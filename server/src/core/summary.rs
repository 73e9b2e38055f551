//! `ModuleSummary`: the small per-file facts the project index joins: imports, functions, the blocking calls and
//! project calls of each sync function, and classes with their bases.

use serde::{Deserialize, Serialize};

use super::catalogue::Catalogue;
use super::concurrency;
use super::diagnostic::TextRange;
use super::document::Document;
use super::positions::Span;
use super::reach::{self, ArgumentType, Guard};
use super::semantic::{Binding, CallSite, Resolved, ScopeId, ScopeKind, SemanticModel, MODULE_SCOPE};
use crate::core::syntax::{self, KindName};

/// A place in a file, with its line/column span computed while the text was at hand.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Site {
    pub range: TextRange,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockingCall {
    pub site: Site,
    /// The catalogue name, e.g. `subprocess.check_call`.
    pub name: String,
    /// How long it is likely to hold the thread, to pick the call a message names: a sleep or request above a file
    /// open, and any call inside a loop (a sleep between retries) above one outside.
    pub cost: u8,
    /// The `isinstance` test on a parameter under which it runs, if any (boxed: nearly every call has none, and a
    /// run holds every summary).
    pub guard: Option<Box<Guard>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProjectCall {
    pub site: Site,
    /// The callee's qualified name as resolved in this file (`pkg.util.helper`, `pkg.m.Class.method`); the index
    /// follows re-exports and base classes from there.
    pub target: String,
    /// The `isinstance` test on a parameter under which it runs, if any (boxed: nearly every call has none, and a
    /// run holds every summary).
    pub guard: Option<Box<Guard>>,
    /// The result is iterated or entered where it is made: a generator's body runs here.
    pub consumes_result: bool,
    /// What is known of the types it passes, for the callee's own guards.
    pub arguments: Vec<ArgumentType>,
}

/// Work a coroutine does in its own code without yielding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Work {
    /// A `for` or `while` loop (the keyword), not over a literal written in place.
    Loop { keyword: String, site: Site },
    /// A blocking or CPU-heavy call from the catalogue, not under an `isinstance` guard.
    Blocks { name: String, site: Site },
}

/// What a coroutine function that never awaits does: once a task starts it, it runs to its end in one go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unyielding {
    /// Its first loop and its first blocking call, in that order, each when it has one.
    pub work: Vec<Work>,
    /// Its calls that may reach sync functions of the project: the index tells which of them block.
    pub calls: Vec<ProjectCall>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSummary {
    pub qualname: String,
    pub name: String,
    /// How messages name it: `prepare`, or `Store.__init__` for a method.
    pub display: String,
    pub is_async: bool,
    /// An `async def` whose call certainly makes a coroutine: no `yield`, no decorator that may change it.
    pub is_coroutine: bool,
    /// Decorated with `functools.cache`, `lru_cache` or `cached_property`: it runs once per argument set, typically
    /// warmed at start-up, so it does not count as blocking its callers.
    pub memoized: bool,
    /// A sync `def` with `yield`: calling it runs none of its body until the generator is iterated.
    pub is_generator: bool,
    /// A coroutine function that runs to its end without suspending (no `await`, `async for`, `async with` or
    /// blocking call): awaiting it beside other awaits overlaps nothing.
    pub never_suspends: bool,
    /// What a coroutine function that never awaits does without yielding (see [`unyielding_of`]); `None` for every
    /// other function (boxed: most have none, and a run holds every summary).
    pub unyielding: Option<Box<Unyielding>>,
    /// Decorated with a catalogue offload decorator (`asgiref.sync.sync_to_async`): its body runs in a worker thread.
    pub offloaded: bool,
    /// Its other dotted decorators, resolved: the index asks whether one is a project decorator that offloads.
    pub decorators: Vec<String>,
    /// It passes its first parameter to a call that runs it in a worker thread: as a decorator, it offloads.
    pub offloads_argument: bool,
    /// Where the name in `def name` stands.
    pub definition: Site,
    /// Direct blocking calls (sync functions only; async ones are checked where they are).
    pub blocking_calls: Vec<BlockingCall>,
    /// Calls that may reach other functions of the project (sync functions only).
    pub calls: Vec<ProjectCall>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassSummary {
    pub qualname: String,
    /// Base classes, resolved to qualified names where the file says what they are.
    pub bases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModuleSummary {
    pub module: String,
    pub path: String,
    /// Module-level imports: local name → qualified name. The index follows them for re-exports.
    pub imports: Vec<(String, String)>,
    pub functions: Vec<FunctionSummary>,
    pub classes: Vec<ClassSummary>,
    /// Coroutine functions this module runs as a program's root: `asyncio.run(main())` gives `pkg.mod.main`.
    pub entry_points: Vec<String>,
}

/// What a call blocks on, if the catalogue lists it: exact names first, then `*.method` for an unknown receiver.
pub fn blocking_entry<'c>(
    model: &SemanticModel,
    call: &CallSite,
    callee: Option<&str>,
    catalogue: &'c Catalogue,
) -> Option<&'c super::catalogue::BlockingEntry> {
    let entry = match callee.and_then(|path| catalogue.lookup(path)) {
        Some(entry) => entry,
        None => model.unknown_receiver_method(call).and_then(|method| catalogue.lookup_any_receiver(method))?,
    };
    if entry.lazy && !reach::consumes_result(model, call.node) {
        return None;
    }
    if reach::is_non_blocking_attempt(model, call.node, call.scope) {
        return None;
    }
    if !entry.harmless_first_argument_prefixes.is_empty()
        && reach::first_argument_has_prefix(model, call.node, call.scope, &entry.harmless_first_argument_prefixes)
    {
        return None;
    }
    if !entry.harmless_argument_names.is_empty() {
        let arguments = call.node.child_by_field_id(syntax::fields().arguments).map(|node| model.text(node));
        let mut names = arguments.unwrap_or("").split(|c: char| !(c.is_alphanumeric() || c == '_'));
        if names.any(|name| entry.harmless_argument_names.iter().any(|harmless| harmless == name)) {
            return None;
        }
    }
    if !entry.harmless_first_arguments.is_empty() {
        let first = syntax::first_positional_argument(call.node)
            .and_then(|argument| syntax::literal_value(argument, model.source));
        if first.is_some_and(|first| entry.harmless_first_arguments.iter().any(|harmless| harmless == first)) {
            return None;
        }
    }
    Some(entry)
}

/// Decorators that cache a function's result.
const MEMOIZING_DECORATORS: &[&str] = &["functools.cache", "functools.lru_cache", "functools.cached_property"];

/// A function that keeps its result in a module-level name: it declares `global name` and begins, after its
/// docstring, with an `if` that tests the name and returns (`if _collections is not None: return _collections`).
/// Like a `functools.cache` one, it does its work once per process, typically at start-up.
fn caches_in_global(model: &SemanticModel, id: ScopeId) -> bool {
    let scope = model.scope(id);
    let globals: Vec<&str> = scope
        .bindings
        .iter()
        .filter(|(_, binding)| matches!(binding, Binding::Global))
        .map(|(name, _)| *name)
        .collect();
    if globals.is_empty() {
        return false;
    }
    let fields = syntax::fields();
    let Some(body) = scope.node.and_then(|node| node.child_by_field_id(fields.body)) else { return false };
    let is_preamble = |statement: &tree_sitter::Node| match statement.kind_name() {
        "comment" | "global_statement" => true,
        "expression_statement" => statement.named_child(0).is_some_and(|inner| inner.kind_name() == "string"),
        _ => false,
    };
    let Some(first) = syntax::named_children(body).find(|statement| !is_preamble(statement)) else { return false };
    if first.kind_name() != "if_statement" {
        return false;
    }
    let tests_global = first.child_by_field_id(fields.condition).is_some_and(|condition| {
        syntax::own_code_has(condition, |node| node.kind_name() == "identifier" && globals.contains(&model.text(node)))
    });
    let returns = first
        .child_by_field_id(fields.consequence)
        .and_then(|block| syntax::named_children(block).find(|statement| statement.kind_name() != "comment"))
        .is_some_and(|statement| statement.kind_name() == "return_statement");
    tests_global && returns
}

/// How long a call of this rule typically holds the thread, relative to the others (see [`BlockingCall::cost`]).
fn blocking_cost(rule: &str) -> u8 {
    match rule {
        "AL101" | "AL102" | "AL107" => 3,
        "AL103" | "AL105" | "AL106" | "AL109" => 2,
        _ => 1,
    }
}

/// What a decorator refers to: `@lru_cache(maxsize=None)` and `@work(thread=True)` are calls whose function is the
/// decorator factory.
fn decorator_path(model: &SemanticModel, decorator: tree_sitter::Node, scope: Option<usize>) -> Option<String> {
    let expression = match decorator.kind_name() {
        "call" => decorator.child_by_field_id(super::syntax::fields().function)?,
        _ => decorator,
    };
    match model.resolve(expression, scope.unwrap_or(MODULE_SCOPE)) {
        Resolved::Path(path) => Some(path),
        _ => None,
    }
}

/// What the coroutine function `id` of this file does without yielding, when it never awaits (see
/// [`concurrency::coroutine_never_awaits`]): its first loop, its first blocking call, and its calls that may reach
/// sync functions of the project. `None` when it may yield, and when it neither works nor calls into the project,
/// which leaves it nothing that could hold the loop.
pub fn unyielding_of(
    document: &Document,
    model: &SemanticModel,
    id: ScopeId,
    catalogue: &Catalogue,
) -> Option<Unyielding> {
    if !concurrency::coroutine_never_awaits(model, id) {
        return None;
    }
    let site = |range: TextRange| Site { range, span: document.span(range) };
    let definition = model.scope(id).node?;
    let mut work: Vec<Work> = concurrency::work_loops(definition)
        .first()
        .map(|found| Work::Loop {
            keyword: if found.kind_name() == "while_statement" { "while" } else { "for" }.to_owned(),
            site: site(syntax::range(*found)),
        })
        .into_iter()
        .collect();
    let mut calls = Vec::new();
    let mut blocks = false;
    for call in model.calls_within(definition).iter().filter(|call| call.scope == id) {
        let callee = model.callee_path(call);
        if let Some(entry) = blocking_entry(model, call, callee.as_deref(), catalogue) {
            // Only a call that certainly runs: one under an `isinstance` test of a parameter may not.
            if !blocks && reach::guard_of(model, call.node, call.scope).is_none() {
                blocks = true;
                work.push(Work::Blocks { name: entry.name.clone(), site: site(syntax::range(call.node)) });
            }
        } else if let Some(target) = callee.filter(|path| path.contains('.')) {
            // Dotless paths are builtins (`len`, `print`): never project functions.
            let facts = reach::CallFacts::of(model, call.node, call.scope);
            calls.push(ProjectCall {
                site: site(syntax::range(call.node)),
                target,
                guard: reach::guard_of(model, call.node, call.scope).map(Box::new),
                consumes_result: facts.consumes_result,
                arguments: facts.arguments,
            });
        }
    }
    calls.shrink_to_fit();
    (!work.is_empty() || !calls.is_empty()).then_some(Unyielding { work, calls })
}

pub fn summarize(document: &Document, model: &SemanticModel, catalogue: &Catalogue) -> ModuleSummary {
    summarize_calls(document, model, catalogue, Branches::All)
}

/// Which calls of a sync function its summary keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branches {
    /// Every call: a project's own code, whose branches the rules reason about.
    All,
    /// Only calls that run whenever the function runs (see [`reach::runs_whenever_called`]): an installed
    /// dependency's branches are mostly chosen by configuration the project passes in (`log_config`, an environment's
    /// `is_async`) or by errors, which asynclint does not follow into a library, so a chain through one takes none.
    Unconditional,
}

/// [`summarize`], keeping the calls `branches` says.
pub fn summarize_calls(
    document: &Document,
    model: &SemanticModel,
    catalogue: &Catalogue,
    branches: Branches,
) -> ModuleSummary {
    let site = |range: TextRange| Site { range, span: document.span(range) };
    let mut functions: Vec<FunctionSummary> = Vec::new();
    // Scope id → index into `functions`.
    let mut function_of_scope = vec![None; model.scopes.len()];
    for (id, scope) in model.scopes.iter().enumerate() {
        if let ScopeKind::Function { is_async } = scope.kind {
            function_of_scope[id] = Some(functions.len());
            let decorators: Vec<String> = scope
                .decorators
                .iter()
                .filter_map(|decorator| decorator_path(model, *decorator, scope.parent))
                .collect();
            let memoized = decorators.iter().any(|path| MEMOIZING_DECORATORS.contains(&path.as_str()))
                || caches_in_global(model, id);
            let offloaded = decorators.iter().any(|path| catalogue.is_offload_decorator(path));
            let mut project_decorators: Vec<String> =
                decorators.into_iter().filter(|path| path.contains('.') && !path.starts_with("functools.")).collect();
            project_decorators.shrink_to_fit();
            functions.push(FunctionSummary {
                qualname: scope.qualname.clone(),
                name: scope.name.to_owned(),
                display: scope.display_name(),
                is_async,
                is_coroutine: model.is_plain_coroutine_function(id),
                memoized,
                is_generator: !is_async && scope.is_generator,
                never_suspends: model.is_plain_coroutine_function(id)
                    && concurrency::coroutine_never_suspends(model, id),
                unyielding: unyielding_of(document, model, id, catalogue).map(Box::new),
                offloaded,
                decorators: project_decorators,
                offloads_argument: reach::offloads_first_parameter(model, id),
                definition: site(scope.name_range),
                blocking_calls: Vec::new(),
                calls: Vec::new(),
            });
        }
    }
    for call in &model.calls {
        if !model.scopes[call.scope].is_sync_function() || call.awaited {
            continue;
        }
        let Some(index) = function_of_scope[call.scope] else {
            continue;
        };
        if branches == Branches::Unconditional && !reach::runs_whenever_called(model, call.node, call.scope) {
            continue;
        }
        let callee = model.callee_path(call);
        let function = &mut functions[index];
        if let Some(entry) = blocking_entry(model, call, callee.as_deref(), catalogue) {
            function.blocking_calls.push(BlockingCall {
                site: site(syntax::range(call.node)),
                name: entry.name.clone(),
                cost: blocking_cost(entry.rule.code)
                    + if reach::inside_loop(model, call.node, call.scope) { 4 } else { 0 },
                guard: reach::guard_of(model, call.node, call.scope).map(Box::new),
            });
        } else if let Some(target) = callee.filter(|path| path.contains('.')) {
            // Dotless paths are builtins (`len`, `print`): never project functions.
            let facts = reach::CallFacts::of(model, call.node, call.scope);
            function.calls.push(ProjectCall {
                site: site(syntax::range(call.node)),
                target,
                guard: reach::guard_of(model, call.node, call.scope).map(Box::new),
                consumes_result: facts.consumes_result,
                arguments: {
                    let mut arguments = facts.arguments;
                    arguments.shrink_to_fit();
                    arguments
                },
            });
        }
    }
    let mut imports: Vec<(String, String)> = model.scopes[MODULE_SCOPE]
        .bindings
        .iter()
        .filter_map(|(name, binding)| match binding {
            Binding::Import(qualified) => Some(((*name).to_owned(), qualified.clone())),
            _ => None,
        })
        .collect();
    // Bindings live in a hash map: sorted, the same text always gives the same summary (and the same shape, which
    // the language server compares on every keystroke to decide whether other files need re-checking).
    imports.sort_unstable();
    let classes = model
        .classes
        .iter()
        .map(|class| ClassSummary {
            qualname: class.qualname.clone(),
            bases: class
                .bases
                .iter()
                .filter_map(|base| match model.resolve(*base, class.scope) {
                    Resolved::Path(path) => Some(path),
                    _ => None,
                })
                .collect(),
        })
        .collect();
    let entry_points = model.calls.iter().filter_map(|call| model.entry_point_target(call)).collect();
    // A run keeps every file's summary until the index is built: spare capacity from growing these vectors was a
    // tenth of the peak memory on the benchmark corpus.
    for function in &mut functions {
        function.blocking_calls.shrink_to_fit();
        function.calls.shrink_to_fit();
    }
    functions.shrink_to_fit();
    imports.shrink_to_fit();
    ModuleSummary {
        module: model.module.clone(),
        path: document.path.clone(),
        imports,
        functions,
        classes,
        entry_points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::check::{summarize_document, ModuleInfo};
    use crate::core::settings::Settings;

    #[test]
    fn the_same_text_always_gives_the_same_summary() {
        let names = ["os", "sys", "json", "time", "socket", "shutil", "pathlib", "random", "string", "typing"];
        let text: String = names.iter().map(|name| format!("import {name}\n")).collect();
        let document = Document::new("m.py", text);
        let module = ModuleInfo { name: "m".to_owned(), ..ModuleInfo::default() };
        let first = summarize_document(&document, &module, &Settings::default());
        assert_eq!(first.imports.len(), names.len());
        for _ in 0..5 {
            assert_eq!(summarize_document(&document, &module, &Settings::default()), first);
        }
    }
}

//! `ProjectIndex`: joins module summaries, resolves names across modules (re-exports, base classes) and computes,
//! as a fixed point over the call graph, which sync functions of the project block and through which chain.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt, HashSet};
use std::path::{Component, Path};
use std::sync::Arc;

use super::reach::{self, CallFacts, Guard};
use super::summary::{FunctionSummary, ModuleSummary, ProjectCall, Site, Unyielding, Work};

/// How many re-exports or base classes a name resolution follows before giving up (it also breaks cycles).
const MAX_RESOLUTION_HOPS: usize = 16;

/// One step of a blocking chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hop {
    /// The function calls this blocking catalogue entry here.
    Blocks { name: String, site: Site },
    /// The function calls this other project function here, which blocks.
    Calls { callee: String, site: Site },
}

/// A project function in a chain, with the file it lives in.
#[derive(Debug, Clone)]
pub struct ChainLink<'a> {
    pub function: &'a FunctionSummary,
    pub path: &'a str,
    /// The installed distribution the function comes from (`holidays 0.57`); `None` for a project function.
    pub distribution: Option<&'a str>,
    pub hop: Hop,
}

impl ChainLink<'_> {
    /// How a related location names the installed distribution the function comes from (`holidays 0.57: `);
    /// nothing for a project function.
    pub fn origin(&self) -> String {
        self.distribution.map(|distribution| format!("{distribution}: ")).unwrap_or_default()
    }
}

/// What holds the event loop while a coroutine that never awaits runs.
#[derive(Debug, Clone)]
pub enum Holds<'a> {
    /// Its own loop or blocking call.
    Own(&'a Work),
    /// Its call of a sync project function that blocks, and that function's chain.
    Helper { call: &'a ProjectCall, chain: Vec<ChainLink<'a>> },
}

/// A project coroutine function that never awaits and does work: run as a task, it runs to its end in one go.
#[derive(Debug, Clone)]
pub struct NeverYields<'a> {
    /// The function as the index knows it (names; its facts may come from the current text instead).
    pub function: &'a FunctionSummary,
    /// The file it is defined in.
    pub path: &'a str,
    /// Where `def name` stands.
    pub definition: Site,
    pub holds: Holds<'a>,
}

impl NeverYields<'_> {
    /// Feeds everything a finding shows of this answer (names, files, positions, the chain) to `hasher`: two answers
    /// that hash alike give the same findings.
    pub fn hash_answer(&self, hasher: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let function = self.function;
        (&function.qualname, &function.name, &function.display, &self.definition, self.path).hash(hasher);
        match &self.holds {
            Holds::Own(work) => work.hash(hasher),
            Holds::Helper { call, chain } => {
                call.site.hash(hasher);
                for link in chain {
                    (&link.function.display, link.path, link.distribution, &link.hop).hash(hasher);
                }
            }
        }
    }
}

/// A hop as the index keeps it: by position in the function's lists of calls, so that the sites shown are always
/// those of the current summary. An edit that only moves text replaces a summary without a refresh, and the lists
/// keep their order then (their names and targets are part of the shape the front ends compare).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// The function's `call`-th direct blocking call blocks.
    Blocks { call: usize },
    /// The function's `edge`-th project call reaches `callee`, which blocks.
    Calls { callee: String, edge: usize },
}

#[derive(Debug, Clone, Copy)]
struct FunctionRef {
    module: usize,
    function: usize,
}

#[derive(Debug, Default, Clone)]
pub struct ProjectIndex {
    modules: Vec<Option<Arc<ModuleSummary>>>,
    /// Per slot of `modules`: the installed distribution a dependency module comes from (`holidays 0.57`), `None`
    /// for a project file. Project modules shadow dependency modules of the same name.
    distributions: Vec<Option<Arc<str>>>,
    by_path: HashMap<String, usize>,
    by_module: HashMap<String, usize>,
    functions: HashMap<String, FunctionRef>,
    classes: HashMap<String, Vec<String>>,
    /// For each blocking sync function: its first hop toward a blocking call.
    blocking: HashMap<String, Step>,
    /// Blocking functions all of whose blocking hops sit under an `isinstance` test of a parameter: the guards. A
    /// call passing an argument that no guard admits does not block.
    conditional: HashMap<String, Vec<Guard>>,
    /// Coroutine functions some module runs as a program's root (`asyncio.run(main())`), by qualified name.
    roots: HashSet<String>,
    /// The first parts of the project's module names: a dependency module under one of them is shadowed.
    project_top_levels: HashSet<String>,
}

impl ProjectIndex {
    pub fn new(summaries: impl IntoIterator<Item = ModuleSummary>) -> Self {
        let mut index = ProjectIndex::default();
        for summary in summaries {
            index.insert(summary);
        }
        index.refresh();
        index
    }

    /// Adds or replaces the summary of one file. Call [`ProjectIndex::refresh`] after a batch of changes.
    pub fn upsert(&mut self, summary: ModuleSummary) {
        self.insert(summary);
    }

    pub fn remove(&mut self, path: &str) {
        if let Some(slot) = self.by_path.remove(path) {
            self.modules[slot] = None;
        }
    }

    /// Adds the summary of a module of an installed dependency, from `distribution` (`holidays 0.57`). A project
    /// module of the same name wins over it; only blocking chains go through it (see [`ProjectIndex::is_dependency`]).
    /// Call [`ProjectIndex::refresh`] after a batch of changes.
    pub fn add_dependency(&mut self, summary: ModuleSummary, distribution: Arc<str>) {
        let slot = self.insert(summary);
        self.distributions[slot] = Some(distribution);
    }

    fn insert(&mut self, summary: ModuleSummary) -> usize {
        let summary = Arc::new(summary);
        match self.by_path.get(&summary.path) {
            Some(&slot) => {
                self.modules[slot] = Some(summary);
                self.distributions[slot] = None;
                slot
            }
            None => {
                let slot = self.modules.len();
                self.by_path.insert(summary.path.clone(), slot);
                self.modules.push(Some(summary));
                self.distributions.push(None);
                slot
            }
        }
    }

    /// Whether a module name is one of the project's own: its top-level package (or module) is a project module's.
    /// A project package shadows an installed one of the same name, even one installed from the project itself.
    pub fn owns_top_level(&self, module: &str) -> bool {
        let top = module.split('.').next().unwrap_or(module);
        self.project_top_levels.contains(top)
    }

    /// The qualified names project functions call, decorate with or derive from, which may name functions of
    /// installed dependencies: where following dependencies starts. A call of `self.method()` whose method a project
    /// class inherits from a dependency's class names the base's method too. Sorted and deduplicated.
    pub fn external_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (slot, module) in self.modules.iter().enumerate() {
            let Some(module) = module.as_deref().filter(|_| self.distributions[slot].is_none()) else { continue };
            for function in &module.functions {
                let unyielding = function.unyielding.iter().flat_map(|unyielding| &unyielding.calls);
                for target in function.calls.iter().chain(unyielding).map(|call| &call.target) {
                    names.push(target.clone());
                    if let Some((owner, method)) = target.rsplit_once('.') {
                        for base in self.classes.get(owner).into_iter().flatten() {
                            names.push(format!("{base}.{method}"));
                        }
                    }
                }
                names.extend(function.decorators.iter().cloned());
            }
            for class in &module.classes {
                names.extend(class.bases.iter().cloned());
            }
        }
        names.retain(|name| !self.owns_top_level(name));
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Whether the slot holds a module of an installed dependency.
    fn is_dependency(&self, slot: usize) -> bool {
        self.distributions.get(slot).is_some_and(Option::is_some)
    }

    /// Rebuilds the name tables and the blocking fixed point from the current summaries.
    pub fn refresh(&mut self) {
        self.by_module.clear();
        self.functions.clear();
        self.classes.clear();
        self.project_top_levels.clear();
        // Sorted by path, so that when two files claim one module name the choice does not depend on input order;
        // project files first, so that they shadow installed dependencies.
        let mut order: Vec<(bool, &String, usize)> =
            self.by_path.iter().map(|(path, &slot)| (self.is_dependency(slot), path, slot)).collect();
        order.sort();
        for (dependency, _, slot) in order {
            let Some(summary) = &self.modules[slot] else {
                continue;
            };
            if !dependency {
                let top = summary.module.split('.').next().unwrap_or_default();
                self.project_top_levels.insert(top.to_owned());
            } else if self.owns_top_level(&summary.module) {
                continue;
            }
            self.by_module.entry(summary.module.clone()).or_insert(slot);
            for (function_index, function) in summary.functions.iter().enumerate() {
                self.functions
                    .entry(function.qualname.clone())
                    .or_insert(FunctionRef { module: slot, function: function_index });
            }
            for class in &summary.classes {
                self.classes.entry(class.qualname.clone()).or_insert_with(|| class.bases.clone());
            }
        }
        (self.blocking, self.conditional) = self.compute_blocking();
        let entry_points: Vec<&String> = self
            .modules
            .iter()
            .enumerate()
            .filter(|(slot, _)| !self.is_dependency(*slot))
            .filter_map(|(_, module)| module.as_deref())
            .flat_map(|module| &module.entry_points)
            .collect();
        self.roots = entry_points
            .into_iter()
            .filter_map(|target| self.resolve_function(target))
            .map(|function| function.qualname.clone())
            .collect();
    }

    /// The summary the index holds for a file.
    pub fn summary(&self, path: &str) -> Option<&ModuleSummary> {
        self.by_path.get(path).and_then(|slot| self.modules[*slot].as_deref())
    }

    /// Whether some module runs this coroutine function as a program's root.
    pub fn is_root(&self, qualname: &str) -> bool {
        self.roots.contains(qualname)
    }

    fn function(&self, reference: FunctionRef) -> &FunctionSummary {
        let module = self.modules[reference.module].as_ref().expect("function table points at live modules");
        &module.functions[reference.function]
    }

    fn path_of(&self, reference: FunctionRef) -> &str {
        &self.modules[reference.module].as_ref().expect("function table points at live modules").path
    }

    /// The project function a qualified name refers to, following re-exports (`from .util import helper` in a
    /// package's `__init__`), base classes (`self.method` defined in a parent) and constructors (`Class()` runs
    /// `Class.__init__`).
    pub fn resolve_function(&self, qualified: &str) -> Option<&FunctionSummary> {
        self.resolve_reference(qualified, 0).map(|reference| self.function(reference))
    }

    fn resolve_reference(&self, qualified: &str, hops: usize) -> Option<FunctionRef> {
        if hops > MAX_RESOLUTION_HOPS {
            return None;
        }
        if let Some(reference) = self.functions.get(qualified) {
            return Some(*reference);
        }
        if self.classes.contains_key(qualified) {
            return self.resolve_reference(&format!("{qualified}.__init__"), hops + 1);
        }
        let (owner, name) = qualified.rsplit_once('.')?;
        if let Some(bases) = self.classes.get(owner) {
            return bases.iter().find_map(|base| self.resolve_reference(&format!("{base}.{name}"), hops + 1));
        }
        if let Some(module) = self.by_module.get(owner).and_then(|slot| self.modules[*slot].as_ref()) {
            let imported = module.imports.iter().find(|(local, _)| local == name)?;
            return self.resolve_reference(&imported.1, hops + 1);
        }
        // `pkg.mod.Class.method` where `pkg.mod` re-exports `Class`: resolve the owner, then look up the member.
        let resolved_owner = self.resolve_alias(owner, hops + 1)?;
        if resolved_owner == owner {
            return None;
        }
        self.resolve_reference(&format!("{resolved_owner}.{name}"), hops + 1)
    }

    /// Follows module-level imports for a dotted name that is not itself a function (e.g. a re-exported class).
    fn resolve_alias(&self, qualified: &str, hops: usize) -> Option<String> {
        if hops > MAX_RESOLUTION_HOPS {
            return None;
        }
        if self.classes.contains_key(qualified) || self.by_module.contains_key(qualified) {
            return Some(qualified.to_owned());
        }
        let (owner, name) = qualified.rsplit_once('.')?;
        let owner = self.resolve_alias(owner, hops + 1)?;
        let module = self.by_module.get(&owner).and_then(|slot| self.modules[*slot].as_ref())?;
        let (_, target) = module.imports.iter().find(|(local, _)| local == name)?;
        self.resolve_alias(target, hops + 1)
    }

    /// The function of the project itself (not of an installed dependency) a qualified name refers to. Only blocking
    /// chains follow calls into dependencies: the other project-wide rules judge the project's own functions.
    fn resolve_project_function(&self, qualified: &str) -> Option<&FunctionSummary> {
        let reference = self.resolve_reference(qualified, 0)?;
        (!self.is_dependency(reference.module)).then(|| self.function(reference))
    }

    /// A project `async def` without `yield`: calling it makes a coroutine.
    pub fn is_coroutine_function(&self, qualified: &str) -> bool {
        self.resolve_project_function(qualified).is_some_and(|function| function.is_coroutine)
    }

    /// Whether awaiting the function runs it to its end at once: a coroutine function of the project that never
    /// suspends.
    pub fn never_suspends(&self, qualified: &str) -> bool {
        self.resolve_project_function(qualified).is_some_and(|function| function.never_suspends)
    }

    /// The coroutine function a qualified name refers to, when it never awaits and does work, judged from its
    /// summary.
    pub fn never_yields(&self, qualified: &str) -> Option<NeverYields<'_>> {
        let (function, path) = self.scheduled_function(qualified)?;
        let holds = self.holds(function.unyielding.as_deref()?)?;
        Some(NeverYields { function, path, definition: function.definition.clone(), holds })
    }

    /// The project function, with its file, that a call of `qualified` certainly runs: for a method, only when no
    /// project class deriving from the class named in `qualified` overrides it (the call may run the override).
    pub fn scheduled_function(&self, qualified: &str) -> Option<(&FunctionSummary, &str)> {
        let reference =
            self.resolve_reference(qualified, 0).filter(|reference| !self.is_dependency(reference.module))?;
        (!self.overridden_below(qualified)).then(|| (self.function(reference), self.path_of(reference)))
    }

    /// What holds the loop while a coroutine that never awaits runs: its own blocking call first, then a call of a
    /// project helper that blocks, else its loop. `None` when it does none of these.
    pub fn holds<'a>(&'a self, unyielding: &'a Unyielding) -> Option<Holds<'a>> {
        let own_block = unyielding.work.iter().find(|work| matches!(work, Work::Blocks { .. })).map(Holds::Own);
        own_block
            .or_else(|| {
                unyielding.calls.iter().find_map(|call| {
                    let facts = CallFacts { consumes_result: call.consumes_result, arguments: call.arguments.clone() };
                    let chain = self.blocking_chain_for(&call.target, &facts)?;
                    Some(Holds::Helper { call, chain })
                })
            })
            .or_else(|| unyielding.work.iter().find(|work| matches!(work, Work::Loop { .. })).map(Holds::Own))
    }

    /// Whether `owner.method` names a method that a project class deriving from `owner` defines again.
    fn overridden_below(&self, qualified: &str) -> bool {
        let Some((owner, method)) = qualified.rsplit_once('.') else { return false };
        let Some(owner) = self.resolve_alias(owner, 0).filter(|owner| self.classes.contains_key(owner)) else {
            return false;
        };
        self.classes.keys().any(|class| {
            *class != owner
                && self.derives_from(class, &owner, 0)
                && self.functions.contains_key(&format!("{class}.{method}"))
        })
    }

    /// Whether project class `class` has `ancestor` among its bases, at any depth.
    fn derives_from(&self, class: &str, ancestor: &str, hops: usize) -> bool {
        if hops > MAX_RESOLUTION_HOPS {
            return false;
        }
        self.classes.get(class).is_some_and(|bases| {
            bases.iter().any(|base| {
                let base = self.resolve_alias(base, 0).unwrap_or_else(|| base.clone());
                base == ancestor || self.derives_from(&base, ancestor, hops + 1)
            })
        })
    }

    /// Whether calling the function runs its body in a worker thread: a catalogue offload decorator, or a project
    /// decorator that hands the function it decorates to `asyncio.to_thread` or `run_in_executor`.
    fn is_offloaded(&self, function: &FunctionSummary) -> bool {
        function.offloaded
            || function
                .decorators
                .iter()
                .any(|decorator| self.resolve_function(decorator).is_some_and(|decorator| decorator.offloads_argument))
    }

    /// Whether a call with these facts runs the function's body on the caller's thread, as far as blocking goes:
    /// not a generator left unconsumed, not a function a decorator runs in a thread.
    fn runs_body(&self, function: &FunctionSummary, consumes_result: bool) -> bool {
        !function.is_async
            && !function.memoized
            && (!function.is_generator || consumes_result)
            && !self.is_offloaded(function)
    }

    /// A project class's resolved bases, for `isinstance` reasoning.
    fn bases_of(&self, class: &str) -> Option<Vec<String>> {
        self.classes.get(class).cloned()
    }

    /// Whether a call passing `arguments` can reach a blocking hop of the function (`conditional` holds the guards of
    /// functions that block only under `isinstance` tests).
    fn may_block_with(&self, conditional: &HashMap<String, Vec<Guard>>, qualname: &str, facts: &CallFacts) -> bool {
        conditional.get(qualname).is_none_or(|guards| {
            guards.iter().any(|guard| reach::guard_may_hold(guard, &facts.arguments, &|class| self.bases_of(class)))
        })
    }

    /// Breadth-first from the functions that block directly, backwards along call edges: every sync function that
    /// reaches a blocking call gets the first hop of a shortest chain. An edge counts only when the call runs the
    /// callee's body (a generator must be consumed, an offloaded function never runs on the loop) and, for a callee
    /// that blocks only under `isinstance` tests of its parameters, when the call's arguments may pass a test. A
    /// function whose own hops are all guarded is conditional; it is settled again when it gains an unguarded hop.
    /// Cycles are harmless: no hop may point back into its own chain.
    fn compute_blocking(&self) -> (HashMap<String, Step>, HashMap<String, Vec<Guard>>) {
        let mut callers: HashMap<&str, Vec<(FunctionRef, usize)>> = HashMap::new();
        let mut blocking: HashMap<String, Step> = HashMap::new();
        let mut conditional: HashMap<String, Vec<Guard>> = HashMap::new();
        let mut queue: VecDeque<&str> = VecDeque::new();
        // Sorted, so that among equally short chains the one reported does not depend on hash order.
        let mut functions: Vec<(&String, &FunctionRef)> = self.functions.iter().collect();
        functions.sort_by(|a, b| a.0.cmp(b.0));
        for (qualname, reference) in functions {
            let function = self.function(*reference);
            if function.is_async || function.memoized || function.qualname != *qualname || self.is_offloaded(function) {
                continue;
            }
            // The call most likely to hold the thread longest names the chain; unguarded calls come first.
            let calls = function.blocking_calls.iter().enumerate();
            let chosen =
                calls.clone().filter(|(_, call)| call.guard.is_none()).max_by_key(|(_, call)| call.cost).or_else(
                    || {
                        let guards: Vec<Guard> =
                            function.blocking_calls.iter().filter_map(|call| call.guard.as_deref().cloned()).collect();
                        if !guards.is_empty() {
                            conditional.insert(qualname.clone(), guards);
                        }
                        calls.max_by_key(|(_, call)| call.cost)
                    },
                );
            if let Some((call, _)) = chosen {
                blocking.insert(qualname.clone(), Step::Blocks { call });
                queue.push_back(qualname.as_str());
            }
            for (edge, call) in function.calls.iter().enumerate() {
                if let Some(target) = self.resolve_reference(&call.target, 0) {
                    let callee = self.function(target);
                    if self.runs_body(callee, call.consumes_result) {
                        callers.entry(callee.qualname.as_str()).or_default().push((*reference, edge));
                    }
                }
            }
        }
        while let Some(callee) = queue.pop_front() {
            let Some(edges) = callers.get(callee) else {
                continue;
            };
            for (caller, edge) in edges {
                let function = self.function(*caller);
                let call = &function.calls[*edge];
                let facts = CallFacts { consumes_result: call.consumes_result, arguments: call.arguments.clone() };
                if !self.may_block_with(&conditional, callee, &facts) {
                    continue;
                }
                let hop = Step::Calls { callee: callee.to_owned(), edge: *edge };
                let qualname = &function.qualname;
                match (blocking.contains_key(qualname), conditional.get_mut(qualname)) {
                    (false, _) => {
                        blocking.insert(qualname.clone(), hop);
                        if let Some(guard) = call.guard.as_deref() {
                            conditional.insert(qualname.clone(), vec![guard.clone()]);
                        }
                    }
                    (true, None) => continue,
                    (true, Some(guards)) => match call.guard.as_deref() {
                        Some(guard) if !guards.contains(guard) => guards.push(guard.clone()),
                        Some(_) => continue,
                        None if Self::chain_passes(&blocking, callee, qualname) => continue,
                        None => {
                            conditional.remove(qualname);
                            blocking.insert(qualname.clone(), hop);
                        }
                    },
                }
                queue.push_back(qualname.as_str());
            }
        }
        (blocking, conditional)
    }

    /// Whether the chain from `start` passes through `function`: a hop from `function` to `start` would close a loop.
    fn chain_passes(blocking: &HashMap<String, Step>, start: &str, function: &str) -> bool {
        let mut current = start;
        for _ in 0..=blocking.len() {
            if current == function {
                return true;
            }
            match blocking.get(current) {
                Some(Step::Calls { callee, .. }) => current = callee,
                _ => return false,
            }
        }
        true
    }

    /// Whether a qualified name refers to a project function that blocks.
    pub fn blocks(&self, qualified: &str) -> bool {
        self.resolve_reference(qualified, 0)
            .is_some_and(|reference| self.blocking.contains_key(&self.function(reference).qualname))
    }

    /// The chain by which one call of a project function blocks: `None` when the call runs no blocking code (a
    /// generator it does not iterate, an argument that no `isinstance` guard of the function admits).
    pub fn blocking_chain_for(&self, qualified: &str, facts: &CallFacts) -> Option<Vec<ChainLink<'_>>> {
        let chain = self.blocking_chain(qualified)?;
        let function = chain.first()?.function;
        (self.runs_body(function, facts.consumes_result)
            && self.may_block_with(&self.conditional, &function.qualname, facts))
        .then_some(chain)
    }

    /// How many blocking calls a function makes itself: its direct blocking calls, and its calls of project functions
    /// that block. Messages say how many others there are besides the one a chain names.
    pub fn blocking_calls_made(&self, function: &FunctionSummary) -> usize {
        let through_helpers = function
            .calls
            .iter()
            .filter(|call| {
                self.resolve_reference(&call.target, 0).is_some_and(|callee| {
                    let callee = self.function(callee);
                    self.runs_body(callee, call.consumes_result) && self.blocking.contains_key(&callee.qualname)
                })
            })
            .count();
        function.blocking_calls.len() + through_helpers
    }

    /// The `isinstance` guards under which a conditionally blocking function blocks.
    pub fn guards(&self, qualname: &str) -> Option<&[Guard]> {
        self.conditional.get(qualname).map(Vec::as_slice)
    }

    /// The chain by which a project function blocks: the function itself first, ending in the one that makes the
    /// blocking call. `None` when it does not block (or is not a sync project function).
    pub fn blocking_chain(&self, qualified: &str) -> Option<Vec<ChainLink<'_>>> {
        let mut reference = self.resolve_reference(qualified, 0)?;
        let mut chain = Vec::new();
        loop {
            let function = self.function(reference);
            let (hop, next) = match self.blocking.get(&function.qualname)? {
                Step::Blocks { call } => {
                    let call = function.blocking_calls.get(*call)?;
                    (Hop::Blocks { name: call.name.clone(), site: call.site.clone() }, None)
                }
                Step::Calls { callee, edge } => {
                    let site = function.calls.get(*edge)?.site.clone();
                    (Hop::Calls { callee: callee.clone(), site }, Some(*self.functions.get(callee)?))
                }
            };
            let distribution = self.distributions[reference.module].as_deref();
            chain.push(ChainLink { function, path: self.path_of(reference), distribution, hop });
            match next {
                None => return Some(chain),
                Some(callee) => reference = callee,
            }
            if chain.len() > self.blocking.len() {
                return None; // unreachable by construction (hops form a forest); kept as a guard against a bad table
            }
        }
    }
}

/// The dotted module name of a file, given its path relative to the project root and a way to ask whether a
/// directory (relative to the same root) is a package (holds an `__init__.py`). Directories climb while they are
/// packages, so `src/pkg/mod.py` is `pkg.mod` and a loose `scripts/run.py` is `run`.
pub fn module_name(relative: &Path, is_package_dir: impl Fn(&Path) -> bool) -> (String, bool) {
    let stem = relative.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
    let is_package = stem == "__init__";
    let mut parts: Vec<String> = if is_package { Vec::new() } else { vec![stem.to_owned()] };
    let mut directory = relative.parent();
    while let Some(dir) = directory.filter(|dir| !dir.as_os_str().is_empty()) {
        if !is_package_dir(dir) {
            break;
        }
        match dir.components().next_back() {
            Some(Component::Normal(name)) => parts.push(name.to_string_lossy().into_owned()),
            _ => break,
        }
        directory = dir.parent();
    }
    parts.reverse();
    (parts.join("."), is_package)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::catalogue::Catalogue;
    use crate::core::document::Document;
    use crate::core::semantic::SemanticModel;
    use crate::core::summary::summarize;
    use std::path::PathBuf;

    fn summary(path: &str, module: &str, source: &str) -> ModuleSummary {
        let document = Document::new(path, source);
        let catalogue = Catalogue::builtin();
        let is_package = path.ends_with("__init__.py");
        let model = SemanticModel::build(&document, module, is_package, &catalogue);
        summarize(&document, &model, &catalogue)
    }

    fn chain_names(index: &ProjectIndex, qualified: &str) -> Option<Vec<String>> {
        index.blocking_chain(qualified).map(|chain| {
            let mut names: Vec<String> = chain.iter().map(|link| link.function.name.clone()).collect();
            if let Some(Hop::Blocks { name, .. }) = chain.last().map(|link| &link.hop) {
                names.push(name.clone());
            }
            names
        })
    }

    #[test]
    fn transitive_blocking_crosses_modules_and_re_exports() {
        let index = ProjectIndex::new([
            summary("app/__init__.py", "app", "from .db import run_migrations\n"),
            summary(
                "app/db.py",
                "app.db",
                "import subprocess\ndef run_migrations():\n    subprocess.check_call(['alembic'])\n",
            ),
            summary(
                "app/main.py",
                "app.main",
                "from app import run_migrations\ndef prepare():\n    run_migrations()\nasync def startup():\n    prepare()\n",
            ),
        ]);
        assert_eq!(
            chain_names(&index, "app.main.prepare").unwrap(),
            ["prepare", "run_migrations", "subprocess.check_call"]
        );
        assert!(index.blocking_chain("app.main.startup").is_none(), "async functions are not helpers");
    }

    #[test]
    fn cycles_settle_and_non_blocking_cycles_stay_clean() {
        let index = ProjectIndex::new([summary(
            "m.py",
            "m",
            "import time\ndef a():\n    b()\ndef b():\n    a()\n    time.sleep(1)\ndef c():\n    d()\ndef d():\n    c()\n",
        )]);
        assert_eq!(chain_names(&index, "m.a").unwrap(), ["a", "b", "time.sleep"]);
        assert_eq!(chain_names(&index, "m.b").unwrap(), ["b", "time.sleep"]);
        assert!(index.blocking_chain("m.c").is_none());
    }

    #[test]
    fn methods_resolve_through_base_classes_and_constructors() {
        let index = ProjectIndex::new([
            summary("base.py", "base", "import os\nclass Base:\n    def load(self):\n        return os.listdir('.')\n"),
            summary(
                "child.py",
                "child",
                "from base import Base\nclass Child(Base):\n    def __init__(self):\n        self.load()\n",
            ),
        ]);
        assert_eq!(chain_names(&index, "child.Child.load").unwrap(), ["load", "os.listdir"]);
        assert_eq!(chain_names(&index, "child.Child").unwrap(), ["__init__", "load", "os.listdir"]);
    }

    #[test]
    fn memoized_helpers_do_not_block_their_callers() {
        let index = ProjectIndex::new([summary(
            "m.py",
            "m",
            "import functools, ssl\nfrom functools import lru_cache\n@functools.cache\ndef context():\n    \
             return ssl.create_default_context()\n@lru_cache(maxsize=4)\ndef other():\n    return context()\n\
             def user():\n    return context()\n",
        )]);
        assert!(index.blocking_chain("m.context").is_none());
        assert!(index.blocking_chain("m.other").is_none());
        assert!(index.blocking_chain("m.user").is_none());
    }

    #[test]
    fn a_never_yielding_method_counts_only_when_no_subclass_overrides_it() {
        let index = ProjectIndex::new([
            summary("pkg/__init__.py", "pkg", "from .base import Base, Plain\n"),
            summary(
                "pkg/base.py",
                "pkg.base",
                "class Base:\n    async def run(self, xs):\n        for x in xs:\n            print(x)\n\
                 class Plain:\n    async def run(self, xs):\n        while xs:\n            xs.pop()\n",
            ),
            summary(
                "plugins.py",
                "plugins",
                "import asyncio\nfrom pkg import Base\nclass Loud(Base):\n    async def run(self, xs):\n        \
                 await asyncio.sleep(0)\n",
            ),
        ]);
        // `Loud` derives from `Base` through the package's re-export, and overrides `run`.
        assert!(index.never_yields("pkg.base.Base.run").is_none());
        assert!(index.never_yields("pkg.Base.run").is_none());
        let plain = index.never_yields("pkg.Plain.run").expect("no subclass overrides Plain.run");
        assert_eq!((plain.function.display.as_str(), plain.path), ("Plain.run", "pkg/base.py"));
        assert!(matches!(plain.holds, Holds::Own(Work::Loop { ref keyword, .. }) if keyword == "while"));
        assert!(index.never_yields("plugins.Loud.run").is_none(), "it awaits");
    }

    #[test]
    fn module_names_climb_packages() {
        let packages = ["src/pkg", "src/pkg/sub"];
        let is_package = |dir: &Path| packages.iter().any(|package| Path::new(package) == dir);
        let name = |path: &str| module_name(&PathBuf::from(path), is_package);
        assert_eq!(name("src/pkg/sub/mod.py"), ("pkg.sub.mod".to_owned(), false));
        assert_eq!(name("src/pkg/__init__.py"), ("pkg".to_owned(), true));
        assert_eq!(name("scripts/run.py"), ("run".to_owned(), false));
        assert_eq!(name("top.py"), ("top".to_owned(), false));
    }
}

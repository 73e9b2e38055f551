//! Following calls into installed dependencies: which of their modules the project's calls reach, found by name
//! from the project's summaries, so that only those are summarised. Reading them is the front ends' business: they
//! hand in a [`DependencySource`], and this module decides what to ask it for.

use std::collections::VecDeque;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::catalogue::Catalogue;
use super::index::ProjectIndex;
use super::summary::ModuleSummary;

/// How many dependency modules one index takes in at most: a bound on the work a project that reaches into a huge
/// framework can cause. The walk is breadth-first, so the modules nearest the project's calls come first.
pub const MAX_MODULES: usize = 4000;

/// A module of an installed dependency, summarised.
pub struct DependencyModule {
    pub summary: ModuleSummary,
    /// The distribution it belongs to, as messages name it: `holidays 0.57`.
    pub distribution: Arc<str>,
}

/// Where dependency modules come from: an installed environment, read by a front end.
pub trait DependencySource: Sync {
    /// Whether `module` (a dotted name) is a module file of an installed dependency.
    fn has_module(&self, module: &str) -> bool;
    /// The summaries of these modules (each one [`DependencySource::has_module`] said exists), in order; `None` for a
    /// module that cannot be read or parsed, which then costs findings, never the run.
    fn load(&self, modules: &[String]) -> Vec<Option<DependencyModule>>;
}

/// What following dependencies did, for `--verbose`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    /// Dependency modules taken into the index.
    pub modules: usize,
}

/// Adds to `index` the dependency modules that the project's calls reach, and refreshes it when it took any.
/// `seeds` are names the project calls that its summaries do not list (calls from async code); the names its sync
/// functions call come from the index. From each name reached, the walk follows what that function calls, what a
/// module re-exports under the name, a class's constructor and its bases: never a whole package.
/// A name the config allows (`allowed-calls`) is not entered.
pub fn follow(
    index: &mut ProjectIndex,
    seeds: impl IntoIterator<Item = String>,
    source: &dyn DependencySource,
    catalogue: &Catalogue,
) -> Followed {
    let enters = |index: &ProjectIndex, name: &str| !index.owns_top_level(name) && !catalogue.is_allowed(name);
    let mut walk = Walk { modules: HashMap::new(), located: HashMap::new(), loaded: Vec::new(), seen: HashSet::new() };
    let mut queue: VecDeque<String> = VecDeque::new();
    for name in index.external_names().into_iter().chain(seeds) {
        if enters(index, &name) && walk.seen.insert(name.clone()) {
            queue.push_back(name);
        }
    }
    while !queue.is_empty() && walk.loaded.len() < MAX_MODULES {
        // One wave at a time: the modules a wave needs are read and summarised together, in parallel.
        let wave: Vec<String> = queue.drain(..).collect();
        let placed: Vec<Option<(String, usize)>> =
            wave.iter().map(|name| walk.module_of(name, index, source)).collect();
        let mut wanted: Vec<String> = placed
            .iter()
            .flatten()
            .map(|(module, _)| module.clone())
            .filter(|module| !walk.modules.contains_key(module))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted.truncate(MAX_MODULES - walk.loaded.len());
        for (module, loaded) in wanted.iter().zip(source.load(&wanted)) {
            let slot = loaded.map(|loaded| {
                walk.loaded.push(loaded);
                walk.loaded.len() - 1
            });
            walk.modules.insert(module.clone(), slot);
        }
        for (name, place) in wave.iter().zip(placed) {
            let Some((module, parts)) = place else { continue };
            let Some(Some(slot)) = walk.modules.get(&module) else { continue };
            for next in reached(&walk.loaded[*slot].summary, name, parts) {
                if enters(index, &next) && walk.seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
    }
    let followed = Followed { modules: walk.loaded.len() };
    if followed.modules > 0 {
        for module in walk.loaded {
            index.add_dependency(module.summary, module.distribution);
        }
        index.refresh();
    }
    followed
}

struct Walk {
    /// Module name → its slot in `loaded`, or `None` when it could not be read.
    modules: HashMap<String, Option<usize>>,
    /// Module name → whether the source has it: asked once per name.
    located: HashMap<String, bool>,
    loaded: Vec<DependencyModule>,
    /// Names queued already.
    seen: HashSet<String>,
}

impl Walk {
    /// The deepest dependency module that a dotted name starts with, and how many of its parts name that module.
    fn module_of(
        &mut self,
        name: &str,
        index: &ProjectIndex,
        source: &dyn DependencySource,
    ) -> Option<(String, usize)> {
        if index.owns_top_level(name) {
            return None;
        }
        let parts: Vec<&str> = name.split('.').collect();
        // The top-level package first: most names (the standard library's) stop there.
        let top = parts[0];
        if !*self.located.entry(top.to_owned()).or_insert_with(|| source.has_module(top)) {
            return None;
        }
        // Never the whole name: a called name that is also a submodule (`lib.load`, re-exported by `lib/__init__.py`
        // as `from lib.load import load`) is the package's attribute, which the import rebinds to the function.
        (1..parts.len()).rev().find_map(|count| {
            let module = parts[..count].join(".");
            let exists = *self.located.entry(module.clone()).or_insert_with(|| source.has_module(&module));
            exists.then_some((module, count))
        })
    }
}

/// The names a use of `name` reaches in `module`, whose first `parts` dotted parts name the module: what the function
/// it names calls and how it is decorated, what the module's import of it points to, a class's constructor, and the
/// method a class inherits from its bases.
fn reached(module: &ModuleSummary, name: &str, parts: usize) -> Vec<String> {
    let rest: Vec<&str> = name.split('.').skip(parts).collect();
    let Some(first) = rest.first() else { return Vec::new() };
    let mut names = Vec::new();
    if let Some((_, target)) = module.imports.iter().find(|(local, _)| local == first) {
        let mut target = target.clone();
        for part in &rest[1..] {
            target.push('.');
            target.push_str(part);
        }
        names.push(target);
    }
    if let Some(function) = module.functions.iter().find(|function| function.qualname == name) {
        let unyielding = function.unyielding.iter().flat_map(|unyielding| &unyielding.calls);
        names.extend(function.calls.iter().chain(unyielding).map(|call| call.target.clone()));
        names.extend(function.decorators.iter().cloned());
        return names;
    }
    let (owner, member) = match rest.len() {
        1 => (name, "__init__"),
        2 => (name.rsplit_once('.').map_or(name, |(owner, _)| owner), rest[1]),
        _ => return names,
    };
    if let Some(class) = module.classes.iter().find(|class| class.qualname == owner) {
        if rest.len() == 1 {
            names.push(format!("{owner}.__init__"));
        }
        names.extend(class.bases.iter().map(|base| format!("{base}.{member}")));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::check::{summarize_dependency, summarize_document, ModuleInfo};
    use crate::core::document::Document;
    use crate::core::settings::Settings;
    use std::sync::Mutex;

    /// A source over files in memory, counting what it is asked to load.
    struct Memory {
        files: Vec<(&'static str, &'static str, bool)>,
        loads: Mutex<Vec<String>>,
    }

    impl DependencySource for Memory {
        fn has_module(&self, module: &str) -> bool {
            self.files.iter().any(|(name, ..)| *name == module)
        }

        fn load(&self, modules: &[String]) -> Vec<Option<DependencyModule>> {
            self.loads.lock().unwrap().extend(modules.iter().cloned());
            modules
                .iter()
                .map(|module| {
                    let (name, text, is_package) = self.files.iter().find(|(name, ..)| name == module)?;
                    let document = Document::new(format!("site-packages/{name}.py"), *text);
                    let info = ModuleInfo { name: (*name).to_owned(), is_package: *is_package, notebook: false };
                    let summary = summarize_dependency(&document, &info, &Settings::default());
                    Some(DependencyModule { summary, distribution: Arc::from("lib 1.0") })
                })
                .collect()
        }
    }

    fn project(text: &str) -> ProjectIndex {
        let document = Document::new("app.py", text);
        let info = ModuleInfo { name: "app".to_owned(), ..ModuleInfo::default() };
        ProjectIndex::new([summarize_document(&document, &info, &Settings::default())])
    }

    #[test]
    fn the_walk_reads_only_the_modules_calls_reach_and_chains_enter_them() {
        let source = Memory {
            files: vec![
                ("lib", "from lib.load import load\n", true),
                ("lib.load", "from lib import disk\ndef load():\n    return disk.read()\n", false),
                ("lib.disk", "def read():\n    return open('data').read()\n", false),
                ("lib.unused", "import time\ndef nap():\n    time.sleep(1)\n", false),
            ],
            loads: Mutex::new(Vec::new()),
        };
        let mut index = project("import lib\ndef helper():\n    return lib.load()\n");
        assert!(index.blocking_chain("app.helper").is_none());
        let followed = follow(&mut index, Vec::new(), &source, &Catalogue::builtin());
        assert_eq!(followed.modules, 3);
        assert_eq!(*source.loads.lock().unwrap(), ["lib", "lib.load", "lib.disk"]);
        let chain = index.blocking_chain("app.helper").expect("the chain enters the dependency");
        let names: Vec<(&str, Option<&str>)> =
            chain.iter().map(|link| (link.function.name.as_str(), link.distribution)).collect();
        assert_eq!(names, [("helper", None), ("load", Some("lib 1.0")), ("read", Some("lib 1.0"))]);
        assert!(!index.is_coroutine_function("lib.load.load"));
    }

    #[test]
    fn project_modules_shadow_dependencies_of_the_same_name() {
        let source = Memory {
            files: vec![("app", "import time\ndef helper():\n    time.sleep(1)\n", false)],
            loads: Mutex::new(Vec::new()),
        };
        let mut index = project("def helper():\n    return 1\n");
        assert_eq!(follow(&mut index, vec!["app.helper".to_owned()], &source, &Catalogue::builtin()).modules, 0);
        assert!(source.loads.lock().unwrap().is_empty());
        assert!(index.blocking_chain("app.helper").is_none());
    }
}

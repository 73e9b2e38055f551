//! The blocking-call catalogue: the built-in TOML data compiled in, plus the user's additions and allow-list.

use foldhash::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use super::rules::{self, RuleMeta};

const BUILTIN: &str = include_str!("catalogue.toml");

/// One `[[blocking]]` table, as written in `catalogue.toml` and in `extra-blocking-calls`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BlockingSpec {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub names: Vec<String>,
    pub rule: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub replacement: Option<String>,
    #[serde(default)]
    pub drop_in: bool,
    /// Literal first arguments with which the call does no blocking work: `time.sleep(0)` only yields the thread,
    /// `sqlite3.connect(":memory:")` opens no file. Strings are written without their quotes.
    #[serde(default)]
    pub harmless_first_arguments: Vec<String>,
    /// Names that, passed anywhere in the arguments, make the call harmless: `socket.AI_NUMERICHOST` turns
    /// `getaddrinfo` into parsing, with no lookup.
    #[serde(default)]
    pub harmless_argument_names: Vec<String>,
    /// Prefixes of a string first argument with which the call does no blocking work (`data:` for `urlopen`), as a
    /// literal or as a name the function checks with `startswith`.
    #[serde(default)]
    pub harmless_first_argument_prefixes: Vec<String>,
    /// The call returns an iterator that does its work as it is iterated (`Path.iterdir`, `os.walk`): it blocks
    /// only where its result is iterated.
    #[serde(default)]
    pub lazy: bool,
}

/// One `[[constructors]]` table: a call whose result has a known type.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConstructorSpec {
    pub call: String,
    pub returns: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CatalogueFile {
    blocking: Vec<BlockingSpec>,
    constructors: Vec<ConstructorSpec>,
    coroutine_functions: NameList,
    tasks: TaskData,
    ordered: OrderedData,
    offload: OffloadData,
}

/// What runs a function in a worker thread, off the event loop.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OffloadData {
    /// Calls that take a function and run it in a thread (`*.method` for any receiver).
    functions: Vec<String>,
    /// Decorators whose function, once decorated, runs in a thread when called.
    decorators: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderedData {
    functions: Vec<String>,
    methods: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameList {
    names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TaskData {
    spawners: Vec<String>,
    group_spawners: Vec<String>,
    gatherers: Vec<String>,
    entry_points: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct BlockingEntry {
    pub name: String,
    pub rule: &'static RuleMeta,
    pub reason: String,
    pub replacement: Option<String>,
    pub drop_in: bool,
    pub harmless_first_arguments: Vec<String>,
    pub harmless_argument_names: Vec<String>,
    pub harmless_first_argument_prefixes: Vec<String>,
    pub lazy: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    entries: HashMap<String, Arc<BlockingEntry>>,
    /// `*.method` entries, keyed by the method name.
    any_receiver: HashMap<String, Arc<BlockingEntry>>,
    returns: HashMap<String, String>,
    types: HashSet<String>,
    coroutine_functions: HashSet<String>,
    task_spawners: HashSet<String>,
    group_spawners: HashSet<String>,
    gatherers: HashSet<String>,
    entry_points: HashSet<String>,
    ordered_functions: HashSet<String>,
    ordered_methods: HashSet<String>,
    offload_functions: HashSet<String>,
    offload_methods: HashSet<String>,
    offload_decorators: HashSet<String>,
    /// The config's `allowed-calls` that name functions: following dependencies does not enter them either.
    allowed: HashSet<String>,
    /// Tells customised catalogues apart (0 for the built-in one), for caches keyed by what a result depends on.
    fingerprint: u64,
}

impl Catalogue {
    /// The compiled-in catalogue, parsed once per process.
    pub fn builtin() -> Arc<Catalogue> {
        static BUILTIN_CATALOGUE: OnceLock<Arc<Catalogue>> = OnceLock::new();
        BUILTIN_CATALOGUE
            .get_or_init(|| {
                let file: CatalogueFile =
                    toml::from_str(BUILTIN).expect("catalogue.toml is valid (a unit test checks)");
                let mut catalogue = Catalogue::default();
                catalogue.add_blocking(&file.blocking).expect("catalogue.toml names known rules (a unit test checks)");
                for constructor in &file.constructors {
                    catalogue.returns.insert(constructor.call.clone(), constructor.returns.clone());
                }
                catalogue.coroutine_functions = file.coroutine_functions.names.into_iter().collect();
                catalogue.task_spawners = file.tasks.spawners.into_iter().collect();
                catalogue.group_spawners = file.tasks.group_spawners.into_iter().collect();
                catalogue.gatherers = file.tasks.gatherers.into_iter().collect();
                catalogue.entry_points = file.tasks.entry_points.into_iter().collect();
                catalogue.ordered_functions = file.ordered.functions.into_iter().collect();
                catalogue.ordered_methods = file.ordered.methods.into_iter().collect();
                for function in file.offload.functions {
                    match function.strip_prefix("*.") {
                        Some(method) => catalogue.offload_methods.insert(method.to_owned()),
                        None => catalogue.offload_functions.insert(function),
                    };
                }
                catalogue.offload_decorators = file.offload.decorators.into_iter().collect();
                catalogue.rebuild_types();
                Arc::new(catalogue)
            })
            .clone()
    }

    /// The built-in catalogue with the user's entries added and the allowed calls removed.
    pub fn customised(
        extra: &[BlockingSpec],
        allowed: &[String],
        extra_coroutines: &[String],
        extra_offload_decorators: &[String],
    ) -> Result<Catalogue, String> {
        let mut catalogue = (*Catalogue::builtin()).clone();
        catalogue.add_blocking(extra)?;
        catalogue.coroutine_functions.extend(extra_coroutines.iter().cloned());
        catalogue.offload_decorators.extend(extra_offload_decorators.iter().cloned());
        for name in allowed {
            match name.strip_prefix("*.") {
                Some(method) => catalogue.any_receiver.remove(method),
                None => {
                    catalogue.allowed.insert(name.clone());
                    catalogue.entries.remove(name)
                }
            };
        }
        catalogue.rebuild_types();
        catalogue.fingerprint = {
            let mut hasher = std::hash::DefaultHasher::new();
            let key = format!("{extra:?}|{allowed:?}|{extra_coroutines:?}|{extra_offload_decorators:?}");
            std::hash::Hash::hash(&key, &mut hasher);
            std::hash::Hasher::finish(&hasher) | 1
        };
        Ok(catalogue)
    }

    fn add_blocking(&mut self, specs: &[BlockingSpec]) -> Result<(), String> {
        for spec in specs {
            let rule = rules::find(&spec.rule)
                .filter(|rule| rule.catalogue_driven)
                .ok_or_else(|| format!("`{}` is not a blocking-call rule (use one of AL101..AL109)", spec.rule))?;
            let names = spec.name.iter().chain(&spec.names);
            let mut any = false;
            for name in names {
                any = true;
                let entry = Arc::new(BlockingEntry {
                    name: name.clone(),
                    rule,
                    reason: spec.reason.clone().unwrap_or_else(|| "is configured as a blocking call".to_owned()),
                    replacement: spec.replacement.clone(),
                    drop_in: spec.drop_in,
                    harmless_first_arguments: spec.harmless_first_arguments.clone(),
                    harmless_argument_names: spec.harmless_argument_names.clone(),
                    harmless_first_argument_prefixes: spec.harmless_first_argument_prefixes.clone(),
                    lazy: spec.lazy,
                });
                match name.strip_prefix("*.") {
                    Some(method) => self.any_receiver.insert(method.to_owned(), entry),
                    None => self.entries.insert(name.clone(), entry),
                };
            }
            if !any {
                return Err(format!("a blocking-call entry for rule `{}` has neither `name` nor `names`", spec.rule));
            }
        }
        Ok(())
    }

    /// Types are the receivers named in method entries (`requests.Session` from `requests.Session.get`) whose last
    /// part is capitalised or that some constructor returns, plus every constructor's result.
    fn rebuild_types(&mut self) {
        let returned: HashSet<&String> = self.returns.values().collect();
        let mut types: HashSet<String> = returned.iter().map(|name| (*name).clone()).collect();
        let named =
            self.entries.keys().chain(self.returns.keys()).chain(&self.coroutine_functions).chain(&self.task_spawners);
        for name in named {
            if let Some((receiver, _)) = name.rsplit_once('.') {
                let last = receiver.rsplit('.').next().unwrap_or(receiver);
                if last.starts_with(|c: char| c.is_ascii_uppercase()) || returned.contains(&receiver.to_owned()) {
                    types.insert(receiver.to_owned());
                }
            }
        }
        self.types = types;
    }

    /// Equal for catalogues built from the same configuration.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Whether the config allows calls of this function: what it runs is not to be reported, in a dependency either.
    pub fn is_allowed(&self, qualified: &str) -> bool {
        self.allowed.contains(qualified)
    }

    pub fn lookup(&self, qualified: &str) -> Option<&BlockingEntry> {
        self.entries.get(qualified).map(|entry| &**entry)
    }

    /// A `*.method` entry, for a method call whose receiver's type is unknown.
    pub fn lookup_any_receiver(&self, method: &str) -> Option<&BlockingEntry> {
        self.any_receiver.get(method).map(|entry| &**entry)
    }

    /// The type of what calling `qualified` returns, when the catalogue knows it.
    pub fn returns(&self, qualified: &str) -> Option<&str> {
        self.returns.get(qualified).map(String::as_str)
    }

    pub fn is_type(&self, qualified: &str) -> bool {
        self.types.contains(qualified)
    }

    /// A library coroutine function (or a call whose awaitable does nothing until awaited).
    pub fn is_coroutine_function(&self, qualified: &str) -> bool {
        self.coroutine_functions.contains(qualified)
    }

    /// `asyncio.create_task` and friends: they return a task that must be kept.
    pub fn is_task_spawner(&self, qualified: &str) -> bool {
        self.task_spawners.contains(qualified)
    }

    /// `TaskGroup.create_task`: it runs its first argument as a task the group keeps.
    pub fn is_group_spawner(&self, qualified: &str) -> bool {
        self.group_spawners.contains(qualified)
    }

    /// `asyncio.gather`: it runs each positional argument as a task.
    pub fn is_gatherer(&self, qualified: &str) -> bool {
        self.gatherers.contains(qualified)
    }

    /// An awaited call whose order matters (`asyncio.sleep`, lock, queue and stream operations): never gathered.
    pub fn is_ordered(&self, qualified: Option<&str>, method: Option<&str>) -> bool {
        qualified.is_some_and(|name| self.ordered_functions.contains(name))
            || method.is_some_and(|name| self.ordered_methods.contains(name))
    }

    /// A call that runs the function it is given in a worker thread (`asyncio.to_thread`, `loop.run_in_executor`).
    pub fn is_offload_call(&self, qualified: Option<&str>, method: Option<&str>) -> bool {
        qualified.is_some_and(|name| self.offload_functions.contains(name))
            || method.is_some_and(|name| self.offload_methods.contains(name))
    }

    /// A decorator after which calling the function runs its body in a worker thread (`asgiref.sync.sync_to_async`).
    pub fn is_offload_decorator(&self, qualified: &str) -> bool {
        self.offload_decorators.contains(qualified)
    }

    /// `asyncio.run` and friends: they run a program's root coroutine.
    pub fn is_entry_point(&self, qualified: &str) -> bool {
        self.entry_points.contains(qualified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses_and_covers_the_required_calls() {
        let catalogue = Catalogue::builtin();
        for name in [
            "time.sleep",
            "requests.get",
            "requests.Session.get",
            "urllib.request.urlopen",
            "http.client.HTTPConnection.request",
            "httpx.get",
            "httpx.Client.get",
            "urllib3.request",
            "subprocess.run",
            "subprocess.Popen.communicate",
            "os.system",
            "os.popen",
            "os.waitpid",
            "os.spawnl",
            "open",
            "io.open",
            "pathlib.Path.read_text",
            "shutil.rmtree",
            "os.walk",
            "os.listdir",
            "os.scandir",
            "glob.glob",
            "socket.create_connection",
            "socket.socket.recv",
            "ssl.SSLContext.load_cert_chain",
            "sqlite3.connect",
            "psycopg2.connect",
            "pymysql.connect",
            "redis.Redis.get",
            "input",
            "sys.stdin.readline",
            "asyncio.run",
            "hashlib.pbkdf2_hmac",
            "hashlib.scrypt",
            "bcrypt.hashpw",
        ] {
            assert!(catalogue.lookup(name).is_some(), "{name} is missing");
        }
        assert!(catalogue.lookup_any_receiver("run_until_complete").is_some());
        assert!(catalogue.lookup("time.time").is_none());
        assert!(catalogue.lookup("os.path.join").is_none());
    }

    #[test]
    fn types_come_from_method_entries_and_constructors() {
        let catalogue = Catalogue::builtin();
        assert!(catalogue.is_type("requests.Session"));
        assert!(catalogue.is_type("socket.socket"));
        assert!(catalogue.is_type("pathlib.Path"));
        assert!(!catalogue.is_type("os.path"));
        assert!(!catalogue.is_type("sys.stdin"));
        assert!(catalogue.is_type("asyncio.Queue"));
        assert!(catalogue.is_type("aiohttp.ClientSession"));
        assert_eq!(catalogue.returns("socket.create_connection"), Some("socket.socket"));
    }

    #[test]
    fn user_entries_extend_and_allowed_calls_remove() {
        let extra = vec![BlockingSpec {
            name: Some("mylib.fetch_sync".into()),
            names: vec![],
            rule: "AL102".into(),
            reason: None,
            replacement: None,
            drop_in: false,
            harmless_first_arguments: vec![],
            harmless_argument_names: vec![],
            harmless_first_argument_prefixes: vec![],
            lazy: false,
        }];
        let catalogue = Catalogue::customised(
            &extra,
            &["os.listdir".into()],
            &["mylib.fetch_async".into()],
            &["mylib.threaded".into()],
        )
        .unwrap();
        assert!(catalogue.is_offload_decorator("mylib.threaded"));
        assert!(catalogue.is_offload_decorator("asgiref.sync.sync_to_async"));
        assert!(catalogue.is_coroutine_function("mylib.fetch_async"));
        assert!(catalogue.is_coroutine_function("asyncio.sleep"));
        assert_eq!(catalogue.lookup("mylib.fetch_sync").unwrap().rule.code, "AL102");
        assert!(catalogue.lookup("os.listdir").is_none());
        assert!(catalogue.lookup("os.walk").is_some());
    }

    #[test]
    fn unknown_rules_are_rejected() {
        let extra = vec![BlockingSpec {
            name: Some("x.y".into()),
            names: vec![],
            rule: "AL999".into(),
            reason: None,
            replacement: None,
            drop_in: false,
            harmless_first_arguments: vec![],
            harmless_argument_names: vec![],
            harmless_first_argument_prefixes: vec![],
            lazy: false,
        }];
        assert!(Catalogue::customised(&extra, &[], &[], &[]).unwrap_err().contains("AL999"));
    }
}

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

/// One `[[loop.callbacks]]` table, as written in `catalogue.toml` and in `loop-callbacks`: a call that runs a sync
/// function it is given on the event loop's thread.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LoopCallbackSpec {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub names: Vec<String>,
    /// The position of the callback among the call's positional arguments.
    pub argument: usize,
    /// The loop runs the callback when a file descriptor is ready (`add_reader`, `add_writer`): reading or writing
    /// it there does not wait.
    #[serde(default)]
    pub ready_io: bool,
}

/// What a loop callback entry says about the call: where its callback is, and whether it runs on readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopCallback {
    pub argument: usize,
    pub ready_io: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CatalogueFile {
    blocking: Vec<BlockingSpec>,
    constructors: Vec<ConstructorSpec>,
    coroutine_functions: CoroutineData,
    tasks: TaskData,
    ordered: OrderedData,
    offload: OffloadData,
    #[serde(rename = "loop")]
    on_loop: LoopData,
}

/// What runs a sync function on the event loop's thread.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LoopData {
    /// Decorators that mark a sync function as one that runs on the loop.
    decorators: Vec<String>,
    /// Calls that return an asyncio future or task: a method called on what they return is `asyncio.Future`'s.
    futures: Vec<String>,
    callbacks: Vec<LoopCallbackSpec>,
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
struct CoroutineData {
    names: Vec<String>,
    /// Those whose result is also an async context manager, so `async with call():` is their use, not a slip.
    entered: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TaskData {
    spawners: Vec<String>,
    group_spawners: Vec<String>,
    gatherers: Vec<String>,
    entry_points: Vec<String>,
}

/// What the user's configuration adds to the built-in catalogue, and what it removes (`allowed`).
#[derive(Debug, Default)]
pub struct Extra<'a> {
    pub blocking: &'a [BlockingSpec],
    pub allowed: &'a [String],
    pub coroutine_functions: &'a [String],
    pub offload_decorators: &'a [String],
    pub loop_decorators: &'a [String],
    pub loop_callbacks: &'a [LoopCallbackSpec],
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
    enterable_coroutines: HashSet<String>,
    task_spawners: HashSet<String>,
    group_spawners: HashSet<String>,
    gatherers: HashSet<String>,
    entry_points: HashSet<String>,
    ordered_functions: HashSet<String>,
    ordered_methods: HashSet<String>,
    offload_functions: HashSet<String>,
    offload_methods: HashSet<String>,
    offload_decorators: HashSet<String>,
    loop_decorators: HashSet<String>,
    future_makers: HashSet<String>,
    loop_callbacks: HashMap<String, LoopCallback>,
    /// `*.method` loop callback entries, keyed by the method name.
    loop_callback_methods: HashMap<String, LoopCallback>,
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
                catalogue.enterable_coroutines = file.coroutine_functions.entered.into_iter().collect();
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
                catalogue.loop_decorators = file.on_loop.decorators.into_iter().collect();
                catalogue.future_makers = file.on_loop.futures.into_iter().collect();
                catalogue
                    .add_loop_callbacks(&file.on_loop.callbacks)
                    .expect("catalogue.toml's loop callbacks have names");
                catalogue.rebuild_types();
                Arc::new(catalogue)
            })
            .clone()
    }

    /// The built-in catalogue with the user's entries added and the allowed calls removed.
    pub fn customised(extra: &Extra) -> Result<Catalogue, String> {
        let mut catalogue = (*Catalogue::builtin()).clone();
        catalogue.add_blocking(extra.blocking)?;
        catalogue.coroutine_functions.extend(extra.coroutine_functions.iter().cloned());
        catalogue.offload_decorators.extend(extra.offload_decorators.iter().cloned());
        catalogue.loop_decorators.extend(extra.loop_decorators.iter().cloned());
        catalogue.add_loop_callbacks(extra.loop_callbacks)?;
        let allowed = extra.allowed;
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
            let key = format!("{extra:?}");
            std::hash::Hash::hash(&key, &mut hasher);
            std::hash::Hasher::finish(&hasher) | 1
        };
        Ok(catalogue)
    }

    /// The last part of every loop callback API's name (`call_soon`, `add_done_callback`, `run_sync`): a text that
    /// contains none of them hands nothing to the loop.
    pub fn loop_callback_words(&self) -> impl Iterator<Item = &str> {
        fn last(name: &str) -> &str {
            name.rsplit('.').next().unwrap_or(name)
        }
        self.loop_callbacks.keys().map(|name| last(name)).chain(self.loop_callback_methods.keys().map(String::as_str))
    }

    fn add_loop_callbacks(&mut self, specs: &[LoopCallbackSpec]) -> Result<(), String> {
        for spec in specs {
            let callback = LoopCallback { argument: spec.argument, ready_io: spec.ready_io };
            let mut any = false;
            for name in spec.name.iter().chain(&spec.names) {
                any = true;
                match name.strip_prefix("*.") {
                    Some(method) => self.loop_callback_methods.insert(method.to_owned(), callback),
                    None => self.loop_callbacks.insert(name.clone(), callback),
                };
            }
            if !any {
                return Err("a loop-callbacks entry has neither `name` nor `names`".to_owned());
            }
        }
        Ok(())
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

    /// A library call whose awaitable is also an async context manager (`aiohttp.ClientSession.get`).
    pub fn is_enterable_coroutine(&self, qualified: &str) -> bool {
        self.enterable_coroutines.contains(qualified)
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

    /// A decorator that marks a sync function as one that runs on the event loop (`homeassistant.core.callback`).
    pub fn is_loop_decorator(&self, qualified: &str) -> bool {
        self.loop_decorators.contains(qualified)
    }

    /// A call that runs a sync function it is given on the event loop (`asyncio.AbstractEventLoop.call_soon`).
    pub fn loop_callback(&self, qualified: &str) -> Option<LoopCallback> {
        self.loop_callbacks.get(qualified).copied()
    }

    /// A `*.method` loop callback entry, for a method call whose receiver's type is unknown (`loop.call_soon`).
    pub fn loop_callback_method(&self, method: &str) -> Option<LoopCallback> {
        self.loop_callback_methods.get(method).copied()
    }

    /// A call whose result is an asyncio future or task (`asyncio.create_task`).
    pub fn makes_future(&self, qualified: &str) -> bool {
        self.future_makers.contains(qualified)
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
        let loop_callbacks =
            [LoopCallbackSpec { name: Some("mylib.on_loop".into()), names: vec![], argument: 1, ready_io: false }];
        let catalogue = Catalogue::customised(&Extra {
            blocking: &extra,
            allowed: &["os.listdir".into()],
            coroutine_functions: &["mylib.fetch_async".into()],
            offload_decorators: &["mylib.threaded".into()],
            loop_decorators: &["mylib.loop_only".into()],
            loop_callbacks: &loop_callbacks,
        })
        .unwrap();
        assert!(catalogue.is_loop_decorator("mylib.loop_only"));
        assert!(catalogue.is_loop_decorator("homeassistant.core.callback"));
        assert_eq!(catalogue.loop_callback("mylib.on_loop"), Some(LoopCallback { argument: 1, ready_io: false }));
        assert!(catalogue.loop_callback_method("call_soon").is_some());
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
        assert!(Catalogue::customised(&Extra { blocking: &extra, ..Extra::default() }).unwrap_err().contains("AL999"));
    }
}

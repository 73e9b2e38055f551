//! Per-file semantics: scopes and their bindings, import resolution, shadowing, the innermost-function context of each
//! call, and what a call's callee refers to (`t.sleep` → `time.sleep`, `s.get` → `requests.Session.get`).

use crate::core::syntax::KindName;
use foldhash::{HashMap, HashMapExt};

use tree_sitter::Node;

use super::catalogue::Catalogue;
use super::diagnostic::TextRange;
use super::document::Document;
use super::syntax::{self, Visitor};

pub type ScopeId = usize;

/// The module scope is always the first.
pub const MODULE_SCOPE: ScopeId = 0;

/// Decorators that leave a coroutine function a coroutine function.
const TRANSPARENT_DECORATORS: &[&str] = &[
    "staticmethod",
    "classmethod",
    "abc.abstractmethod",
    "typing.override",
    "typing_extensions.override",
    "typing.final",
    "functools.wraps",
];

/// The event loop library a module runs under, which decides the form of fixes and the wording of messages: a trio
/// program has no `asyncio.to_thread`, and `asyncio.gather` does not run under `trio.run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventLoop {
    Asyncio,
    Trio,
    /// anyio's API runs under both of its backends, so it wins over trio when a module imports both.
    Anyio,
}

impl EventLoop {
    pub fn module(self) -> &'static str {
        match self {
            EventLoop::Asyncio => "asyncio",
            EventLoop::Trio => "trio",
            EventLoop::Anyio => "anyio",
        }
    }

    /// What runs several calls at once under this library, for messages.
    pub fn concurrency(self) -> &'static str {
        match self {
            EventLoop::Asyncio => "`asyncio.gather`",
            EventLoop::Trio => "a nursery (`trio.open_nursery`)",
            EventLoop::Anyio => "a task group (`anyio.create_task_group`)",
        }
    }
}

/// How deep value inference may chase `a = b`, `b = c()`, ... before giving up (it also breaks cycles).
const MAX_INFERENCE_DEPTH: u32 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Module,
    Function { is_async: bool },
    Lambda,
    Class,
}

#[derive(Debug, Clone)]
pub enum ValueSource<'t> {
    /// `name = <expr>` (also walrus and `with <expr> as name`).
    Expr(Node<'t>),
    /// `name: <annotation>` on a parameter or an assignment.
    Annotation(Node<'t>),
    /// Something the analysis does not follow: loop targets, unpacking, `except ... as`, plain parameters; bound
    /// at this byte offset.
    Opaque(usize),
}

impl ValueSource<'_> {
    /// The offset from which the binding holds: after its value (`path = path.parent` reads the old `path`).
    fn bound_at(&self) -> usize {
        match self {
            ValueSource::Expr(node) | ValueSource::Annotation(node) => node.end_byte(),
            ValueSource::Opaque(at) => *at,
        }
    }

    /// Whether every path to a use at `used_at` runs this binding after any binding written before it: the binding
    /// is an assignment or `with ... as` statement standing directly in a block (or the module) that holds the use,
    /// and comes before it. `f: int = 7` then `f: TextIOWrapper = ...` then `f.read()`: only the second reaches.
    fn dominates(&self, used_at: usize) -> bool {
        let (ValueSource::Expr(node) | ValueSource::Annotation(node)) = self else { return false };
        if node.end_byte() > used_at {
            return false;
        }
        let mut statement = node.parent();
        while let Some(inner) = statement
            .filter(|inner| matches!(inner.kind_name(), "assignment" | "as_pattern" | "with_item" | "with_clause"))
        {
            statement = inner.parent();
        }
        let Some(statement) = statement.filter(|s| matches!(s.kind_name(), "expression_statement" | "with_statement"))
        else {
            return false;
        };
        statement
            .parent()
            .filter(|block| matches!(block.kind_name(), "block" | "module"))
            .is_some_and(|block| block.start_byte() <= used_at && used_at <= block.end_byte())
    }
}

#[derive(Debug, Clone)]
pub enum Binding<'t> {
    /// An import: the qualified name of the module or of the imported object.
    Import(String),
    Function {
        qualname: String,
        is_async: bool,
    },
    Class {
        qualname: String,
    },
    /// The first parameter of a method: an instance of the class (or the class itself, for `cls`).
    SelfRef {
        class: String,
    },
    Value(Vec<ValueSource<'t>>),
    /// `global name`: look in the module scope.
    Global,
    /// `nonlocal name`: look in the enclosing functions.
    Nonlocal,
    /// Bound in conflicting ways; nothing is assumed about it.
    Ambiguous,
}

#[derive(Debug)]
pub struct Scope<'t> {
    pub kind: ScopeKind,
    pub parent: Option<ScopeId>,
    /// The function's or class's own name (empty for the module and lambdas).
    pub name: &'t str,
    /// `module.Class.method`, `module.outer.inner`; the module name for the module scope.
    pub qualname: String,
    /// The defining node (`function_definition`, `class_definition`, `lambda`); `None` for the module.
    pub node: Option<Node<'t>>,
    /// The range of the name in `def name(...)`.
    pub name_range: TextRange,
    /// For methods: the class they are defined in.
    pub class: Option<String>,
    /// The expressions after `@` on a `def` or `class`, evaluated in the enclosing scope.
    pub decorators: Vec<Node<'t>>,
    /// The function contains `yield`: calling it makes a generator (an async generator for `async def`), not a
    /// coroutine.
    pub is_generator: bool,
    /// Its own code may suspend: it has an `await`, `async for` or `async with` (in a comprehension too).
    pub may_suspend: bool,
    pub bindings: HashMap<&'t str, Binding<'t>>,
    /// Its own loops: what a loop's statement binds may reach code that runs again on the next iteration.
    loops: Vec<Loop>,
}

/// A `for` or `while` loop, by byte ranges.
#[derive(Debug)]
struct Loop {
    statement: std::ops::Range<usize>,
    /// What runs again on each iteration: a `for`'s body, a `while`'s condition and body.
    repeated: std::ops::Range<usize>,
}

impl Scope<'_> {
    pub fn is_async_function(&self) -> bool {
        matches!(self.kind, ScopeKind::Function { is_async: true })
    }

    pub fn is_sync_function(&self) -> bool {
        matches!(self.kind, ScopeKind::Function { is_async: false })
    }

    /// An `async def` without `yield`: calling it makes a coroutine.
    pub fn is_coroutine_function(&self) -> bool {
        self.is_async_function() && !self.is_generator
    }

    /// How messages name a function: `prepare`, or `Store.__init__` for a method.
    pub fn display_name(&self) -> String {
        match &self.class {
            Some(class) => format!("{}.{}", class.rsplit('.').next().unwrap_or(class), self.name),
            None => self.name.to_owned(),
        }
    }
}

/// A call expression and where it stands.
#[derive(Debug, Clone, Copy)]
pub struct CallSite<'t> {
    /// Its position in [`SemanticModel::calls`], under which facts about it are memoised.
    pub id: usize,
    pub node: Node<'t>,
    /// The innermost scope: the function, lambda or class body the call runs in.
    pub scope: ScopeId,
    /// The call is the direct operand of `await`.
    pub awaited: bool,
    /// Between the call and its function lies a generator expression: an `await` there would change what the
    /// expression is, so no fix may add one.
    pub in_generator: bool,
    /// The call is a whole expression statement: its result is dropped.
    pub statement: bool,
    /// The result is dropped inside a larger expression statement (`[call(...)]`, `call(...) if c else None`), or
    /// used as a `with` item.
    pub dropped_inside: bool,
    /// The context expression of an `async with` item (`async with trio.open_file(p):`), not awaited first.
    pub entered: bool,
    /// `name = call(...)`: the simple name the result is bound to.
    pub assigned_to: Option<Node<'t>>,
}

#[derive(Debug, Clone)]
pub struct ClassDef<'t> {
    pub qualname: String,
    pub scope: ScopeId,
    pub bases: Vec<Node<'t>>,
}

/// `self.name = value` assignments: class qualname → attribute name → (value, scope of the assignment).
type InstanceAttributes<'t> = HashMap<String, HashMap<&'t str, Vec<(ValueSource<'t>, ScopeId)>>>;

/// What an expression refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A module-level object with a qualified name: a module, function, class, or an attribute of one.
    Path(String),
    /// An instance of the named type.
    Instance(String),
    Unknown,
}

pub struct SemanticModel<'t> {
    pub module: String,
    pub source: &'t str,
    pub scopes: Vec<Scope<'t>>,
    pub calls: Vec<CallSite<'t>>,
    pub classes: Vec<ClassDef<'t>>,
    /// What each plain `for` loop and comprehension iterates over, with the scope it runs in (`async for` aside):
    /// the rules that ask need no walk of their own.
    pub iterated: Vec<(ScopeId, Node<'t>)>,
    /// A `from x import *` at module level: unknown names may come from it, so they are not taken as builtins.
    pub has_wildcard_import: bool,
    /// The module's top level runs inside a running event loop, where `await` is valid: a notebook's cells. False
    /// unless the caller says so (see `check::build_model`).
    pub top_level_await: bool,
    /// `self.name = value` in the methods of this file's classes: class qualname → attribute → values.
    attributes: InstanceAttributes<'t>,
    catalogue: &'t Catalogue,
    /// Function and class scopes by qualified name (the first of redefinitions), for lookups that would otherwise
    /// scan every scope.
    scopes_by_qualname: HashMap<String, ScopeId>,
    /// Where fixes would insert `import <module>`, by module: computed once per file, not once per fix.
    pub(crate) import_edits: std::cell::RefCell<HashMap<String, Option<super::diagnostic::Edit>>>,
    /// Each call's callee path, by call id, resolved on first use: the summary, the candidates and several rules all
    /// ask for it, and resolving allocates a string per dotted part.
    callee_paths: Vec<std::cell::OnceCell<Option<String>>>,
    event_loop: EventLoop,
    /// In a focused model (see [`SemanticModel::build_focused`]): the module-level names bound by the units whose
    /// bodies were not walked, with those units' positions. Empty in a whole model.
    skipped: HashMap<&'t str, Vec<usize>>,
    /// The skipped units something asked about: a focused model is complete for its walked units only once it
    /// holds every unit they asked about.
    demanded: std::cell::RefCell<Vec<usize>>,
    /// Why each sync function or lambda runs on the event loop, by scope id, worked out on first use.
    on_loop: std::cell::OnceCell<Vec<Option<super::on_loop::OnLoop>>>,
}

/// What a unit that holds only definitions binds at module level: a `def` or a `class`, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Definition<'t> {
    pub name: &'t str,
    pub kind: DefinitionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefinitionKind {
    Function { is_async: bool },
    Class,
}

/// The definitions of a unit whose statements are all `def`s and `class`es (decorated or not; comments aside), when
/// nothing outside their bodies and headers binds a module-level name (no `:=` in a header) and the unit has no
/// syntax error. A focused model may leave the bodies of such a unit unwalked: at module level, all it then binds
/// is these names. None for every other unit.
pub fn unit_definitions<'t>(root: Node<'t>, source: &'t str) -> Option<Vec<Definition<'t>>> {
    if root.has_error() {
        return None;
    }
    let mut definitions = Vec::new();
    for statement in syntax::named_children(root) {
        let definition = match statement.kind_name() {
            "comment" => continue,
            "function_definition" | "class_definition" => statement,
            "decorated_definition" => statement.child_by_field_id(syntax::fields().definition)?,
            _ => return None,
        };
        let body = definition.child_by_field_id(syntax::fields().body)?;
        if source[statement.start_byte()..body.start_byte()].contains(":=") {
            return None;
        }
        let name = syntax::text(definition.child_by_field_id(syntax::fields().name)?, source);
        let kind = match definition.kind_name() {
            "function_definition" => DefinitionKind::Function { is_async: syntax::is_async_function(definition) },
            "class_definition" => DefinitionKind::Class,
            _ => return None,
        };
        definitions.push(Definition { name, kind });
    }
    Some(definitions)
}

impl<'t> SemanticModel<'t> {
    /// Builds the model in one iterative walk. `is_package` says whether the document is a package's `__init__.py`,
    /// which changes what relative imports mean.
    pub fn build(document: &'t Document, module: &str, is_package: bool, catalogue: &'t Catalogue) -> Self {
        Self::build_focused(document, module, is_package, catalogue, &[])
    }

    /// Builds a model that, of each unit for which `skip` holds its definitions (see [`unit_definitions`]), binds
    /// just those names, and walks every other unit (all of them when `skip` is empty). Rules run on it find, for
    /// the walked units, what they find on the whole model, provided that [`Self::demanded_units`] is empty:
    /// anything asked about a skipped unit is recorded there, and a caller then builds again with those units walked
    /// too. See `incremental`.
    pub fn build_focused(
        document: &'t Document,
        module: &str,
        is_package: bool,
        catalogue: &'t Catalogue,
        skip: &[Option<&[Definition<'t>]>],
    ) -> Self {
        let source = document.text();
        let mut builder = Builder {
            source,
            package: package_of(module, is_package),
            scopes: vec![Scope {
                kind: ScopeKind::Module,
                parent: None,
                name: "",
                qualname: module.to_owned(),
                node: None,
                name_range: TextRange::default(),
                class: None,
                decorators: Vec::new(),
                is_generator: false,
                may_suspend: false,
                bindings: HashMap::new(),
                loops: Vec::new(),
            }],
            frames: vec![Frame { scope: MODULE_SCOPE, body_id: usize::MAX, generator_depth: 0 }],
            pending_bodies: Vec::new(),
            ancestors: Vec::new(),
            type_checking_blocks: Vec::new(),
            calls: Vec::new(),
            classes: Vec::new(),
            iterated: Vec::new(),
            has_wildcard_import: false,
            attributes: HashMap::new(),
        };
        let mut skipped: HashMap<&'t str, Vec<usize>> = HashMap::new();
        for (position, unit) in document.units().enumerate() {
            let Some(definitions) = skip.get(position).copied().flatten() else {
                syntax::walk_node(unit.root, &mut builder);
                continue;
            };
            for definition in definitions.iter().copied() {
                let qualname = if module.is_empty() {
                    definition.name.to_owned()
                } else {
                    format!("{module}.{}", definition.name)
                };
                let binding = match definition.kind {
                    DefinitionKind::Function { is_async } => Binding::Function { qualname, is_async },
                    DefinitionKind::Class => Binding::Class { qualname },
                };
                builder.bind(MODULE_SCOPE, definition.name, binding);
                skipped.entry(definition.name).or_default().push(position);
            }
        }
        let mut scopes_by_qualname = HashMap::new();
        for (id, scope) in builder.scopes.iter().enumerate().skip(1) {
            scopes_by_qualname.entry(scope.qualname.clone()).or_insert(id);
        }
        SemanticModel {
            event_loop: Self::imported_event_loop(&builder.scopes[MODULE_SCOPE]),
            scopes_by_qualname,
            module: module.to_owned(),
            source,
            scopes: builder.scopes,
            classes: builder.classes,
            iterated: builder.iterated,
            has_wildcard_import: builder.has_wildcard_import,
            top_level_await: false,
            attributes: builder.attributes,
            catalogue,
            import_edits: std::cell::RefCell::new(HashMap::new()),
            callee_paths: vec![std::cell::OnceCell::new(); builder.calls.len()],
            calls: builder.calls,
            skipped,
            demanded: std::cell::RefCell::new(Vec::new()),
            on_loop: std::cell::OnceCell::new(),
        }
    }

    /// The positions of the skipped units that something asked about, sorted: empty for a whole model.
    pub fn demanded_units(&self) -> Vec<usize> {
        let mut demanded = self.demanded.borrow().clone();
        demanded.sort_unstable();
        demanded.dedup();
        demanded
    }

    /// Records a question about `qualname` when its top-level name is bound by a skipped unit: the answer lies in
    /// that unit's bodies.
    fn note_question_about(&self, qualname: &str) {
        if self.skipped.is_empty() {
            return;
        }
        let local = if self.module.is_empty() {
            Some(qualname)
        } else {
            qualname.strip_prefix(self.module.as_str()).and_then(|rest| rest.strip_prefix('.'))
        };
        let Some(local) = local else { return };
        let top = local.split('.').next().unwrap_or(local);
        if let Some(units) = self.skipped.get(top) {
            self.demanded.borrow_mut().extend(units);
        }
    }

    pub fn text(&self, node: Node) -> &'t str {
        syntax::text(node, self.source)
    }

    /// The innermost enclosing function-like scope of `scope` (itself if it is one), skipping nothing: a class
    /// body or a lambda is its own context.
    pub fn scope(&self, id: ScopeId) -> &Scope<'t> {
        &self.scopes[id]
    }

    /// Finds the binding a name refers to from `scope`, following Python's rules: enclosing class bodies are not
    /// visible from functions nested in them; `global` jumps to the module.
    pub fn lookup(&self, scope: ScopeId, name: &str) -> Option<(ScopeId, &Binding<'t>)> {
        let mut current = Some(scope);
        let mut innermost = true;
        while let Some(id) = current {
            let candidate = &self.scopes[id];
            let visible = innermost || candidate.kind != ScopeKind::Class;
            if visible {
                match candidate.bindings.get(name) {
                    Some(Binding::Global) => {
                        return self.scopes[MODULE_SCOPE].bindings.get(name).map(|binding| (MODULE_SCOPE, binding));
                    }
                    Some(Binding::Nonlocal) | None => {}
                    Some(binding) => return Some((id, binding)),
                }
            }
            innermost = false;
            current = candidate.parent;
        }
        None
    }

    /// What an expression refers to, seen from `scope`.
    pub fn resolve(&self, node: Node<'t>, scope: ScopeId) -> Resolved {
        self.resolve_at_depth(node, scope, 0)
    }

    fn resolve_at_depth(&self, node: Node<'t>, scope: ScopeId, depth: u32) -> Resolved {
        if depth > MAX_INFERENCE_DEPTH {
            return Resolved::Unknown;
        }
        match node.kind_name() {
            "identifier" => self.resolve_name_used_at(self.text(node), scope, depth, Some(node.start_byte())),
            "attribute" => {
                let (Some(object), Some(attribute)) = (
                    node.child_by_field_id(syntax::fields().object),
                    node.child_by_field_id(syntax::fields().attribute),
                ) else {
                    return Resolved::Unknown;
                };
                let attribute = self.text(attribute);
                match self.resolve_at_depth(object, scope, depth + 1) {
                    Resolved::Instance(class) => match self.instance_attribute(&class, attribute, depth) {
                        Some(value) => value,
                        None => Resolved::Path(format!("{class}.{attribute}")),
                    },
                    Resolved::Path(path) => Resolved::Path(format!("{path}.{attribute}")),
                    Resolved::Unknown => Resolved::Unknown,
                }
            }
            "call" => {
                let Some(function) = node.child_by_field_id(syntax::fields().function) else {
                    return Resolved::Unknown;
                };
                match self.resolve_at_depth(function, scope, depth + 1) {
                    // `sqlite3.connect(":memory:")` is harmless, and so is what it returns: no method of an
                    // in-memory connection touches a file.
                    Resolved::Path(path) if self.harmless_for_arguments(&path, node) => Resolved::Unknown,
                    Resolved::Path(path) if self.wraps_memory(&path, node, scope, depth) => Resolved::Unknown,
                    Resolved::Path(path) => self.instance_of_call(&path, depth),
                    _ => Resolved::Unknown,
                }
            }
            // `await asyncpg.connect(...)` is a connection: the catalogue knows what awaiting such calls gives.
            "await" => {
                let call = node.named_child(0).filter(|inner| inner.kind_name() == "call");
                let function = call.and_then(|call| call.child_by_field_id(syntax::fields().function));
                match function.map(|function| self.resolve_at_depth(function, scope, depth + 1)) {
                    Some(Resolved::Path(path)) => match self.catalogue.returns(&path) {
                        Some(returned) => Resolved::Instance(returned.to_owned()),
                        None => self.declared_return(&path, true, depth),
                    },
                    _ => Resolved::Unknown,
                }
            }
            "parenthesized_expression" => match node.named_child(0) {
                Some(inner) => self.resolve_at_depth(inner, scope, depth + 1),
                None => Resolved::Unknown,
            },
            // `Path(a) / "b"` is still a path.
            "binary_operator" => {
                let is_division =
                    node.child_by_field_id(syntax::fields().operator).is_some_and(|op| op.kind_name() == "/");
                let left = node.child_by_field_id(syntax::fields().left);
                match left.map(|left| self.resolve_at_depth(left, scope, depth + 1)) {
                    Some(Resolved::Instance(kind)) if is_division && kind == "pathlib.Path" => Resolved::Instance(kind),
                    _ => Resolved::Unknown,
                }
            }
            _ => Resolved::Unknown,
        }
    }

    /// What one of this file's functions says it returns (`def open_log() -> io.TextIOWrapper`), read in the scope the
    /// function is defined in: for a sync function what calling it gives, for an `async def` what awaiting its call
    /// gives (`awaited`). A generator's annotation is what it yields, not what the call gives.
    fn declared_return(&self, path: &str, awaited: bool, depth: u32) -> Resolved {
        let Some(function) = self.scope_named(path).map(|id| &self.scopes[id]) else { return Resolved::Unknown };
        let is_callable_as_asked = matches!(function.kind, ScopeKind::Function { is_async } if is_async == awaited);
        let annotation = function.node.and_then(|node| node.child_by_field_id(syntax::fields().return_type));
        match (annotation, function.parent) {
            (Some(annotation), Some(parent)) if is_callable_as_asked && !function.is_generator => {
                self.resolve_annotation(annotation, parent, depth + 1)
            }
            _ => Resolved::Unknown,
        }
    }

    /// Whether the catalogue says that calling `path` with this call's first argument does no blocking work.
    fn harmless_for_arguments(&self, path: &str, call: Node<'t>) -> bool {
        let Some(entry) = self.catalogue.lookup(path).filter(|entry| !entry.harmless_first_arguments.is_empty()) else {
            return false;
        };
        let first =
            syntax::first_positional_argument(call).and_then(|argument| syntax::literal_value(argument, self.source));
        first.is_some_and(|first| entry.harmless_first_arguments.iter().any(|harmless| harmless == first))
    }

    /// Whether the call wraps an in-memory buffer in a file-object class (`io.TextIOWrapper(io.BytesIO(data))`, as
    /// black decodes source text): its reads and writes touch no file.
    fn wraps_memory(&self, path: &str, call: Node<'t>, scope: ScopeId, depth: u32) -> bool {
        const WRAPPERS: &[&str] = &["io.TextIOWrapper", "io.BufferedReader", "io.BufferedWriter", "io.BufferedRandom"];
        if !WRAPPERS.contains(&path) {
            return false;
        }
        let wrapped =
            syntax::first_positional_argument(call).map(|argument| self.resolve_at_depth(argument, scope, depth + 1));
        matches!(wrapped, Some(Resolved::Instance(kind)) if kind == "io.BytesIO" || kind == "io.StringIO")
    }

    /// The result of calling `path`: an instance when the catalogue knows what it returns, or when the path names a
    /// class (a catalogue type, or a capitalised name such as a project's own `Client`).
    fn instance_of_call(&self, path: &str, depth: u32) -> Resolved {
        if let Some(returned) = self.catalogue.returns(path) {
            return Resolved::Instance(returned.to_owned());
        }
        if let declared @ Resolved::Instance(_) = self.declared_return(path, false, depth) {
            return declared;
        }
        let last = path.rsplit('.').next().unwrap_or(path);
        let looks_like_class =
            last.starts_with(|c: char| c.is_ascii_uppercase()) && last.chars().any(|c| c.is_ascii_lowercase());
        if self.catalogue.is_type(path) || looks_like_class {
            Resolved::Instance(path.to_owned())
        } else {
            Resolved::Unknown
        }
    }

    fn resolve_name(&self, name: &str, scope: ScopeId, depth: u32) -> Resolved {
        self.resolve_name_used_at(name, scope, depth, None)
    }

    /// What `name` refers to where it is used (at byte `used_at`, when known). In the scope that binds it, only the
    /// bindings that may reach the use count: those before it, and those in a loop that runs the use again, so
    /// `path.stat()` before a later `for path in paths:` sees the `path = Path(...)` above it.
    fn resolve_name_used_at(&self, name: &str, scope: ScopeId, depth: u32, used_at: Option<usize>) -> Resolved {
        match self.lookup(scope, name) {
            Some((_, Binding::Import(qualified))) => Resolved::Path(qualified.clone()),
            Some((_, Binding::Function { qualname, .. })) | Some((_, Binding::Class { qualname })) => {
                Resolved::Path(qualname.clone())
            }
            Some((_, Binding::SelfRef { class })) => Resolved::Instance(class.clone()),
            Some((found_in, Binding::Value(sources))) => {
                let here = used_at.filter(|_| found_in == scope);
                // The last binding that every path to the use runs hides the ones written before it.
                let hidden_before = here
                    .and_then(|used_at| {
                        sources.iter().filter(|source| source.dominates(used_at)).map(ValueSource::bound_at).max()
                    })
                    .unwrap_or(0);
                let reaching = sources.iter().filter(|source| match here {
                    Some(used_at) => {
                        self.may_reach(scope, source.bound_at(), used_at) && source.bound_at() >= hidden_before
                    }
                    None => true,
                });
                self.agree(reaching.map(|source| (source, found_in)), depth)
            }
            Some((_, Binding::Global | Binding::Nonlocal | Binding::Ambiguous)) => Resolved::Unknown,
            None if self.has_wildcard_import => Resolved::Unknown,
            // Not bound anywhere in the file: a builtin such as `open` or `input`.
            None => Resolved::Path(name.to_owned()),
        }
    }

    /// Whether a binding that holds from `bound_at` may be what a use at `used_at` in the same scope sees.
    fn may_reach(&self, scope: ScopeId, bound_at: usize, used_at: usize) -> bool {
        bound_at <= used_at
            || self.scopes[scope]
                .loops
                .iter()
                // `bound_at` is where a value ends, which may be where the loop ends too.
                .any(|loop_| {
                    (loop_.statement.start + 1..=loop_.statement.end).contains(&bound_at)
                        && loop_.repeated.contains(&used_at)
                })
    }

    /// A data attribute of an instance of one of this file's classes: what `self.<attribute> = ...` assigned in its
    /// methods, or a class-level `attribute: Type` / `attribute = value`. `None` when the class has no such data
    /// attribute (it may be a method).
    fn instance_attribute(&self, class: &str, attribute: &str, depth: u32) -> Option<Resolved> {
        if let Some(sources) = self.attributes.get(class).and_then(|attributes| attributes.get(attribute)) {
            return Some(self.agree(sources.iter().map(|(source, scope)| (source, *scope)), depth));
        }
        let class_scope = self.scope_named(class).filter(|id| self.scopes[*id].kind == ScopeKind::Class)?;
        match self.scopes[class_scope].bindings.get(attribute)? {
            Binding::Value(sources) => Some(self.resolve_value(sources, class_scope, depth)),
            _ => None,
        }
    }

    /// A variable's meaning, when every assignment agrees on it (`None` placeholders aside).
    fn resolve_value(&self, sources: &[ValueSource<'t>], scope: ScopeId, depth: u32) -> Resolved {
        self.agree(sources.iter().map(|source| (source, scope)), depth)
    }

    fn agree<'s>(&self, sources: impl Iterator<Item = (&'s ValueSource<'t>, ScopeId)>, depth: u32) -> Resolved
    where
        't: 's,
    {
        let mut agreed: Option<Resolved> = None;
        for (source, scope) in sources {
            let meaning = match source {
                ValueSource::Opaque(_) => return Resolved::Unknown,
                ValueSource::Expr(expr) if expr.kind_name() == "none" => continue,
                ValueSource::Expr(expr) => self.resolve_at_depth(*expr, scope, depth + 1),
                ValueSource::Annotation(annotation) => self.resolve_annotation(*annotation, scope, depth + 1),
            };
            if meaning == Resolved::Unknown {
                return Resolved::Unknown;
            }
            match &agreed {
                None => agreed = Some(meaning),
                Some(previous) if *previous == meaning => {}
                Some(_) => return Resolved::Unknown,
            }
        }
        agreed.unwrap_or(Resolved::Unknown)
    }

    /// `p: Path`, `p: Path | None`, `Optional[Path]`, `Union[Path, None]`, `IO[str]` (a generic is its base) and
    /// the string forms (`"httpx.Client | None"`) make `p` an instance of that class.
    fn resolve_annotation(&self, annotation: Node<'t>, scope: ScopeId, depth: u32) -> Resolved {
        if depth > MAX_INFERENCE_DEPTH {
            return Resolved::Unknown;
        }
        let fields = syntax::fields();
        match annotation.kind_name() {
            "type" => match annotation.named_child(0) {
                Some(inner) => self.resolve_annotation(inner, scope, depth + 1),
                None => Resolved::Unknown,
            },
            "identifier" | "attribute" => match self.resolve_at_depth(annotation, scope, depth) {
                Resolved::Path(path) => Resolved::Instance(path),
                _ => Resolved::Unknown,
            },
            "binary_operator" | "union_type" => {
                let sides = syntax::named_children(annotation).filter(|side| side.kind_name() != "comment");
                self.only_type(sides, scope, depth)
            }
            "generic_type" => {
                let mut children = syntax::named_children(annotation);
                let (Some(base), Some(parameters)) = (children.next(), children.next()) else {
                    return Resolved::Unknown;
                };
                self.resolve_generic(base, syntax::named_children(parameters), scope, depth)
            }
            "subscript" => {
                let Some(base) = annotation.child_by_field_id(fields.value) else { return Resolved::Unknown };
                // The parameters are the named children after the base (comments aside).
                let parameters = syntax::named_children(annotation)
                    .filter(move |child| child.id() != base.id() && child.kind_name() != "comment");
                self.resolve_generic(base, parameters, scope, depth)
            }
            "string" => self.resolve_string_annotation(annotation, scope, depth),
            _ => Resolved::Unknown,
        }
    }

    /// The one type of a union besides `None`, when there is exactly one.
    fn only_type(&self, types: impl Iterator<Item = Node<'t>>, scope: ScopeId, depth: u32) -> Resolved {
        let mut types = types.filter(|side| !matches!(self.text(*side), "None" | "type(None)"));
        match (types.next(), types.next()) {
            (Some(only), None) => self.resolve_annotation(only, scope, depth + 1),
            _ => Resolved::Unknown,
        }
    }

    /// `Optional[X]` and `Union[X, None]` are `X`; any other generic (`IO[str]`, `list[int]`) is its base class.
    fn resolve_generic(
        &self,
        base: Node<'t>,
        parameters: impl Iterator<Item = Node<'t>>,
        scope: ScopeId,
        depth: u32,
    ) -> Resolved {
        let Resolved::Path(base) = self.resolve_at_depth(base, scope, depth + 1) else { return Resolved::Unknown };
        match base.as_str() {
            "typing.Optional" | "typing_extensions.Optional" | "typing.Union" | "typing_extensions.Union" => {
                self.only_type(parameters, scope, depth)
            }
            _ => Resolved::Instance(base),
        }
    }

    /// A string annotation of a dotted name, optionally `| None` (`"httpx.Client | None"`): the name is resolved in
    /// the scope as if written bare. Other forms inside quotes are not parsed.
    fn resolve_string_annotation(&self, annotation: Node<'t>, scope: ScopeId, depth: u32) -> Resolved {
        let text = self.text(annotation);
        let Some(inner) = text.strip_prefix(['"', '\'']).and_then(|rest| rest.strip_suffix(['"', '\''])) else {
            return Resolved::Unknown;
        };
        let mut names = inner.split('|').map(str::trim).filter(|part| *part != "None");
        let (Some(name), None) = (names.next(), names.next()) else { return Resolved::Unknown };
        let is_dotted_name = !name.is_empty()
            && name.split('.').all(|part| {
                part.chars().next().is_some_and(|first| first.is_alphabetic() || first == '_')
                    && part.chars().all(|character| character.is_alphanumeric() || character == '_')
            });
        if !is_dotted_name {
            return Resolved::Unknown;
        }
        let (first, rest) = name.split_once('.').map_or((name, None), |(first, rest)| (first, Some(rest)));
        match (self.resolve_name(first, scope, depth + 1), rest) {
            (Resolved::Path(path), None) => Resolved::Instance(path),
            (Resolved::Path(path), Some(rest)) => Resolved::Instance(format!("{path}.{rest}")),
            _ => Resolved::Unknown,
        }
    }

    /// The qualified name a call's callee refers to, if known (`open`, `time.sleep`, `requests.Session.get`,
    /// `pkg.mod.helper`, `pkg.mod.Class.method`).
    pub fn callee_path(&self, call: &CallSite<'t>) -> Option<String> {
        // Every call of this model has its cell: ids are given as the calls are recorded.
        self.callee_paths[call.id].get_or_init(|| self.resolve_callee_path(call)).clone()
    }

    fn resolve_callee_path(&self, call: &CallSite<'t>) -> Option<String> {
        let function = call.node.child_by_field_id(syntax::fields().function)?;
        match self.resolve(function, call.scope) {
            Resolved::Path(path) => Some(path),
            _ => None,
        }
    }

    /// For `x.method(...)` with a receiver of unknown type: `method`.
    pub fn unknown_receiver_method(&self, call: &CallSite<'t>) -> Option<&'t str> {
        let function = call.node.child_by_field_id(syntax::fields().function)?;
        if function.kind_name() != "attribute" {
            return None;
        }
        let object = function.child_by_field_id(syntax::fields().object)?;
        if self.resolve(object, call.scope) != Resolved::Unknown {
            return None;
        }
        Some(self.text(function.child_by_field_id(syntax::fields().attribute)?))
    }

    /// Whether the call runs directly inside an `async def` (not in a lambda, nested `def` or class body).
    pub fn in_async_function(&self, call: &CallSite) -> bool {
        self.scopes[call.scope].is_async_function()
    }

    /// Whether code of `scope` runs on the event loop's thread, and why: an `async def`, or a sync function or lambda
    /// that the loop runs (see `on_loop`).
    pub fn loop_context(&self, scope: ScopeId) -> Option<super::on_loop::Context<'_>> {
        if self.scopes[scope].is_async_function() {
            return Some(super::on_loop::Context::Async);
        }
        self.on_loop.get_or_init(|| super::on_loop::find(self))[scope].as_ref().map(super::on_loop::Context::Sync)
    }

    /// The qualified name of the call whose result `node` holds: the call itself, or the one call that every
    /// reaching assignment of a name (or of a `self.` attribute) agrees on, `None` placeholders aside. For facts the
    /// type of the result does not carry: `task = asyncio.create_task(...)` holds an asyncio task.
    pub fn made_by(&self, node: Node<'t>, scope: ScopeId) -> Option<String> {
        self.made_by_at_depth(node, scope, 0)
    }

    fn made_by_at_depth(&self, node: Node<'t>, scope: ScopeId, depth: u32) -> Option<String> {
        if depth > MAX_INFERENCE_DEPTH {
            return None;
        }
        let fields = syntax::fields();
        let agree = |sources: &mut dyn Iterator<Item = (&ValueSource<'t>, ScopeId)>| {
            let mut agreed: Option<String> = None;
            for (source, scope) in sources {
                let made = match source {
                    ValueSource::Expr(expr) if expr.kind_name() == "none" => continue,
                    ValueSource::Expr(expr) => self.made_by_at_depth(*expr, scope, depth + 1)?,
                    _ => return None,
                };
                if agreed.as_ref().is_some_and(|previous| *previous != made) {
                    return None;
                }
                agreed = Some(made);
            }
            agreed
        };
        match node.kind_name() {
            "call" => match self.resolve_at_depth(node.child_by_field_id(fields.function)?, scope, depth + 1) {
                Resolved::Path(path) => Some(path),
                _ => None,
            },
            "parenthesized_expression" => self.made_by_at_depth(node.named_child(0)?, scope, depth + 1),
            "identifier" => {
                let used_at = node.start_byte();
                let (found_in, Binding::Value(sources)) = self.lookup(scope, self.text(node))? else { return None };
                let mut reaching = sources
                    .iter()
                    .filter(|source| found_in != scope || self.may_reach(scope, source.bound_at(), used_at))
                    .map(|source| (source, found_in));
                agree(&mut reaching)
            }
            "attribute" => {
                let Resolved::Instance(class) =
                    self.resolve_at_depth(node.child_by_field_id(fields.object)?, scope, depth + 1)
                else {
                    return None;
                };
                let attribute = self.text(node.child_by_field_id(fields.attribute)?);
                let sources = self.attributes.get(&class)?.get(attribute)?;
                agree(&mut sources.iter().map(|(source, scope)| (source, *scope)))
            }
            _ => None,
        }
    }

    /// Whether the call stands at the top level of a module whose top level runs in a running event loop (a
    /// notebook cell, outside every `def`, `lambda` and class body).
    pub fn at_awaitable_top_level(&self, call: &CallSite) -> bool {
        self.top_level_await && call.scope == MODULE_SCOPE
    }

    /// An `async def` whose call certainly makes a coroutine: no `yield`, and no decorator except ones known to
    /// keep it a coroutine function. Other decorators may turn it into anything (`@gen_test` makes it sync).
    pub fn is_plain_coroutine_function(&self, id: ScopeId) -> bool {
        let scope = &self.scopes[id];
        scope.is_coroutine_function()
            && scope.decorators.iter().all(|decorator| {
                let parent = scope.parent.unwrap_or(MODULE_SCOPE);
                match self.resolve(*decorator, parent) {
                    Resolved::Path(path) => TRANSPARENT_DECORATORS.contains(&path.as_str()),
                    _ => false,
                }
            })
    }

    /// The calls inside a node's text: calls are recorded in document order, so they are one slice, found by two
    /// binary searches.
    pub fn calls_within(&self, node: Node) -> &[CallSite<'t>] {
        let first = self.calls.partition_point(|call| call.node.start_byte() < node.start_byte());
        let last = self.calls.partition_point(|call| call.node.start_byte() < node.end_byte());
        &self.calls[first..last.max(first)]
    }

    /// The event loop library of the module: anyio or trio when it imports them (or something from them), else
    /// asyncio. Worked out once, when the model is built: every finding's message and fix asks.
    pub fn event_loop(&self) -> EventLoop {
        self.event_loop
    }

    fn imported_event_loop(module_scope: &Scope) -> EventLoop {
        let imports = |library: &str| {
            module_scope.bindings.values().any(|binding| match binding {
                Binding::Import(qualified) => {
                    qualified == library || qualified.strip_prefix(library).is_some_and(|rest| rest.starts_with('.'))
                }
                _ => false,
            })
        };
        if imports("anyio") {
            EventLoop::Anyio
        } else if imports("trio") {
            EventLoop::Trio
        } else {
            EventLoop::Asyncio
        }
    }

    /// The function or class scope with this qualified name, if this file defines one.
    pub fn scope_named(&self, qualname: &str) -> Option<ScopeId> {
        // Every question about a definition's body comes here: its scope, its calls, its class's attributes.
        self.note_question_about(qualname);
        self.scopes_by_qualname.get(qualname).copied()
    }

    pub fn catalogue(&self) -> &'t Catalogue {
        self.catalogue
    }

    /// The local name under which module `module` is imported at module level (`asyncio`, or `aio` after
    /// `import asyncio as aio`).
    pub fn module_alias(&self, module: &str) -> Option<&'t str> {
        self.scopes[MODULE_SCOPE].bindings.iter().find_map(|(name, binding)| match binding {
            Binding::Import(qualified) if qualified == module => Some(*name),
            _ => None,
        })
    }

    /// Whether `name` means something other than the builtin/global of that name at `scope`.
    pub fn is_bound(&self, scope: ScopeId, name: &str) -> bool {
        self.lookup(scope, name).is_some()
    }

    /// The qualified callees of the calls `keep` accepts that could be project functions (dotted: builtins are
    /// not), sorted and deduplicated: what the batch path asks the project index about.
    pub fn project_callees(&self, keep: impl Fn(&CallSite<'t>, &str) -> bool) -> Vec<String> {
        let mut callees: Vec<String> = self
            .calls
            .iter()
            .filter_map(|call| {
                let callee = self.callee_path(call)?;
                (callee.contains('.') && keep(call, &callee)).then_some(callee)
            })
            .collect();
        callees.sort_unstable();
        callees.dedup();
        callees
    }

    /// For `asyncio.run(main())` and friends: the qualified name of the coroutine function run as the root.
    pub fn entry_point_target(&self, call: &CallSite<'t>) -> Option<String> {
        let callee = self.callee_path(call);
        if !callee.is_some_and(|path| self.catalogue.is_entry_point(&path)) {
            return None;
        }
        let arguments = call.node.child_by_field_id(syntax::fields().arguments)?;
        let first = syntax::named_children(arguments).find(|argument| argument.kind_name() != "comment")?;
        if first.kind_name() != "call" {
            return None;
        }
        match self.resolve(first.child_by_field_id(syntax::fields().function)?, call.scope) {
            Resolved::Path(path) => Some(path),
            _ => None,
        }
    }
}

/// The package a module's relative imports start from.
fn package_of(module: &str, is_package: bool) -> String {
    if is_package {
        module.to_owned()
    } else {
        module.rsplit_once('.').map(|(package, _)| package.to_owned()).unwrap_or_default()
    }
}

/// `from ..a import b` inside package `p.q.r` → `p.q.a`.
fn absolute_module(package: &str, relative: &str) -> String {
    let dots = relative.chars().take_while(|c| *c == '.').count();
    let rest = &relative[dots..];
    let mut parts: Vec<&str> = if package.is_empty() { Vec::new() } else { package.split('.').collect() };
    for _ in 1..dots {
        parts.pop();
    }
    if !rest.is_empty() {
        parts.push(rest);
    }
    parts.join(".")
}

struct Frame {
    scope: ScopeId,
    /// The body node whose end closes this frame.
    body_id: usize,
    generator_depth: u32,
}

struct Builder<'t> {
    source: &'t str,
    package: String,
    scopes: Vec<Scope<'t>>,
    /// The scopes whose bodies the walk is inside, innermost last.
    frames: Vec<Frame>,
    /// Scopes created at their `def`/`class`/`lambda` node whose body the walk has not reached yet.
    pending_bodies: Vec<PendingBody>,
    ancestors: Vec<Node<'t>>,
    /// The `if TYPE_CHECKING:` blocks the walk is inside (their node ids).
    type_checking_blocks: Vec<usize>,
    calls: Vec<CallSite<'t>>,
    classes: Vec<ClassDef<'t>>,
    iterated: Vec<(ScopeId, Node<'t>)>,
    has_wildcard_import: bool,
    attributes: InstanceAttributes<'t>,
}

struct PendingBody {
    definition_id: usize,
    body_id: usize,
    scope: ScopeId,
}

impl<'t> Builder<'t> {
    fn current(&self) -> ScopeId {
        self.frames.last().map_or(MODULE_SCOPE, |frame| frame.scope)
    }

    fn text(&self, node: Node) -> &'t str {
        syntax::text(node, self.source)
    }

    fn bind(&mut self, scope: ScopeId, name: &'t str, binding: Binding<'t>) {
        if name.is_empty() {
            return;
        }
        let bindings = &mut self.scopes[scope].bindings;
        let merged = match (bindings.remove(name), binding) {
            (None, new) => new,
            (Some(Binding::Global), _) | (_, Binding::Global) => Binding::Global,
            (Some(Binding::Nonlocal), _) | (_, Binding::Nonlocal) => Binding::Nonlocal,
            (Some(Binding::Value(mut old)), Binding::Value(new)) => {
                old.extend(new);
                Binding::Value(old)
            }
            (Some(Binding::Import(old)), Binding::Import(new)) if old == new => Binding::Import(old),
            // A redefinition (`@overload`s, a conditional `def`): the last one wins.
            (Some(Binding::Function { .. }), new @ Binding::Function { .. }) => new,
            (Some(Binding::SelfRef { class }), _) => Binding::SelfRef { class },
            _ => Binding::Ambiguous,
        };
        bindings.insert(name, merged);
    }

    fn new_scope(&mut self, kind: ScopeKind, node: Node<'t>, name: &'t str, name_range: TextRange) -> ScopeId {
        let parent = self.current();
        let parent_scope = &self.scopes[parent];
        let qualname = match kind {
            ScopeKind::Lambda => format!("{}.<lambda>", parent_scope.qualname),
            _ if parent_scope.qualname.is_empty() => name.to_owned(),
            _ => format!("{}.{}", parent_scope.qualname, name),
        };
        let class = match (kind, parent_scope.kind) {
            (ScopeKind::Function { .. }, ScopeKind::Class) => Some(parent_scope.qualname.clone()),
            _ => None,
        };
        self.scopes.push(Scope {
            kind,
            parent: Some(parent),
            name,
            qualname,
            node: Some(node),
            name_range,
            class,
            decorators: self.decorators_of_current_definition(),
            is_generator: false,
            may_suspend: false,
            loops: Vec::new(),
            bindings: HashMap::new(),
        });
        self.scopes.len() - 1
    }

    /// The decorator expressions of the definition being entered (its parent is then the walk's last ancestor).
    fn decorators_of_current_definition(&self) -> Vec<Node<'t>> {
        match self.ancestors.last() {
            Some(parent) if parent.kind_name() == "decorated_definition" => syntax::named_children(*parent)
                .filter(|child| child.kind_name() == "decorator")
                .filter_map(|decorator| decorator.named_child(0))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn enter_function(&mut self, node: Node<'t>) {
        let Some(name_node) = node.child_by_field_id(syntax::fields().name) else {
            return;
        };
        let name = self.text(name_node);
        let is_async = syntax::is_async_function(node);
        let scope = self.new_scope(ScopeKind::Function { is_async }, node, name, syntax::range(name_node));
        let qualname = self.scopes[scope].qualname.clone();
        self.bind(self.current(), name, Binding::Function { qualname, is_async });
        let is_static = self.scopes[scope].decorators.iter().any(|decorator| self.text(*decorator) == "staticmethod");
        let self_class = if is_static { None } else { self.scopes[scope].class.clone() };
        if let Some(parameters) = node.child_by_field_id(syntax::fields().parameters) {
            self.bind_parameters(scope, parameters, self_class);
        }
        self.expect_body(node, scope);
    }

    fn expect_body(&mut self, definition: Node<'t>, scope: ScopeId) {
        if let Some(body) = definition.child_by_field_id(syntax::fields().body) {
            self.pending_bodies.push(PendingBody { definition_id: definition.id(), body_id: body.id(), scope });
        }
    }

    fn bind_parameters(&mut self, scope: ScopeId, parameters: Node<'t>, mut self_class: Option<String>) {
        for parameter in syntax::named_children(parameters) {
            let (name, annotation) = match parameter.kind_name() {
                "identifier" => (Some(parameter), None),
                "typed_parameter" => {
                    let name = syntax::named_children(parameter).find(|child| child.kind_name() == "identifier");
                    (name, parameter.child_by_field_id(syntax::fields().type_))
                }
                "default_parameter" | "typed_default_parameter" => (
                    parameter.child_by_field_id(syntax::fields().name),
                    parameter.child_by_field_id(syntax::fields().type_),
                ),
                "list_splat_pattern" | "dictionary_splat_pattern" => {
                    (syntax::named_children(parameter).find(|child| child.kind_name() == "identifier"), None)
                }
                _ => (None, None),
            };
            let Some(name) = name else { continue };
            let name = self.text(name);
            let binding = match (self_class.take(), annotation) {
                (Some(class), _) => Binding::SelfRef { class },
                (None, Some(annotation)) => Binding::Value(vec![ValueSource::Annotation(annotation)]),
                (None, None) => Binding::Value(vec![ValueSource::Opaque(parameter.end_byte())]),
            };
            self.bind(scope, name, binding);
        }
    }

    fn enter_class(&mut self, node: Node<'t>) {
        let Some(name_node) = node.child_by_field_id(syntax::fields().name) else {
            return;
        };
        let name = self.text(name_node);
        let scope = self.new_scope(ScopeKind::Class, node, name, syntax::range(name_node));
        let qualname = self.scopes[scope].qualname.clone();
        self.bind(self.current(), name, Binding::Class { qualname: qualname.clone() });
        let bases = node
            .child_by_field_id(syntax::fields().superclasses)
            .map(|arguments| {
                syntax::named_children(arguments)
                    .filter(|base| matches!(base.kind_name(), "identifier" | "attribute"))
                    .collect()
            })
            .unwrap_or_default();
        self.classes.push(ClassDef { qualname, scope: self.current(), bases });
        self.expect_body(node, scope);
    }

    fn enter_lambda(&mut self, node: Node<'t>) {
        let scope = self.new_scope(ScopeKind::Lambda, node, "", syntax::range(node));
        if let Some(parameters) = node.child_by_field_id(syntax::fields().parameters) {
            self.bind_parameters(scope, parameters, None);
        }
        self.expect_body(node, scope);
    }

    fn bind_import(&mut self, node: Node<'t>) {
        let scope = self.current();
        for child in syntax::named_children(node) {
            if node.child_by_field_id(syntax::fields().module_name) == Some(child) {
                continue;
            }
            match child.kind_name() {
                // `import a.b.c` binds `a`.
                "dotted_name" => {
                    let full = self.text(child);
                    let first = full.split('.').next().unwrap_or(full).trim();
                    self.bind(scope, first, Binding::Import(first.to_owned()));
                }
                "aliased_import" => {
                    let (Some(name), Some(alias)) = (
                        child.child_by_field_id(syntax::fields().name),
                        child.child_by_field_id(syntax::fields().alias),
                    ) else {
                        continue;
                    };
                    let qualified = compact(self.text(name));
                    self.bind(scope, self.text(alias), Binding::Import(qualified));
                }
                _ => {}
            }
        }
    }

    fn bind_from_import(&mut self, node: Node<'t>) {
        let scope = self.current();
        let Some(module_node) = node.child_by_field_id(syntax::fields().module_name) else {
            return;
        };
        let module_text = compact(self.text(module_node));
        if module_text == "__future__" {
            return;
        }
        let module =
            if module_text.starts_with('.') { absolute_module(&self.package, &module_text) } else { module_text };
        let qualify = |name: &str| {
            if module.is_empty() {
                name.to_owned()
            } else {
                format!("{module}.{name}")
            }
        };
        for child in syntax::named_children(node) {
            if child == module_node {
                continue;
            }
            match child.kind_name() {
                "dotted_name" => {
                    let name = self.text(child);
                    self.bind(scope, name, Binding::Import(qualify(name)));
                }
                "aliased_import" => {
                    let (Some(name), Some(alias)) = (
                        child.child_by_field_id(syntax::fields().name),
                        child.child_by_field_id(syntax::fields().alias),
                    ) else {
                        continue;
                    };
                    let qualified = qualify(&compact(self.text(name)));
                    self.bind(scope, self.text(alias), Binding::Import(qualified));
                }
                "wildcard_import" if scope == MODULE_SCOPE => self.has_wildcard_import = true,
                _ => {}
            }
        }
    }

    /// Binds the names a target (of an assignment, `for`, `with ... as`, walrus) introduces.
    fn bind_target(&mut self, target: Node<'t>, source: ValueSource<'t>) {
        let scope = self.current();
        match target.kind_name() {
            "attribute" => self.record_instance_attribute(target, source),
            "identifier" => {
                let name = self.text(target);
                self.bind(scope, name, Binding::Value(vec![source]));
            }
            "pattern_list"
            | "tuple_pattern"
            | "list_pattern"
            | "expression_list"
            | "tuple"
            | "list"
            | "list_splat_pattern"
            | "parenthesized_expression"
            | "as_pattern_target" => {
                let single = target.named_child_count() == 1
                    && matches!(target.kind_name(), "parenthesized_expression" | "as_pattern_target");
                let elements: Vec<Node<'t>> =
                    syntax::named_children(target).filter(|element| element.kind_name() != "comment").collect();
                // `p1, p2 = Path("a"), Path("b")`: each name gets its own value.
                let values = match &source {
                    ValueSource::Expr(value) if !single => unpacked_values(*value, elements.len()),
                    _ => None,
                };
                for (position, element) in elements.into_iter().enumerate() {
                    let element_source = match &values {
                        _ if single => source.clone(),
                        Some(values) => ValueSource::Expr(values[position]),
                        None => ValueSource::Opaque(source.bound_at()),
                    };
                    self.bind_target(element, element_source);
                }
            }
            _ => {}
        }
    }

    /// `self.name = value` inside a method: remembered for the class, so `self.name.method()` resolves.
    fn record_instance_attribute(&mut self, target: Node<'t>, source: ValueSource<'t>) {
        let scope = self.current();
        let (Some(object), Some(attribute)) =
            (target.child_by_field_id(syntax::fields().object), target.child_by_field_id(syntax::fields().attribute))
        else {
            return;
        };
        if object.kind_name() != "identifier" {
            return;
        }
        let Some(Binding::SelfRef { class }) = self.scopes[scope].bindings.get(self.text(object)) else {
            return;
        };
        let class = class.clone();
        let attribute = self.text(attribute);
        self.attributes.entry(class).or_default().entry(attribute).or_default().push((source, scope));
    }

    fn bind_assignment(&mut self, node: Node<'t>) {
        let Some(left) = node.child_by_field_id(syntax::fields().left) else {
            return;
        };
        // `a = b = f()`: the value is the innermost right-hand side.
        let mut right = node.child_by_field_id(syntax::fields().right);
        while let Some(inner) = right.filter(|value| value.kind_name() == "assignment") {
            right = inner.child_by_field_id(syntax::fields().right);
        }
        // `c: httpx.Client = make_client()`: the declared type says what the value is.
        let source = match (right, node.child_by_field_id(syntax::fields().type_)) {
            (_, Some(annotation)) => ValueSource::Annotation(annotation),
            (Some(value), None) if value.kind_name() != "yield" => ValueSource::Expr(value),
            _ => ValueSource::Opaque(node.end_byte()),
        };
        self.bind_target(left, source);
    }

    fn bind_with_item(&mut self, item: Node<'t>) {
        let Some(value) = item.child_by_field_id(syntax::fields().value) else {
            return;
        };
        if value.kind_name() != "as_pattern" {
            return;
        }
        let expression = value.named_child(0);
        let alias = value.child_by_field_id(syntax::fields().alias);
        if let (Some(expression), Some(alias)) = (expression, alias) {
            self.bind_target(alias, ValueSource::Expr(expression));
        }
    }

    fn bind_declaration(&mut self, node: Node<'t>, binding: fn() -> Binding<'t>) {
        let scope = self.current();
        for name in syntax::named_children(node).filter(|child| child.kind_name() == "identifier") {
            let name = self.text(name);
            self.bind(scope, name, binding());
        }
    }

    /// Whether the value of `call` (the innermost node of the walk) is thrown away by what encloses it: displays and
    /// branches of conditional expressions, up to an expression statement; a `with` item; or a truth test.
    fn result_dropped(&self, call: Node<'t>) -> bool {
        let mut child = call;
        for ancestor in self.ancestors.iter().rev() {
            match ancestor.kind_name() {
                "list" | "tuple" | "set" | "parenthesized_expression" | "expression_list" | "as_pattern" => {}
                // A value that is only tested for truth is held by nothing afterwards: the condition of a
                // conditional expression, of an `if`, `elif` or `while`, or the operand of `not`.
                "conditional_expression" if ancestor.named_child(1).is_some_and(|test| test.id() == child.id()) => {
                    return true;
                }
                "conditional_expression" => {}
                "if_statement" | "elif_clause" | "while_statement" => {
                    return ancestor.child_by_field_id(syntax::fields().condition) == Some(child);
                }
                "not_operator" => return true,
                "expression_statement" => return ancestor.named_child_count() == 1,
                // A task is no context manager: the `with` fails, and the task runs on unheld.
                "with_item" => return true,
                _ => return false,
            }
            child = *ancestor;
        }
        false
    }

    /// Whether the innermost node of the walk is what an `async with` item enters (`async with f() as x:`).
    fn entered_by_async_with(&self) -> bool {
        let mut enclosing = self.ancestors.iter().rev().map(|node| node.kind_name());
        let mut kind = enclosing.next();
        if kind == Some("as_pattern") {
            kind = enclosing.next();
        }
        if kind != Some("with_item") || enclosing.next() != Some("with_clause") {
            return false;
        }
        let statement = self.ancestors.iter().rev().find(|node| node.kind_name() == "with_statement");
        statement.is_some_and(|statement| self.source[statement.start_byte()..].starts_with("async"))
    }

    fn record_call(&mut self, node: Node<'t>) {
        if !self.type_checking_blocks.is_empty() {
            return;
        }
        let frame = self.frames.last().expect("the module frame is never popped");
        let parent = self.ancestors.last();
        let awaited = parent.is_some_and(|parent| parent.kind_name() == "await");
        let statement = parent
            .is_some_and(|parent| parent.kind_name() == "expression_statement" && parent.named_child_count() == 1);
        let assigned_to = parent
            .filter(|parent| {
                parent.kind_name() == "assignment" && parent.child_by_field_id(syntax::fields().right) == Some(node)
            })
            .and_then(|assignment| assignment.child_by_field_id(syntax::fields().left))
            .filter(|left| left.kind_name() == "identifier");
        let dropped_inside = !statement && self.result_dropped(node);
        let entered = self.entered_by_async_with();
        self.calls.push(CallSite {
            id: self.calls.len(),
            node,
            scope: frame.scope,
            awaited,
            in_generator: frame.generator_depth > 0,
            statement,
            dropped_inside,
            entered,
            assigned_to,
        });
    }
}

/// `await`, `async for` or `async with`: where a coroutine may give up the thread.
/// The `count` values of `a, b = x, y` (a tuple, list or bare expression list of that many plain values), to pair
/// with the targets; None when they do not pair up (a starred value, another count, anything else).
fn unpacked_values(value: Node, count: usize) -> Option<Vec<Node>> {
    if !matches!(value.kind_name(), "expression_list" | "tuple" | "list") {
        return None;
    }
    let values: Vec<Node> = syntax::named_children(value).filter(|element| element.kind_name() != "comment").collect();
    let plain = values.iter().all(|element| !matches!(element.kind_name(), "list_splat" | "dictionary_splat"));
    (plain && values.len() == count).then_some(values)
}

fn suspends(node: Node) -> bool {
    match node.kind_name() {
        "await" => true,
        "for_statement" | "with_statement" | "for_in_clause" => {
            node.child(0).is_some_and(|first| first.kind_name() == "async")
        }
        _ => false,
    }
}

/// `a . b` → `a.b`: dotted names may contain whitespace and comments between their parts.
fn compact(text: &str) -> String {
    text.split('.').map(str::trim).collect::<Vec<_>>().join(".")
}

impl<'t> Visitor<'t> for Builder<'t> {
    fn enter(&mut self, node: Node<'t>, field: syntax::Field) -> bool {
        if let Some(pending) = self.pending_bodies.last() {
            if pending.body_id == node.id() {
                let frame = Frame { scope: pending.scope, body_id: pending.body_id, generator_depth: 0 };
                self.pending_bodies.pop();
                self.frames.push(frame);
            }
        }
        if suspends(node) {
            let scope = self.current();
            self.scopes[scope].may_suspend = true;
        }
        match node.kind_name() {
            "function_definition" => self.enter_function(node),
            "class_definition" => self.enter_class(node),
            "lambda" => self.enter_lambda(node),
            "call" => self.record_call(node),
            "import_statement" => self.bind_import(node),
            "import_from_statement" => self.bind_from_import(node),
            "assignment" => self.bind_assignment(node),
            "augmented_assignment" => {
                if let Some(left) = node.child_by_field_id(syntax::fields().left) {
                    self.bind_target(left, ValueSource::Opaque(node.end_byte()));
                }
            }
            "named_expression" => {
                if let (Some(name), Some(value)) =
                    (node.child_by_field_id(syntax::fields().name), node.child_by_field_id(syntax::fields().value))
                {
                    self.bind_target(name, ValueSource::Expr(value));
                }
            }
            "for_statement" | "for_in_clause" => {
                if let Some(left) = node.child_by_field_id(syntax::fields().left) {
                    self.bind_target(left, ValueSource::Opaque(left.end_byte()));
                }
                let plain = node.child(0).is_some_and(|first| first.kind_name() != "async");
                if let Some(iterable) = node.child_by_field_id(syntax::fields().right).filter(|_| plain) {
                    self.iterated.push((self.current(), iterable));
                }
                if let Some(body) =
                    node.child_by_field_id(syntax::fields().body).filter(|_| node.kind_name() == "for_statement")
                {
                    let scope = self.current();
                    self.scopes[scope].loops.push(Loop { statement: node.byte_range(), repeated: body.byte_range() });
                }
            }
            "while_statement" => {
                let scope = self.current();
                self.scopes[scope].loops.push(Loop { statement: node.byte_range(), repeated: node.byte_range() });
            }
            "with_item" => self.bind_with_item(node),
            "except_clause" => {
                for alias in syntax::named_children(node).filter(|child| child.kind_name() == "as_pattern") {
                    if let Some(target) = alias.child_by_field_id(syntax::fields().alias) {
                        self.bind_target(target, ValueSource::Opaque(target.end_byte()));
                    }
                }
            }
            "global_statement" => self.bind_declaration(node, || Binding::Global),
            "nonlocal_statement" => self.bind_declaration(node, || Binding::Nonlocal),
            "generator_expression" => {
                if let Some(frame) = self.frames.last_mut() {
                    frame.generator_depth += 1;
                }
            }
            "yield" => {
                let scope = self.current();
                self.scopes[scope].is_generator = true;
            }

            "block" if field.id() == Some(syntax::fields().consequence) => {
                let guarded = self.ancestors.last().is_some_and(|parent| {
                    parent.kind_name() == "if_statement"
                        && parent
                            .child_by_field_id(syntax::fields().condition)
                            .is_some_and(|condition| syntax::is_type_checking_guard(condition, self.source))
                });
                if guarded {
                    self.type_checking_blocks.push(node.id());
                }
            }
            _ => {}
        }
        self.ancestors.push(node);
        true
    }

    fn leave(&mut self, node: Node<'t>) {
        self.ancestors.pop();
        let id = node.id();
        if node.kind_name() == "generator_expression" {
            if let Some(frame) = self.frames.last_mut() {
                frame.generator_depth = frame.generator_depth.saturating_sub(1);
            }
        }
        if self.type_checking_blocks.last() == Some(&id) {
            self.type_checking_blocks.pop();
        }
        // A definition whose body the walk never reached (broken input) leaves its pending entry behind.
        if self.pending_bodies.last().is_some_and(|pending| pending.definition_id == id) {
            self.pending_bodies.pop();
        }
        if self.frames.len() > 1 && self.frames.last().is_some_and(|frame| frame.body_id == id) {
            self.frames.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callees(source: &str) -> Vec<(String, bool)> {
        let document = Document::new("m.py", source);
        let catalogue = Catalogue::builtin();
        let model = SemanticModel::build(&document, "m", false, &catalogue);
        model
            .calls
            .iter()
            .map(|call| (model.callee_path(call).unwrap_or_else(|| "?".into()), model.in_async_function(call)))
            .collect()
    }

    #[test]
    fn imports_resolve_through_aliases() {
        let found = callees(
            "import time as t\nfrom time import sleep\nfrom urllib.request import urlopen as fetch\nimport urllib.request\n\
             async def f():\n    t.sleep(1)\n    sleep(2)\n    fetch('u')\n    urllib.request.urlopen('u')\n",
        );
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(paths, ["time.sleep", "time.sleep", "urllib.request.urlopen", "urllib.request.urlopen"]);
        assert!(found.iter().all(|(_, in_async)| *in_async));
    }

    #[test]
    fn parameters_assignments_and_local_defs_shadow_imports() {
        let found = callees(
            "import requests\nimport time\n\
             async def a(requests):\n    requests.get('u')\n\
             async def b():\n    time = make()\n    time.sleep(1)\n\
             async def c():\n    def open(p): pass\n    open('x')\n",
        );
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(paths, ["?", "make", "?", "m.c.open"]);
    }

    #[test]
    fn contexts_follow_the_innermost_function() {
        let found = callees(
            "async def f(x=open('d')):\n    g = lambda: open('l')\n    def h():\n        open('h')\n    \
             [open(p) for p in x]\n    class C:\n        open('c')\n    open('f')\n",
        );
        let contexts: Vec<bool> = found.iter().map(|(_, in_async)| *in_async).collect();
        // default value (module), lambda, nested def, comprehension (the async function), class body, the body
        assert_eq!(contexts, [false, false, false, true, false, true]);
    }

    #[test]
    fn instances_are_typed_by_constructors_annotations_and_with() {
        let found = callees(
            "import requests, socket\nfrom pathlib import Path\n\
             async def f(p: Path, q: 'Path', r: Path | None):\n    s = requests.Session()\n    s.get('u')\n    \
             p.read_text()\n    r.exists()\n    Path('a').write_text('x')\n    (Path('a') / 'b').open()\n    \
             with requests.Session() as w:\n        w.post('u')\n    sock = socket.create_connection(('h', 1))\n    \
             sock.recv(1)\n",
        );
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "requests.Session",
                "requests.Session.get",
                "pathlib.Path.read_text",
                "pathlib.Path.exists",
                "pathlib.Path.write_text",
                "pathlib.Path",
                "pathlib.Path.open",
                "pathlib.Path",
                "requests.Session",
                "requests.Session.post",
                "socket.create_connection",
                "socket.socket.recv",
            ]
        );
    }

    #[test]
    fn methods_resolve_through_self_and_relative_imports_through_the_package() {
        let document = Document::new(
            "pkg/sub/m.py",
            "from .util import helper\nfrom .. import top\nclass C:\n    def run(self):\n        self.step()\n        \
             helper()\n        top.go()\n    @staticmethod\n    def s(x):\n        x.step()\n",
        );
        let catalogue = Catalogue::builtin();
        let model = SemanticModel::build(&document, "pkg.sub.m", false, &catalogue);
        let paths: Vec<Option<String>> = model.calls.iter().map(|call| model.callee_path(call)).collect();
        assert_eq!(
            paths,
            [Some("pkg.sub.m.C.step".into()), Some("pkg.sub.util.helper".into()), Some("pkg.top.go".into()), None]
        );
    }

    #[test]
    fn type_checking_blocks_and_awaits_are_marked() {
        let document = Document::new(
            "m.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    open('x')\nasync def f():\n    await g()\n    \
             sum(h(x) for x in y)\n",
        );
        let catalogue = Catalogue::builtin();
        let model = SemanticModel::build(&document, "m", false, &catalogue);
        let summary: Vec<(&str, bool, bool)> =
            model.calls.iter().map(|call| (model.text(call.node), call.awaited, call.in_generator)).collect();
        assert_eq!(summary, [("g()", true, false), ("sum(h(x) for x in y)", false, false), ("h(x)", false, true)]);
    }

    #[test]
    fn instance_attributes_are_typed_by_their_assignments() {
        let found = callees(
            "import requests\nclass Client:\n    session: requests.Session\n    def __init__(self):\n        \
             self.http = requests.Session()\n        self.other = None\n        self.other = make()\n    \
             async def run(self):\n        self.http.get('u')\n        self.session.post('u')\n        \
             self.other.get('u')\n        self.helper()\n",
        );
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            ["requests.Session", "make", "requests.Session.get", "requests.Session.post", "?", "m.Client.helper"]
        );
    }

    #[test]
    fn relative_module_names() {
        assert_eq!(absolute_module("a.b", ".c"), "a.b.c");
        assert_eq!(absolute_module("a.b", "..c"), "a.c");
        assert_eq!(absolute_module("a.b", "."), "a.b");
        assert_eq!(package_of("a.b", false), "a");
        assert_eq!(package_of("a.b", true), "a.b");
    }
}

//! Semantic facts the concurrency rules (AL3xx) share: awaited-call statements, the names a call reads, its
//! receiver, whether its order matters, and the blocks of an async function.

use crate::core::syntax::KindName;
use foldhash::{HashSet, HashSetExt};

use tree_sitter::Node;

use super::index::ProjectIndex;
use super::semantic::{Resolved, ScopeId, SemanticModel};
use super::syntax::{self, Visitor};

/// `await f(...)` or `name = await f(...)` as a whole statement.
#[derive(Debug, Clone, Copy)]
pub struct AwaitedStatement<'t> {
    pub statement: Node<'t>,
    pub call: Node<'t>,
    pub target: Option<Node<'t>>,
}

/// Receivers whose name says they serialise work: a lock, a stream, a queue, a websocket.
const ORDERED_RECEIVER_HINTS: &[&str] = &["lock", "semaphore", "writer", "reader", "stream", "queue", "websocket"];

/// Arguments whose name says they are a connection-like object that is not safe to use from two calls at once (a
/// database session, connection, cursor or transaction).
const SHARED_STATE_ARGUMENT_HINTS: &[&str] = &["session", "conn", "connection", "cursor", "transaction", "tx", "db"];

pub fn awaited_statement(statement: Node) -> Option<AwaitedStatement> {
    if statement.kind_name() != "expression_statement" || statement.named_child_count() != 1 {
        return None;
    }
    let expression = statement.named_child(0)?;
    let (awaited, target) = match expression.kind_name() {
        "await" => (expression, None),
        "assignment" => {
            let fields = syntax::fields();
            let left = expression.child_by_field_id(fields.left).filter(|left| left.kind_name() == "identifier")?;
            if expression.child_by_field_id(fields.type_).is_some() {
                return None;
            }
            (expression.child_by_field_id(fields.right).filter(|right| right.kind_name() == "await")?, Some(left))
        }
        _ => return None,
    };
    let call = awaited.named_child(0).filter(|inner| inner.kind_name() == "call")?;
    Some(AwaitedStatement { statement, call, target })
}

/// The names an expression reads: identifiers, but not attribute names (`x.name`) or keyword names (`f(name=1)`).
pub fn names_read<'t>(node: Node<'t>, source: &'t str) -> HashSet<&'t str> {
    struct Reader<'t> {
        source: &'t str,
        names: HashSet<&'t str>,
    }
    impl<'t> Visitor<'t> for Reader<'t> {
        fn enter(&mut self, node: Node<'t>, field: syntax::Field) -> bool {
            let fields = syntax::fields();
            if node.kind_name() == "identifier"
                && !field.id().is_some_and(|id| id == fields.attribute || id == fields.name)
            {
                self.names.insert(syntax::text(node, self.source));
            }
            true
        }
        fn leave(&mut self, _node: Node<'t>) {}
    }
    let mut reader = Reader { source, names: HashSet::new() };
    syntax::walk_node(node, &mut reader);
    reader.names
}

/// `conn` for `conn.execute(...)`, `self.client` for `self.client.get(...)`; `None` for a plain function call or a
/// module's function (`asyncio.to_thread(...)`: a module is not an object the calls share).
pub fn receiver(model: &SemanticModel, call: Node, scope: ScopeId) -> Option<String> {
    let function = call.child_by_field_id(syntax::fields().function)?;
    if function.kind_name() != "attribute" {
        return None;
    }
    let object = function.child_by_field_id(syntax::fields().object)?;
    if names_a_module(model, object, scope) {
        return None;
    }
    Some(model.text(object).split_whitespace().collect())
}

/// `asyncio`, `os.path`: an expression rooted in an imported name whose meaning is a module or module member.
fn names_a_module(model: &SemanticModel, object: Node, scope: ScopeId) -> bool {
    let mut root = object;
    while root.kind_name() == "attribute" {
        match root.child_by_field_id(syntax::fields().object) {
            Some(inner) => root = inner,
            None => return false,
        }
    }
    root.kind_name() == "identifier"
        && matches!(model.lookup(scope, model.text(root)), Some((_, super::semantic::Binding::Import(_))))
        && matches!(model.resolve(object, scope), Resolved::Path(_))
}

/// The state-like arguments of a call: connection-like names (`session`, `conn`, ...), and attributes of an object
/// (`memory.running_daemons`), a piece of some object's state that the callee may change. Two calls sharing one are
/// ordered.
pub fn shared_state_arguments<'t>(call: Node<'t>, source: &'t str) -> Vec<&'t str> {
    let Some(arguments) = call.child_by_field_id(syntax::fields().arguments) else { return Vec::new() };
    let mut shared: Vec<&'t str> = names_read(arguments, source)
        .into_iter()
        .filter(|name| {
            let lower = name.trim_start_matches('_').to_ascii_lowercase();
            SHARED_STATE_ARGUMENT_HINTS.iter().any(|hint| lower == *hint || lower.ends_with(&format!("_{hint}")))
        })
        .collect();
    for argument in syntax::named_children(arguments) {
        let value = match argument.kind_name() {
            "keyword_argument" => argument.child_by_field_id(syntax::fields().value),
            _ => Some(argument),
        };
        if let Some(value) = value.filter(|value| value.kind_name() == "attribute") {
            shared.push(syntax::text(value, source));
        }
    }
    shared
}

/// Whether running this call concurrently with others could change what the program does: an ordered function or
/// method from the catalogue (`asyncio.sleep`, locks, queues, streams, transactions), or a receiver named like one.
pub fn order_matters(model: &SemanticModel, call: Node, scope: ScopeId) -> bool {
    let Some(function) = call.child_by_field_id(syntax::fields().function) else { return true };
    let path = match model.resolve(function, scope) {
        Resolved::Path(path) => Some(path),
        _ => None,
    };
    // The name called, as a method or as a callable handed in (`await send(message)` with ASGI's `send` parameter):
    // the same operations are ordered either way. A function defined or imported under such a name is judged by
    // what it is, not by its name.
    let method = match function.kind_name() {
        "attribute" => function.child_by_field_id(syntax::fields().attribute).map(|attribute| model.text(attribute)),
        "identifier" => match model.lookup(scope, model.text(function)) {
            Some((_, super::semantic::Binding::Value(_))) => Some(model.text(function)),
            _ => None,
        },
        _ => None,
    };
    if model.catalogue().is_ordered(path.as_deref(), method) {
        return true;
    }
    receiver(model, call, scope).is_some_and(|receiver| {
        let last = receiver.rsplit('.').next().unwrap_or(&receiver).to_ascii_lowercase();
        ORDERED_RECEIVER_HINTS.iter().any(|hint| last.contains(hint))
    })
}

/// The qualified name a call's callee refers to, if known.
pub fn callee_path(model: &SemanticModel, call: Node, scope: ScopeId) -> Option<String> {
    match model.resolve(call.child_by_field_id(syntax::fields().function)?, scope) {
        Resolved::Path(path) => Some(path),
        _ => None,
    }
}

/// Whether `outer`, a call of a function defined in this file, itself calls `inner` (a qualified name): the two
/// calls then share that work or its state (`device = await self._device_path()` looks the adapter up again after
/// `adapter = await self._adapter_path()`), so they are not independent.
pub fn calls_into(model: &SemanticModel, outer: Node, scope: ScopeId, inner: &str) -> bool {
    callee_path(model, outer, scope).is_some_and(|path| function_calls(model, &path, inner, 3))
}

/// Whether the function of this file named `function` calls `inner`, directly or through this file's functions it
/// calls, at most `depth` deep.
fn function_calls(model: &SemanticModel, function: &str, inner: &str, depth: u32) -> bool {
    let Some(definition) = model.scope_named(function).and_then(|callee| model.scope(callee).node) else {
        return false;
    };
    model.calls_within(definition).iter().any(|call| {
        let callee = model.callee_path(call);
        callee.as_deref() == Some(inner)
            || (depth > 1
                && callee.is_some_and(|callee| callee != function && function_calls(model, &callee, inner, depth - 1)))
    })
}

/// Whether awaiting `call` can suspend at all: a coroutine function whose body never awaits (no `await`, `async for`
/// or `async with`) and makes no blocking call runs to its end at once, so awaiting it beside others overlaps
/// nothing. This file's functions are judged here; the index judges the project's others from their summaries.
pub fn never_suspends(model: &SemanticModel, index: &ProjectIndex, call: Node, scope: ScopeId) -> bool {
    let Some(function) = call.child_by_field_id(syntax::fields().function) else { return false };
    let Resolved::Path(path) = model.resolve(function, scope) else { return false };
    match model.scope_named(&path) {
        Some(callee) => model.scope(callee).is_coroutine_function() && coroutine_never_suspends(model, callee),
        None => index.never_suspends(&path),
    }
}

/// Whether the coroutine function `callee` of this file runs to its end without suspending: its own code has no
/// `await`, `async for` or `async with`, and no blocking call, which suspends once it is fixed (`time.sleep` →
/// `asyncio.sleep`). A stub (`...`, `raise NotImplementedError`) is an interface whose overrides may well suspend.
pub fn coroutine_never_suspends(model: &SemanticModel, callee: ScopeId) -> bool {
    let scope = model.scope(callee);
    let Some(definition) = scope.node.filter(|_| !scope.may_suspend) else { return false };
    let catalogue = model.catalogue();
    let blocks = model.calls_within(definition).iter().any(|inner| {
        inner.scope == callee
            && super::summary::blocking_entry(model, inner, model.callee_path(inner).as_deref(), catalogue).is_some()
    });
    !blocks && !definition.has_error() && !syntax::is_stub_function(definition)
}

/// Whether `callee` is a plain coroutine function of this file whose own code never awaits (no `await`, `async for`
/// or `async with`, in any branch): a task that runs it cannot yield before it ends. A stub (`...`,
/// `raise NotImplementedError`) is an interface, and broken code may hide an `await`: neither counts.
pub fn coroutine_never_awaits(model: &SemanticModel, callee: ScopeId) -> bool {
    let scope = model.scope(callee);
    model.is_plain_coroutine_function(callee)
        && !scope.may_suspend
        && scope.node.is_some_and(|definition| !definition.has_error() && !syntax::is_stub_function(definition))
}

/// The `for` and `while` loops of a function's own code (not of the functions, lambdas and classes nested in it), in
/// source order, leaving out `for` loops over a literal written in place (`for name in ("a", "b"):`), which are
/// small. Comprehensions are not loops here.
pub fn work_loops(definition: Node) -> Vec<Node> {
    struct Loops<'t> {
        root: usize,
        found: Vec<Node<'t>>,
    }
    impl<'t> Visitor<'t> for Loops<'t> {
        fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
            match node.kind_name() {
                "function_definition" | "lambda" | "class_definition" => node.id() == self.root,
                "while_statement" => {
                    self.found.push(node);
                    true
                }
                "for_statement" => {
                    let over = node.child_by_field_id(syntax::fields().right);
                    if !over.is_some_and(|over| is_literal_collection(over)) {
                        self.found.push(node);
                    }
                    true
                }
                _ => true,
            }
        }
        fn leave(&mut self, _node: Node<'t>) {}
    }
    let mut loops = Loops { root: definition.id(), found: Vec::new() };
    syntax::walk_node(definition, &mut loops);
    loops.found
}

/// A list, tuple, set or dict display without a spread (`*rest`), or a string, written out in place: its size is in
/// the source.
fn is_literal_collection(node: Node) -> bool {
    match node.kind_name() {
        "string" | "concatenated_string" => true,
        "list" | "tuple" | "set" | "dictionary" => syntax::named_children(node)
            .all(|child| !matches!(child.kind_name(), "list_splat" | "dictionary_splat" | "parenthesized_list_splat")),
        _ => false,
    }
}

/// The blocks of a function body, nested ones included, but not those of nested functions, lambdas or classes.
pub fn blocks_of(function: Node) -> Vec<Node> {
    struct Blocks<'t> {
        found: Vec<Node<'t>>,
        root: usize,
    }
    impl<'t> Visitor<'t> for Blocks<'t> {
        fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
            let kind = node.kind_name();
            if node.id() == self.root {
                return true;
            }
            if kind == "block" {
                self.found.push(node);
                return true;
            }
            // Blocks sit only in compound statements and their clauses: expressions, simple statements and nested
            // functions or classes need no visit.
            matches!(
                kind,
                "if_statement"
                    | "elif_clause"
                    | "else_clause"
                    | "for_statement"
                    | "while_statement"
                    | "try_statement"
                    | "except_clause"
                    | "except_group_clause"
                    | "finally_clause"
                    | "with_statement"
                    | "match_statement"
                    | "case_clause"
            )
        }
        fn leave(&mut self, _node: Node<'t>) {}
    }
    let mut blocks = Blocks { found: Vec::new(), root: function.id() };
    syntax::walk_node(function, &mut blocks);
    blocks.found
}

/// The async functions of the model, with their defining nodes.
pub fn async_functions<'a, 't>(model: &'a SemanticModel<'t>) -> impl Iterator<Item = (ScopeId, Node<'t>)> + 'a {
    (0..model.scopes.len()).filter_map(|id| {
        let scope = model.scope(id);
        scope.is_async_function().then_some(())?;
        Some((id, scope.node?))
    })
}

/// Whether a block serialises on purpose: the body of `async with lock:` (or a semaphore).
pub fn inside_lock(block: Node, source: &str) -> bool {
    let Some(parent) = block.parent().filter(|parent| parent.kind_name() == "with_statement") else { return false };
    let clause =
        parent.named_child(0).map(|clause| syntax::text(clause, source).to_ascii_lowercase()).unwrap_or_default();
    clause.contains("lock") || clause.contains("semaphore")
}

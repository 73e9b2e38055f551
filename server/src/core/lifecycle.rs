//! Semantic facts about tasks and coroutines that the AL2xx rules share: which calls spawn tasks or make coroutines,
//! whether a local name is ever used again, and what a root coroutine waits for before it returns.

use crate::core::syntax::KindName;
use foldhash::{HashSet, HashSetExt};

use tree_sitter::Node;

use super::index::ProjectIndex;
use super::semantic::{CallSite, ScopeId, SemanticModel};
use super::syntax::{self, Visitor};

/// Whether a call schedules a task and returns it: `asyncio.create_task`, `asyncio.ensure_future`, or
/// `create_task` on an event loop (a receiver typed as a loop, or named like one: `loop`, `self._loop`).
/// `TaskGroup.create_task` is not: the group keeps its tasks.
pub fn spawns_task(model: &SemanticModel, call: &CallSite) -> bool {
    if let Some(path) = model.callee_path(call) {
        if model.catalogue().is_task_spawner(&path) {
            return true;
        }
    }
    if model.unknown_receiver_method(call) != Some("create_task") {
        return false;
    }
    let receiver = call
        .node
        .child_by_field_id(syntax::fields().function)
        .and_then(|function| function.child_by_field_id(syntax::fields().object))
        .map(|object| model.text(object))
        .unwrap_or("");
    let last = receiver.rsplit('.').next().unwrap_or(receiver).trim().to_ascii_lowercase();
    last.ends_with("loop")
}

/// The coroutine calls that `call` runs as tasks, which the event loop starts later and runs until they first
/// suspend: the first argument of a task spawner, of a task group's `create_task` (or of `create_task` on a receiver
/// of unknown type: an event loop or a task group), and each positional argument of `asyncio.gather`, also spread
/// from a generator or comprehension (`*(fetch(u) for u in urls)`).
pub fn scheduled_coroutines<'t>(model: &SemanticModel<'t>, call: &CallSite<'t>) -> Vec<Node<'t>> {
    let catalogue = model.catalogue();
    let path = model.callee_path(call);
    let is_call = |node: &Node| node.kind_name() == "call";
    if path.as_deref().is_some_and(|path| catalogue.is_gatherer(path)) {
        let Some(arguments) = call.node.child_by_field_id(syntax::fields().arguments) else { return Vec::new() };
        return syntax::named_children(arguments)
            .filter_map(|argument| match argument.kind_name() {
                "list_splat" => {
                    let spread = argument.named_child(0)?;
                    let spread = match spread.kind_name() {
                        "parenthesized_expression" => spread.named_child(0)?,
                        _ => spread,
                    };
                    matches!(spread.kind_name(), "generator_expression" | "list_comprehension")
                        .then(|| spread.child_by_field_id(syntax::fields().body))
                        .flatten()
                }
                _ => Some(argument),
            })
            .filter(is_call)
            .collect();
    }
    // The method's name is read before its receiver is resolved: resolving every method call's receiver would cost
    // more than the rule.
    let method = call
        .node
        .child_by_field_id(syntax::fields().function)
        .filter(|function| function.kind_name() == "attribute")
        .and_then(|function| function.child_by_field_id(syntax::fields().attribute))
        .map(|attribute| model.text(attribute));
    let spawns =
        path.as_deref().is_some_and(|path| catalogue.is_task_spawner(path) || catalogue.is_group_spawner(path))
            || (method == Some("create_task") && model.unknown_receiver_method(call) == Some("create_task"));
    if !spawns {
        return Vec::new();
    }
    syntax::first_positional_argument(call.node).filter(is_call).into_iter().collect()
}

/// Whether a call makes a coroutine (or another awaitable that does nothing until awaited): a library coroutine
/// function from the catalogue, or an `async def` of the project (not an async generator).
pub fn makes_coroutine(model: &SemanticModel, call: &CallSite, index: &ProjectIndex) -> bool {
    let Some(path) = model.callee_path(call) else {
        return false;
    };
    model.catalogue().is_coroutine_function(&path)
        || index.is_coroutine_function(&path)
        || is_local_coroutine(model, &path)
}

/// An `async def` of this very file, found without the index (nested functions, or a file outside any project).
fn is_local_coroutine(model: &SemanticModel, path: &str) -> bool {
    model.scope_named(path).is_some_and(|id| model.is_plain_coroutine_function(id))
}

/// The function-like scope a call runs in, when it is a `def` or `async def` (not the module, a class or a lambda).
pub fn enclosing_function<'t>(model: &SemanticModel<'t>, scope: ScopeId) -> Option<Node<'t>> {
    let scope = model.scope(scope);
    scope.node.filter(|node| node.kind_name() == "function_definition")
}

/// Whether `name` appears in the function other than as `target` (the assignment that binds it): read, passed,
/// returned, stored, captured by a nested function. Any such use may keep or await the value, so the rules that
/// ask this stay quiet then. Being assigned again (`task = None` in another branch) is no use: it holds nothing.
pub fn name_used_elsewhere(model: &SemanticModel, function: Node, name: &str, target: Node) -> bool {
    struct Finder<'a> {
        source: &'a str,
        name: &'a str,
        target_id: usize,
        found: bool,
    }
    impl<'t> Visitor<'t> for Finder<'_> {
        fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
            if node.kind_name() == "identifier"
                && node.id() != self.target_id
                && syntax::text(node, self.source) == self.name
                && !is_assigned_to(node)
            {
                self.found = true;
            }
            !self.found
        }
        fn leave(&mut self, _node: Node<'t>) {}
    }
    let Some(body) = function.child_by_field_id(syntax::fields().body) else {
        return true;
    };
    let mut finder = Finder { source: model.source, name, target_id: target.id(), found: false };
    syntax::walk_node(body, &mut finder);
    finder.found
}

/// Whether `identifier` is the whole left side of a plain assignment (`name = ...`), which stores into it without
/// reading it.
fn is_assigned_to(identifier: Node) -> bool {
    identifier.parent().is_some_and(|parent| {
        parent.kind_name() == "assignment"
            && parent.child_by_field_id(syntax::fields().left).is_some_and(|left| left.id() == identifier.id())
    })
}

/// The other targets of a chained assignment the call's value is bound by (`task = other = create_task(...)`: `task`
/// besides `other`), outermost first.
pub fn chained_targets<'t>(call: Node<'t>) -> Vec<Node<'t>> {
    let mut targets = Vec::new();
    let mut value = call.parent();
    while let Some(assignment) = value.filter(|node| node.kind_name() == "assignment") {
        let Some(outer) = assignment.parent().filter(|outer| {
            outer.kind_name() == "assignment"
                && outer.child_by_field_id(syntax::fields().right).is_some_and(|right| right.id() == assignment.id())
        }) else {
            break;
        };
        targets.extend(outer.child_by_field_id(syntax::fields().left));
        value = Some(outer);
    }
    targets.reverse();
    targets
}

/// What a root coroutine waits for: the names and attribute paths that appear inside its `await` expressions, and
/// whether it waits without bound (a `while True:` loop, `serve_forever()`, an event's `wait()`), in which case tasks
/// it created are not cut short by its return.
pub struct RootWaits {
    pub awaited_names: HashSet<String>,
    pub waits_forever: bool,
    /// It awaits something in a `finally:` clause: a shutdown sequence that stops what the root started.
    pub shuts_down_in_finally: bool,
}

/// Whether the function calls `name.cancel()`: it stops the task on purpose.
pub fn is_cancelled(model: &SemanticModel, function: Node, name: &str) -> bool {
    model
        .calls_within(function)
        .iter()
        .any(|call| syntax::callee_text(call.node, model.source).strip_suffix(".cancel") == Some(name))
}

/// Whether awaiting the task that `call` creates can end: false when its coroutine function, defined in this file,
/// loops (`while ...:`), the shape of a worker that runs until it is told to stop. An `await` of such a task in the
/// function that started it would never return.
pub fn task_may_finish(checker: &super::check::Checker, call: &CallSite) -> bool {
    let model = checker.model;
    let Some(coroutine) =
        syntax::first_positional_argument(call.node).filter(|argument| argument.kind_name() == "call")
    else {
        return false;
    };
    let Some(function) = coroutine.child_by_field_id(syntax::fields().function) else { return false };
    let super::semantic::Resolved::Path(path) = model.resolve(function, call.scope) else { return false };
    let Some(definition) = model.scope_named(&path).and_then(|scope| model.scope(scope).node) else { return false };
    !syntax::own_code_has(definition, |node| node.kind_name() == "while_statement")
}

pub fn root_waits(model: &SemanticModel, function: Node) -> RootWaits {
    struct Collector<'a> {
        source: &'a str,
        await_depth: u32,
        names: HashSet<String>,
        waits_forever: bool,
        finally_depth: u32,
        shuts_down_in_finally: bool,
    }
    impl<'t> Visitor<'t> for Collector<'_> {
        fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
            match node.kind_name() {
                // Nested functions run on their own schedule.
                "function_definition" | "lambda" | "class_definition" => return false,
                "finally_clause" => self.finally_depth += 1,
                "await" => {
                    self.await_depth += 1;
                    self.shuts_down_in_finally |= self.finally_depth > 0;
                }
                "while_statement" => {
                    let condition =
                        node.child_by_field_id(syntax::fields().condition).map(|c| syntax::text(c, self.source));
                    if matches!(condition, Some("True" | "1")) {
                        self.waits_forever = true;
                    }
                }
                "identifier" | "attribute" if self.await_depth > 0 => {
                    let text = syntax::text(node, self.source);
                    if matches!(text.rsplit('.').next(), Some("serve_forever" | "wait" | "Future" | "all_tasks")) {
                        self.waits_forever = true;
                    }
                    self.names.insert(text.split_whitespace().collect());
                }
                _ => {}
            }
            true
        }
        fn leave(&mut self, node: Node<'t>) {
            match node.kind_name() {
                "await" => self.await_depth -= 1,
                "finally_clause" => self.finally_depth -= 1,
                _ => {}
            }
        }
    }
    let mut collector = Collector {
        source: model.source,
        await_depth: 0,
        names: HashSet::new(),
        waits_forever: false,
        finally_depth: 0,
        shuts_down_in_finally: false,
    };
    if let Some(body) = function.child_by_field_id(syntax::fields().body) {
        syntax::walk_node(body, &mut collector);
    }
    RootWaits {
        awaited_names: collector.names,
        waits_forever: collector.waits_forever,
        shuts_down_in_finally: collector.shuts_down_in_finally,
    }
}

/// The containers a task bound to `name` is put into within the function: `background.add(task)` gives
/// `background`, `self._tasks.append(task)` gives `self._tasks`.
pub fn containers_of(model: &SemanticModel, function_scope: ScopeId, name: &str) -> Vec<String> {
    model
        .calls
        .iter()
        .filter(|call| call.scope == function_scope)
        .filter_map(|call| {
            let function = call.node.child_by_field_id(syntax::fields().function)?;
            if function.kind_name() != "attribute" {
                return None;
            }
            let method = model.text(function.child_by_field_id(syntax::fields().attribute)?);
            if !matches!(method, "add" | "append" | "appendleft" | "put_nowait") {
                return None;
            }
            let arguments = call.node.child_by_field_id(syntax::fields().arguments)?;
            let mut named = syntax::named_children(arguments);
            let argument = named.next()?;
            let container = function.child_by_field_id(syntax::fields().object)?;
            (model.text(argument) == name).then(|| model.text(container).to_owned())
        })
        .collect()
}

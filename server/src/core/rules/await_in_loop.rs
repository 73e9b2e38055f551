//! await-in-loop (AL302): a `for` loop awaiting one independent call per item, which `asyncio.gather` would overlap.

use crate::core::syntax::KindName;
use foldhash::HashSet;

use tree_sitter::Node;

use crate::core::check::Checker;
use crate::core::concurrency;
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::fix::{self, LoopCollect};
use crate::core::rules::RuleMeta;
use crate::core::semantic::{Binding, ScopeKind, ValueSource};
use crate::core::syntax;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL302",
    name: "await-in-loop",
    summary: "loop awaits independent calls one at a time",
    doc: DOC,
    default_severity: Severity::Information,
    catalogue_driven: false,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags a `for` loop in an `async def` whose body only awaits one call per item and keeps the result in one of three
ways: discarded (`await f(x)`), appended (`results.append(await f(x))`), or stored under the loop variable
(`results[x] = await f(x)`). The call must use the loop variable, take its other arguments from names the loop does
not write, not run on one shared receiver (`await ws.send(m)` is an ordered stream of writes, and so is a method bound
to a name before the loop, `send = ws.send`) or pass one shared database session or connection, and not be an
operation whose order matters (sleeps, locks, queues, streams, ASGI's `send(message)`; the list is data).

Loops that dispatch in a deliberate order are left alone, whatever their variables are called:
- the called function comes from the item itself (`for hook in hooks: await hook(app)`,
  `for message in batch: await message.ack()`, `await ensure_async(func)(event)`), or the item is handed to a
  function of this file that calls it or what it holds (`await call_hook(hook, app)`);
- the callee is made by a call (`await timed(run)(n)`);
- the loop unwinds, last first (`for screen in reversed(stack)`, `stack[::-1]`);
- the results are written back into what the loop walks (`batches[i] = await wait(batch)`).

`while` loops, `async for`, loops with `else`, and bodies with anything else (`try` for retries, `break` on a
result, conditions) are left alone too.

## Why is this bad
Each iteration waits for the previous one. For 20 URLs that take 100 ms each, the loop takes 2 s where running them
together would take about 100 ms.

## Example
```python
async def fetch_all(urls):
    pages = []
    for url in urls:
        pages.append(await fetch(url))
    return pages
```

## Use instead
```python
import asyncio

async def fetch_all(urls):
    pages = await asyncio.gather(*(fetch(url) for url in urls))
    return pages
```

## Fix safety
Unsafe: every call now starts at once (consider a semaphore for long lists), side effects may interleave, and when
one raises, `gather` lets the others run on. A list that already had content is extended; a dict loop becomes
`dict(zip(keys, await asyncio.gather(...)))`, offered only when the iterable is a name or attribute, which is safe to
read twice.
"#;

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    let fields = syntax::fields();
    for (scope, function) in concurrency::async_functions(model) {
        for block in concurrency::blocks_of(function) {
            let statements: Vec<Node> =
                syntax::named_children(block).filter(|child| child.kind_name() != "comment").collect();
            for (position, loop_node) in statements.iter().enumerate() {
                if loop_node.kind_name() != "for_statement"
                    || loop_node.child(0).is_some_and(|first| first.kind_name() == "async")
                    || loop_node.child_by_field_id(fields.alternative).is_some()
                {
                    continue;
                }
                let Some((call, collect)) =
                    independent_body(checker, *loop_node, statements[..position].last().copied())
                else {
                    continue;
                };
                if concurrency::order_matters(model, call, scope) {
                    continue;
                }
                let message = format!(
                    "Each iteration awaits an independent call before the next starts: {} would overlap them",
                    model.event_loop().concurrency()
                );
                let mut diagnostic = checker.diagnostic(&RULE, syntax::range(*loop_node), message);
                let document = checker.document;
                checker.offer(&mut diagnostic, || fix::gather_loop_fix(document, model, *loop_node, call, &collect));
                diagnostics.push(diagnostic);
            }
        }
    }
}

/// The awaited call of a loop whose body is one independent statement, and how its result is kept.
fn independent_body<'t>(
    checker: &Checker<'t>,
    loop_node: Node<'t>,
    previous: Option<Node<'t>>,
) -> Option<(Node<'t>, LoopCollect<'t>)> {
    let model = checker.model;
    let source = model.source;
    let fields = syntax::fields();
    let body = loop_node.child_by_field_id(fields.body)?;
    let mut statements = syntax::named_children(body).filter(|child| child.kind_name() != "comment");
    let (statement, None) = (statements.next()?, statements.next()) else { return None };
    if statement.kind_name() != "expression_statement" || statement.named_child_count() != 1 {
        return None;
    }
    let expression = statement.named_child(0)?;
    let awaited_call = |node: Node<'t>| -> Option<Node<'t>> {
        (node.kind_name() == "await").then(|| node.named_child(0)).flatten().filter(|call| call.kind_name() == "call")
    };
    let variables: HashSet<&str> = concurrency::names_read(loop_node.child_by_field_id(fields.left)?, source);
    let iterable = loop_node.child_by_field_id(fields.right)?;
    if unwinds(model, iterable) {
        return None;
    }
    let (call, collect) = match expression.kind_name() {
        "await" => (awaited_call(expression)?, LoopCollect::Discard),
        // results.append(await f(x))
        "call" => {
            let function = expression.child_by_field_id(fields.function)?;
            if function.kind_name() != "attribute"
                || model.text(function.child_by_field_id(fields.attribute)?) != "append"
            {
                return None;
            }
            let list = function.child_by_field_id(fields.object).filter(|object| object.kind_name() == "identifier")?;
            let arguments = expression.child_by_field_id(fields.arguments)?;
            let mut arguments = syntax::named_children(arguments);
            let (argument, None) = (arguments.next()?, arguments.next()) else { return None };
            let list = model.text(list);
            (
                awaited_call(argument)?,
                LoopCollect::Append { list, fresh: fresh_container(checker, previous, list, "list") },
            )
        }
        // results[key] = await f(key)
        "assignment" => {
            let left = expression.child_by_field_id(fields.left).filter(|left| left.kind_name() == "subscript")?;
            let dict = left.child_by_field_id(fields.value).filter(|value| value.kind_name() == "identifier")?;
            let key = left.named_child(1)?;
            if !(key.kind_name() == "identifier" && variables.contains(model.text(key))) {
                return None;
            }
            let call = awaited_call(expression.child_by_field_id(fields.right)?)?;
            let dict = model.text(dict);
            (call, LoopCollect::Store { dict, fresh: fresh_container(checker, previous, dict, "dictionary") })
        }
        _ => return None,
    };
    let callee = call.child_by_field_id(fields.function)?;
    // What is called comes from the item (`await hook(app)`, `await message.ack()`, `await wrap(fn)(event)`): a loop
    // dispatching to each item in turn, in the order the items were registered. A callee made by a call
    // (`await timed(run)(n)`) is a fresh callable per iteration whose effects nothing shows.
    if callee.kind_name() == "call"
        || concurrency::names_read(callee, source).iter().any(|name| variables.contains(name))
    {
        return None;
    }
    // `await call_hook(hook, app)`, where `call_hook` (in this file) calls what it is handed: dispatch through a helper.
    if dispatches_item(checker, call, &variables) {
        return None;
    }
    // `send = self.http.send` before the loop: every iteration calls a method of one receiver.
    if callee.kind_name() == "identifier" && bound_to_method(checker, callee) {
        return None;
    }
    let reads = concurrency::names_read(call, source);
    // The call must use the item, and must not read the container it fills.
    if !reads.iter().any(|name| variables.contains(name)) {
        return None;
    }
    let container = match &collect {
        LoopCollect::Append { list, .. } => Some(*list),
        LoopCollect::Store { dict, .. } => Some(*dict),
        LoopCollect::Discard => None,
    };
    if container.is_some_and(|container| reads.contains(container)) {
        return None;
    }
    // Writing the results back into what the loop walks (`for i, b in enumerate(batches): batches[i] = ...`): each
    // iteration may see what the one before stored.
    if container.is_some_and(|container| concurrency::names_read(iterable, source).contains(container)) {
        return None;
    }
    // Every iteration passing one database session (or connection) orders the calls.
    let from_item = |shared: &str| {
        let root = shared.split(['.', '[', '(']).next().unwrap_or(shared).trim();
        variables.contains(root)
    };
    if concurrency::shared_state_arguments(call, source).iter().any(|shared| !from_item(shared)) {
        return None;
    }
    // One receiver shared by every iteration orders the calls (`await ws.send(m)`).
    if let Some(receiver) =
        call.child_by_field_id(fields.function).filter(|function| function.kind_name() == "attribute")
    {
        let object = receiver.child_by_field_id(fields.object)?;
        if !concurrency::names_read(object, source).iter().any(|name| variables.contains(name)) {
            return None;
        }
    }
    Some((call, collect))
}

/// `reversed(stack)` or `stack[::-1]`: a loop that unwinds in a deliberate order, last registered first.
fn unwinds(model: &crate::core::semantic::SemanticModel, iterable: Node) -> bool {
    let fields = syntax::fields();
    match iterable.kind_name() {
        "call" => {
            iterable.child_by_field_id(fields.function).is_some_and(|function| model.text(function) == "reversed")
        }
        "subscript" => model.text(iterable).replace(' ', "").ends_with("[::-1]"),
        _ => false,
    }
}

/// Whether the call hands the loop's item, as its first argument, to a function of this file that calls it, or calls
/// what it holds (`func = entry.func` then `await run(func, ...)`): the loop dispatches to each item in turn.
fn dispatches_item(checker: &Checker, call: Node, variables: &HashSet<&str>) -> bool {
    let model = checker.model;
    let Some(first) = syntax::first_positional_argument(call).filter(|first| first.kind_name() == "identifier") else {
        return false;
    };
    if !variables.contains(model.text(first)) {
        return false;
    }
    let Some(site) = model.calls.iter().find(|site| site.node == call) else { return false };
    let Some(path) = model.callee_path(site) else { return false };
    let Some(helper) =
        model.scope_named(&path).filter(|id| matches!(model.scope(*id).kind, ScopeKind::Function { .. }))
    else {
        return false;
    };
    let Some(definition) = model.scope(helper).node else { return false };
    let Some(parameter) = definition
        .child_by_field_id(syntax::fields().parameters)
        .and_then(|parameters| syntax::named_children(parameters).next())
        .and_then(syntax::parameter_name)
        .map(|parameter| model.text(parameter))
    else {
        return false;
    };
    // A name of the helper that holds the item, or a member of it (`func = entry.func`, `entry["run"]`).
    let member_of_item = |expression: &Node| {
        matches!(expression.kind_name(), "attribute" | "subscript")
            && expression.named_child(0).is_some_and(|object| model.text(object) == parameter)
    };
    let holds_item = |name: &str| {
        name == parameter
            || matches!(model.lookup(helper, name), Some((_, Binding::Value(sources))) if sources.iter().any(|source| {
                matches!(source, ValueSource::Expr(expression) if member_of_item(expression))
            }))
    };
    model.calls_within(definition).iter().any(|inner| {
        let callee = inner.node.child_by_field_id(syntax::fields().function);
        // `entry(...)` or `func(...)`; not a method of the item (`name.upper()` uses the item, it runs nothing of it).
        let callee_holds =
            callee.is_some_and(|callee| callee.kind_name() == "identifier" && holds_item(model.text(callee)));
        let argument_holds = syntax::first_positional_argument(inner.node)
            .filter(|argument| argument.kind_name() == "identifier")
            .is_some_and(|argument| model.text(argument) != parameter && holds_item(model.text(argument)));
        callee_holds || argument_holds
    })
}

/// Whether a name is bound, in the function, to a method of some object (`send = self.http.send`).
fn bound_to_method(checker: &Checker, callee: Node) -> bool {
    let model = checker.model;
    let Some(call) =
        model.calls.iter().find(|call| call.node.child_by_field_id(syntax::fields().function) == Some(callee))
    else {
        return false;
    };
    match model.lookup(call.scope, model.text(callee)) {
        Some((_, Binding::Value(sources))) => sources
            .iter()
            .any(|source| matches!(source, ValueSource::Expr(expression) if expression.kind_name() == "attribute")),
        _ => false,
    }
}

/// `name = []` (or `{}`) standing right before the loop: the gathered result can replace it.
fn fresh_container<'t>(checker: &Checker<'t>, previous: Option<Node<'t>>, name: &str, kind: &str) -> Option<Node<'t>> {
    let statement = previous?;
    let assignment = statement.named_child(0).filter(|child| child.kind_name() == "assignment")?;
    let fields = syntax::fields();
    let left = assignment.child_by_field_id(fields.left)?;
    let right = assignment.child_by_field_id(fields.right)?;
    (checker.model.text(left) == name && right.kind_name() == kind && right.named_child_count() == 0)
        .then_some(statement)
}

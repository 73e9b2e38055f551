//! task-never-awaited (AL202): a task bound to a local name that nothing ever awaits, stores, passes or cancels.

use crate::core::check::Checker;
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::fix;
use crate::core::lifecycle;
use crate::core::rules::{root_exits_with_pending_tasks, RuleMeta};
use crate::core::syntax;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL202",
    name: "task-never-awaited",
    summary: "task bound to a name that is never used",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: false,
    equivalents: &["F841"],
};

const DOC: &str = r#"## What it does
Flags `name = asyncio.create_task(...)` (or `ensure_future`, `loop.create_task`) inside a function when `name` is
never used again in that function: never awaited, gathered, waited on, returned, stored in an attribute or a
container, passed to a call, cancelled, or given a done callback. Any such use, on any path, keeps the rule quiet: it
reports only tasks that are certainly abandoned.

## Why is this bad
Binding the task to a local name only holds it until the function returns. After that the task is as unowned as a
dropped one: it may be garbage-collected mid-flight, and its exceptions are never retrieved. Usually the author meant
to await it.

## Example
```python
async def refresh(cache):
    task = asyncio.create_task(cache.reload())
    log.info("refresh started")
```

## Use instead
```python
async def refresh(cache):
    task = asyncio.create_task(cache.reload())
    log.info("refresh started")
    await task
```

## Fix safety
Unsafe: the fix inserts `await name` before each later `return` and at the end of the function, so the function now
waits for the task. It is offered only when the assignment stands directly in the function's body, so the name is
bound on every path that reaches an inserted `await`.
"#;

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    for call in &model.calls {
        let Some(target) = call.assigned_to else { continue };
        let Some(function) = lifecycle::enclosing_function(model, call.scope) else {
            continue;
        };
        if !lifecycle::spawns_task(model, call) {
            continue;
        }
        let name = model.text(target);
        if lifecycle::name_used_elsewhere(model, function, name, target) {
            continue;
        }
        if root_exits_with_pending_tasks::reports(checker, call) {
            continue;
        }
        let message = format!(
            "Task `{name}` is never awaited, stored or cancelled: once `{}` returns, nothing holds it",
            model.scope(call.scope).name
        );
        let range = call.node.parent().map_or(syntax::range(call.node), syntax::range);
        let mut diagnostic = checker.diagnostic(&RULE, range, message);
        checker.offer(&mut diagnostic, || fix::await_bound_task_fix(checker.document, model, call, name));
        diagnostics.push(diagnostic);
    }
}

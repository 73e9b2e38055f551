//! task-never-awaited (AL202): a task bound to a local name that nothing ever awaits, stores, passes or cancels.

use crate::core::check::Checker;
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::fix;
use crate::core::lifecycle;
use crate::core::rules::{root_exits_with_pending_tasks, RuleMeta};
use crate::core::syntax::{self, KindName};

pub const RULE: RuleMeta = RuleMeta {
    code: "AL202",
    name: "task-never-awaited",
    summary: "task bound to a name that is never used",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: false,
    equivalents: &["F841", "RUF006"],
};

const DOC: &str = r#"## What it does
Flags `name = asyncio.create_task(...)` (or `ensure_future`, `loop.create_task`) inside a function when `name` is
never used again in that function: never awaited, gathered, waited on, returned, stored in an attribute or a
container, passed to a call, cancelled, or given a done callback. Any such use, on any path, keeps the rule quiet: it
reports only tasks that are certainly abandoned. Assigning the name again (`task = None` in the other branch) is not
a use. In a chained assignment (`task = other = asyncio.create_task(...)`) every name holds the task, so a use of any
of them counts.

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
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)
    log.info("refresh started")
```

## Fix safety
Two fixes are offered. The preferred one is safe: it keeps a reference in a module-level `_background_tasks` set,
removed by a done callback, so the task runs exactly as before but cannot be collected. The second is unsafe: it
inserts `await name` before each later `return` and at the end of the function, so the function now waits for the
task. It is offered only when the assignment stands directly in the function's body, and only when the task's
coroutine function is in this file and has no `while` loop: awaiting a worker that runs until it is told to stop
(a server's main loop started in `startup()`) would never return.
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
        // `task = other = create_task(...)`: each name holds the same task, and any of them may await it.
        let others = lifecycle::chained_targets(call.node);
        let held_otherwise = others.iter().any(|other| {
            other.kind_name() != "identifier"
                || lifecycle::name_used_elsewhere(model, function, model.text(*other), *other)
        });
        if held_otherwise {
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
        let document = checker.document;
        let target_version = checker.settings.target_version;
        checker.offer(&mut diagnostic, || fix::keep_bound_reference_fix(document, model, call, name, target_version));
        if lifecycle::task_may_finish(checker, call) {
            checker.offer(&mut diagnostic, || fix::await_bound_task_fix(document, model, call, name));
        }
        diagnostics.push(diagnostic);
    }
}

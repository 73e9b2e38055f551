//! root-exits-with-pending-tasks (AL203): the program's root coroutine returns while tasks it created still run,
//! so `asyncio.run` cancels them.

use crate::core::check::Checker;
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::fix;
use crate::core::lifecycle;
use crate::core::rules::RuleMeta;
use crate::core::semantic::CallSite;
use crate::core::syntax;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL203",
    name: "root-exits-with-pending-tasks",
    summary: "root coroutine returns before its tasks finish",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: false,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags a task bound to a name in a program's root coroutine (the one passed to `asyncio.run(...)` or
`loop.run_until_complete(...)`, in this module or any other of the project) that the root never waits for: the task
is neither awaited nor gathered nor waited on, directly or through a container it was put in, before the root returns.

Roots that stop their tasks on purpose are not flagged: a root that waits without bound (`while True:`,
`serve_forever()`, an event's `wait()`), one that cancels the task, and one that awaits a shutdown in a `finally:`
clause. A task whose reference is simply dropped is reported by AL201 (`dangling-task`) instead.

## Why is this bad
When the root coroutine returns, `asyncio.run` cancels every task still pending and closes the loop. Work started
with `create_task` is cut off halfway, the classic "main exits first" bug. It often goes unnoticed in development,
where the tasks happen to be fast.

## Example
```python
async def main():
    flush = asyncio.create_task(flush_metrics())
    await serve_one_request()

asyncio.run(main())
```

## Use instead
```python
async def main():
    flush = asyncio.create_task(flush_metrics())
    await serve_one_request()
    await flush

asyncio.run(main())
```

## Fix safety
Unsafe: the fix inserts `await name` before each later `return` and at the end of the root, so the program waits for
the task before it exits. It is offered only when the task is created directly in the root's body, and never for a
task whose coroutine loops until it is told to stop (its function, in this file, has a `while` loop): the root would
then never return.
"#;

/// Whether this rule reports the task created by `call` (so the dangling/never-awaited rules stay quiet about it).
pub fn reports(checker: &Checker, call: &CallSite) -> bool {
    checker.enabled(&RULE) && call.assigned_to.is_some() && cut_off_at_exit(checker, call)
}

/// Whether the task `call` creates stands in a program's root that returns without waiting for it (nor cancelling
/// it, nor shutting down in a `finally:`), so that `asyncio.run` cancels it at exit. A dropped task there is
/// reported by AL201, whose preferred fix then awaits it rather than only keeping a reference.
pub fn cut_off_at_exit(checker: &Checker, call: &CallSite) -> bool {
    let model = checker.model;
    let scope = model.scope(call.scope);
    if !scope.is_async_function() || !checker.index.is_root(&scope.qualname) {
        return false;
    }
    let Some(function) = lifecycle::enclosing_function(model, call.scope) else {
        return false;
    };
    let waits = lifecycle::root_waits(model, function);
    if waits.waits_forever || waits.shuts_down_in_finally {
        return false;
    }
    let Some(target) = call.assigned_to else { return true };
    let name = model.text(target);
    // Cancelled on purpose: the root stops it itself.
    if lifecycle::is_cancelled(model, function, name) {
        return false;
    }
    let mut handles = lifecycle::containers_of(model, call.scope, name);
    handles.push(name.to_owned());
    !handles.iter().any(|handle| waits.awaited_names.contains(handle))
}

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    for call in &model.calls {
        if call.assigned_to.is_none() || !lifecycle::spawns_task(model, call) {
            continue;
        }
        if !reports(checker, call) {
            continue;
        }
        let root = model.scope(call.scope).name;
        let Some(target) = call.assigned_to else { continue };
        let message = format!(
            "Task `{}` is still pending when the root coroutine `{root}` returns: `asyncio.run` then cancels it, so its work is cut off",
            model.text(target)
        );
        let mut diagnostic = checker.diagnostic(&RULE, syntax::range(call.node), message);
        let document = checker.document;
        if lifecycle::task_may_finish(checker, call) {
            checker.offer(&mut diagnostic, || fix::await_bound_task_fix(document, model, call, model.text(target)));
        }
        diagnostics.push(diagnostic);
    }
}

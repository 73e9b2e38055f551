//! dangling-task (AL201): the task returned by `create_task`/`ensure_future` is dropped on the floor.

use crate::core::check::Checker;
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::fix;
use crate::core::lifecycle;
use crate::core::rules::{root_exits_with_pending_tasks, RuleMeta};
use crate::core::semantic::CallSite;
use crate::core::syntax;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL201",
    name: "dangling-task",
    summary: "task created and dropped",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: false,
    equivalents: &["RUF006", "ASYNC300"],
};

const DOC: &str = r#"## What it does
Flags a call to `asyncio.create_task(...)`, `asyncio.ensure_future(...)` or `loop.create_task(...)` (on any event
loop, e.g. `asyncio.get_running_loop().create_task(...)`) whose result is thrown away: the call is a statement of its
own, or it stands in a list, tuple or set display or a branch of a conditional expression that is itself a statement
(`[asyncio.create_task(job())]`, `asyncio.create_task(job()) if ready else None`), or it is a `with` item (a task is
no context manager: the `with` raises, and the task runs on, unheld), or it is only tested for truth: the condition of
a conditional expression, an `if`, `elif` or `while`, or the operand of `not` (`x = 1 if create_task(job()) else 2`
keeps no reference to the task). `TaskGroup.create_task` and anyio/trio `start_soon` are not flagged: the group or nursery keeps its tasks.

## Why is this bad
The event loop keeps only a weak reference to a task. A task nobody holds can be garbage-collected in the middle of
its work, silently, and any exception it raises is never seen. The asyncio documentation warns about exactly this.

## Example
```python
import asyncio

async def handle(event):
    asyncio.create_task(notify(event))
```

## Use instead
```python
import asyncio

_background_tasks: set[asyncio.Task] = set()

async def handle(event):
    task = asyncio.create_task(notify(event))
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)
```

## Fix safety
Inside a display, a conditional expression, a truth test or a `with` item no fix is offered: which rewrite is meant depends on why
the code is written that way. For a task call that is a statement of its own, two fixes are offered. Keeping a reference in a module-level set, removed by a done callback, is safe: the task runs
exactly as before, it just cannot be collected. Binding the task and awaiting it before the function returns is
unsafe: the function now waits for the task, which changes timing. It is offered only when the task's coroutine
function is in this file and has no `while` loop, since awaiting a worker that runs until told to stop never returns.
In a program's root coroutine that returns without waiting for the task, `asyncio.run` would cancel it at exit, so
there awaiting it is the preferred fix.
"#;

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    let dropped = |call: &&CallSite| call.statement || call.dropped_inside;
    for call in model.calls.iter().filter(dropped).filter(|call| lifecycle::spawns_task(model, call)) {
        let written = syntax::callee_text(call.node, model.source);
        let message = format!(
            "The task from `{written}(...)` is not kept: the event loop holds tasks weakly, so it may be garbage-collected before it finishes and its errors are lost"
        );
        let mut diagnostic = checker.diagnostic(&RULE, syntax::range(call.node), message);
        // The fixes rewrite a statement that is the call; inside a display or a branch there is none to rewrite.
        if !call.statement {
            diagnostics.push(diagnostic);
            continue;
        }
        let document = checker.document;
        let keep = || fix::keep_reference_fix(document, model, call, checker.settings.target_version);
        let await_it = || fix::bind_and_await_fix(document, model, call);
        let may_finish = lifecycle::task_may_finish(checker, call);
        // In a root that returns without waiting, `asyncio.run` cancels the task at exit: a reference alone does not
        // save its work, so awaiting it comes first.
        if may_finish && root_exits_with_pending_tasks::cut_off_at_exit(checker, call) {
            checker.offer(&mut diagnostic, await_it);
            checker.offer(&mut diagnostic, keep);
        } else {
            checker.offer(&mut diagnostic, keep);
            if may_finish {
                checker.offer(&mut diagnostic, await_it);
            }
        }
        diagnostics.push(diagnostic);
    }
}

//! unawaited-coroutine (AL204): a coroutine is created and never awaited or scheduled, so its body never runs.

use crate::core::check::Checker;
use crate::core::diagnostic::{Applicability, Diagnostic, Severity};
use crate::core::fix;
use crate::core::lifecycle;
use crate::core::rules::RuleMeta;
use crate::core::syntax;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL204",
    name: "unawaited-coroutine",
    summary: "coroutine called without `await`",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: false,
    equivalents: &["reportUnusedCoroutine", "ASYNC105"],
};

const DOC: &str = r#"## What it does
Flags a call to a coroutine function whose coroutine is dropped (the call is a statement of its own), or bound to a
local name that is never used again. Coroutine functions are the project's own `async def`s (same module, methods
through `self` including inherited ones, and imports from other modules) and a catalogue of library ones:
`asyncio.sleep`, `wait_for`, `wait`, `gather`, `to_thread`, `open_connection`, `create_subprocess_*`, queue, lock,
event and stream methods, common aiohttp, aiofiles and asyncpg calls, and trio's and anyio's own (`trio.sleep`,
`trio.open_file`, `trio.lowlevel.checkpoint`, `anyio.connect_tcp`, their locks and events). Extend it with
`extra-coroutine-functions`. A coroutine entered by `async with` without `await` (`async with trio.open_file(p):`) is
flagged too: a coroutine is no context manager, so the statement fails. The catalogue's calls whose awaitable is also
an async context manager (aiohttp's requests, `aiofiles.open`, `asyncpg.create_pool`) are entered that way on purpose.
Async generators are not coroutines and are not flagged.

## Why is this bad
Calling a coroutine function does not run it: it only creates a coroutine object. Without `await` (or scheduling it
as a task) the body never executes. Python only says so with a `RuntimeWarning` when the object is collected, which
is easy to miss.

## Example
```python
async def save(record):
    ...

async def handle(record):
    save(record)
```

## Use instead
```python
async def handle(record):
    await save(record)
```

## Fix safety
Safe inside async code: the fix inserts `await`, which runs what the code evidently meant to run. No fix is offered in
sync code, where `await` is not allowed. For an `async with` item the fix (`async with await trio.open_file(p):`) is
unsafe: what the coroutine returns must itself be an async context manager.
"#;

/// The callees of calls whose result is dropped or bound: the ones the index may reveal as project coroutine
/// functions. Sorted and deduplicated.
pub fn candidate_callees(model: &crate::core::semantic::SemanticModel) -> Vec<String> {
    model.project_callees(|call, callee| {
        !call.awaited
            && (call.statement || call.assigned_to.is_some() || call.entered)
            && !model.catalogue().is_coroutine_function(callee)
    })
}

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    for call in &model.calls {
        if call.awaited || !(call.statement || call.assigned_to.is_some() || call.entered) {
            continue;
        }
        if !lifecycle::makes_coroutine(model, call, checker.index) {
            continue;
        }
        let callee = model.callee_path(call);
        if call.entered && callee.as_deref().is_some_and(|path| model.catalogue().is_enterable_coroutine(path)) {
            continue;
        }
        if let Some(target) = call.assigned_to {
            let Some(function) = lifecycle::enclosing_function(model, call.scope) else {
                continue;
            };
            if lifecycle::name_used_elsewhere(model, function, model.text(target), target) {
                continue;
            }
        }
        let written = syntax::callee_text(call.node, model.source);
        let gathers = callee.as_deref() == Some("asyncio.gather");
        let message = match call.assigned_to {
            _ if call.entered => format!(
                "`{written}(...)` is a coroutine entered by `async with` without `await`: a coroutine is no context manager, so the statement fails"
            ),
            _ if gathers => format!(
                "`{written}(...)` is never awaited: the gathered work runs unobserved, its results and exceptions are lost"
            ),
            Some(target) => format!(
                "The coroutine from `{written}(...)` is bound to `{}` but never awaited: its body never runs",
                model.text(target)
            ),
            None => format!("`{written}(...)` is a coroutine that is never awaited: its body never runs"),
        };
        let mut diagnostic = checker.diagnostic(&RULE, syntax::range(call.node), message);
        let applicability = if call.entered { Applicability::Unsafe } else { Applicability::Safe };
        checker.offer(&mut diagnostic, || fix::insert_await_fix(model, call, applicability));
        diagnostics.push(diagnostic);
    }
}

//! asyncio-run-in-notebook (AL112): `asyncio.run(...)` or `loop.run_until_complete(...)` at a notebook cell's top
//! level, where the kernel's event loop is already running.

use crate::core::check::Checker;
use crate::core::diagnostic::{Applicability, Diagnostic, Severity};
use crate::core::fix;
use crate::core::rules::blocking::nested_event_loop;
use crate::core::rules::RuleMeta;
use crate::core::summary::blocking_entry;
use crate::core::syntax;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL112",
    name: "asyncio-run-in-notebook",
    summary: "`asyncio.run` / `loop.run_until_complete` at a notebook cell's top level",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: false,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags `asyncio.run(...)` and `loop.run_until_complete(...)` (the calls `nested-event-loop` knows, extensions
included) at the top level of a Jupyter notebook cell: outside every `def`, `lambda` and class body. Only
notebooks are checked for it; inside an `async def`, `nested-event-loop` (AL108) reports the same calls.

## Why is this bad
A Jupyter kernel runs its cells inside an event loop that is already running. Starting another one there raises
`RuntimeError: asyncio.run() cannot be called from a running event loop` (or "This event loop is already running").
The usual workaround, `nest_asyncio.apply()`, patches asyncio to allow re-entrant loops, which hides the bug and
changes how every task in the kernel is scheduled. IPython accepts `await` at a cell's top level instead.

## Example
```python
import asyncio

async def main():
    await asyncio.sleep(1)
    return "done"

result = asyncio.run(main())
```

## Use instead
```python
result = await main()
```

## Fix safety
Safe: the fix replaces `asyncio.run(coro)` or `loop.run_until_complete(coro)` by `await coro` when the call has that
one argument. The original call cannot succeed in a running loop, and IPython runs a top-level `await` on the
kernel's loop. Calls with more arguments (`debug=True`) get no fix."#;

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    let catalogue = checker.settings.catalogue();
    for call in model.calls.iter().filter(|call| !call.awaited && model.at_awaitable_top_level(call)) {
        let callee = model.callee_path(call);
        let starts_loop = blocking_entry(model, call, callee.as_deref(), catalogue)
            .is_some_and(|entry| entry.rule.code == nested_event_loop::RULE.code);
        if !starts_loop {
            continue;
        }
        let written = syntax::callee_text(call.node, model.source);
        let message = format!(
            "`{written}(...)` at a notebook cell's top level raises `RuntimeError`: the kernel's event loop is already running; `await` the coroutine instead"
        );
        let mut diagnostic = checker.diagnostic(&RULE, syntax::range(call.node), message);
        checker.offer(&mut diagnostic, || fix::await_argument_fix(model, call, Applicability::Safe));
        diagnostics.push(diagnostic);
    }
}

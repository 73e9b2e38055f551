//! coroutine-never-yields (AL111): a coroutine run as a task (or by `gather`) that never awaits but loops or blocks,
//! so it runs in one go and overlaps nothing.

use crate::core::check::Checker;
use crate::core::diagnostic::{Diagnostic, Related, Severity};
use crate::core::fix;
use crate::core::index::{Holds, Hop, NeverYields};
use crate::core::lifecycle;
use crate::core::rules::RuleMeta;
use crate::core::semantic::{CallSite, SemanticModel};
use crate::core::summary::{unyielding_of, Site, Work};
use crate::core::{concurrency, syntax};
use tree_sitter::Node;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL111",
    name: "coroutine-never-yields",
    summary: "task whose coroutine never awaits but loops or blocks",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: false,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags a coroutine handed to `asyncio.create_task`, `asyncio.ensure_future`, `loop.create_task`,
`TaskGroup.create_task` (or `create_task` on a receiver of unknown type) or passed to `asyncio.gather` (also as
`*(crunch(x) for x in xs)`), when its `async def` in your project never awaits and does work: it has no `await`,
`async for` or `async with` anywhere in its own code, and it runs a `for` or `while` loop, or makes a blocking or
CPU-heavy call (as AL101-AL109 define them), or calls a synchronous project function that blocks (as AL110 follows
them, through any number of helpers and modules). The message names the loop or the chain of calls.

How far the reasoning goes, so that only a coroutine known for certain is flagged:
- A coroutine with an `await` anywhere, even in a branch that may not run, may yield: it is not flagged. Awaiting
  another coroutine counts as a yield point even when that coroutine itself never suspends.
- A `for` loop over a literal written in place (`for name in ("a", "b"):`) is not work; loops in comprehensions are
  not counted, and neither are loops inside the synchronous helpers it calls (only their blocking calls are).
- A blocking call under an `isinstance` test of a parameter is not counted.
- Only a plain `async def` counts: one with `yield` is an async generator (not a task), one with a decorator other
  than `staticmethod`, `classmethod`, `abc.abstractmethod`, `typing.override`, `typing.final` or `functools.wraps`
  may be wrapped into something else, and a stub body (`...`, `pass`, `raise NotImplementedError`) is an interface
  whose overrides may well await.
- A method is flagged only when no class of the project that derives from the class named at the call overrides it:
  `self.run()` in a base class may run a subclass's `run`.
- The coroutine is followed into other modules of the project through imports, re-exports and base classes.

A direct `await crunch()` is not flagged: it promises no overlap. anyio and trio `start_soon(crunch)` are not
followed.

## Why is this bad
A coroutine runs until it suspends, and only `await`, `async for` and `async with` suspend it. One that never awaits
runs start to finish in one go as soon as the event loop first gives it the thread. Making it a task, or gathering
it, promises that it runs alongside other work, but nothing can run beside it: every other task, callback and timer
waits until it ends. The seed's example: `create_task(func())`, then `await asyncio.sleep(1)`, where `func` runs a
1 s loop without yielding, takes 2 s, not 1 s, because the sleep's second only starts once the loop has run its own
(`await asyncio.gather(func(), asyncio.sleep(1))` takes 2.0 s; with `await asyncio.sleep(0)` in the loop, 1.0 s).
When the sleep's timer happens to be armed before the task first runs, as with the sleep written straight after
`create_task`, the timer's second passes during the loop and the program still ends after 1 s, but nothing else was
served during it.

## Example
```python
import asyncio
import time

async def crunch(deadline):
    while time.monotonic() < deadline:
        pass  # a second of work, and never an await

async def main():
    deadline = time.monotonic() + 1
    await asyncio.gather(crunch(deadline), asyncio.sleep(1))  # 2 s, not 1 s
```

## Use instead
```python
import asyncio
import time

async def crunch(deadline):
    while time.monotonic() < deadline:
        await asyncio.sleep(0)  # let the other tasks run between passes
        pass

async def main():
    deadline = time.monotonic() + 1
    await asyncio.gather(crunch(deadline), asyncio.sleep(1))  # 1 s
```
Work that is CPU-bound throughout is better moved off the loop (`await asyncio.to_thread(crunch_sync, ...)`); a
coroutine that blocks should await the async form of its blocking call (AL101-AL110 say which).

## Fix safety
Unsafe: the fix inserts `await asyncio.sleep(0)` (trio's or anyio's `sleep(0)` under those libraries) as the first
statement of each outermost loop of the coroutine, so that other tasks run between passes. That changes what the
program does: another task may now see, or change, state the loop is halfway through, and every pass costs a trip
through the event loop. It is offered only when the coroutine is defined in the same file, when the loop is all the
work it does (a blocking call is fixed by its own rule: a yield point beside it would not stop it blocking), and when
each loop's body starts on a line of its own, clear of syntax errors. `import asyncio` is added when missing.
"#;

/// The qualified callees of the coroutines this file schedules as tasks: the project index judges whether one never
/// yields. Sorted and deduplicated.
pub fn candidate_callees(model: &SemanticModel) -> Vec<String> {
    let mut callees: Vec<String> = model
        .calls
        .iter()
        .flat_map(|call| {
            lifecycle::scheduled_coroutines(model, call)
                .into_iter()
                .filter_map(move |coroutine| concurrency::callee_path(model, coroutine, call.scope))
        })
        .filter(|callee| callee.contains('.'))
        .collect();
    callees.sort_unstable();
    callees.dedup();
    callees
}

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    for call in &model.calls {
        for coroutine in lifecycle::scheduled_coroutines(model, call) {
            let Some(callee) = concurrency::callee_path(model, coroutine, call.scope) else {
                continue;
            };
            let Some((function, path)) = checker.index.scheduled_function(&callee) else {
                continue;
            };
            // A coroutine of this very file is judged from its current text, which the index may not hold yet (the
            // language server refreshes it when typing pauses; a fix's result is checked against the same index).
            let local = (path == checker.document.path)
                .then(|| model.scope_named(&function.qualname))
                .flatten()
                .filter(|scope| model.scope(*scope).is_async_function());
            let unyielding = match local {
                Some(scope) => unyielding_of(checker.document, model, scope, checker.settings.catalogue()),
                None => function.unyielding.as_deref().cloned(),
            };
            let Some(unyielding) = unyielding else { continue };
            let Some(holds) = checker.index.holds(&unyielding) else { continue };
            let definition = match local {
                Some(scope) => {
                    let range = model.scope(scope).name_range;
                    Site { range, span: checker.document.span(range) }
                }
                None => function.definition.clone(),
            };
            let found = NeverYields { function, path, definition, holds };
            let mut diagnostic =
                checker.diagnostic(&RULE, syntax::range(coroutine), message(model, call, coroutine, &found));
            diagnostic.related = related(&found);
            if let (Some(scope), Holds::Own(Work::Loop { .. })) = (local, &found.holds) {
                checker.offer(&mut diagnostic, || fix::yield_in_loops_fix(checker.document, model, scope));
            }
            diagnostics.push(diagnostic);
        }
    }
}

/// Why nothing overlaps: the coroutine never awaits, and what it does in one go.
fn message(model: &SemanticModel, call: &CallSite, coroutine: Node, found: &NeverYields) -> String {
    let scheduler = syntax::callee_text(call.node, model.source);
    let scheduler = syntax::quotable(&scheduler).unwrap_or("the scheduling call");
    let written = syntax::callee_text(coroutine, model.source);
    let coroutine_name = syntax::quotable(&written).unwrap_or(found.function.name.as_str());
    let display = found.function.display.as_str();
    let runs = match &found.holds {
        Holds::Own(Work::Loop { keyword, .. }) => format!("runs its `{keyword}` loop to the end in one go"),
        Holds::Own(Work::Blocks { name, .. }) => {
            format!("runs to the end in one go and blocks in `{name}` ({display} → {name})")
        }
        Holds::Helper { chain, .. } => {
            let mut names: Vec<&str> = vec![display];
            names.extend(chain.iter().map(|link| link.function.display.as_str()));
            let blocking = match chain.last().map(|link| &link.hop) {
                Some(Hop::Blocks { name, .. }) => name.as_str(),
                _ => "",
            };
            names.push(blocking);
            format!("runs to the end in one go and blocks in `{blocking}` ({})", names.join(" → "))
        }
    };
    format!(
        "`{scheduler}` runs `{coroutine_name}()` as a task, but `{display}` never awaits: once started it {runs}, so \
         nothing overlaps with it and every other task waits until it ends"
    )
}

/// Where the coroutine is defined, and where it loops or through which calls it blocks.
fn related(found: &NeverYields) -> Vec<Related> {
    let display = &found.function.display;
    let mut related = vec![Related {
        file: found.path.to_owned(),
        span: found.definition.span,
        message: format!("`{display}` has no `await`, `async for` or `async with`"),
    }];
    match &found.holds {
        Holds::Own(Work::Loop { keyword, site }) => related.push(Related {
            file: found.path.to_owned(),
            span: site.span,
            message: format!("`{display}` runs this `{keyword}` loop without yielding"),
        }),
        Holds::Own(Work::Blocks { name, site }) => related.push(Related {
            file: found.path.to_owned(),
            span: site.span,
            message: format!("`{display}` calls `{name}`, which blocks"),
        }),
        Holds::Helper { call, chain } => {
            if let Some(first) = chain.first() {
                related.push(Related {
                    file: found.path.to_owned(),
                    span: call.site.span,
                    message: format!("`{display}` calls `{}`", first.function.display),
                });
            }
            related.extend(chain.iter().map(|link| match &link.hop {
                Hop::Calls { callee, site } => Related {
                    file: link.path.to_owned(),
                    span: site.span,
                    message: format!(
                        "{}`{}` calls `{}`",
                        link.origin(),
                        link.function.display,
                        callee.rsplit('.').next().unwrap_or(callee)
                    ),
                },
                Hop::Blocks { name, site } => Related {
                    file: link.path.to_owned(),
                    span: site.span,
                    message: format!("{}`{}` calls `{name}`, which blocks", link.origin(), link.function.display),
                },
            }));
        }
    }
    related
}

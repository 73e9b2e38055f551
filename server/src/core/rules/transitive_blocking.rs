//! transitive-blocking-call (AL110): async code calling a sync function of the project that blocks, directly or
//! through other project functions, in this module or another.

use crate::core::catalogue::Catalogue;
use crate::core::check::Checker;
use crate::core::diagnostic::{Diagnostic, Related, Severity};
use crate::core::fix;
use crate::core::index::Hop;
use crate::core::on_loop;
use crate::core::reach;
use crate::core::rules::RuleMeta;
use crate::core::semantic::{ScopeKind, SemanticModel};
use crate::core::summary::blocking_entry;
use crate::core::syntax;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL110",
    name: "transitive-blocking-call",
    summary: "call to a project function that blocks",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: false,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags a call from an `async def` (or from sync code that the loop runs, below) to a synchronous function of your own project that blocks: one that makes a
blocking call (as AL101-AL109 define them), or calls another project function that does, to any depth and across
modules. The message names the whole chain, e.g.
`startup → prepare → run_migrations → subprocess.check_call`, and editors show each hop as a related location. The
chain ends in the call most likely to hold the thread longest (a sleep or request above a file open, and one inside a
loop, such as a sleep between retries, above one outside), and the message says how many other blocking calls the
helper makes.

What a call runs decides whether it blocks:
- calling a generator function runs none of its body: only iterating it does (`for x in helper()`, `list(...)`,
  `with`, `yield from`);
- a memoized function does its work once per process, typically at start-up, so it does not count: one decorated
  with `functools.cache`, `lru_cache` or `cached_property`, or one that keeps its result in a module-level name and
  begins by returning it when set (`global _cache` then `if _cache is not None: return _cache`);
- a function whose decorator runs it in a worker thread (`asgiref.sync.sync_to_async`, `asyncer.asyncify`,
  `textual.work`, the config's `offload-decorators`, or a project decorator that hands its function to
  `asyncio.to_thread` or `run_in_executor`) never blocks its caller;
- a blocking call under an `isinstance` test of a parameter (`if isinstance(fp, str): open(fp)`, its `else:`, or a
  conditional expression) runs only for arguments the test admits. The argument's type comes from a literal, a
  constructor call (`File(io.BytesIO(data))`) or an annotation; standard types are known, a project class is judged
  through its bases, and an argument of unknown type may take either branch. Only the function called from async
  code is judged by its caller's arguments; deeper hops count as blocking when any of their guarded calls may run.

Helpers are followed through imports (`from app.db import prepare`), package re-exports, `self.method()` (including
methods inherited from project base classes) and constructors (`Client()` runs `Client.__init__`). Passing the helper
by reference to `asyncio.to_thread`, `loop.run_in_executor` or a framework's executor helper is not a call, and is
not flagged.

### Sync code on the loop
This rule and AL101-AL109 apply in sync code that the event loop runs by contract, as they do in an `async def`;
the message says why the code is on the loop ("in `on_done`, a callback that `task.add_done_callback` runs on the
event loop"), and editors show the call that hands it over as a related location. That code is:
- a sync function marked with a catalogue loop decorator (`homeassistant.core.callback`) or one of the config's
  `loop-decorators`;
- a sync function or lambda handed to a loop callback API: `call_soon`, `call_soon_threadsafe` (it too runs the
  callback on the loop's thread), `call_later`, `call_at`, `add_signal_handler`, `add_reader`, `add_writer`,
  `add_done_callback` of an asyncio future or task, `anyio.from_thread.run_sync` and `trio.from_thread.run_sync`,
  and the config's `loop-callbacks`.

What is handed over is resolved, not guessed from names: a function of the same file (module-level, a nested `def`,
or a method through `self.method`), a lambda written in place, or either wrapped in `functools.partial`. A lambda
counts: the loop calls it like any function. A function of another module handed over is not followed (its body is
checked where it is defined, which does not know it is handed over); a generator function never counts, since
calling it runs none of its body.

The receiver decides whether a call is a loop API:
- the loop's scheduling methods count on a receiver known to be a loop (`asyncio.get_running_loop()`, a name
  annotated `asyncio.AbstractEventLoop`) and on a receiver of unknown type, since those names are the loop's own
  (tornado's `IOLoop` has them too, and runs them on the same loop); a receiver of a known other type, such as a
  project class with its own `call_soon`, does not;
- `add_done_callback` counts only on what is known to be an asyncio future or task: made by `asyncio.create_task`,
  `ensure_future`, `gather`, `loop.create_future()`, `run_in_executor` and the like (through a name or a `self.`
  attribute every assignment of which agrees), or annotated `asyncio.Future`/`asyncio.Task`. A future of unknown
  origin may be a `concurrent.futures.Future`, whose callbacks run in the thread that completes it, and
  `asyncio.run_coroutine_threadsafe` returns one;
- a function handed to `run_in_executor`, `asyncio.to_thread` or an offload helper runs in a worker thread, not
  on the loop.

In a callback that `add_reader` or `add_writer` runs, the descriptor is ready: reading or writing a socket, standard
input or a file object there returns at once and is not reported, while a sleep or an HTTP request still is.

No fix is offered in sync code on the loop: there is no `await` to add, and making the callback schedule a task or
an executor job changes when its work happens, which is for you to decide.

## Why is this bad
A blocking call hidden one or three functions deep blocks the event loop just as much as one written in the
coroutine, and it is much harder to spot in review. Other linters only look at the coroutine's own body.

## Example
```python
# app/db.py
import subprocess

def run_migrations():
    subprocess.check_call(["alembic", "upgrade", "head"])

# app/main.py
from app.db import run_migrations

async def startup():
    run_migrations()
```

## Use instead
```python
import asyncio
from app.db import run_migrations

async def startup():
    await asyncio.to_thread(run_migrations)
```

## Fix safety
Unsafe: the fix wraps the call as `await asyncio.to_thread(helper, *args)`, which runs the helper in a worker thread.
Whether the helper is thread-safe is for you to judge. In a module that imports trio or anyio the fix uses their
`to_thread.run_sync` (which takes positional arguments only), since `asyncio.to_thread` raises under `trio.run`.
A generator helper gets no fix: its body runs where it is iterated, not in the call.
"#;

/// The callees of un-awaited calls in async code that are not catalogue entries: the ones only the project index
/// can judge. Sorted and deduplicated.
pub fn candidate_callees(model: &SemanticModel, catalogue: &Catalogue) -> Vec<String> {
    model.project_callees(|call, callee| {
        !call.awaited
            && model.loop_context(call.scope).is_some()
            && blocking_entry(model, call, Some(callee), catalogue).is_none()
    })
}

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    let catalogue = checker.settings.catalogue();
    for call in &model.calls {
        if call.awaited {
            continue;
        }
        let Some(context) = model.loop_context(call.scope) else { continue };
        let Some(callee) = model.callee_path(call) else {
            continue;
        };
        if blocking_entry(model, call, Some(&callee), catalogue).is_some() {
            continue; // a direct blocking call: AL101-AL109 report it
        }
        let facts = reach::CallFacts::of(model, call.node, call.scope);
        let Some(chain) = checker.index.blocking_chain_for(&callee, &facts) else {
            continue;
        };
        let Some(Hop::Blocks { name: blocking_name, .. }) = chain.last().map(|link| &link.hop) else {
            continue;
        };
        if catalogue.lookup(blocking_name).is_some_and(|entry| context.exempts(entry)) {
            continue; // I/O on the descriptor that a readiness callback was called for
        }
        let scope = model.scope(call.scope);
        let function_name = if scope.kind == ScopeKind::Lambda { "<lambda>" } else { scope.name };
        let written = syntax::callee_text(call.node, model.source);
        let helper = syntax::quotable(&written).unwrap_or(chain[0].function.name.as_str());
        let mut names: Vec<&str> = vec![function_name];
        names.extend(chain.iter().map(|link| link.function.display.as_str()));
        names.push(blocking_name);
        let others = checker.index.blocking_calls_made(chain[0].function).saturating_sub(1);
        let more = match others {
            0 => String::new(),
            1 => format!("; `{}` makes 1 other blocking call", chain[0].function.display),
            _ => format!("; `{}` makes {others} other blocking calls", chain[0].function.display),
        };
        // A chain that enters installed dependencies names them: the fix is often a library's, not the project's.
        let mut distributions: Vec<&str> = chain.iter().filter_map(|link| link.distribution).collect();
        distributions.dedup();
        let inside = match distributions.as_slice() {
            [] => String::new(),
            found => format!(", in {}", found.join(" and ")),
        };
        let message = format!(
            "`{helper}()` blocks the event loop in {}: it calls `{blocking_name}` ({}{inside}){more}{}",
            context.describe(scope),
            names.join(" → "),
            if context.is_async() { String::new() } else { format!("; {}", on_loop::SYNC_ADVICE) }
        );
        let mut diagnostic = checker.diagnostic(&RULE, syntax::range(call.node), message);
        diagnostic.related = chain
            .iter()
            .map(|link| match &link.hop {
                Hop::Calls { callee, site } => {
                    let callee_name = callee.rsplit('.').next().unwrap_or(callee);
                    Related {
                        file: link.path.to_owned(),
                        span: site.span,
                        message: format!("{}`{}` calls `{callee_name}`", link.origin(), link.function.display),
                    }
                }
                Hop::Blocks { name, site } => Related {
                    file: link.path.to_owned(),
                    span: site.span,
                    message: format!("{}`{}` calls `{name}`, which blocks", link.origin(), link.function.display),
                },
            })
            .collect();
        diagnostic.related.extend(context.related(checker.document, scope));
        // Sync code on the loop has no `await` to add: a rewrite would have to turn the callback into a task.
        if !context.is_async() {
            diagnostics.push(diagnostic);
            continue;
        }
        // A generator's body runs where it is iterated, not in the call: offloading the call would move nothing.
        if !chain[0].function.is_generator {
            checker.offer(&mut diagnostic, || fix::offload_fix(checker.document, model, call, checker.settings));
        }
        diagnostics.push(diagnostic);
    }
}

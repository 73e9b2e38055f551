//! sequential-awaits (AL301): consecutive awaits that do not depend on each other, which `asyncio.gather` would
//! overlap.

use crate::core::syntax::KindName;
use foldhash::{HashSet, HashSetExt};

use crate::core::check::Checker;
use crate::core::concurrency::{self, AwaitedStatement};
use crate::core::diagnostic::{Diagnostic, Severity, TextRange};
use crate::core::fix;
use crate::core::rules::RuleMeta;
use crate::core::semantic::{ScopeId, SemanticModel};

pub const RULE: RuleMeta = RuleMeta {
    code: "AL301",
    name: "sequential-awaits",
    summary: "independent awaits run one after another",
    doc: DOC,
    default_severity: Severity::Information,
    catalogue_driven: false,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags two or more consecutive statements in one block of an `async def` that each await a single call and assign its
result to a simple name, when the calls are independent: no call reads a name an earlier one bound, no two calls
share a receiver (`conn.execute(a)` then `conn.execute(b)` is ordered, and so are `self.api.x()` then `self.cache.y()`)
or a database session or connection passed as an argument, and none is an operation whose order matters:
`asyncio.sleep`, lock, semaphore, condition and event operations, queue `put`/`get`, stream `write`/`drain`/`send`,
`commit`, `close`, `flush`, `acquire`, `release` (the list is data in the catalogue). The body of `async with lock:` is
left alone, and so are bare `await f()` statements: they are commands, and commands are usually ordered by their
effects ("update, then refresh"), which the data cannot show.

Also left alone, because running them together would change nothing or change what they do: a coroutine of the
project that never suspends (no `await`, `async for` or `async with`, and no blocking call to fix first; a stub such
as `raise NotImplementedError` is an interface whose overrides may, so it does not count), `anext()` on
two iterators, calls that pass the same attribute of an object (`daemons=memory.running`, state both may change),
and a call of a function of this file that itself calls another call's function (`await self._device_path()` looks
up again what `await self._adapter_path()` just did).

## Why is this bad
`await f(); await g()` waits for `f` to finish before `g` even starts. When they do not depend on each other, the
total time is the sum of both, where running them together would take the longest of the two.

## Example
```python
async def dashboard(user_id):
    profile = await fetch_profile(user_id)
    orders = await fetch_orders(user_id)
    return profile, orders
```

## Use instead
```python
import asyncio

async def dashboard(user_id):
    profile, orders = await asyncio.gather(fetch_profile(user_id), fetch_orders(user_id))
    return profile, orders
```

## Fix safety
Unsafe: the calls now overlap, so their side effects may interleave, and when one raises the others still run (with
`gather`) or are cancelled (with a `TaskGroup`, offered as a second fix when `target-version` is 3.11 or later).
Calls that are independent in data may still be ordered in effect (two calls that print or write the same file): check
before applying. Comments between the statements move to the end of the rewrite.
"#;

/// A run of independent awaited statements being collected.
struct Group<'t> {
    statements: Vec<AwaitedStatement<'t>>,
    bound: HashSet<&'t str>,
    receivers: HashSet<String>,
}

impl<'t> Group<'t> {
    fn new() -> Self {
        Group { statements: Vec::new(), bound: HashSet::new(), receivers: HashSet::new() }
    }
}

/// The project callees awaited inside this file's findings (`found`, with an empty index): the index may know that
/// one never suspends, which splits or drops its finding. It never makes one, so no other call matters.
pub fn candidate_callees(model: &SemanticModel, found: &[Diagnostic]) -> Vec<String> {
    let ranges: Vec<TextRange> =
        found.iter().filter(|found| found.code == RULE.code).map(|found| found.range).collect();
    if ranges.is_empty() {
        return Vec::new();
    }
    model.project_callees(|call, callee| {
        let start = call.node.start_byte();
        call.awaited
            && model.scope_named(callee).is_none()
            && ranges.iter().any(|range| range.start <= start && start < range.end)
    })
}

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    for (scope, function) in concurrency::async_functions(model) {
        for block in concurrency::blocks_of(function) {
            if concurrency::inside_lock(block, model.source) {
                continue;
            }
            let mut group = Group::new();
            for statement in crate::core::syntax::named_children(block).filter(|child| child.kind_name() != "comment") {
                // Only queries group: a bare `await f()` is a command, whose order is presumed to matter (on real code,
                // "act, then refresh" pairs were nearly all of what bare awaits would flag).
                let candidate = concurrency::awaited_statement(statement)
                    .filter(|awaited| awaited.target.is_some())
                    .filter(|awaited| !concurrency::order_matters(model, awaited.call, scope))
                    .filter(|awaited| !concurrency::never_suspends(model, checker.index, awaited.call, scope));
                let Some(awaited) = candidate else {
                    report(checker, scope, std::mem::replace(&mut group, Group::new()), diagnostics);
                    continue;
                };
                let reads = concurrency::names_read(awaited.call, model.source);
                // Receivers rooted in one object (`self.api`, `self.cache`) are one receiver: methods on it share state.
                let receiver = concurrency::receiver(model, awaited.call, scope)
                    .map(|receiver| receiver.split(['.', '(', '[']).next().unwrap_or_default().to_owned());
                let target = awaited.target.map(|target| model.text(target));
                let shared = concurrency::shared_state_arguments(awaited.call, model.source);
                let path = concurrency::callee_path(model, awaited.call, scope);
                let nested = group.statements.iter().any(|earlier| {
                    let earlier_path = concurrency::callee_path(model, earlier.call, scope);
                    earlier_path.is_some_and(|inner| concurrency::calls_into(model, awaited.call, scope, &inner))
                        || path.as_ref().is_some_and(|inner| concurrency::calls_into(model, earlier.call, scope, inner))
                });
                let depends = nested
                    || reads.iter().any(|name| group.bound.contains(name))
                    || shared.iter().any(|name| group.receivers.contains(*name))
                    || receiver.as_ref().is_some_and(|receiver| group.receivers.contains(receiver))
                    || target.is_some_and(|target| group.bound.contains(target));
                if depends {
                    report(checker, scope, std::mem::replace(&mut group, Group::new()), diagnostics);
                }
                group.bound.extend(target);
                group.receivers.extend(receiver);
                group.receivers.extend(shared.iter().map(|name| (*name).to_owned()));
                group.statements.push(awaited);
            }
            report(checker, scope, group, diagnostics);
        }
    }
}

fn report(checker: &Checker, scope: ScopeId, group: Group, diagnostics: &mut Vec<Diagnostic>) {
    let statements = group.statements;
    let (Some(first), Some(last)) = (statements.first(), statements.last()) else { return };
    if statements.len() < 2 {
        return;
    }
    let model = checker.model;
    let range = TextRange::new(first.statement.start_byte(), last.statement.end_byte());
    let message = format!(
        "These {} awaits do not depend on each other but run one after another: {} would overlap them",
        statements.len(),
        model.event_loop().concurrency()
    );
    let mut diagnostic = checker.diagnostic(&RULE, range, message);
    let document = checker.document;
    checker.offer(&mut diagnostic, || fix::gather_statements_fix(document, model, &statements));
    if checker.settings.target_version >= (3, 11) {
        checker.offer(&mut diagnostic, || fix::task_group_statements_fix(document, model, scope, &statements));
    }
    diagnostics.push(diagnostic);
}

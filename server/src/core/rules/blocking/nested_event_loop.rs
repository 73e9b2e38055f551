//! nested-event-loop (AL108): starting an event loop inside a coroutine.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL108",
    name: "nested-event-loop",
    summary: "starting an event loop inside a coroutine",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: true,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags `asyncio.run(...)` and `loop.run_until_complete(...)` inside an `async def`.

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
A coroutine already runs on an event loop. Starting another one on the same thread raises
`RuntimeError: asyncio.run() cannot be called from a running event loop`, or, with patched loops, blocks the outer
loop until the inner one finishes.

## Example
```python
import asyncio

async def handler(request):
    data = asyncio.run(load(request.id))
    return render(data)
```

## Use instead
```python
async def handler(request):
    data = await load(request.id)
    return render(data)
```

## Fix safety
Unsafe: the fix replaces `asyncio.run(coro)` by `await coro`. This is what the code means to do, but the coroutine
now shares the caller's loop, context variables and cancellation."#;

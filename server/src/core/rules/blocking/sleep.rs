//! blocking-sleep (AL101): `time.sleep` in async code.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL101",
    name: "blocking-sleep",
    summary: "`time.sleep` in async code",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: true,
    equivalents: &["ASYNC251"],
};

const DOC: &str = r#"## What it does
Flags `time.sleep(...)` (however it is imported) called directly inside an `async def`.

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
asyncio runs every coroutine on one thread. `time.sleep` suspends that thread, so every other task, timer and
connection of the program freezes until it returns.

## Example
```python
import time

async def poll(client):
    while not await client.ready():
        time.sleep(1)
```

## Use instead
```python
import asyncio

async def poll(client):
    while not await client.ready():
        await asyncio.sleep(1)
```

## Fix safety
Safe: `await asyncio.sleep(x)` waits just as long, but lets the other tasks run meanwhile. The fix adds
`import asyncio` when the module lacks it. No fix is offered inside a generator expression, where an `await` would
turn the expression into an async generator. In a module that imports trio or anyio the fix writes `await trio.sleep(x)`
or `await anyio.sleep(x)`. `time.sleep(0)` is not flagged: it yields the thread for no time."#;

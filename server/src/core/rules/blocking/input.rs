//! blocking-input (AL107): reading the terminal in async code.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL107",
    name: "blocking-input",
    summary: "reading the terminal in async code",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: true,
    equivalents: &["ASYNC250"],
};

const DOC: &str = r#"## What it does
Flags `input()`, `sys.stdin.read()`, `sys.stdin.readline()`, `sys.stdin.readlines()` and `getpass.getpass()` inside
an `async def`.

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
Waiting for a person to type can take minutes. Meanwhile no other coroutine runs: connections time out, heartbeats
stop.

## Example
```python
async def confirm():
    return input("Continue? [y/N] ") == "y"
```

## Use instead
```python
import asyncio

async def confirm():
    return await asyncio.to_thread(input, "Continue? [y/N] ") == "y"
```

## Fix safety
Unsafe: the fix wraps the call in `await asyncio.to_thread(...)`. A thread blocked on `input()` cannot be
cancelled, so a cancelled task leaves the thread waiting for a line."#;

//! blocking-subprocess (AL103): synchronous subprocess in async code.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL103",
    name: "blocking-subprocess",
    summary: "synchronous subprocess in async code",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: true,
    equivalents: &["ASYNC220", "ASYNC221", "ASYNC222"],
};

const DOC: &str = r#"## What it does
Flags process calls that block inside an `async def`: `subprocess.run`, `call`, `check_call`, `check_output`,
`getoutput`, `Popen` and its `wait`/`communicate`, `os.system`, `os.popen`, `os.spawn*`, `os.posix_spawn*` and
`os.wait*` (not with `os.WNOHANG`, which polls and returns at once).

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
These calls fork a process and usually wait for it to finish. For the whole run of the child, the event loop is
frozen.

## Example
```python
import subprocess

async def backup(path):
    subprocess.check_call(["tar", "czf", "backup.tgz", path])
```

## Use instead
```python
import asyncio

async def backup(path):
    process = await asyncio.create_subprocess_exec("tar", "czf", "backup.tgz", path)
    if await process.wait():
        raise RuntimeError("backup failed")
```

## Fix safety
Unsafe: the fix offloads the call with `await asyncio.to_thread(...)`. Rewriting to
`asyncio.create_subprocess_exec` changes the API and is left to you."#;

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

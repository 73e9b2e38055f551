//! cpu-heavy-call (AL109): CPU-heavy call in async code.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL109",
    name: "cpu-heavy-call",
    summary: "CPU-heavy call in async code",
    doc: DOC,
    default_severity: Severity::Information,
    catalogue_driven: true,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags calls known to burn CPU for a long time inside an `async def`: key-derivation and password hashing
(`hashlib.pbkdf2_hmac`, `hashlib.scrypt`, `bcrypt.hashpw`, `bcrypt.checkpw`, `bcrypt.kdf`). Its default severity is
lower than the I/O rules': the cost depends on the parameters.

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
Password hashing is slow on purpose, often 100 ms or more per call. On the event loop thread, that is 100 ms in
which no other request progresses.

## Example
```python
import bcrypt

async def register(user, password):
    user.hash = bcrypt.hashpw(password, bcrypt.gensalt())
```

## Use instead
```python
import asyncio
import bcrypt

async def register(user, password):
    user.hash = await asyncio.to_thread(bcrypt.hashpw, password, bcrypt.gensalt())
```

## Fix safety
Unsafe: the fix wraps the call in `await asyncio.to_thread(...)`. The hashing libraries release the GIL, so a worker
thread helps; pure-Python CPU work would need a process pool instead."#;

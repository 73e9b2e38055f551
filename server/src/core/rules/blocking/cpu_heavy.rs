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

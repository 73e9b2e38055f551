//! blocking-http (AL102): synchronous HTTP request in async code.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL102",
    name: "blocking-http",
    summary: "synchronous HTTP request in async code",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: true,
    equivalents: &["ASYNC210", "ASYNC211", "ASYNC212"],
};

const DOC: &str = r#"## What it does
Flags synchronous HTTP calls inside an `async def`: `requests` (module functions and `Session` methods),
`urllib.request.urlopen`, `http.client` connections, synchronous `httpx` (module functions and `httpx.Client`) and
`urllib3`. Receivers are followed through assignments, `with ... as`, and annotations: `s = requests.Session()` makes
`s.get(...)` a finding.

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
A synchronous request holds the event loop for the whole round trip, often hundreds of milliseconds, and forever
without a timeout. Every other coroutine waits.

## Example
```python
import requests

async def fetch_profile(user_id):
    return requests.get(f"https://api.example.com/users/{user_id}", timeout=10).json()
```

## Use instead
```python
import httpx

async def fetch_profile(client: httpx.AsyncClient, user_id):
    response = await client.get(f"https://api.example.com/users/{user_id}", timeout=10)
    return response.json()
```

## Fix safety
Unsafe: the fix wraps the call as `await asyncio.to_thread(requests.get, url, timeout=10)`, which runs it in a
worker thread. That keeps the loop responsive but changes which thread runs the call (thread-local state, and a
thread-safe session are your concern). With `target-version` below 3.9 the fix uses `run_in_executor`, and is not
offered for calls with keyword arguments."#;

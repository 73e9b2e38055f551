//! blocking-socket (AL105): blocking socket, DNS or TLS call in async code.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL105",
    name: "blocking-socket",
    summary: "blocking socket, DNS or TLS call in async code",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: true,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags blocking network primitives inside an `async def`: `socket.create_connection`, blocking name resolution
(`socket.getaddrinfo`, `gethostbyname`, ...), `connect`/`accept`/`recv`/`send*` on sockets created in the same
function, and TLS context set-up that reads certificates from disk (`ssl.create_default_context`,
`SSLContext.load_cert_chain`, `load_verify_locations`, ...).

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
A blocking socket waits for the network with the event loop parked. DNS lookups can take seconds. Loading a CA
bundle reads and parses hundreds of certificates.

## Example
```python
import socket

async def ping(host):
    sock = socket.create_connection((host, 7))
    sock.sendall(b"ping")
    return sock.recv(4)
```

## Use instead
```python
import asyncio

async def ping(host):
    reader, writer = await asyncio.open_connection(host, 7)
    writer.write(b"ping")
    await writer.drain()
    return await reader.read(4)
```

## Fix safety
Unsafe: the fix offloads the call with `await asyncio.to_thread(...)`. Moving to asyncio streams is a redesign the
fix does not attempt."#;

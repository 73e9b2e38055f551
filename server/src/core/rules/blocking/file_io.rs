//! blocking-file-io (AL104): synchronous file-system call in async code.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL104",
    name: "blocking-file-io",
    summary: "synchronous file-system call in async code",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: true,
    equivalents: &["ASYNC230", "ASYNC231", "ASYNC232", "ASYNC240"],
};

const DOC: &str = r#"## What it does
Flags file and file-system calls inside an `async def`: `open`, `io.open`, `codecs.open`, `tempfile` files,
`pathlib.Path` reads, writes, `open`, `exists`, `stat`, `mkdir`, `glob` and friends, `shutil` copies, moves and
`rmtree`, `os.walk`, `os.listdir`, `os.scandir`, `os.remove` and friends, `os.path.exists`/`isfile`/`isdir`/... and
`glob.glob`, and the reads and writes of a synchronous file object (`read`, `readline`, `readlines`, `write`,
`writelines`, `flush`, `truncate` and the like, and iterating it: `for line in f`) when the object comes from `open`, `io.open`, `os.fdopen` or
`Path.open` (`with open(p) as f: f.read()`), or is annotated `io.TextIOWrapper`, `io.BufferedReader`,
`io.BufferedWriter`, `io.BufferedRandom` or `io.FileIO` (`Optional[...]`, `X | None` and quoted annotations
included). In-memory files (`io.BytesIO`, `io.StringIO`) and the files of aiofiles and anyio, whose methods are
awaited, are other types. So are the protocols `typing.IO`, `TextIO` and `BinaryIO`, which flake8-async's ASYNC232
counts: an in-memory buffer or `sys.stdout` satisfies them as well as a file on disk does, and real code passes
`io.BytesIO` where they are written. A name's type comes from the binding that reaches the call: after
`f: int = 7`, then `f: TextIOWrapper = ...`, `f.read()` reads a file.

Not flagged, on purpose (flake8-async's ASYNC231/232/240 flag some of them):
- path arithmetic that touches no disk or makes one `getcwd`: `os.path.join`, `normpath`, `abspath`, `relpath`,
  `Path.name`, `Path.absolute()`; nor the private helpers of `os.path` (`_joinrealpath`), only its public API;
- `os.fdopen(fd)` itself: it wraps a descriptor that is already open (`loop.connect_read_pipe(os.fdopen(fd, "rb"))`
  must call it), and the reads and writes of what it returns are flagged;
- methods a file object does not have (`f.anything()`): only the I/O methods above count.

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
Disk and network file systems can stall for a long time, and the event loop stalls with them. A slow NFS mount or
a large `rmtree` freezes the whole program.

## Example
```python
async def load_settings(path):
    with open(path) as handle:
        return handle.read()
```

## Use instead
```python
import asyncio
from pathlib import Path

async def load_settings(path):
    return await asyncio.to_thread(Path(path).read_text)
```

## Fix safety
Unsafe: the fix wraps the call as `await asyncio.to_thread(func, *args)`, which runs it in a worker thread. No fix
is offered for `with open(...)`, because the reads inside the block would still block."#;

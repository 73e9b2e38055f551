//! blocking-db (AL106): synchronous database driver in async code.

use crate::core::diagnostic::Severity;
use crate::core::rules::RuleMeta;

pub const RULE: RuleMeta = RuleMeta {
    code: "AL106",
    name: "blocking-db",
    summary: "synchronous database driver in async code",
    doc: DOC,
    default_severity: Severity::Warning,
    catalogue_driven: true,
    equivalents: &[],
};

const DOC: &str = r#"## What it does
Flags synchronous database drivers inside an `async def`: `sqlite3.connect` and queries on its connections and
cursors, `psycopg2.connect` and cursor queries, `pymysql.connect` and cursor queries, and commands on a synchronous
`redis.Redis` client.

It applies as well in sync code that the event loop runs: callbacks handed to `loop.call_soon`, `call_later`,
`add_done_callback`, `add_signal_handler`, `add_reader` and the like, and functions marked with a loop decorator
such as Home Assistant's `@callback` (`asynclint rule AL110` says what counts). There the message says why the code
is on the loop, and no fix is offered: a sync callback has no `await` to add.

## Why is this bad
Each query waits for the database with the event loop parked; under load, one slow query stalls every request the
process serves.

## Example
```python
import sqlite3

async def count_users(path):
    connection = sqlite3.connect(path)
    return connection.execute("select count(*) from users").fetchone()
```

## Use instead
```python
import aiosqlite

async def count_users(path):
    async with aiosqlite.connect(path) as connection:
        cursor = await connection.execute("select count(*) from users")
        return await cursor.fetchone()
```

## Fix safety
Unsafe: the fix offloads the call with `await asyncio.to_thread(...)`. Database connections are often not
thread-safe; prefer an async driver (`aiosqlite`, `asyncpg`, `redis.asyncio`)."#;

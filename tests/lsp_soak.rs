//! Soak test of the language server over real stdio: a seeded random editing session (typing, pastes, deletions,
//! undo, syntax breaks and repairs, saves, closing and reopening, helpers and config changed on disk, code actions,
//! cancellations and resolves) in several open files of a small project. At every quiet point the diagnostics the
//! server last published, related locations included, must equal `asynclint check` of the same texts, and the server
//! must still be up and must never have answered with an unexpected error.
//!
//! `ASYNCLINT_SOAK_STEPS` and `ASYNCLINT_SOAK_SEED` override the short default run (`bench/lsp_soak.sh` runs a long
//! one). A failure prints the seed, the step, the last steps taken and where the transcript of every message sent was
//! written.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Short enough for CI on a loaded 2-core machine.
const DEFAULT_STEPS: usize = 200;
/// A fixed default, so that CI runs the same session every time (timing aside); this one's session caught stale related
/// locations in an edited file before that was fixed.
const DEFAULT_SEED: u64 = 0x5eed_a5c1_11e7;
/// Quiet points come after a random number of steps in this range: many of them, since a stale publish shows only
/// if it is the last one before a quiet point.
const STEPS_BETWEEN_QUIET_POINTS: std::ops::RangeInclusive<usize> = 5..=25;
/// How long nothing may be sent or received before a quiet point compares. Longer than the server's 300 ms pause
/// before an edit reaches the project index, so that the refresh it triggers has started by then; a refresh slower
/// than this is waited for below, through `CONVERGE`.
const SETTLE: Duration = Duration::from_millis(500);
/// How long any one expected message may take: generous, for a loaded machine.
const WAIT: Duration = Duration::from_secs(30);
/// How long published diagnostics that differ from `asynclint check` may take to come right, while the server keeps
/// publishing. A real mismatch stays until this runs out.
const CONVERGE: Duration = Duration::from_secs(15);

const CONTENT_MODIFIED: i64 = -32801;
const REQUEST_CANCELLED: i64 = -32800;

#[test]
fn random_editing_sessions_publish_what_check_reports() {
    let steps = env_number("ASYNCLINT_SOAK_STEPS").map_or(DEFAULT_STEPS, |steps| steps as usize);
    let seed = env_number("ASYNCLINT_SOAK_SEED").unwrap_or(DEFAULT_SEED);
    eprintln!("lsp_soak: seed {seed}, {steps} steps");
    let started = Instant::now();
    let mut soak = Soak::start(seed, steps);
    soak.quiet_point();
    let mut until_quiet = soak.steps_until_quiet();
    for step in 1..=steps {
        soak.step = step;
        soak.random_step();
        soak.server.drain();
        until_quiet -= 1;
        if until_quiet == 0 || step == steps {
            soak.quiet_point();
            until_quiet = soak.steps_until_quiet();
        }
    }
    soak.shut_down();
    eprintln!(
        "lsp_soak: seed {seed}, {steps} steps, {} quiet points, {} messages sent, in {:.1} s",
        soak.quiet_points,
        soak.server.transcript.iter().filter(|entry| entry.get("send").is_some()).count(),
        started.elapsed().as_secs_f64()
    );
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(value.parse().unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")))
}

/// xorshift64*: small, seeded, and the same on every platform, so a seed replays the same session.
struct Rng(u64);

impl Rng {
    /// Starts from the seed's splitmix64 hash, so that nearby seeds give unrelated sessions; zero, xorshift's one
    /// fixed point, becomes one.
    fn new(seed: u64) -> Rng {
        let mut hash = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((hash ^ (hash >> 31)).max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// --- positions: the client's own conversion, independent of the server's ------------------------------------------

/// The LSP position of a byte offset, its column in UTF-16 code units (the encoding this client negotiates).
fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let character: usize = before[line_start..].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": character})
}

fn range(text: &str, start: usize, end: usize) -> Value {
    json!({"start": position(text, start), "end": position(text, end)})
}

/// The byte offset of an LSP position the server sent. It must lie in the text and between characters: an edit from
/// the server that splits an emoji's surrogate pair, or points past a line's end, is a bug.
fn offset(text: &str, position: &Value) -> usize {
    let line = position["line"].as_u64().unwrap() as usize;
    let character = position["character"].as_u64().unwrap() as usize;
    let mut line_start = 0;
    for _ in 0..line {
        line_start += text[line_start..].find('\n').unwrap_or_else(|| panic!("{position} is past the last line")) + 1;
    }
    let mut units = 0;
    for (index, char) in text[line_start..].char_indices() {
        if units == character {
            return line_start + index;
        }
        assert!(units < character && char != '\n', "{position} is not a character boundary of its line");
        units += char.len_utf16();
    }
    assert_eq!(units, character, "{position} is past the end of the text");
    text.len()
}

/// The byte offset of a random place: a random line, and a random character boundary in it (its end included).
fn random_offset(text: &str, rng: &mut Rng) -> usize {
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(text.match_indices('\n').map(|(newline, _)| newline + 1)).collect();
    let start = *rng.pick(&line_starts);
    let line = text[start..].split('\n').next().unwrap_or("");
    let boundaries: Vec<usize> = line.char_indices().map(|(index, _)| index).chain([line.len()]).collect();
    start + rng.pick(&boundaries)
}

/// A random line start, where pasted blocks go.
fn random_line_start(text: &str, rng: &mut Rng) -> usize {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(newline, _)| newline + 1).filter(|&start| start < text.len()))
        .collect();
    *rng.pick(&starts)
}

/// The one edit that turns `old` into `new`: the span between their common prefix and suffix, in whole characters.
fn difference(old: &str, new: &str) -> (usize, usize, String) {
    let prefix: usize = old.chars().zip(new.chars()).take_while(|(a, b)| a == b).map(|(char, _)| char.len_utf8()).sum();
    let suffix: usize = old[prefix..]
        .chars()
        .rev()
        .zip(new[prefix..].chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(char, _)| char.len_utf8())
        .sum();
    (prefix, old.len() - suffix, new[prefix..new.len() - suffix].to_owned())
}

// --- the project ---------------------------------------------------------------------------------------------------

/// The files the editor opens (and may close, save and reopen), with their first text, which is also on disk.
const EDITABLE: [(&str, &str); 4] = [
    (
        "app/service.py",
        "\"\"\"The service: async handlers that call the project's helpers.\"\"\"\nimport asyncio\n\nfrom app import extra, helpers, storage\nfrom app.util import quick_sum, slow_parse\n\n\nasync def handle(request):\n    text = helpers.load_config(\"settings.toml\")\n    helpers.wait_a_bit()\n    storage.save(request)\n    return slow_parse(text)\n\n\nasync def report(values):\n    total = quick_sum(values)\n    helpers.run_tool(\"lint\")\n    await asyncio.sleep(0)\n    return total, extra.scan(\".\")\n",
    ),
    (
        "app/util.py",
        "\"\"\"Parsing helpers, open in the editor too.\"\"\"\nimport json\nimport time\n\n\ndef slow_parse(text):\n    time.sleep(0.01)\n    return text.strip()\n\n\ndef quick_sum(values):\n    return json.loads(values)\n",
    ),
    (
        "app/tasks.py",
        "\"\"\"Background work: tasks started, and sometimes lost. 🚀\"\"\"\nimport asyncio\n\nLABEL = \"tâche 😀 ✨\"\n\n\nasync def notify(event):\n    await asyncio.sleep(0)\n    return event\n\n\nasync def start(events):\n    asyncio.create_task(notify(events[0]))\n    pending = asyncio.create_task(notify(LABEL))\n    notify(\"lost\")\n    return len(events)\n\n\nasync def main():\n    background = asyncio.create_task(notify(\"😀\"))\n    await start([\"a\"])\n\n\nif __name__ == \"__main__\":\n    asyncio.run(main())\n",
    ),
    (
        "app/fetch.py",
        "\"\"\"Fetching: awaits that could overlap.\"\"\"\nimport asyncio\n\n\nasync def get(name):\n    await asyncio.sleep(0)\n    return name\n\n\nasync def gather_all(names):\n    first = await get(\"a\")\n    second = await get(\"b\")\n    results = []\n    for name in names:\n        results.append(await get(name))\n    return first, second, results\n",
    ),
];

/// What typing inserts, character by character: code, a typo, non-ASCII text.
const TYPED: [&str; 12] = [
    "time.sleep(2)",
    "await ",
    "helpers.wait_a_bit()",
    "asyncio.create_task(notify(1))",
    "  # ünïcödé 😀",
    "x",
    "\n    ",
    "\n    storage.save(None)",
    "return None",
    "\"ß😀✨\"",
    "open(\"data.txt\")",
    "_",
];

/// What a paste inserts at the start of a line: whole statements and definitions, as people copy them, and lines
/// that move the rest without changing what the file does.
const PASTED: [&str; 13] = [
    "\n",
    "# A comment 😀 moves what follows.\n",
    "    time.sleep(1)\n",
    "    helpers.wait_a_bit()\n",
    "    data = open(\"data.txt\").read()\n",
    "    asyncio.create_task(notify(\"pasted\"))\n",
    "    label = \"😀 pasted ✨\"; helpers.load_config(label)\n",
    "\n\nasync def pasted_handler(item):\n    helpers.load_config(item)\n    first = await asyncio.sleep(0, 1)\n    second = await asyncio.sleep(0, 2)\n    return first, second\n",
    "\n\ndef pasted_helper():\n    time.sleep(0.2)\n\n\nasync def uses_pasted_helper():\n    pasted_helper()\n",
    "\n\ndef slow_parse(text):\n    helpers.run_tool(text)\n",
    "from app import helpers, storage\nimport time\n",
    "from app.extra import scan\n\n\nasync def walk(root):\n    scan(root)\n",
    "    results = [await get(n) for n in (\"x\", \"ÿ\")]\n",
];

/// Unclosed brackets, quotes and blocks: each distinct, so that the repair finds the one inserted.
const BREAKS: [&str; 5] = ["oops(", "\"unterminated ", "def broken(:\n", "    if ready\n", "'''dangling "];

/// The files of the project that only change on disk, as shapes that random steps flip.
#[derive(Clone)]
struct DiskShapes {
    /// Comment lines at the top of `helpers.py`: they move the related locations that point into it.
    helper_padding: usize,
    reads: bool,
    sleeps: bool,
    runs: bool,
    /// `helpers.py` saved half written, with a syntax error.
    helper_broken: bool,
    storage_padding: usize,
    storage_waits: bool,
    /// `app/extra.py`: absent, or present with a blocking `scan` (true) or a harmless one.
    extra: Option<bool>,
    config: ConfigShape,
}

#[derive(Clone, Copy)]
struct ConfigShape {
    ignore_sequential_awaits: bool,
    dangling_task_is_error: bool,
    json_loads_blocks: bool,
    fetch_ignores_await_in_loop: bool,
}

impl DiskShapes {
    fn initial() -> DiskShapes {
        DiskShapes {
            helper_padding: 0,
            reads: true,
            sleeps: true,
            runs: true,
            helper_broken: false,
            storage_padding: 0,
            storage_waits: true,
            extra: Some(true),
            config: ConfigShape {
                ignore_sequential_awaits: false,
                dangling_task_is_error: false,
                json_loads_blocks: false,
                fetch_ignores_await_in_loop: false,
            },
        }
    }

    fn helpers(&self) -> String {
        let mut text =
            "\"\"\"Helpers the service calls: some of them block the loop.\"\"\"\nimport subprocess\nimport time\n"
                .to_owned();
        for line in 0..self.helper_padding {
            text += &format!("# padding {line}\n");
        }
        text += "\n\ndef load_config(path):\n";
        text += if self.reads {
            "    with open(path) as handle:\n        return handle.read()\n"
        } else {
            "    return path\n"
        };
        text += "\n\ndef wait_a_bit():\n";
        text += if self.sleeps { "    time.sleep(0.5)\n" } else { "    return 0.5\n" };
        text += "\n\ndef run_tool(name):\n";
        text += if self.runs { "    return subprocess.run([name], check=True)\n" } else { "    return name.upper()\n" };
        text += "\n\ndef compute(values):\n    return sum(values)\n";
        if self.helper_broken {
            text += "\n\ndef half_written(:\n";
        }
        text
    }

    fn storage(&self) -> String {
        let mut text = "\"\"\"Storage: sync code that calls the helpers.\"\"\"\nfrom app import helpers\n".to_owned();
        for line in 0..self.storage_padding {
            text += &format!("# padding {line}\n");
        }
        let call = if self.storage_waits { "helpers.wait_a_bit()" } else { "helpers.compute([1])" };
        text + &format!("\n\ndef save(record):\n    {call}\n    return record\n\n\ndef describe(record):\n    return repr(record)\n")
    }

    fn extra(&self) -> Option<String> {
        let body = if self.extra? { "os.listdir(root)" } else { "os.path.join(root, \"x\")" };
        Some(format!("\"\"\"Created and deleted on disk while the editor runs.\"\"\"\nimport os\n\n\ndef scan(root):\n    return {body}\n"))
    }

    fn pyproject(&self) -> String {
        let config = self.config;
        let mut text = "[project]\nname = \"soak\"\nrequires-python = \">=3.11\"\n\n[tool.asynclint]\n".to_owned();
        if config.ignore_sequential_awaits {
            text += "ignore = [\"AL301\"]\n";
        }
        if config.dangling_task_is_error {
            text += "severity = { AL201 = \"error\" }\n";
        }
        if config.json_loads_blocks {
            text += "extra-blocking-calls = [{ name = \"json.loads\", rule = \"blocking-file-io\", reason = \"parses a file's worth of text\" }]\n";
        }
        if config.fetch_ignores_await_in_loop {
            text += "per-file-ignores = { \"app/fetch.py\" = [\"AL302\"] }\n";
        }
        text
    }
}

/// A file the editor may have open: the client's text and version, its undo history and the syntax breaks it holds.
struct Doc {
    path: &'static str,
    uri: String,
    open: bool,
    text: String,
    version: i64,
    history: Vec<String>,
    breaks: Vec<&'static str>,
}

impl Doc {
    /// Remembers the text before an edit, for undo; a long history forgets its oldest texts.
    fn remember(&mut self) {
        self.history.push(self.text.clone());
        if self.history.len() > 40 {
            self.history.remove(0);
        }
    }
}

/// A finding as both sides can state it: the LSP's 0-based lines and UTF-16 columns, and SARIF's levels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    code: String,
    level: String,
    span: Span,
    message: String,
    related: Vec<(String, Span, String)>,
}

/// ((start line, start column), (end line, end column)), 0-based, columns in UTF-16 code units.
type Span = ((u64, u64), (u64, u64));

// --- the client ----------------------------------------------------------------------------------------------------

/// A request still waiting for its response.
struct Pending {
    method: &'static str,
    /// The document it was for, and that document's version when it was sent (for `codeAction/resolve`: the version
    /// the offer was made for): the server may say "content modified" only once the version has moved on.
    document: Option<(String, i64)>,
    cancelled: bool,
}

/// `asynclint server` over stdio, with what it has published and which requests it still owes an answer.
struct Server {
    child: Child,
    stdin: ChildStdin,
    inbox: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
    next_id: i64,
    pending: HashMap<i64, Pending>,
    responses: HashMap<i64, Value>,
    /// The last diagnostics published per URI, with their version.
    published: HashMap<String, (Value, Vec<Value>)>,
    publishes: usize,
    /// Work-done progress begun and not yet ended (the background index).
    progress: i64,
    last_activity: Instant,
    started: Instant,
    /// Every message sent, every file written on disk, and what the server published and reported as progress, in
    /// order and with the milliseconds since the start: what a failure leaves to replay and to read.
    transcript: Vec<Value>,
    /// The current version of each document the client has open, for judging "content modified" answers.
    versions: HashMap<String, i64>,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_asynclint"))
            .arg("server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, inbox) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(value) = header.strip_prefix("Content-Length: ") {
                        length = Some(value.parse().expect("a numeric Content-Length"));
                    }
                }
                let mut body = vec![0; length.expect("every frame has a Content-Length")];
                reader.read_exact(&mut body).expect("a whole frame");
                let message = serde_json::from_slice(&body).expect("every frame is JSON");
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        // The server reports internal errors (caught panics) on stderr: collected, and any one fails the test.
        let stderr = Arc::new(Mutex::new(String::new()));
        let collected = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(read @ 1..) = pipe.read(&mut buffer) {
                collected.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        Server {
            child,
            stdin,
            inbox,
            stderr,
            next_id: 1,
            pending: HashMap::new(),
            responses: HashMap::new(),
            published: HashMap::new(),
            publishes: 0,
            progress: 0,
            last_activity: Instant::now(),
            started: Instant::now(),
            transcript: Vec::new(),
            versions: HashMap::new(),
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("the server reads its input");
        self.stdin.flush().expect("the server reads its input");
        self.transcript.push(json!({ "at_ms": self.started.elapsed().as_millis(), "send": message }));
        self.last_activity = Instant::now();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its id; `document` says which version of which document it is for, if any (see
    /// [`Pending`]).
    fn request(&mut self, method: &'static str, params: Value, document: Option<(&str, i64)>) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let document = document.map(|(uri, version)| (uri.to_owned(), version));
        self.pending.insert(id, Pending { method, document, cancelled: false });
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    fn cancel(&mut self, id: i64) {
        if let Some(pending) = self.pending.get_mut(&id) {
            pending.cancelled = true;
        }
        self.notify("$/cancelRequest", json!({ "id": id }));
    }

    /// Sends `didChange` for a document, with its new version, and notes that version.
    fn change(&mut self, doc: &Doc, changes: Vec<Value>) {
        self.versions.insert(doc.uri.clone(), doc.version);
        let params = json!({"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": changes});
        self.notify("textDocument/didChange", params);
    }

    /// Handles one message from the server, if one comes within `timeout`; false if none came.
    fn receive(&mut self, timeout: Duration) -> bool {
        let message = match self.inbox.recv_timeout(timeout) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output: {:?}", self.child.try_wait()),
        };
        self.last_activity = Instant::now();
        match (message.get("id"), message["method"].as_str()) {
            // The server's own requests (progress tokens), answered as an editor would.
            (Some(id), Some(_)) => {
                let id = id.clone();
                self.send(json!({"jsonrpc": "2.0", "id": id, "result": null}));
            }
            (Some(id), None) => self.take_response(id.as_i64().expect("our ids are numbers"), message),
            (None, Some("textDocument/publishDiagnostics")) => {
                let params = &message["params"];
                let uri = params["uri"].as_str().unwrap().to_owned();
                let diagnostics = params["diagnostics"].as_array().unwrap().clone();
                let codes: Vec<&Value> = diagnostics.iter().map(|diagnostic| &diagnostic["code"]).collect();
                let at = self.started.elapsed().as_millis();
                let published = json!({"uri": uri, "version": params["version"], "codes": codes});
                self.transcript.push(json!({ "at_ms": at, "published": published }));
                self.published.insert(uri, (params["version"].clone(), diagnostics));
                self.publishes += 1;
            }
            (None, Some("$/progress")) => {
                let kind = message["params"]["value"]["kind"].as_str();
                self.transcript.push(json!({ "at_ms": self.started.elapsed().as_millis(), "progress": kind }));
                match kind {
                    Some("begin") => self.progress += 1,
                    Some("end") => self.progress -= 1,
                    _ => {}
                }
            }
            (None, Some("window/showMessage")) => {
                // Every config this test writes is valid, so the server has nothing to complain about.
                assert_ne!(message["params"]["type"], 1, "the server shows an error: {message}");
            }
            _ => {}
        }
        true
    }

    /// Checks an answer: an error is allowed only as "request cancelled" for a request we cancelled, or "content
    /// modified" for a code action whose document has changed since.
    fn take_response(&mut self, id: i64, response: Value) {
        let pending = self.pending.remove(&id).unwrap_or_else(|| panic!("an answer to no request: {response}"));
        if let Some(code) = response["error"]["code"].as_i64() {
            let moved_on =
                pending.document.as_ref().is_some_and(|(uri, version)| self.versions.get(uri) != Some(version));
            let expected = match code {
                REQUEST_CANCELLED => pending.cancelled,
                CONTENT_MODIFIED => {
                    matches!(pending.method, "textDocument/codeAction" | "codeAction/resolve") && moved_on
                }
                _ => false,
            };
            assert!(
                expected,
                "unexpected error answering {} (cancelled: {}, document moved on: {moved_on}): {response}",
                pending.method, pending.cancelled
            );
        }
        self.responses.insert(id, response);
    }

    /// Handles whatever has arrived, without waiting.
    fn drain(&mut self) {
        while self.receive(Duration::ZERO) {}
    }

    /// Waits for the answer to request `id`.
    fn response(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(response) = self.responses.remove(&id) {
                return response;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no answer to request {id} within {WAIT:?}");
            self.receive(left);
        }
    }

    /// Waits until every request is answered, every open document has diagnostics for its newest version, no
    /// indexing is in progress, and nothing has been sent or received for [`SETTLE`].
    fn settle(&mut self, open: &[(&str, i64)]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let current = open.iter().all(|(uri, version)| {
                self.published.get(*uri).is_some_and(|(published, _)| published == &json!(version))
            });
            let ready = current && self.pending.is_empty() && self.progress == 0;
            let quiet = self.last_activity.elapsed();
            if ready && quiet >= SETTLE {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no quiet point within {WAIT:?}: requests pending {:?}, progress {}, open {open:?}, published {:?}",
                self.pending.keys().collect::<Vec<_>>(),
                self.progress,
                self.published.iter().map(|(uri, (version, _))| (uri, version)).collect::<Vec<_>>()
            );
            self.receive(if ready { SETTLE - quiet } else { Duration::from_millis(100) });
        }
    }

    /// Fails if the server has exited or reported an internal error.
    fn assert_up(&mut self) {
        assert!(self.child.try_wait().unwrap().is_none(), "the server exited: {:?}", self.child.try_wait());
        let stderr = self.stderr.lock().unwrap().clone();
        assert!(!stderr.contains("internal error") && !stderr.contains("panicked"), "the server reports: {stderr}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// --- the session ---------------------------------------------------------------------------------------------------

struct Soak {
    seed: u64,
    steps: usize,
    step: usize,
    /// Chooses every step, drawing the same numbers whatever the server answers, so that a seed replays the same
    /// steps (though an applied code action may have left other texts to apply them to).
    rng: Rng,
    /// Chooses among what the server offered: which finding to ask code actions for, which action to apply.
    reactions: Rng,
    server: Server,
    /// Held for its lifetime: the project is deleted when the session ends.
    _project: tempfile::TempDir,
    /// The canonical project directory, as the server names its files.
    root: PathBuf,
    docs: Vec<Doc>,
    disk: DiskShapes,
    /// The editable files' texts on disk (their first texts, then what was saved).
    saved: BTreeMap<&'static str, String>,
    /// What each step did, for the failure report.
    log: Vec<String>,
    /// A fix-all offered earlier, to resolve after the document has moved on.
    offered: Option<Value>,
    quiet_points: usize,
}

impl Soak {
    fn start(seed: u64, steps: usize) -> Soak {
        let project = tempfile::tempdir().unwrap();
        let root = project.path().canonicalize().unwrap();
        let disk = DiskShapes::initial();
        let saved: BTreeMap<&'static str, String> =
            EDITABLE.iter().map(|(path, text)| (*path, (*text).to_owned())).collect();
        let uri_of = |path: &str| format!("file://{}/{path}", root.display());
        let docs = EDITABLE
            .iter()
            .map(|(path, text)| Doc {
                path,
                uri: uri_of(path),
                open: false,
                text: (*text).to_owned(),
                version: 0,
                history: Vec::new(),
                breaks: Vec::new(),
            })
            .collect();
        let mut soak = Soak {
            seed,
            steps,
            step: 0,
            rng: Rng::new(seed),
            reactions: Rng::new(!seed),
            server: Server::start(),
            _project: project,
            root,
            docs,
            disk,
            saved,
            log: Vec::new(),
            offered: None,
            quiet_points: 0,
        };
        for (path, text) in soak.disk_files() {
            soak.write_file(&path, Some(&text));
        }
        let root_uri = format!("file://{}", soak.root.display());
        let initialize = json!({
            "processId": null,
            "rootUri": root_uri,
            "workspaceFolders": [{"uri": root_uri, "name": "soak"}],
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "window": {"workDoneProgress": true},
                "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": false}},
                "textDocument": {
                    "publishDiagnostics": {"relatedInformation": true, "versionSupport": true},
                    "codeAction": {
                        "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix", "source.fixAll"]}},
                        "resolveSupport": {"properties": ["edit"]},
                    },
                },
            },
        });
        let id = soak.server.request("initialize", initialize, None);
        let result = soak.server.response(id);
        assert_eq!(result["result"]["capabilities"]["positionEncoding"], "utf-16", "{result}");
        soak.server.notify("initialized", json!({}));
        for index in 0..soak.docs.len() {
            soak.open(index);
        }
        soak
    }

    /// Every file on disk: the ones only changed on disk, and the editable files as last saved.
    fn disk_files(&self) -> BTreeMap<String, String> {
        let mut files = BTreeMap::from([
            ("pyproject.toml".to_owned(), self.disk.pyproject()),
            ("app/__init__.py".to_owned(), String::new()),
            ("app/helpers.py".to_owned(), self.disk.helpers()),
            ("app/storage.py".to_owned(), self.disk.storage()),
        ]);
        if let Some(extra) = self.disk.extra() {
            files.insert("app/extra.py".to_owned(), extra);
        }
        files.extend(self.saved.iter().map(|(path, text)| ((*path).to_owned(), text.clone())));
        files
    }

    /// Writes (or, with None, deletes) a project file, and notes it in the transcript.
    fn write_file(&mut self, path: &str, text: Option<&str>) {
        let file = self.root.join(path);
        match text {
            Some(text) => {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, text).unwrap();
            }
            None => std::fs::remove_file(&file).unwrap(),
        }
        let at = self.server.started.elapsed().as_millis();
        self.server.transcript.push(json!({"at_ms": at, "disk": {"path": path, "text": text}}));
    }

    fn note(&mut self, what: String) {
        self.log.push(format!("step {}: {what}", self.step));
    }

    fn open(&mut self, index: usize) {
        let doc = &mut self.docs[index];
        doc.open = true;
        doc.version += 1;
        doc.history.clear();
        doc.breaks.clear();
        self.server.versions.insert(doc.uri.clone(), doc.version);
        let item = json!({"uri": doc.uri, "languageId": "python", "version": doc.version, "text": doc.text});
        self.server.notify("textDocument/didOpen", json!({ "textDocument": item }));
    }

    fn steps_until_quiet(&mut self) -> usize {
        let (fewest, most) = (*STEPS_BETWEEN_QUIET_POINTS.start(), *STEPS_BETWEEN_QUIET_POINTS.end());
        fewest + self.rng.below(most - fewest + 1)
    }

    fn random_step(&mut self) {
        let roll = self.rng.below(100);
        match roll {
            0..=23 => self.with_open_doc(Soak::type_text),
            24..=33 => self.with_open_doc(Soak::paste),
            34..=39 => self.with_open_doc(Soak::delete),
            40..=47 => self.with_open_doc(Soak::undo),
            48..=51 => self.with_open_doc(Soak::break_syntax),
            52..=56 => self.with_open_doc(Soak::repair_syntax),
            57..=60 => self.with_open_doc(Soak::check_out),
            61..=69 => self.change_disk(),
            70..=73 => self.change_config(),
            74..=87 => self.with_open_doc(Soak::code_action),
            88..=89 => self.resolve_stale_offer(),
            90..=92 => self.with_open_doc(Soak::save),
            93..=95 => self.close_or_reopen(),
            _ => {
                // A pause long enough for the server to take the edits into its project index mid-session.
                self.note("pause".to_owned());
                std::thread::sleep(Duration::from_millis(350));
            }
        }
    }

    /// Runs an editing step on a random open document.
    fn with_open_doc(&mut self, edit: fn(&mut Soak, usize)) {
        let open: Vec<usize> = (0..self.docs.len()).filter(|&index| self.docs[index].open).collect();
        let index = *self.rng.pick(&open);
        edit(self, index);
    }

    /// Applies an edit to a document's text and sends it as one incremental change.
    fn edit(&mut self, index: usize, start: usize, end: usize, new_text: &str) {
        let doc = &mut self.docs[index];
        let change = json!({"range": range(&doc.text, start, end), "text": new_text});
        doc.text.replace_range(start..end, new_text);
        doc.version += 1;
        self.server.change(&self.docs[index], vec![change]);
    }

    /// Types a word character by character, one `didChange` per keystroke, sometimes with a typo put right.
    fn type_text(&mut self, index: usize) {
        let word = *self.rng.pick(&TYPED);
        let mut at = random_offset(&self.docs[index].text, &mut self.rng);
        self.note(format!("type {word:?} in {} at {}", self.docs[index].path, position(&self.docs[index].text, at)));
        self.docs[index].remember();
        let pace = self.rng.chance(30).then(|| Duration::from_millis(5 + self.rng.below(20) as u64));
        for char in word.chars() {
            if self.rng.chance(5) {
                self.edit(index, at, at, "q");
                self.edit(index, at, at + 1, "");
            }
            self.edit(index, at, at, char.encode_utf8(&mut [0; 4]));
            at += char.len_utf8();
            if let Some(pace) = pace {
                std::thread::sleep(pace);
                self.server.drain();
            }
        }
    }

    fn paste(&mut self, index: usize) {
        let block = *self.rng.pick(&PASTED);
        let at = random_line_start(&self.docs[index].text, &mut self.rng);
        self.note(format!("paste {block:?} in {} at {}", self.docs[index].path, position(&self.docs[index].text, at)));
        self.docs[index].remember();
        self.edit(index, at, at, block);
    }

    /// Deletes a few characters, a run of them, or the whole line (as cutting a line does).
    fn delete(&mut self, index: usize) {
        let text = &self.docs[index].text;
        let (start, end) = if self.rng.chance(30) {
            let start = random_line_start(text, &mut self.rng);
            (start, text[start..].find('\n').map_or(text.len(), |newline| start + newline + 1))
        } else {
            let start = random_offset(text, &mut self.rng);
            let length = if self.rng.chance(70) { 1 + self.rng.below(8) } else { 1 + self.rng.below(40) };
            (start, text[start..].char_indices().nth(length).map_or(text.len(), |(offset, _)| start + offset))
        };
        let what = format!("delete {:?} in {}", &text[start..end], self.docs[index].path);
        self.note(what);
        self.docs[index].remember();
        self.edit(index, start, end, "");
    }

    /// Goes back to the text before an earlier edit, as the editor's undo does: the whole text, or the one span that
    /// differs.
    fn undo(&mut self, index: usize) {
        let whole = self.rng.chance(30);
        let Some(previous) = self.docs[index].history.pop() else { return };
        self.note(format!("undo in {} ({})", self.docs[index].path, if whole { "whole text" } else { "incremental" }));
        if whole {
            let doc = &mut self.docs[index];
            doc.text = previous;
            doc.version += 1;
            let change = json!({ "text": doc.text });
            self.server.change(&self.docs[index], vec![change]);
        } else {
            let (start, end, new_text) = difference(&self.docs[index].text, &previous);
            self.edit(index, start, end, &new_text);
        }
    }

    fn break_syntax(&mut self, index: usize) {
        let breaking = *self.rng.pick(&BREAKS);
        let text = &self.docs[index].text;
        let at = if breaking.ends_with('\n') {
            random_line_start(text, &mut self.rng)
        } else {
            random_offset(text, &mut self.rng)
        };
        self.note(format!("break {} with {breaking:?} at {}", self.docs[index].path, position(text, at)));
        self.docs[index].remember();
        self.docs[index].breaks.push(breaking);
        self.edit(index, at, at, breaking);
    }

    /// Takes out a syntax break inserted earlier, if later edits left it whole.
    fn repair_syntax(&mut self, index: usize) {
        let Some(breaking) = self.docs[index].breaks.pop() else { return };
        let Some(at) = self.docs[index].text.find(breaking) else { return };
        self.note(format!("repair {breaking:?} in {}", self.docs[index].path));
        self.docs[index].remember();
        self.edit(index, at, at + breaking.len(), "");
    }

    /// Puts a file back to its first text, on disk and in the editor, as `git checkout` and the editor's reload do:
    /// the editor replaces the whole text, and its file watcher reports the change on disk.
    fn check_out(&mut self, index: usize) {
        let (path, first) = EDITABLE[index];
        self.note(format!("check out {path}"));
        self.write_file(path, Some(first));
        self.saved.insert(path, first.to_owned());
        self.watched(&[(path.to_owned(), 2)]);
        let doc = &mut self.docs[index];
        doc.remember();
        doc.breaks.clear();
        doc.text = first.to_owned();
        doc.version += 1;
        self.server.change(&self.docs[index], vec![json!({ "text": first })]);
    }

    /// Writes an editable file's text to disk, as saving does; the editor's file watcher reports it.
    fn save(&mut self, index: usize) {
        let (path, text) = (self.docs[index].path, self.docs[index].text.clone());
        self.note(format!("save {path}"));
        self.write_file(path, Some(&text));
        self.saved.insert(path, text);
        self.watched(&[(path.to_owned(), 2)]);
    }

    /// Reopens a closed document with its text on disk, or closes an open one (discarding unsaved edits, so the
    /// server goes back to the file on disk). At least two stay open.
    fn close_or_reopen(&mut self) {
        let closed: Vec<usize> = (0..self.docs.len()).filter(|&index| !self.docs[index].open).collect();
        let reopen = !closed.is_empty() && self.rng.chance(70);
        let index = if reopen { *self.rng.pick(&closed) } else { self.rng.below(self.docs.len()) };
        let open = self.docs.len() - closed.len();
        let path = self.docs[index].path;
        if !self.docs[index].open {
            self.note(format!("reopen {path}"));
            self.docs[index].text = self.saved[path].clone();
            self.open(index);
        } else if open > 2 {
            self.note(format!("close {path}"));
            let doc = &mut self.docs[index];
            doc.open = false;
            self.server.versions.remove(&doc.uri);
            let uri = doc.uri.clone();
            self.server.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
        }
    }

    /// Sends `workspace/didChangeWatchedFiles` for project files: (path, 1 created | 2 changed | 3 deleted).
    fn watched(&mut self, changes: &[(String, u8)]) {
        let changes: Vec<Value> = changes
            .iter()
            .map(|(path, kind)| json!({"uri": format!("file://{}/{path}", self.root.display()), "type": kind}))
            .collect();
        self.server.notify("workspace/didChangeWatchedFiles", json!({ "changes": changes }));
    }

    /// Changes one or two files that are not open, on disk (as a `git checkout` or another tool would), and reports
    /// them in one notification.
    fn change_disk(&mut self) {
        let count = if self.rng.chance(25) { 2 } else { 1 };
        let before = self.disk_files();
        for _ in 0..count {
            let shapes = &mut self.disk;
            let what = match self.rng.below(9) {
                0 => {
                    shapes.reads = !shapes.reads;
                    "helpers.load_config reads or not"
                }
                1 => {
                    shapes.sleeps = !shapes.sleeps;
                    "helpers.wait_a_bit sleeps or not"
                }
                2 => {
                    shapes.runs = !shapes.runs;
                    "helpers.run_tool runs a process or not"
                }
                3 | 4 => {
                    shapes.helper_padding = self.rng.below(6);
                    "helpers.py lines above the helpers"
                }
                5 => {
                    shapes.helper_broken = !shapes.helper_broken;
                    "helpers.py half written or not"
                }
                6 => {
                    shapes.storage_waits = !shapes.storage_waits;
                    shapes.storage_padding = self.rng.below(4);
                    "storage.save waits or not"
                }
                _ => {
                    shapes.extra = match shapes.extra {
                        None => Some(self.rng.chance(50)),
                        Some(blocks) if self.rng.chance(50) => Some(!blocks),
                        Some(_) => None,
                    };
                    "extra.py created, changed or deleted"
                }
            };
            self.note(format!("on disk: {what}"));
        }
        let after = self.disk_files();
        let mut changes = Vec::new();
        for path in after.keys().chain(before.keys().filter(|path| !after.contains_key(*path))) {
            let (old, new) = (before.get(path), after.get(path));
            if old == new {
                continue;
            }
            self.write_file(path, new.map(String::as_str));
            let kind = match (old, new) {
                (None, _) => 1,
                (_, None) => 3,
                _ => 2,
            };
            changes.push((path.clone(), kind));
        }
        if !changes.is_empty() {
            self.watched(&changes);
        }
    }

    fn change_config(&mut self) {
        let config = &mut self.disk.config;
        let what = match self.rng.below(4) {
            0 => {
                config.ignore_sequential_awaits = !config.ignore_sequential_awaits;
                "ignore AL301"
            }
            1 => {
                config.dangling_task_is_error = !config.dangling_task_is_error;
                "AL201 severity"
            }
            2 => {
                config.json_loads_blocks = !config.json_loads_blocks;
                "json.loads as an extra blocking call"
            }
            _ => {
                config.fetch_ignores_await_in_loop = !config.fetch_ignores_await_in_loop;
                "per-file-ignores of AL302 in fetch.py"
            }
        };
        self.note(format!("config: toggle {what}"));
        let text = self.disk.pyproject();
        self.write_file("pyproject.toml", Some(&text));
        self.watched(&[("pyproject.toml".to_owned(), 2)]);
    }

    /// Asks for code actions at a finding, at the cursor or for the whole file, with or without `only`; then leaves
    /// the answer for later, cancels the request at once, or waits for it and applies one action (resolving fix-all
    /// first when it comes without its edit).
    fn code_action(&mut self, index: usize) {
        let (uri, version, text) = (self.docs[index].uri.clone(), self.docs[index].version, &self.docs[index].text);
        let published: Vec<Value> = match self.server.published.get(&uri) {
            Some((at, diagnostics)) if at == &json!(version) => diagnostics.clone(),
            _ => Vec::new(),
        };
        let at = random_offset(text, &mut self.rng);
        let requested = match self.rng.below(3) {
            0 if !published.is_empty() => self.reactions.pick(&published)["range"].clone(),
            0 | 1 => range(text, at, at),
            _ => range(text, 0, text.len()),
        };
        let only = match self.rng.below(6) {
            0 => Some(json!(["quickfix"])),
            1 => Some(json!(["source.fixAll.asynclint"])),
            2 => Some(json!(["source"])),
            _ => None,
        };
        let mut context = json!({ "diagnostics": published });
        if let Some(only) = &only {
            context["only"] = only.clone();
        }
        let params = json!({"textDocument": {"uri": uri}, "range": requested, "context": context});
        let mode = self.rng.below(3);
        let how = ["left for later", "cancelled", "applied"][mode];
        self.note(format!("code action in {} at {requested} only {only:?}, {how}", self.docs[index].path));
        let id = self.server.request("textDocument/codeAction", params, Some((&uri, version)));
        match mode {
            0 => {}
            1 => self.server.cancel(id),
            _ => {
                let response = self.server.response(id);
                let actions = response["result"].as_array().cloned().unwrap_or_default();
                if !actions.is_empty() {
                    let action = self.reactions.pick(&actions).clone();
                    self.apply_action(index, action);
                }
            }
        }
    }

    /// Applies a code action's edit to the document, as the editor does when one is chosen; a fix-all offered without
    /// its edit is resolved first (and kept, to resolve again once it is stale).
    fn apply_action(&mut self, index: usize, mut action: Value) {
        let (uri, version) = (self.docs[index].uri.clone(), self.docs[index].version);
        if action.get("edit").is_none() && action.get("data").is_some() {
            self.offered = Some(action.clone());
            let id = self.server.request("codeAction/resolve", action, Some((&uri, version)));
            action = self.server.response(id)["result"].clone();
        }
        let Some(edits) = action["edit"]["changes"][&uri].as_array().filter(|edits| !edits.is_empty()) else { return };
        self.note(format!("apply {:?}", action["title"]));
        // Edits of one action do not overlap: applied from the last one back, each one's range stays valid.
        let text = &self.docs[index].text;
        let mut spans: Vec<(usize, usize, String)> = edits
            .iter()
            .map(|edit| {
                let (start, end) = (offset(text, &edit["range"]["start"]), offset(text, &edit["range"]["end"]));
                (start, end, edit["newText"].as_str().unwrap().to_owned())
            })
            .collect();
        spans.sort_by_key(|span| std::cmp::Reverse(span.0));
        let doc = &mut self.docs[index];
        doc.remember();
        let mut changes = Vec::new();
        for (start, end, new_text) in spans {
            changes.push(json!({"range": range(&doc.text, start, end), "text": new_text}));
            doc.text.replace_range(start..end, &new_text);
        }
        doc.version += 1;
        self.server.change(&self.docs[index], changes);
    }

    /// Resolves a fix-all offered for an earlier version: the server must say "content modified", or give the edit if
    /// the document has not changed since.
    fn resolve_stale_offer(&mut self) {
        let Some(offered) = self.offered.clone() else { return };
        let uri = offered["data"]["uri"].as_str().unwrap().to_owned();
        let version = offered["data"]["version"].as_i64().unwrap();
        self.note(format!("resolve the fix-all offered for version {version} of {uri}"));
        self.server.request("codeAction/resolve", offered, Some((&uri, version)));
    }

    /// Waits for the server to settle, then compares what it published for each open document with `asynclint check`
    /// of the same texts; while they differ and the server keeps publishing, waits for more, up to [`CONVERGE`].
    fn quiet_point(&mut self) {
        self.quiet_points += 1;
        let open: Vec<(String, i64)> =
            self.docs.iter().filter(|doc| doc.open).map(|doc| (doc.uri.clone(), doc.version)).collect();
        let open: Vec<(&str, i64)> = open.iter().map(|(uri, version)| (uri.as_str(), *version)).collect();
        let expected = self.check();
        let deadline = Instant::now() + CONVERGE;
        let mut late = 0;
        loop {
            self.server.settle(&open);
            let published = self.published();
            if published == expected {
                break;
            }
            late += 1;
            let publishes = self.server.publishes;
            while self.server.publishes == publishes {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "{}", self.mismatch(&expected, &published));
                self.server.receive(left);
            }
        }
        let findings: usize = expected.values().map(Vec::len).sum();
        let late =
            if late > 0 { format!(", right only after {late} more round(s) of publishing") } else { String::new() };
        eprintln!("lsp_soak: step {}: {findings} findings in {} open files agree{late}", self.step, open.len());
        // The server clears what it published for a document when it is closed, and publishes nothing for it after.
        for doc in self.docs.iter().filter(|doc| !doc.open) {
            if let Some((_, diagnostics)) = self.server.published.get(&doc.uri) {
                assert!(diagnostics.is_empty(), "diagnostics remain for closed {}: {diagnostics:?}", doc.path);
            }
        }
        self.server.assert_up();
        // Answers nobody waits for (to requests left for later or cancelled) were checked as they came.
        self.server.responses.clear();
    }

    /// The findings the server last published for each open document.
    fn published(&self) -> BTreeMap<String, Vec<Finding>> {
        let prefix = format!("file://{}/", self.root.display());
        let span = |range: &Value| {
            let at = |position: &Value| (position["line"].as_u64().unwrap(), position["character"].as_u64().unwrap());
            (at(&range["start"]), at(&range["end"]))
        };
        let mut findings = BTreeMap::new();
        for doc in self.docs.iter().filter(|doc| doc.open) {
            let diagnostics = self.server.published.get(&doc.uri).map(|(_, list)| list.clone()).unwrap_or_default();
            let mut list: Vec<Finding> = diagnostics
                .iter()
                .map(|diagnostic| Finding {
                    code: diagnostic["code"].as_str().unwrap().to_owned(),
                    // SARIF has three levels to the LSP's four severities: information and hint are both a note.
                    level: match diagnostic["severity"].as_u64() {
                        Some(1) => "error",
                        Some(2) => "warning",
                        _ => "note",
                    }
                    .to_owned(),
                    span: span(&diagnostic["range"]),
                    message: diagnostic["message"].as_str().unwrap().to_owned(),
                    related: diagnostic["relatedInformation"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|related| {
                            let uri = related["location"]["uri"].as_str().unwrap();
                            let file = uri.strip_prefix(&prefix).unwrap_or(uri).to_owned();
                            (file, span(&related["location"]["range"]), related["message"].as_str().unwrap().to_owned())
                        })
                        .collect(),
                })
                .collect();
            list.sort();
            findings.insert(doc.path.to_owned(), list);
        }
        findings
    }

    /// What `asynclint check` finds in the open documents, run on a copy of the project with their current texts.
    /// SARIF, not JSON: ruff's JSON shape has no related locations, and SARIF counts columns in UTF-16 code units
    /// as this client does (JSON counts characters).
    fn check(&mut self) -> BTreeMap<String, Vec<Finding>> {
        let copy = tempfile::tempdir().unwrap();
        let mut files = self.disk_files();
        files.extend(self.docs.iter().filter(|doc| doc.open).map(|doc| (doc.path.to_owned(), doc.text.clone())));
        for (path, text) in &files {
            let file = copy.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        let output = Command::new(env!("CARGO_BIN_EXE_asynclint"))
            .args(["check", "--no-cache", "--output-format", "sarif", "."])
            .current_dir(copy.path())
            .output()
            .expect("asynclint check runs");
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "asynclint check failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let sarif: Value = serde_json::from_slice(&output.stdout).expect("SARIF output");
        let region = |region: &Value| {
            let number = |key: &str| region[key].as_u64().unwrap() - 1;
            ((number("startLine"), number("startColumn")), (number("endLine"), number("endColumn")))
        };
        let mut findings: BTreeMap<String, Vec<Finding>> =
            self.docs.iter().filter(|doc| doc.open).map(|doc| (doc.path.to_owned(), Vec::new())).collect();
        for result in sarif["runs"][0]["results"].as_array().unwrap() {
            let location = &result["locations"][0]["physicalLocation"];
            let Some(list) = findings.get_mut(location["artifactLocation"]["uri"].as_str().unwrap()) else { continue };
            list.push(Finding {
                code: result["ruleId"].as_str().unwrap().to_owned(),
                level: result["level"].as_str().unwrap().to_owned(),
                span: region(&location["region"]),
                message: result["message"]["text"].as_str().unwrap().to_owned(),
                related: result["relatedLocations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|related| {
                        let location = &related["physicalLocation"];
                        let file = location["artifactLocation"]["uri"].as_str().unwrap().to_owned();
                        (file, region(&location["region"]), related["message"]["text"].as_str().unwrap().to_owned())
                    })
                    .collect(),
            });
        }
        for list in findings.values_mut() {
            list.sort();
        }
        findings
    }

    /// Says how the published findings differ from `asynclint check`'s, file by file, with the texts checked.
    fn mismatch(
        &self,
        expected: &BTreeMap<String, Vec<Finding>>,
        published: &BTreeMap<String, Vec<Finding>>,
    ) -> String {
        let mut report = format!("published diagnostics differ from `asynclint check` at step {}:\n", self.step);
        for (path, wanted) in expected {
            let got = &published[path];
            if wanted == got {
                continue;
            }
            let doc = self.docs.iter().find(|doc| doc.path == path).unwrap();
            let version = &self.server.published.get(&doc.uri).map(|(version, _)| version.clone());
            report += &format!("--- {path} (client version {}, published version {version:?})\n", doc.version);
            for finding in wanted.iter().filter(|finding| !got.contains(finding)) {
                report += &format!("  only check reports: {finding:?}\n");
            }
            for finding in got.iter().filter(|finding| !wanted.contains(finding)) {
                report += &format!("  only the server publishes: {finding:?}\n");
            }
            report += &numbered(&doc.text);
        }
        report
    }

    fn shut_down(&mut self) {
        let id = self.server.request("shutdown", Value::Null, None);
        let response = self.server.response(id);
        assert!(response.get("error").is_none(), "shutdown failed: {response}");
        self.server.notify("exit", Value::Null);
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.server.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not exit after `exit`");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "the server exited with {status}");
    }
}

fn numbered(text: &str) -> String {
    text.split('\n').enumerate().map(|(line, content)| format!("  {line:>4} | {content}\n")).collect()
}

impl Drop for Soak {
    /// On failure: how to replay the session, what led to it, what the server said on stderr, and every message sent
    /// (with the disk writes in between), written to a file.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let transcript = std::env::temp_dir().join(format!("asynclint-soak-{}.jsonl", self.seed));
        let lines: String = self.server.transcript.iter().map(|entry| format!("{entry}\n")).collect();
        let written = std::fs::write(&transcript, lines).is_ok();
        let recent = self.log.len().saturating_sub(25);
        eprintln!(
            "lsp_soak failed at step {} of {} with seed {}: replay with ASYNCLINT_SOAK_SEED={} ASYNCLINT_SOAK_STEPS={} \
             cargo test --test lsp_soak (timing may differ)\nlast steps:\n  {}\nserver stderr:\n{}\ntranscript: {}",
            self.step,
            self.steps,
            self.seed,
            self.seed,
            self.step,
            self.log[recent..].join("\n  "),
            self.server.stderr.lock().unwrap(),
            if written { transcript.display().to_string() } else { "not written".to_owned() },
        );
    }
}

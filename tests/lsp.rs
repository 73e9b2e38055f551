//! In-process protocol tests of the language server: the service is driven with `tower::ServiceExt` while a task
//! drains the client socket (answering the server's requests), as a real editor would.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use asynclint::core::document::Document;
use asynclint::core::positions::{offset_at, Encoding};
use serde_json::{json, Value};
use support::project;
use tower::{Service, ServiceExt};
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::LspService;

const WAIT: Duration = Duration::from_secs(30);

struct TestClient {
    service: LspService<asynclint::lsp::Backend>,
    inbox: tokio::sync::mpsc::UnboundedReceiver<Value>,
    next_id: i64,
    encoding: Encoding,
    /// The server's capabilities, from its answer to `initialize`.
    capabilities: Value,
    /// The methods of the messages the server sent before `initialized`.
    early: Vec<String>,
    /// Every message read from the server since.
    seen: Vec<Value>,
}

impl TestClient {
    /// A client of `service` that has not initialized it.
    fn new(
        service: LspService<asynclint::lsp::Backend>,
        inbox: tokio::sync::mpsc::UnboundedReceiver<Value>,
        encoding: Encoding,
    ) -> TestClient {
        TestClient {
            service,
            inbox,
            next_id: 1,
            encoding,
            capabilities: Value::Null,
            early: Vec::new(),
            seen: Vec::new(),
        }
    }

    async fn start(root: &Path, utf8: bool, options: Value) -> TestClient {
        TestClient::start_with(root, utf8, options, json!({})).await
    }

    /// Starts a client whose `textDocument` capabilities are `text_document`.
    async fn start_with(root: &Path, utf8: bool, options: Value, text_document: Value) -> TestClient {
        TestClient::start_capable(root, utf8, options, json!({ "textDocument": text_document })).await
    }

    /// Starts a client with the capabilities in `capabilities` (`textDocument`, `workspace`) besides the encodings and
    /// progress.
    async fn start_capable(root: &Path, utf8: bool, options: Value, capabilities: Value) -> TestClient {
        let (service, socket) = asynclint::lsp::service();
        let inbox = support::drain(socket);
        let encoding = if utf8 { Encoding::Utf8 } else { Encoding::Utf16 };
        let mut client = TestClient::new(service, inbox, encoding);
        let encodings = if utf8 { json!(["utf-8", "utf-16"]) } else { json!(["utf-16"]) };
        let uri = file_uri(root);
        let result = client
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": uri,
                    "workspaceFolders": [{"uri": uri, "name": "project"}],
                    "capabilities": {
                        "general": {"positionEncodings": encodings},
                        "window": {"workDoneProgress": true},
                        "textDocument": capabilities.get("textDocument").cloned().unwrap_or(json!({})),
                        "workspace": capabilities.get("workspace").cloned().unwrap_or(json!({})),
                    },
                    "initializationOptions": options,
                }),
            )
            .await;
        let expected = if utf8 { "utf-8" } else { "utf-16" };
        assert_eq!(result["capabilities"]["positionEncoding"], expected);
        client.capabilities = result["capabilities"].clone();
        // A request the server sent while initializing has been answered (and forwarded) before its answer came.
        while let Ok(message) = client.inbox.try_recv() {
            client.early.push(message["method"].as_str().unwrap_or_default().to_owned());
        }
        client.notify("initialized", json!({})).await;
        client.wait_for(|message| message["params"]["value"]["kind"] == "end").await;
        client
    }

    async fn call(&mut self, request: Request) -> Option<Response> {
        self.service.ready().await.unwrap().call(request).await.unwrap()
    }

    async fn request(&mut self, method: &'static str, params: Value) -> Value {
        let json = self.response(method, params).await;
        assert!(json.get("error").is_none(), "{method} failed: {json}");
        json["result"].clone()
    }

    /// The whole response to a request, error or result.
    async fn response(&mut self, method: &'static str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let response = self.call(Request::build(method).params(params).id(id).finish()).await.unwrap();
        serde_json::to_value(response).unwrap()
    }

    async fn notify(&mut self, method: &'static str, params: Value) {
        assert!(self.call(Request::build(method).params(params).finish()).await.is_none());
    }

    /// Sends one `didChange` with a single content change.
    async fn change(&mut self, uri: &str, version: i64, change: &Value) {
        let params = json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]});
        self.notify("textDocument/didChange", params).await;
    }

    async fn wait_for(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.inbox.recv())
                .await
                .expect("the server answers in time")
                .expect("the server is running");
            self.seen.push(message.clone());
            if wanted(&message) {
                return message;
            }
        }
    }

    /// The next diagnostics published for `uri`: (version, diagnostics).
    async fn diagnostics(&mut self, uri: &str) -> (Value, Vec<Value>) {
        let message = self
            .wait_for(|message| {
                message["method"] == "textDocument/publishDiagnostics" && message["params"]["uri"] == uri
            })
            .await;
        let list = message["params"]["diagnostics"].as_array().unwrap().clone();
        (message["params"]["version"].clone(), list)
    }

    /// The next diagnostics published for any document: ((uri, version), diagnostics).
    async fn next_publish(&mut self) -> ((String, Value), Vec<Value>) {
        let message = self.wait_for(|message| message["method"] == "textDocument/publishDiagnostics").await;
        let uri = message["params"]["uri"].as_str().unwrap().to_owned();
        let list = message["params"]["diagnostics"].as_array().unwrap().clone();
        ((uri, message["params"]["version"].clone()), list)
    }

    async fn open(&mut self, uri: &str, text: &str) {
        let item = json!({"uri": uri, "languageId": "python", "version": 1, "text": text});
        self.notify("textDocument/didOpen", json!({ "textDocument": item })).await;
    }

    /// Applies LSP text edits to a text, in this client's encoding.
    fn apply(&self, text: &str, edits: &[Value]) -> String {
        let document = Document::new("t.py", text);
        let offset = |position: &Value| {
            let line = position["line"].as_u64().unwrap() as u32;
            let character = position["character"].as_u64().unwrap() as u32;
            offset_at(document.rope(), document.text(), line, character, self.encoding)
        };
        let mut spans: Vec<(usize, usize, &str)> = edits
            .iter()
            .map(|edit| {
                (offset(&edit["range"]["start"]), offset(&edit["range"]["end"]), edit["newText"].as_str().unwrap())
            })
            .collect();
        spans.sort_by_key(|span| std::cmp::Reverse(span.0));
        let mut result = text.to_owned();
        for (start, end, new_text) in spans {
            result.replace_range(start..end, new_text);
        }
        result
    }
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

const EMOJI_SOURCE: &str = "import time\n\n\nasync def main():\n    label = \"😀\"; time.sleep(1)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_on_open_count_utf16_columns_after_an_emoji() {
    let directory = project(&[("app.py", EMOJI_SOURCE)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&uri, EMOJI_SOURCE).await;
    let (version, diagnostics) = client.diagnostics(&uri).await;
    assert_eq!(version, 1);
    assert_eq!(diagnostics.len(), 1);
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic["code"], "AL101");
    assert_eq!(diagnostic["source"], "asynclint");
    assert_eq!(diagnostic["severity"], 2);
    // `    label = "😀"; ` is 18 UTF-16 units (the emoji counts 2) and 20 bytes.
    assert_eq!(diagnostic["range"]["start"], json!({"line": 4, "character": 18}));
    assert_eq!(diagnostic["range"]["end"], json!({"line": 4, "character": 31}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_mode_counts_bytes_and_quick_fixes_apply() {
    let directory = project(&[("app.py", EMOJI_SOURCE)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), true, Value::Null).await;
    client.open(&uri, EMOJI_SOURCE).await;
    let (_, diagnostics) = client.diagnostics(&uri).await;
    assert_eq!(diagnostics[0]["range"]["start"], json!({"line": 4, "character": 20}));
    let actions = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": diagnostics[0]["range"], "context": {"diagnostics": []}}),
        )
        .await;
    let preferred = actions.as_array().unwrap().iter().find(|action| action["isPreferred"] == true).unwrap();
    assert_eq!(preferred["kind"], "quickfix");
    let edits = preferred["edit"]["changes"][&uri].as_array().unwrap().clone();
    let fixed = client.apply(EMOJI_SOURCE, &edits);
    assert_eq!(
        fixed,
        "import asyncio\nimport time\n\n\nasync def main():\n    label = \"😀\"; await asyncio.sleep(1)\n"
    );
    let noqa =
        actions.as_array().unwrap().iter().find(|action| action["title"].as_str().unwrap().contains("noqa")).unwrap();
    let suppressed = client.apply(EMOJI_SOURCE, noqa["edit"]["changes"][&uri].as_array().unwrap());
    assert!(suppressed.ends_with("time.sleep(1)  # noqa: AL101\n"), "{suppressed}");
}

/// A project of one file, `app.py` with `text`, open in a started client, and its (empty) first diagnostics seen.
async fn open_clean_app(text: &str) -> (tempfile::TempDir, String, TestClient) {
    let directory = project(&[("app.py", text)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&uri, text).await;
    assert!(client.diagnostics(&uri).await.1.is_empty());
    (directory, uri, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_edits_add_and_remove_problems_and_echo_the_version() {
    let clean = "import time\n\n\nasync def main():\n    pass\n";
    let (directory, uri, mut client) = open_clean_app(clean).await;
    let add = json!({"range": {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 8}}, "text": "time.sleep(1)"});
    client.change(&uri, 2, &add).await;
    let (version, diagnostics) = client.diagnostics(&uri).await;
    assert_eq!((version, diagnostics.len()), (json!(2), 1));
    let remove =
        json!({"range": {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 17}}, "text": "pass"});
    client.change(&uri, 3, &remove).await;
    let (version, diagnostics) = client.diagnostics(&uri).await;
    assert_eq!((version, diagnostics.len()), (json!(3), 0));
    // Out-of-range positions are clamped, and a change to a document that is not open is ignored.
    let wild =
        json!({"range": {"start": {"line": 99, "character": 0}, "end": {"line": 120, "character": 7}}, "text": "\n"});
    client.change(&uri, 4, &wild).await;
    assert_eq!(client.diagnostics(&uri).await.0, json!(4));
    let stranger = file_uri(directory.path()) + "/never-opened.py";
    client.change(&stranger, 1, &add).await;
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}})).await;
    let (version, diagnostics) = client.diagnostics(&uri).await;
    assert_eq!((version, diagnostics.len()), (Value::Null, 0), "closing clears the diagnostics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_all_applies_only_safe_fixes() {
    let source = "import time\n\nimport requests\n\n\nasync def main(url):\n    time.sleep(1)\n    requests.get(url)\n";
    let directory = project(&[("app.py", source)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&uri, source).await;
    assert_eq!(client.diagnostics(&uri).await.1.len(), 2);
    let whole = json!({"start": {"line": 0, "character": 0}, "end": {"line": 8, "character": 0}});
    let actions = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": whole, "context": {"diagnostics": [], "only": ["source.fixAll.asynclint"]}}),
        )
        .await;
    let actions = actions.as_array().unwrap();
    assert_eq!(actions.len(), 1);
    let fixed = client.apply(source, actions[0]["edit"]["changes"][&uri].as_array().unwrap());
    assert!(fixed.contains("await asyncio.sleep(1)"), "{fixed}");
    assert!(fixed.contains("    requests.get(url)\n"), "the unsafe fix is not applied: {fixed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_comes_from_pyproject_and_the_editor() {
    let source = "import time\nimport requests\n\n\nasync def main(url):\n    time.sleep(1)\n    requests.get(url)\n";
    let directory = project(&[("app.py", source)]);
    std::fs::write(directory.path().join("pyproject.toml"), "[tool.asynclint]\nignore = [\"AL101\"]\n").unwrap();
    let uri = file_uri(&directory.path().join("app.py"));
    let options = json!({"severity": {"AL102": "error"}});
    let mut client = TestClient::start(directory.path(), false, options).await;
    client.open(&uri, source).await;
    let (_, diagnostics) = client.diagnostics(&uri).await;
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0]["code"], "AL102");
    assert_eq!(diagnostics[0]["severity"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_that_starts_blocking_flags_its_caller_in_the_same_file_once_typing_pauses() {
    let app = "def prepare():\n    return 1\n\n\nasync def main():\n    prepare()\n";
    let (_directory, uri, mut client) = open_clean_app(app).await;
    let blocking = json!({"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 12}}, "text": "import time; time.sleep(1); return 1"});
    client.change(&uri, 2, &blocking).await;
    // The keystroke is answered at once; the helper's new shape reaches the index after the pause, and the caller's
    // finding follows for the same version.
    let published = client
        .wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["version"] == 2
                && message["params"]["diagnostics"]
                    .as_array()
                    .is_some_and(|list| list.iter().any(|d| d["code"] == "AL110"))
        })
        .await;
    let lines: Vec<u64> = published["params"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [5], "the call in main, not the helper's own sync sleep");
}

/// A project of `helpers.py` (with `helper` as its text) and `app.py`, whose `main` calls `helpers.prepare`, with
/// `app.py` open: (directory, helpers.py's uri, app.py's uri, client).
async fn helper_and_caller(helper: &str) -> (tempfile::TempDir, String, String, TestClient) {
    let app = "from helpers import prepare\n\n\nasync def main():\n    prepare()\n";
    let directory = project(&[("helpers.py", helper), ("app.py", app)]);
    let helper_uri = file_uri(&directory.path().join("helpers.py"));
    let app_uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&app_uri, app).await;
    (directory, helper_uri, app_uri, client)
}

/// Opens the helper and edits it, without saving, so that it sleeps.
async fn make_helper_block_unsaved(client: &mut TestClient, helper_uri: &str, helper: &str) {
    client.open(helper_uri, helper).await;
    let blocking = json!({"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 12}}, "text": "import time; time.sleep(1); return 1"});
    client.change(helper_uri, 2, &blocking).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_that_starts_blocking_updates_another_open_file() {
    let helper = "def prepare():\n    return 1\n";
    let (_directory, helper_uri, app_uri, mut client) = helper_and_caller(helper).await;
    assert!(client.diagnostics(&app_uri).await.1.is_empty());
    make_helper_block_unsaved(&mut client, &helper_uri, helper).await;
    let (_, diagnostics) = client.diagnostics(&app_uri).await;
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(diagnostics[0]["code"], "AL110");
    let related = diagnostics[0]["relatedInformation"].as_array().unwrap();
    assert!(related[0]["location"]["uri"].as_str().unwrap().ends_with("helpers.py"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_locations_follow_lines_inserted_above_the_helper() {
    let helper = "import time\n\n\ndef prepare():\n    time.sleep(1)\n";
    let (_directory, helper_uri, app_uri, mut client) = helper_and_caller(helper).await;
    let related_line =
        |diagnostics: &[Value]| diagnostics[0]["relatedInformation"][0]["location"]["range"]["start"]["line"].clone();
    let (_, diagnostics) = client.diagnostics(&app_uri).await;
    assert_eq!(related_line(&diagnostics), 4, "{diagnostics:?}");
    client.open(&helper_uri, helper).await;
    // Three lines above the helper move its `time.sleep` from line 4 to line 7; the helper's shape stays the same.
    let insert = json!({"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "# a\n# b\n# c\n"});
    client.change(&helper_uri, 2, &insert).await;
    let (_, diagnostics) = client.diagnostics(&app_uri).await;
    assert_eq!(related_line(&diagnostics), 7, "{diagnostics:?}");
}

/// Waits for diagnostics of `uri` at `version` whose first finding's first related location is on `line`.
async fn related_line_published(client: &mut TestClient, uri: &str, version: i64, line: u64) -> Value {
    client
        .wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == uri
                && message["params"]["version"] == version
                && message["params"]["diagnostics"][0]["relatedInformation"][0]["location"]["range"]["start"]["line"]
                    == line
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_locations_in_the_edited_file_follow_a_line_inserted_above_its_helper() {
    // Found by the soak test: the keystroke's analysis reads the chain from the summary the index held before, and
    // the pause in typing re-analysed only the other files.
    let app = "import time\n\n\ndef prepare():\n    time.sleep(1)\n\n\nasync def main():\n    prepare()\n";
    let (_directory, uri, mut client) = open_clean_app("").await;
    client.change(&uri, 2, &json!({ "text": app })).await;
    related_line_published(&mut client, &uri, 2, 4).await;
    client.change(&uri, 3, &newline_at_top()).await;
    related_line_published(&mut client, &uri, 3, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_locations_follow_a_caller_and_its_helper_that_move_in_one_pause() {
    // Found by the soak test: each of the two edited files was left out of the other's re-analysis.
    let helper = "import time\n\n\ndef prepare():\n    time.sleep(1)\n";
    let (_directory, helper_uri, app_uri, mut client) = helper_and_caller(helper).await;
    related_line_published(&mut client, &app_uri, 1, 4).await;
    client.open(&helper_uri, helper).await;
    // Once the opened helper's summary is in the index, the two edits below are the only ones to reach it.
    client.diagnostics(&helper_uri).await;
    client.change(&helper_uri, 2, &newline_at_top()).await;
    client.change(&app_uri, 2, &newline_at_top()).await;
    related_line_published(&mut client, &app_uri, 2, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_blocking_call_from_the_editor_reaches_an_open_helper_s_callers() {
    // Found by the soak test: the open helper's summary in the index kept the catalogue it was made with.
    let helper = "import json\n\n\ndef prepare(text):\n    return json.loads(text)\n";
    let (_directory, helper_uri, app_uri, mut client) = helper_and_caller(helper).await;
    client.open(&helper_uri, helper).await;
    client.diagnostics(&helper_uri).await;
    let settings =
        json!({"extraBlockingCalls": [{"name": "json.loads", "rule": "blocking-file-io", "reason": "parses"}]});
    client.notify("workspace/didChangeConfiguration", json!({ "settings": settings })).await;
    client
        .wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == app_uri
                && message["params"]["diagnostics"][0]["code"] == "AL110"
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_changed_on_disk_while_the_workspace_is_indexed_again_keeps_its_new_text() {
    // Found by the soak test: the indexing that a config change begins read the helper before it changed, then stored
    // that summary over the newer one. The helper is in the first chunk of files indexed, and changes once that chunk
    // is reported, while the other files are still being read.
    let app = "from helpers import prepare\n\n\nasync def main():\n    prepare()\n";
    let others: Vec<String> = (0..500).map(|number| format!("others/m{number}.py")).collect();
    let mut files = vec![("app.py", app), ("helpers.py", "def prepare():\n    return 1\n")];
    files.extend(others.iter().map(|path| (path.as_str(), "def f(x):\n    return x\n")));
    let directory = project(&files);
    let (helper, config) = (directory.path().join("helpers.py"), directory.path().join("pyproject.toml"));
    let app_uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&app_uri, app).await;
    assert!(client.diagnostics(&app_uri).await.1.is_empty());
    let changed = |path: &Path| json!({"changes": [{"uri": file_uri(path), "type": 2}]});
    std::fs::write(&config, "[tool.asynclint]\nignore = [\"AL301\"]\n").unwrap();
    // The handler returns once the indexing is done: it runs beside the rest, as over stdio.
    let request = Request::build("workspace/didChangeWatchedFiles").params(changed(&config)).finish();
    let indexing = tokio::spawn(client.service.ready().await.unwrap().call(request));
    client.wait_for(|message| message["params"]["value"]["kind"] == "report").await;
    std::fs::write(&helper, "import time\n\n\ndef prepare():\n    time.sleep(1)\n").unwrap();
    client.notify("workspace/didChangeWatchedFiles", changed(&helper)).await;
    client.wait_for(|message| message["params"]["value"]["kind"] == "end").await;
    indexing.await.unwrap().unwrap();
    let (_, diagnostics) = client.diagnostics(&app_uri).await;
    let codes: Vec<&Value> = diagnostics.iter().map(|diagnostic| &diagnostic["code"]).collect();
    assert_eq!(codes, ["AL110"], "once indexed again, the helper blocks: {diagnostics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_indexes_from_the_cache_and_sees_files_edited_in_between() {
    let helper = "import time\n\n\ndef prepare():\n    time.sleep(1)\n";
    let app = "from helpers import prepare\n\n\nasync def main():\n    prepare()\n";
    let directory = project(&[("helpers.py", helper), ("app.py", app)]);
    let app_uri = file_uri(&directory.path().join("app.py"));
    let mut codes_per_session = Vec::new();
    for session in 0..3 {
        if session == 2 {
            std::fs::write(directory.path().join("helpers.py"), "def prepare():\n    return 1\n").unwrap();
        }
        // `start` returns once the index is built and its summaries are cached.
        let mut client = TestClient::start(directory.path(), false, Value::Null).await;
        assert!(directory.path().join(".asynclint_cache/summaries.bin").is_file());
        client.open(&app_uri, app).await;
        let (_, diagnostics) = client.diagnostics(&app_uri).await;
        codes_per_session.push(diagnostics.iter().map(|d| d["code"].as_str().unwrap().to_owned()).collect::<Vec<_>>());
    }
    assert_eq!(codes_per_session, [vec!["AL110"], vec!["AL110"], vec![]], "the third session sees the edited helper");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_before_open_and_an_oversized_file_leave_the_server_working() {
    let directory = project(&[]);
    let uri = file_uri(directory.path()) + "/app.py";
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    let edit =
        json!({"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "x"});
    client.change(&uri, 2, &edit).await;
    let huge_uri = file_uri(directory.path()) + "/huge.py";
    let huge = format!("{}async def f():\n    open('x')\n", "x = 1\n".repeat(1_000_000));
    client.open(&huge_uri, &huge).await;
    let warning = client.wait_for(|message| message["method"] == "window/showMessage").await;
    let text = warning["params"]["message"].as_str().unwrap();
    assert!(text.contains("huge.py") && text.contains("5 MB"), "{text}");
    assert!(client.diagnostics(&huge_uri).await.1.is_empty());
    client.open(&uri, EMOJI_SOURCE).await;
    assert_eq!(client.diagnostics(&uri).await.1.len(), 1, "the server still works");
}

/// Code-action capabilities of a client that resolves actions lazily, as VS Code does.
fn resolving_client() -> Value {
    json!({"codeAction": {
        "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix", "source.fixAll"]}},
        "resolveSupport": {"properties": ["edit"]},
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_all_is_offered_without_edits_and_computed_on_resolve() {
    let source = "import time\n\n\nasync def main():\n    time.sleep(1)\n";
    let directory = project(&[("app.py", source)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start_with(directory.path(), false, Value::Null, resolving_client()).await;
    client.open(&uri, source).await;
    let (_, diagnostics) = client.diagnostics(&uri).await;
    let at_cursor = json!({"start": {"line": 4, "character": 6}, "end": {"line": 4, "character": 6}});
    let params = json!({"textDocument": {"uri": uri}, "range": at_cursor, "context": {"diagnostics": diagnostics}});
    let actions = client.request("textDocument/codeAction", params.clone()).await;
    let fix_all = actions.as_array().unwrap().iter().find(|action| action["kind"] == "source.fixAll.asynclint");
    let fix_all = fix_all.expect("fix-all is offered").clone();
    assert!(fix_all.get("edit").is_none(), "offered without its edit: {fix_all}");
    assert_eq!(fix_all["data"], json!({"uri": uri, "version": 1}));
    let resolved = client.request("codeAction/resolve", fix_all.clone()).await;
    let fixed = client.apply(source, resolved["edit"]["changes"][&uri].as_array().unwrap());
    assert!(fixed.contains("await asyncio.sleep(1)"), "{fixed}");
    // Once the document has moved on, the offer is stale: resolving it must not return an edit for another text.
    let edit =
        json!({"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "\n"});
    client.change(&uri, 2, &edit).await;
    let stale = client.response("codeAction/resolve", fix_all).await;
    assert_eq!(stale["error"]["code"], -32801, "{stale}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_resolve_gets_fix_all_only_when_it_asks_for_it() {
    let source = "import time\n\n\nasync def main():\n    time.sleep(1)\n";
    let directory = project(&[("app.py", source)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&uri, source).await;
    client.diagnostics(&uri).await;
    let at_cursor = json!({"start": {"line": 4, "character": 6}, "end": {"line": 4, "character": 6}});
    let actions = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": at_cursor, "context": {"diagnostics": []}}),
        )
        .await;
    let kinds: Vec<&str> = actions.as_array().unwrap().iter().map(|action| action["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["quickfix", "quickfix"], "the fix and the noqa suppression, and no fix-all: {actions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_fixes_in_a_file_with_a_syntax_error_elsewhere() {
    let source = "import time\n\n\nasync def main():\n    time.sleep(1)\n\n\ndef broken(:\n    pass\n";
    let directory = project(&[("app.py", source)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&uri, source).await;
    let (_, diagnostics) = client.diagnostics(&uri).await;
    let actions = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": diagnostics[0]["range"], "context": {"diagnostics": [], "only": ["quickfix"]}}),
        )
        .await;
    let preferred = actions.as_array().unwrap().iter().find(|action| action["isPreferred"] == true).unwrap();
    let fixed = client.apply(source, preferred["edit"]["changes"][&uri].as_array().unwrap());
    assert!(
        fixed.contains("import asyncio\nimport time\n") && fixed.contains("    await asyncio.sleep(1)\n"),
        "{fixed}"
    );
}

/// A module large enough that analysing it takes a while: a thousand-fold of async functions with findings.
fn large_module() -> String {
    let mut text = String::from("import time\n\n\n");
    for index in 0..3_000 {
        text.push_str(&format!(
            "async def handler_{index}(url):\n    time.sleep(1)\n    return open(url).read()\n\n\n"
        ));
    }
    text
}

fn newline_at_top() -> Value {
    json!({"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "\n"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_does_not_hold_up_a_small_one() {
    let large = large_module();
    let directory = project(&[("large.py", &large), ("app.py", EMOJI_SOURCE)]);
    let large_uri = file_uri(&directory.path().join("large.py"));
    let app_uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&large_uri, &large).await;
    client.open(&app_uri, EMOJI_SOURCE).await;
    let mut first = Vec::new();
    while first.len() < 2 {
        let ((uri, version), diagnostics) = client.next_publish().await;
        if version == json!(1) && !diagnostics.is_empty() && !first.contains(&uri) {
            first.push(uri);
        }
    }
    // The large file changes first; the small file's diagnostics must not wait for the large file's analysis.
    client.change(&large_uri, 2, &newline_at_top()).await;
    client.change(&app_uri, 2, &newline_at_top()).await;
    let mut order = Vec::new();
    while order.len() < 2 {
        let ((uri, version), _) = client.next_publish().await;
        if version == json!(2) {
            order.push(uri);
        }
    }
    assert_eq!(order, [app_uri, large_uri]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_published_for_a_document_after_its_close_clears_it() {
    // Found by the soak test: an analysis that found the document open could publish after the close had cleared
    // it, and its diagnostics stayed for a closed file. The race is narrow, so it is run many times over: an edit
    // just before each close, and a reopening with a clean text to end each round.
    let source = "import asyncio\n\n\nasync def start(work):\n    asyncio.create_task(work())\n".repeat(20);
    let (_directory, uri, mut client) = open_clean_app("").await;
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}})).await;
    while client.diagnostics(&uri).await.0 != Value::Null {}
    for round in 0..200 {
        let item = json!({"uri": uri, "languageId": "python", "version": 1, "text": source});
        client.notify("textDocument/didOpen", json!({ "textDocument": item })).await;
        client.change(&uri, 2, &newline_at_top()).await;
        client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}})).await;
        while client.diagnostics(&uri).await.0 != Value::Null {}
        let item = json!({"uri": uri, "languageId": "python", "version": 3, "text": ""});
        client.notify("textDocument/didOpen", json!({ "textDocument": item })).await;
        loop {
            let (version, diagnostics) = client.diagnostics(&uri).await;
            assert!(diagnostics.is_empty(), "round {round}: version {version} published after the close");
            if version == 3 {
                break;
            }
        }
        client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}})).await;
        while client.diagnostics(&uri).await.0 != Value::Null {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_is_analysed_once_for_its_newest_version() {
    let large = large_module();
    let directory = project(&[("large.py", &large)]);
    let uri = file_uri(&directory.path().join("large.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    client.open(&uri, &large).await;
    assert_eq!(client.diagnostics(&uri).await.0, json!(1));
    let last = 21;
    for version in 2..=last {
        client.change(&uri, version, &newline_at_top()).await;
    }
    let mut published = Vec::new();
    loop {
        let (version, diagnostics) = client.diagnostics(&uri).await;
        published.push(version.clone());
        if version == json!(last) {
            // Every change moved every finding one line down: these are the newest text's.
            assert_eq!(diagnostics[0]["range"]["start"]["line"], json!(last - 1 + 4));
            break;
        }
    }
    assert!(published.len() < 5, "stale versions were analysed and published: {published:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_past_the_size_limit_says_so() {
    let (_directory, uri, mut client) = open_clean_app("async def main():\n    pass\n").await;
    let paste = "x = 1\n".repeat(1_000_000);
    let end = json!({"line": 2, "character": 0});
    client.change(&uri, 2, &json!({"range": {"start": end, "end": end}, "text": paste})).await;
    let warning = client.wait_for(|message| message["method"] == "window/showMessage").await;
    let text = warning["params"]["message"].as_str().unwrap();
    assert!(text.contains("app.py") && text.contains("5 MB"), "{text}");
    assert_eq!(client.diagnostics(&uri).await, (json!(2), Vec::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setting_of_the_wrong_type_is_named_and_the_others_still_apply() {
    let (_directory, uri, mut client) = open_clean_app("import time\n\n\nasync def main():\n    pass\n").await;
    let settings = json!({"asynclint": {"ignore": "AL1", "severity": {"AL101": "error"}}});
    client.notify("workspace/didChangeConfiguration", json!({ "settings": settings })).await;
    let warning = client.wait_for(|message| message["method"] == "window/showMessage").await;
    assert_eq!(warning["params"]["type"], 2, "a warning: {warning}");
    assert!(warning["params"]["message"].as_str().unwrap().contains("`ignore`"), "{warning}");
    let add = json!({"range": {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 8}}, "text": "time.sleep(1)"});
    client.change(&uri, 2, &add).await;
    let diagnostics = loop {
        let (version, diagnostics) = client.diagnostics(&uri).await;
        if version == json!(2) {
            break diagnostics;
        }
    };
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0]["severity"], 1, "the severity setting applies: {diagnostics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_root_uri_the_open_file_s_project_is_indexed() {
    let helper = "import time\n\n\ndef prepare():\n    time.sleep(1)\n";
    let app = "from helpers import prepare\n\n\nasync def main():\n    prepare()\n";
    let directory = project(&[("helpers.py", helper), ("app.py", app)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let (service, socket) = asynclint::lsp::service();
    let inbox = support::drain(socket);
    let mut client = TestClient::new(service, inbox, Encoding::Utf16);
    let capabilities = json!({"window": {"workDoneProgress": true}});
    client.request("initialize", json!({"processId": null, "rootUri": null, "capabilities": capabilities})).await;
    client.notify("initialized", json!({})).await;
    client.open(&uri, app).await;
    let published = client
        .wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["diagnostics"]
                    .as_array()
                    .is_some_and(|list| list.iter().any(|d| d["code"] == "AL110"))
        })
        .await;
    let related = &published["params"]["diagnostics"][0]["relatedInformation"][0]["location"]["uri"];
    assert!(related.as_str().unwrap().ends_with("helpers.py"), "{published}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workspace_folders_each_resolve_their_own_packages() {
    // Each folder has an `app` package; only svc1's `app.b.helper` blocks. svc2's caller must see svc2's helper.
    let caller = "from app.b import helper\n\n\nasync def main():\n    helper()\n";
    let directory = project(&[
        ("svc1/pyproject.toml", "[project]\nname = 'svc1'\n"),
        ("svc1/app/__init__.py", ""),
        ("svc1/app/a.py", caller),
        ("svc1/app/b.py", "import time\n\n\ndef helper():\n    time.sleep(1)\n"),
        ("svc2/pyproject.toml", "[project]\nname = 'svc2'\n"),
        ("svc2/app/__init__.py", ""),
        ("svc2/app/a.py", caller),
        ("svc2/app/b.py", "def helper():\n    return 1\n"),
    ]);
    let (service, socket) = asynclint::lsp::service();
    let inbox = support::drain(socket);
    let mut client = TestClient::new(service, inbox, Encoding::Utf16);
    let folder = |name: &str| json!({"uri": file_uri(&directory.path().join(name)), "name": name});
    let capabilities = json!({"window": {"workDoneProgress": true}});
    let folders = json!([folder("svc1"), folder("svc2")]);
    client
        .request("initialize", json!({"processId": null, "workspaceFolders": folders, "capabilities": capabilities}))
        .await;
    client.notify("initialized", json!({})).await;
    client.wait_for(|message| message["params"]["value"]["kind"] == "end").await;
    let svc1 = file_uri(&directory.path().join("svc1/app/a.py"));
    let svc2 = file_uri(&directory.path().join("svc2/app/a.py"));
    client.open(&svc2, caller).await;
    client.open(&svc1, caller).await;
    client
        .wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == svc1.as_str()
                && message["params"]["diagnostics"]
                    .as_array()
                    .is_some_and(|list| list.iter().any(|d| d["code"] == "AL110"))
        })
        .await;
    let comment =
        json!({"range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 0}}, "text": "# end\n"});
    client.change(&svc2, 2, &comment).await;
    let published = client
        .wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == svc2.as_str()
                && message["params"]["version"] == 2
        })
        .await;
    assert_eq!(published["params"]["diagnostics"], json!([]), "{published}");
}

/// A client that pulls diagnostics and takes `workspace/diagnostic/refresh`.
fn pulling_client() -> Value {
    json!({"textDocument": {"diagnostic": {}}, "workspace": {"diagnostics": {"refreshSupport": true}}})
}

impl TestClient {
    /// Pulls the diagnostics of `uri`: the report's kind, its result id and its items.
    async fn pull(&mut self, uri: &str, previous: Option<&str>) -> (String, String, Vec<Value>) {
        let report = self
            .request("textDocument/diagnostic", json!({"textDocument": {"uri": uri}, "previousResultId": previous}))
            .await;
        let kind = report["kind"].as_str().unwrap().to_owned();
        let items = report["items"].as_array().cloned().unwrap_or_default();
        (kind, report["resultId"].as_str().unwrap().to_owned(), items)
    }
}

fn codes(diagnostics: &[Value]) -> Vec<&str> {
    diagnostics.iter().map(|diagnostic| diagnostic["code"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_diagnostics_stay_unchanged_until_an_edit_or_a_helper_changes_on_disk() {
    let app = "import time\nfrom helpers import prepare\n\n\nasync def main():\n    time.sleep(1)\n    prepare()\n";
    let directory = project(&[("helpers.py", "def prepare():\n    return 1\n"), ("app.py", app)]);
    let helper = directory.path().join("helpers.py");
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start_capable(directory.path(), false, Value::Null, pulling_client()).await;
    let provider = &client.capabilities["diagnosticProvider"];
    assert_eq!((&provider["interFileDependencies"], &provider["workspaceDiagnostics"]), (&json!(true), &json!(false)));
    client.open(&uri, app).await;
    let (kind, first, items) = client.pull(&uri, None).await;
    assert_eq!((kind.as_str(), codes(&items)), ("full", vec!["AL101"]));
    let (kind, again, items) = client.pull(&uri, Some(&first)).await;
    assert_eq!((kind.as_str(), again.as_str(), items.len()), ("unchanged", first.as_str(), 0));
    // An edit: a new report, for the new text.
    client.change(&uri, 2, &newline_at_top()).await;
    let (kind, edited, items) = client.pull(&uri, Some(&first)).await;
    assert_eq!((kind.as_str(), codes(&items)), ("full", vec!["AL101"]));
    assert_ne!(edited, first);
    assert_eq!(items[0]["range"]["start"]["line"], 6);
    // The helper starts blocking on disk: the client is asked to pull again, and the caller's report changes.
    std::fs::write(&helper, "import time\n\n\ndef prepare():\n    time.sleep(1)\n").unwrap();
    client.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": file_uri(&helper), "type": 2}]})).await;
    client.wait_for(|message| message["method"] == "workspace/diagnostic/refresh").await;
    let (kind, after, items) = client.pull(&uri, Some(&edited)).await;
    assert_eq!((kind.as_str(), codes(&items)), ("full", vec!["AL101", "AL110"]));
    assert_ne!(after, edited);
    let (kind, _, _) = client.pull(&uri, Some(&after)).await;
    assert_eq!(kind, "unchanged");
    let pushed = client.seen.iter().any(|message| message["method"] == "textDocument/publishDiagnostics");
    assert!(!pushed, "a client that pulls gets no push");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_explains_a_finding_with_its_chain_and_a_noqa_code_in_utf16_columns() {
    let helper = "import time\n\n\ndef prepare():\n    time.sleep(1)\n";
    let app = "from helpers import prepare\nimport time\n\n\nasync def main():\n    label = \"😀\"; prepare()\n    time.sleep(1)  # noqa: ASYNC251\n";
    let directory = project(&[("helpers.py", helper), ("app.py", app)]);
    let uri = file_uri(&directory.path().join("app.py"));
    let mut client = TestClient::start(directory.path(), false, Value::Null).await;
    assert_eq!(client.capabilities["hoverProvider"], true);
    client.open(&uri, app).await;
    let (_, diagnostics) = client.diagnostics(&uri).await;
    assert_eq!(codes(&diagnostics), ["AL110"]);
    let hover = |line: u32, character: u32| json!({"textDocument": {"uri": uri.clone()}, "position": {"line": line, "character": character}});
    // `prepare` starts at UTF-16 column 18 (the emoji is two units, four bytes).
    let found = client.request("textDocument/hover", hover(5, 18)).await;
    assert_eq!(found["range"], diagnostics[0]["range"]);
    assert_eq!(found["contents"]["kind"], "markdown");
    let text = found["contents"]["value"].as_str().unwrap();
    assert!(text.starts_with("# transitive-blocking-call (AL110)\n"), "{text}");
    assert!(text.contains("## What it does"), "{text}");
    let chain = "## Call chain\n1. `prepare` calls `time.sleep`, which blocks ([helpers.py:5](";
    assert!(text.contains(chain), "{text}");
    assert!(text.contains("helpers.py#L5)"), "{text}");
    // The peer linter's code in the `# noqa` names AL101.
    let column = "    time.sleep(1)  # noqa: ASYNC".len() as u32;
    let noqa = client.request("textDocument/hover", hover(6, column)).await;
    let text = noqa["contents"]["value"].as_str().unwrap();
    assert!(text.starts_with("# blocking-sleep (AL101)\n"), "{text}");
    let start = "    time.sleep(1)  # noqa: ".len();
    assert_eq!(
        noqa["range"],
        json!({"start": {"line": 6, "character": start}, "end": {"line": 6, "character": start + 8}})
    );
    // Elsewhere: no finding, no hover; the suppressed call has none either.
    assert_eq!(client.request("textDocument/hover", hover(5, 6)).await, Value::Null);
    assert_eq!(client.request("textDocument/hover", hover(6, 6)).await, Value::Null);
    assert_eq!(
        client.request("textDocument/hover", hover(6, "    time.sleep(1)  # no".len() as u32)).await,
        Value::Null
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_watchers_are_registered_after_initialized_when_the_client_allows_it() {
    let directory = project(&[]);
    let watching = json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}});
    let client = TestClient::start_capable(directory.path(), false, Value::Null, watching).await;
    assert!(client.early.is_empty(), "nothing is asked before `initialized`: {:?}", client.early);
    // `start` read every message up to the end of indexing, which comes after the registration.
    let registration = client.seen.iter().find(|message| message["method"] == "client/registerCapability");
    let registration = &registration.expect("watchers are registered")["params"]["registrations"][0];
    assert_eq!(registration["method"], "workspace/didChangeWatchedFiles");
    let globs: Vec<&Value> =
        registration["registerOptions"]["watchers"].as_array().unwrap().iter().map(|w| &w["globPattern"]).collect();
    assert_eq!(globs, ["**/*.py", "**/*.ipynb", "**/pyproject.toml", "**/asynclint.toml"]);

    for capabilities in [json!({}), json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": false}}})] {
        let client = TestClient::start_capable(directory.path(), false, Value::Null, capabilities).await;
        assert!(!client.early.iter().any(|method| method == "client/registerCapability"));
        assert!(!client.seen.iter().any(|message| message["method"] == "client/registerCapability"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_changed_on_disk_re_checks_its_open_caller() {
    let (directory, helper_uri, app_uri, mut client) = helper_and_caller("def prepare():\n    return 1\n").await;
    assert!(client.diagnostics(&app_uri).await.1.is_empty());
    std::fs::write(directory.path().join("helpers.py"), "import time\n\n\ndef prepare():\n    time.sleep(1)\n")
        .unwrap();
    client.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": helper_uri, "type": 2}]})).await;
    let (_, diagnostics) = client.diagnostics(&app_uri).await;
    assert_eq!(codes(&diagnostics), ["AL110"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_an_edited_unsaved_helper_puts_its_disk_version_back_in_the_index() {
    let helper = "def prepare():\n    return 1\n";
    let (_directory, helper_uri, app_uri, mut client) = helper_and_caller(helper).await;
    assert!(client.diagnostics(&app_uri).await.1.is_empty());
    make_helper_block_unsaved(&mut client, &helper_uri, helper).await;
    let (_, diagnostics) = client.diagnostics(&app_uri).await;
    assert_eq!(codes(&diagnostics), ["AL110"], "the unsaved edit reaches the caller");
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": helper_uri}})).await;
    let (_, diagnostics) = client.diagnostics(&app_uri).await;
    assert!(diagnostics.is_empty(), "the helper on disk does not block: {diagnostics:?}");
}

//! End-to-end over real stdio: a small client starts `asynclint server`, gets diagnostics and code actions, applies
//! the fix, sees the diagnostic go, and shuts the server down, in UTF-16 and in UTF-8 mode.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

struct StdioClient {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
    next_id: i64,
}

impl StdioClient {
    fn start() -> StdioClient {
        let mut child = Command::new(env!("CARGO_BIN_EXE_asynclint"))
            .arg("server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = 0usize;
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
                        length = value.parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                if sender.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        StdioClient { child, stdin, messages, next_id: 1 }
    }

    fn send(&mut self, message: Value) {
        self.send_body(message.to_string().as_bytes());
    }

    /// Sends one frame with any body, well-formed or not.
    fn send_body(&mut self, body: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        write!(stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        stdin.write_all(body).unwrap();
        stdin.flush().unwrap();
    }

    /// The exit status once the server has ended by itself.
    fn status(&mut self) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        while started.elapsed() < WAIT {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("the server did not exit");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let response = self.wait_for(|message| message["id"] == id && message.get("method").is_none());
        assert!(response.get("error").is_none(), "{response}");
        response["result"].clone()
    }

    fn wait_for(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.messages.recv_timeout(WAIT).expect("the server answers in time");
            // Answer the server's own requests (progress tokens) as an editor would.
            if let (Some(id), Some(_)) = (message.get("id"), message.get("method")) {
                let id = id.clone();
                self.send(json!({"jsonrpc": "2.0", "id": id, "result": null}));
            }
            if wanted(&message) {
                return message;
            }
        }
    }

    /// The diagnostics published for `uri` at document `version`: the background index may re-publish an earlier
    /// version's findings in between, as editors see too.
    fn diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let message = self.wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == uri
                && message["params"]["version"] == version
        });
        message["params"]["diagnostics"].as_array().unwrap().clone()
    }
}

fn apply(text: &str, edits: &[Value], utf8: bool) -> String {
    let document = asynclint::core::document::Document::new("t.py", text);
    let encoding =
        if utf8 { asynclint::core::positions::Encoding::Utf8 } else { asynclint::core::positions::Encoding::Utf16 };
    let offset = |position: &Value| {
        let (line, character) =
            (position["line"].as_u64().unwrap() as u32, position["character"].as_u64().unwrap() as u32);
        asynclint::core::positions::offset_at(document.rope(), document.text(), line, character, encoding)
    };
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|edit| {
            (
                offset(&edit["range"]["start"]),
                offset(&edit["range"]["end"]),
                edit["newText"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    spans.sort_by_key(|span| std::cmp::Reverse(span.0));
    let mut result = text.to_owned();
    for (start, end, new_text) in spans {
        result.replace_range(start..end, &new_text);
    }
    result
}

fn full_cycle(utf8: bool) {
    let source = "import time\n\n\nasync def main():\n    note = \"漢字😀\"; time.sleep(1)\n";
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().canonicalize().unwrap().join("app.py");
    std::fs::write(&path, source).unwrap();
    let uri = format!("file://{}", path.display());
    let root = format!("file://{}", directory.path().canonicalize().unwrap().display());
    let mut client = StdioClient::start();
    let encodings = if utf8 { json!(["utf-8"]) } else { json!(["utf-16"]) };
    let result = client.request(
        "initialize",
        json!({"processId": null, "rootUri": root, "capabilities": {"general": {"positionEncodings": encodings}}}),
    );
    assert_eq!(result["capabilities"]["positionEncoding"], if utf8 { "utf-8" } else { "utf-16" });
    client.notify("initialized", json!({}));
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": source}}),
    );
    let diagnostics = client.diagnostics(&uri, 1);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    // `    note = "漢字😀"; ` is 19 UTF-16 units (the emoji counts 2), or 25 bytes.
    let column = if utf8 { 25 } else { 19 };
    assert_eq!(diagnostics[0]["range"]["start"], json!({"line": 4, "character": column}));
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": diagnostics[0]["range"], "context": {"diagnostics": diagnostics}}),
    );
    let fix = actions.as_array().unwrap().iter().find(|action| action["isPreferred"] == true).unwrap().clone();
    let fixed = apply(source, fix["edit"]["changes"][&uri].as_array().unwrap(), utf8);
    assert!(fixed.contains("await asyncio.sleep(1)"), "{fixed}");
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    assert!(client.diagnostics(&uri, 2).is_empty(), "the fix removes the diagnostic");
    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
    let started = std::time::Instant::now();
    while started.elapsed() < WAIT {
        if let Some(status) = client.child.try_wait().unwrap() {
            assert!(status.success());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the server did not exit after `exit`");
}

#[test]
fn stdio_full_cycle_in_utf16() {
    full_cycle(false);
}

#[test]
fn stdio_full_cycle_in_utf8() {
    full_cycle(true);
}

#[test]
fn malformed_messages_and_odd_requests_leave_the_server_up() {
    let mut client = StdioClient::start();
    let stdin = client.stdin.as_mut().unwrap();
    write!(stdin, "Content-Length: 9\r\n\r\n{{not json").unwrap();
    stdin.flush().unwrap();
    client.request("initialize", json!({"processId": null, "capabilities": {}}));
    client.notify("initialized", json!({}));
    let id = client.next_id;
    client.next_id += 1;
    client.send(json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/unknownThing", "params": {}}));
    let answer = client.wait_for(|message| message["id"] == id);
    assert_eq!(answer["error"]["code"], -32601, "unknown methods are answered 'method not found': {answer}");
    let uri = "file:///nonexistent/app.py";
    let item = json!({"uri": uri, "languageId": "python", "version": 1, "text": "import time\nasync def f():\n    time.sleep(1)\n"});
    client.notify("textDocument/didOpen", json!({ "textDocument": item.clone() }));
    client.notify("textDocument/didOpen", json!({ "textDocument": item }));
    assert_eq!(client.diagnostics(uri, 1).len(), 1);
    let far = json!({"start": {"line": 900, "character": 900}, "end": {"line": 901, "character": 0}});
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": far, "context": {"diagnostics": []}}),
    );
    assert!(actions.is_array());
    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
    let status = client.child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn the_server_exits_when_stdin_closes() {
    let mut client = StdioClient::start();
    client.stdin.take();
    let started = std::time::Instant::now();
    while started.elapsed() < WAIT {
        if client.child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = client.child.kill();
    panic!("the server did not exit when stdin closed");
}

#[test]
fn every_malformed_message_is_answered_and_the_server_keeps_serving() {
    let mut client = StdioClient::start();
    // Each body, and the error it must get: (code, id).
    let malformed: [(&[u8], i64, Value); 9] = [
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", -32700, Value::Null),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xed\xa0\x80\"}", -32700, Value::Null),
        (br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"x":"\ud800"}}"#, -32700, Value::Null),
        (b"[]", -32600, Value::Null),
        (br#"{"jsonrpc":"1.0","id":"old","method":"initialize","params":{}}"#, -32600, json!("old")),
        (b"42", -32600, Value::Null),
        (br#"{"jsonrpc":"2.0","id":{},"method":"initialize","params":{}}"#, -32600, Value::Null),
        (b"{not json", -32700, Value::Null),
        (br#"{"jsonrpc":"2.0","id":9,"method":"#, -32700, Value::Null),
    ];
    for (body, code, id) in malformed {
        client.send_body(body);
        let answer = client.wait_for(|message| message.get("error").is_some());
        assert_eq!((&answer["error"]["code"], &answer["id"]), (&json!(code), &id), "{}", String::from_utf8_lossy(body));
    }
    client.request("initialize", json!({"processId": null, "capabilities": {}}));
    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
    assert!(client.status().success());
}

#[test]
fn exit_without_shutdown_ends_with_status_1() {
    let mut client = StdioClient::start();
    client.request("initialize", json!({"processId": null, "capabilities": {}}));
    client.notify("exit", Value::Null);
    assert_eq!(client.status().code(), Some(1));
}

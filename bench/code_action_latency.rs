//! Code-action latency of the language server on a generated 5,000-line file with about 600 findings: a request at
//! one finding with `only: ["quickfix"]` and without `only` (as VS Code asks on every cursor move), on the valid file
//! and with a bracket left open in the middle; then the publish latency of a keystroke sent right behind such a
//! request, and the resolve of fix-all. Driven in process like a client that resolves code actions lazily.
//!
//! Run: `cargo run --release --example code_action_latency [-- REPEATS LINES]`

#[path = "generated.rs"]
mod generated;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use asynclint::lsp::Backend;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tower::{Service, ServiceExt};
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::LspService;

async fn call(service: &mut LspService<Backend>, request: Request) -> Option<Response> {
    service.ready().await.expect("the service is ready").call(request).await.expect("the server is running")
}

/// The diagnostics published for `version` and when they arrived.
async fn published(inbox: &mut UnboundedReceiver<(Value, Instant)>, version: i64) -> (Vec<Value>, Instant) {
    let wait = async {
        loop {
            let (message, arrived) = inbox.recv().await.expect("the server publishes");
            if message["params"]["version"] == version {
                return (message["params"]["diagnostics"].as_array().cloned().unwrap_or_default(), arrived);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(600), wait).await.expect("diagnostics arrive")
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct Session {
    service: LspService<Backend>,
    inbox: UnboundedReceiver<(Value, Instant)>,
    uri: String,
    version: i64,
    next_id: i64,
    _directory: tempfile::TempDir,
}

impl Session {
    async fn open(source: &str) -> (Session, Vec<Value>) {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().canonicalize().unwrap().join("bench_module.py");
        std::fs::write(&path, source).unwrap();
        let uri = format!("file://{}", path.display());
        let (mut service, socket) = asynclint::lsp::service();
        let mut messages = support::drain(socket);
        let (sender, inbox) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(json) = messages.recv().await {
                if json["method"] == "textDocument/publishDiagnostics" && sender.send((json, Instant::now())).is_err() {
                    break;
                }
            }
        });
        let root = format!("file://{}", directory.path().canonicalize().unwrap().display());
        let capabilities = json!({"textDocument": {"codeAction": {
            "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix", "source.fixAll"]}},
            "resolveSupport": {"properties": ["edit"]},
        }}});
        let initialize = json!({"processId": null, "rootUri": root, "capabilities": capabilities});
        call(&mut service, Request::build("initialize").params(initialize).id(0).finish()).await;
        call(&mut service, Request::build("initialized").params(json!({})).finish()).await;
        let item = json!({"uri": uri, "languageId": "python", "version": 1, "text": source});
        call(&mut service, Request::build("textDocument/didOpen").params(json!({"textDocument": item})).finish()).await;
        let mut session = Session { service, inbox, uri, version: 1, next_id: 1, _directory: directory };
        let (diagnostics, _) = published(&mut session.inbox, 1).await;
        (session, diagnostics)
    }

    fn code_action(&mut self, range: &Value, only: Option<&str>) -> Request {
        let mut context = json!({"diagnostics": []});
        if let Some(only) = only {
            context["only"] = json!([only]);
        }
        self.next_id += 1;
        let params = json!({"textDocument": {"uri": self.uri}, "range": range, "context": context});
        Request::build("textDocument/codeAction").params(params).id(self.next_id).finish()
    }

    /// One character typed at the start of the file and taken back at the next call: the findings stay the same.
    fn keystroke(&mut self) -> Request {
        self.version += 1;
        let change = if self.version % 2 == 0 {
            json!({"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "#"})
        } else {
            json!({"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}, "text": ""})
        };
        let params = json!({"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [change]});
        Request::build("textDocument/didChange").params(params).finish()
    }
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let median = samples[samples.len() / 2];
    format!("median {:8.2} ms, max {:8.2} ms", milliseconds(median), milliseconds(*samples.last().unwrap()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut arguments = std::env::args().skip(1);
    let repeats: usize = arguments.next().and_then(|value| value.parse().ok()).unwrap_or(10);
    let lines: usize = arguments.next().and_then(|value| value.parse().ok()).unwrap_or(5000);
    let valid = generated::module(lines);
    // A bracket left open in a function in the middle, as while typing: the tree swallows the rest of the file.
    let middle = valid.match_indices("\nasync def handler_").nth(valid.matches("\nasync def handler_").count() / 2);
    let at = middle.map_or(valid.len(), |(offset, _)| offset + 1);
    let at = at + valid[at..].find('\n').unwrap() + 1;
    let broken = format!("{}    pending = (\n{}", &valid[..at], &valid[at..]);
    for (label, source) in [("valid", &valid), ("syntax error", &broken)] {
        let (mut session, diagnostics) = Session::open(source).await;
        println!("{label}: {} lines, {} findings", source.lines().count(), diagnostics.len());
        let target = diagnostics[diagnostics.len() / 2]["range"].clone();
        for only in [Some("quickfix"), None] {
            let mut samples = Vec::new();
            let mut actions = 0;
            for _ in 0..repeats {
                let request = session.code_action(&target, only);
                let started = Instant::now();
                let response = call(&mut session.service, request).await.expect("an answer");
                samples.push(started.elapsed());
                actions = response.result().and_then(Value::as_array).map_or(0, Vec::len);
            }
            let shown = only.map_or("no only".to_owned(), |only| format!("only {only}"));
            println!("  code action, {shown:15} {} ({actions} actions)", summary(samples));
        }
        let mut behind = Vec::new();
        for _ in 0..repeats {
            let request = session.code_action(&target, None);
            let pending = session.service.ready().await.unwrap().call(request);
            let answered = tokio::spawn(pending);
            let keystroke = session.keystroke();
            let sent = Instant::now();
            call(&mut session.service, keystroke).await;
            let (_, arrived) = published(&mut session.inbox, session.version).await;
            behind.push(arrived.duration_since(sent));
            answered.await.unwrap().unwrap();
        }
        println!("  keystroke behind a code action: publish {}", summary(behind));
        let request = session.code_action(&target, None);
        let response = call(&mut session.service, request).await.expect("an answer");
        let fix_all = response
            .result()
            .and_then(Value::as_array)
            .and_then(|actions| actions.iter().find(|action| action["kind"] == "source.fixAll.asynclint").cloned());
        if let Some(fix_all) = fix_all {
            session.next_id += 1;
            let request = Request::build("codeAction/resolve").params(fix_all).id(session.next_id).finish();
            let started = Instant::now();
            let resolved = call(&mut session.service, request).await.expect("an answer");
            let outcome = if resolved.is_ok() { "edit" } else { "error" };
            println!("  fix-all resolve: {:8.2} ms ({outcome})", milliseconds(started.elapsed()));
        }
    }
}

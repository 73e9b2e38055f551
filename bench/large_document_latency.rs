//! Publish latency with a large document open: single keystrokes in a generated file of about 4 MB, a burst of 20
//! keystrokes at 10 per second (how late the last one is published), and keystrokes in a small file while the large
//! one is being analysed. Driven in process.
//!
//! Run: `cargo run --release --example large_document_latency [-- LINES]`

#[path = "generated.rs"]
mod generated;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use asynclint::lsp::Backend;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tower::{Service, ServiceExt};
use tower_lsp_server::jsonrpc::Request;
use tower_lsp_server::LspService;

async fn notify(service: &mut LspService<Backend>, method: &'static str, params: Value) {
    service.ready().await.unwrap().call(Request::build(method).params(params).finish()).await.unwrap();
}

/// Publications as they arrive, kept by (uri, version) so that waiting for one does not lose another.
struct Publications {
    inbox: UnboundedReceiver<(Value, Instant)>,
    arrived: HashMap<(String, i64), Instant>,
}

impl Publications {
    /// When the diagnostics for (`uri`, `version`) arrived.
    async fn of(&mut self, uri: &str, version: i64) -> Instant {
        let key = (uri.to_owned(), version);
        let wait = async {
            loop {
                if let Some(&arrived) = self.arrived.get(&key) {
                    return arrived;
                }
                let (message, arrived) = self.inbox.recv().await.expect("the server publishes");
                let uri = message["params"]["uri"].as_str().unwrap_or_default().to_owned();
                let version = message["params"]["version"].as_i64().unwrap_or_default();
                self.arrived.entry((uri, version)).or_insert(arrived);
            }
        };
        tokio::time::timeout(Duration::from_secs(600), wait).await.expect("diagnostics arrive")
    }
}

fn newline(uri: &str, version: i64) -> Value {
    let at = json!({"line": 0, "character": 0});
    json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"range": {"start": at, "end": at}, "text": "\n"}]})
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let lines: usize = std::env::args().nth(1).and_then(|value| value.parse().ok()).unwrap_or(135_000);
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path().canonicalize().unwrap();
    let large = generated::module(lines);
    let small = generated::module(200);
    let (large_uri, small_uri) =
        (format!("file://{}/large.py", root.display()), format!("file://{}/small.py", root.display()));
    let (mut service, socket) = asynclint::lsp::service();
    let mut messages = support::drain(socket);
    let (sender, inbox) = tokio::sync::mpsc::unbounded_channel();
    let mut inbox = Publications { inbox, arrived: HashMap::new() };
    tokio::spawn(async move {
        while let Some(json) = messages.recv().await {
            if json["method"] == "textDocument/publishDiagnostics" && sender.send((json, Instant::now())).is_err() {
                break;
            }
        }
    });
    let initialize = json!({"processId": null, "rootUri": format!("file://{}", root.display()), "capabilities": {}});
    service.ready().await.unwrap().call(Request::build("initialize").params(initialize).id(0).finish()).await.unwrap();
    notify(&mut service, "initialized", json!({})).await;
    for (uri, text) in [(&large_uri, &large), (&small_uri, &small)] {
        let item = json!({"uri": uri, "languageId": "python", "version": 1, "text": text});
        notify(&mut service, "textDocument/didOpen", json!({"textDocument": item})).await;
        inbox.of(uri, 1).await;
    }
    println!("large file: {} lines, {:.1} MB", large.lines().count(), large.len() as f64 / 1e6);
    let mut version = 1;
    let mut singles = Vec::new();
    for _ in 0..5 {
        version += 1;
        let sent = Instant::now();
        notify(&mut service, "textDocument/didChange", newline(&large_uri, version)).await;
        singles.push(inbox.of(&large_uri, version).await.duration_since(sent));
    }
    singles.sort();
    println!("one keystroke in the large file: median {}, max {}", milliseconds(singles[2]), milliseconds(singles[4]));
    let mut last_sent = Instant::now();
    for _ in 0..20 {
        version += 1;
        last_sent = Instant::now();
        notify(&mut service, "textDocument/didChange", newline(&large_uri, version)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let arrived = inbox.of(&large_uri, version).await;
    println!(
        "burst of 20 keystrokes at 10/s: the last published {} after it was typed",
        milliseconds(arrived - last_sent)
    );
    let mut behind = Vec::new();
    for small_version in 2..12 {
        version += 1;
        notify(&mut service, "textDocument/didChange", newline(&large_uri, version)).await;
        let sent = Instant::now();
        notify(&mut service, "textDocument/didChange", newline(&small_uri, small_version)).await;
        behind.push(inbox.of(&small_uri, small_version).await.duration_since(sent));
        inbox.of(&large_uri, version).await;
    }
    behind.sort();
    println!(
        "small-file keystroke right after a large-file one: median {}, max {}",
        milliseconds(behind[5]),
        milliseconds(behind[9])
    );
}

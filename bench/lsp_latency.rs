//! Keystroke latency of the language server: the time from `didChange` to the `publishDiagnostics` for that
//! version, over scripted keystrokes in a generated 5,000-line file, driven in process. Prints p50/p95/p99.
//! With a FOLDER, the server first indexes it as its workspace (the file being typed in sits outside it), so that the
//! keystrokes run against the index of a real project.
//!
//! Run: `cargo run --release --example lsp_latency [-- KEYSTROKES LINES [FOLDER]]`

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

/// The diagnostics published for `version` and when they arrived.
async fn wait_for_version(published: &mut UnboundedReceiver<(Value, Instant)>, version: i64) -> (Value, Instant) {
    let wait = async {
        loop {
            let (message, arrived) = published.recv().await.expect("the server publishes");
            if message["params"]["version"] == version {
                return (message, arrived);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait).await.expect("diagnostics arrive within a minute")
}

async fn call(service: &mut LspService<Backend>, request: Request) -> Option<Response> {
    service.ready().await.expect("the service is ready").call(request).await.expect("the server is running")
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut arguments = std::env::args().skip(1);
    let keystrokes: usize = arguments.next().and_then(|value| value.parse().ok()).unwrap_or(1000);
    let lines: usize = arguments.next().and_then(|value| value.parse().ok()).unwrap_or(5000);
    let workspace = arguments.next().map(|folder| std::path::Path::new(&folder).canonicalize().expect("FOLDER exists"));
    let directory = tempfile::tempdir().expect("a temporary directory");
    let source = generated::module(lines);
    let path = directory.path().canonicalize().unwrap().join("bench_module.py");
    std::fs::write(&path, &source).unwrap();
    let uri = format!("file://{}", path.display());

    let (mut service, socket) = asynclint::lsp::service();
    let mut inbox = support::drain(socket);
    let (sender, mut published) = tokio::sync::mpsc::unbounded_channel::<(Value, Instant)>();
    tokio::spawn(async move {
        while let Some(json) = inbox.recv().await {
            let arrived = Instant::now();
            if json["method"] == "textDocument/publishDiagnostics" && sender.send((json, arrived)).is_err() {
                break;
            }
        }
    });
    let root = workspace.clone().unwrap_or_else(|| directory.path().canonicalize().unwrap());
    let root = format!("file://{}", root.display());
    let initialize = json!({"processId": null, "rootUri": root, "capabilities": {}});
    call(&mut service, Request::build("initialize").params(initialize).id(1).finish()).await;
    // `initialized` returns when the workspace is indexed.
    call(&mut service, Request::build("initialized").params(json!({})).finish()).await;
    let item = json!({"uri": uri, "languageId": "python", "version": 1, "text": source});
    call(&mut service, Request::build("textDocument/didOpen").params(json!({"textDocument": item})).finish()).await;

    let (opened, _) = wait_for_version(&mut published, 1).await;
    let findings = opened["params"]["diagnostics"].as_array().map_or(0, Vec::len);

    // Type a new statement at the end of the last line of an async function in the middle of the file, over and
    // over: each character is one `didChange`, and the code is half-typed (unclosed parentheses) most of the time.
    let middle_line = source.lines().position(|line| line.starts_with("async def handler_")).unwrap_or(0)
        + source.lines().count() / 2 / 27 * 27;
    let target = source.lines().enumerate().skip(middle_line).find(|(_, line)| line.starts_with("async def handler_"));
    let (start, _) = target.expect("an async function to type into");
    let (mut line, last) = source
        .lines()
        .enumerate()
        .skip(start)
        .find(|(_, text)| text.trim_start().starts_with("return"))
        .expect("the function ends with a return");
    let typed = "\n    time.sleep(1)";
    let mut column = last.chars().map(char::len_utf16).sum::<usize>() as u32;
    let mut latencies = Vec::with_capacity(keystrokes);
    for keystroke in 0..keystrokes {
        let character = typed.chars().nth(keystroke % typed.chars().count()).unwrap();
        let version = keystroke as i64 + 2;
        let position = json!({"line": line, "character": column});
        let change = json!({"range": {"start": position, "end": position}, "text": character.to_string()});
        let params = json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]});
        let sent = Instant::now();
        call(&mut service, Request::build("textDocument/didChange").params(params).finish()).await;
        let (_, arrived) = wait_for_version(&mut published, version).await;
        latencies.push(arrived.duration_since(sent));
        if character == '\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
    }
    latencies.sort();
    let total: Duration = latencies.iter().sum();
    let against = workspace.map_or_else(String::new, |folder| format!(", workspace {} indexed", folder.display()));
    println!("file: {} lines, {} bytes, {findings} findings on open{against}", source.lines().count(), source.len());
    println!(
        "{keystrokes} keystrokes: mean {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        total.as_secs_f64() * 1000.0 / keystrokes as f64,
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.95).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
}

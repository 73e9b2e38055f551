//! Workspace index: the time from `initialized` to the end of the server's indexing progress for a folder, driven in
//! process: first cold (an empty cache), then warm (a second session reading the summaries the first one cached).
//! Run: `cargo run --release --example index_time -- FOLDER`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use tower::{Service, ServiceExt};
use tower_lsp_server::jsonrpc::Request;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let folder = std::env::args().nth(1).expect("usage: index_time FOLDER");
    let folder = std::path::Path::new(&folder).canonicalize().expect("the folder exists");
    let cache = tempfile::tempdir().expect("a temporary directory");
    // Set before any thread reads the environment; the server takes its cache directory from it.
    std::env::set_var("ASYNCLINT_CACHE_DIR", cache.path());
    for session in ["cold", "warm"] {
        let (seconds, files) = index(&folder).await;
        println!("{session} index of {}: {seconds:.2} s ({files})", folder.display());
    }
}

/// Seconds from `initialized` to the end of indexing, and the last progress message.
async fn index(folder: &std::path::Path) -> (f64, String) {
    let (mut service, socket) = asynclint::lsp::service();
    let mut inbox = support::drain(socket);
    let (sender, mut ended) = tokio::sync::mpsc::unbounded_channel::<(Instant, String)>();
    tokio::spawn(async move {
        while let Some(json) = inbox.recv().await {
            let value = &json["params"]["value"];
            if json["method"] == "$/progress" && value["kind"] == "report" {
                let _ = sender.send((Instant::now(), value["message"].as_str().unwrap_or("").to_owned()));
            }
            if json["method"] == "$/progress"
                && value["kind"] == "end"
                && sender.send((Instant::now(), "end".into())).is_err()
            {
                break;
            }
        }
    });
    let uri = format!("file://{}", folder.display());
    let initialize = json!({"processId": null, "rootUri": uri, "capabilities": {"window": {"workDoneProgress": true}}});
    let request = Request::build("initialize").params(initialize).id(1).finish();
    service.ready().await.unwrap().call(request).await.unwrap();
    let started = Instant::now();
    let request = Request::build("initialized").params(json!({})).finish();
    let server = tokio::spawn(async move {
        service.ready().await.unwrap().call(request).await.unwrap();
        service
    });
    let mut files = String::new();
    loop {
        let (at, message) = tokio::time::timeout(Duration::from_secs(600), ended.recv()).await.unwrap().unwrap();
        if message == "end" {
            // `initialized` returns once the index is built and its cache written.
            server.await.expect("the server indexes without panicking");
            return (at.duration_since(started).as_secs_f64(), files);
        }
        files = message;
    }
}

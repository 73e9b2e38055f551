//! Helpers shared by the integration tests and the benchmark harnesses (included with `#[path]`).
#![allow(dead_code)] // each including crate uses a different subset

use std::path::Path;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tower_lsp_server::jsonrpc::Response;
use tower_lsp_server::ClientSocket;

/// Drains the server-to-client socket as an editor would: answers the server's requests (progress tokens,
/// configuration) with `null`, and forwards every message as JSON. The socket holds one message at a time, so it
/// must be read concurrently with the requests the test sends.
pub fn drain(socket: ClientSocket) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let (mut from_server, mut to_server) = socket.split();
    let (sender, inbox) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = from_server.next().await {
            let json = serde_json::to_value(&message).expect("messages serialise");
            let (_, id, _) = message.into_parts();
            if let Some(id) = id {
                let _ = to_server.send(Response::from_ok(id, Value::Null)).await;
            }
            if sender.send(json).is_err() {
                break;
            }
        }
    });
    inbox
}

/// A temporary project: a `pyproject.toml` and the given files.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("pyproject.toml"), "[project]\nname = \"demo\"\n").unwrap();
    for (name, text) in files {
        let path: &Path = &directory.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    directory
}

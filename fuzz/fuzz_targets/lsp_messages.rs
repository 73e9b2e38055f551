//! Fuzz target (d): the LSP front end with arbitrary input. The raw bytes go through the stdio frame decoder; the
//! same bytes, read as one JSON-RPC message per line, go to the server's handlers after `initialize` and the opening
//! of a document with findings. No input may crash the server or leave a request unanswered.
#![no_main]

#[path = "../../tests/support/mod.rs"]
mod support;

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tower::{Service, ServiceExt};
use tower_lsp_server::jsonrpc::Request;

/// Longer than any handler needs; a request still pending then is a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// Messages per input beyond which the rest is ignored, to keep each run short.
const MAX_MESSAGES: usize = 64;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime")
    })
}

fn preamble() -> [Request; 3] {
    let text = "import time\nimport asyncio\n\nasync def main():\n    time.sleep(1)\n    asyncio.create_task(main())\n";
    [
        Request::build("initialize").params(json!({"processId": null, "capabilities": {}})).id(0).finish(),
        Request::build("initialized").params(json!({})).finish(),
        Request::build("textDocument/didOpen")
            .params(json!({"textDocument": {"uri": "file:///fuzz/app.py", "languageId": "python", "version": 1, "text": text}}))
            .finish(),
    ]
}

fuzz_target!(|bytes: &[u8]| {
    runtime().block_on(async {
        let mut decoded = Vec::new();
        let (answers, _answered) = tokio::sync::mpsc::unbounded_channel();
        asynclint::lsp::forward_well_formed(bytes, &mut decoded, answers).await;

        let (mut service, socket) = asynclint::lsp::service();
        let _inbox = support::drain(socket);
        let fuzzed = bytes
            .split(|&byte| byte == b'\n')
            .filter_map(|line| serde_json::from_slice::<Request>(line).ok())
            .take(MAX_MESSAGES);
        for request in preamble().into_iter().chain(fuzzed) {
            let answered = tokio::time::timeout(ANSWER_WITHIN, async {
                let ready = service.ready().await.ok()?;
                ready.call(request).await.ok()
            });
            if answered.await.is_err() {
                panic!("a request was not answered within {ANSWER_WITHIN:?}");
            }
        }
    });
});

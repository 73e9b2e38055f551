//! Fuzz target (e): the whole stdio read loop with the protocol library in it. After `initialize`, arbitrary frames
//! (any body, an arbitrary extra header) go through the frame guard into a real `Server` running the real service,
//! followed by a valid `shutdown`: unless the frames themselves ended the session with `exit`, the shutdown must be
//! answered, so no frame may stop the server from reading.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt;

/// The id of the closing `shutdown`, unlike any a fuzzed frame is likely to carry.
const SHUTDOWN_ID: &str = "fuzz-final-shutdown";

#[derive(Arbitrary, Debug)]
struct Frame {
    /// One more header line; line breaks are dropped, and a second `Content-Length` is not added.
    header: Vec<u8>,
    body: Vec<u8>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime")
    })
}

fn push_frame(input: &mut Vec<u8>, header: &[u8], body: &[u8]) {
    input.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    let header: Vec<u8> = header.iter().copied().filter(|&byte| byte != b'\r' && byte != b'\n').collect();
    if !header.is_empty() && !String::from_utf8_lossy(&header).trim().to_ascii_lowercase().starts_with("content-length")
    {
        input.extend_from_slice(&header);
        input.extend_from_slice(b"\r\n");
    }
    input.extend_from_slice(b"\r\n");
    input.extend_from_slice(body);
}

fuzz_target!(|frames: Vec<Frame>| {
    let mut input = Vec::new();
    push_frame(&mut input, b"", br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}}"#);
    push_frame(&mut input, b"", br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#);
    for frame in frames.iter().take(64) {
        push_frame(&mut input, &frame.header, &frame.body);
    }
    let shutdown = format!(r#"{{"jsonrpc":"2.0","id":"{SHUTDOWN_ID}","method":"shutdown"}}"#);
    push_frame(&mut input, b"", shutdown.as_bytes());
    runtime().block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        let reader = tokio::spawn(async move {
            let mut output = Vec::new();
            let mut client = client;
            let _ = client.read_to_end(&mut output).await;
            output
        });
        let outcome = asynclint::lsp::serve(std::io::Cursor::new(input), server).await;
        let output = String::from_utf8_lossy(&reader.await.expect("the reader finishes")).into_owned();
        let answered = output.contains(&format!(r#""id":"{SHUTDOWN_ID}""#));
        assert!(outcome.exit_received || answered, "the final shutdown was not answered:\n{output}");
    });
});

//! The language server (`asynclint server`): LSP over stdio on tower-lsp-server. Only this layer knows LSP types.

mod backend;
mod convert;

pub use backend::Backend;

use std::process::ExitCode;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower_lsp_server::{ClientSocket, LspService, Server};

/// Messages larger than this are discarded unread: no client sends one, and buffering it could exhaust memory.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
/// What a malformed message becomes: a notification the server ignores. (The protocol library would otherwise answer
/// the parse error and then stop reading, which an editor sees as a crash.)
const IGNORED_MESSAGE: &[u8] = br#"{"jsonrpc":"2.0","method":"$/asynclint/ignoredMalformedMessage"}"#;

/// The service and the socket of server-to-client messages, for running over stdio or driving in process (tests).
pub fn service() -> (LspService<Backend>, ClientSocket) {
    LspService::new(Backend::new)
}

/// Serves LSP on stdin/stdout until the client sends `exit` or closes stdin.
pub fn run_stdio() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("asynclint: error: cannot start the server runtime: {error}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        let (service, socket) = service();
        let (server_input, guard_output) = tokio::io::duplex(1 << 20);
        let guard = tokio::spawn(forward_well_formed(tokio::io::BufReader::new(tokio::io::stdin()), guard_output));
        Server::new(server_input, tokio::io::stdout(), socket).serve(service).await;
        guard.abort();
    });
    // Background indexing may still run on a blocking thread; it must not keep the process alive.
    runtime.shutdown_background();
    ExitCode::SUCCESS
}

/// Copies LSP frames from `input` to `output`, replacing any frame whose body is not JSON, or whose length is missing
/// or oversized, by a message the server ignores. Ends at end of input.
pub async fn forward_well_formed(mut input: impl AsyncBufRead + Unpin, mut output: impl AsyncWrite + Unpin) {
    loop {
        let mut length: Option<usize> = None;
        let mut headers_seen = false;
        loop {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            if line.is_empty() {
                if headers_seen {
                    break;
                }
                continue;
            }
            headers_seen = true;
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok();
                }
            }
        }
        let body = match length {
            Some(length) if length <= MAX_MESSAGE_BYTES => {
                let mut body = vec![0; length];
                if input.read_exact(&mut body).await.is_err() {
                    return;
                }
                if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
                    body
                } else {
                    eprintln!("asynclint: ignoring a message whose body is not JSON");
                    IGNORED_MESSAGE.to_vec()
                }
            }
            Some(length) => {
                eprintln!("asynclint: discarding a message of {length} bytes (the limit is {MAX_MESSAGE_BYTES})");
                let mut rest = (&mut input).take(length as u64);
                if tokio::io::copy(&mut rest, &mut tokio::io::sink()).await.is_err() {
                    return;
                }
                IGNORED_MESSAGE.to_vec()
            }
            None => {
                eprintln!("asynclint: ignoring a message without a valid Content-Length header");
                continue;
            }
        };
        let header = format!("Content-Length: {}\r\n\r\n", body.len());
        let written = async {
            output.write_all(header.as_bytes()).await?;
            output.write_all(&body).await?;
            output.flush().await
        };
        if written.await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn forwarded(input: &[u8]) -> String {
        let mut output = Vec::new();
        forward_well_formed(input, &mut output).await;
        String::from_utf8(output).unwrap()
    }

    #[tokio::test]
    async fn malformed_frames_become_ignored_messages() {
        let good = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let mut input = format!("Content-Length: {}\r\n\r\n", good.len()).into_bytes();
        input.extend_from_slice(good);
        input.extend_from_slice(b"Content-Length: 9\r\n\r\n{not json");
        input.extend_from_slice(b"Content-Type: nothing\r\n\r\n");
        let output = forwarded(&input).await;
        let ignored = std::str::from_utf8(IGNORED_MESSAGE).unwrap();
        assert_eq!(
            output,
            format!(
                "Content-Length: {}\r\n\r\n{}Content-Length: {}\r\n\r\n{ignored}",
                good.len(),
                std::str::from_utf8(good).unwrap(),
                ignored.len()
            )
        );
    }

    #[tokio::test]
    async fn oversized_frames_are_discarded_without_buffering() {
        let input = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE_BYTES + 1).into_bytes();
        let output = forwarded(&input).await;
        let ignored = std::str::from_utf8(IGNORED_MESSAGE).unwrap();
        assert_eq!(output, format!("Content-Length: {}\r\n\r\n{ignored}", ignored.len()));
    }
}

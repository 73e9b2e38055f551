//! The stdio framing around the protocol library: a guard that lets through only the frames tower-lsp-server can
//! decode and answers every other one itself, and the relay that merges those answers into the library's output.
//!
//! tower-lsp-server stops reading at the first frame it cannot decode (its framed reader ends after an error), so one
//! malformed message would end the session. The guard decides with the library's own types exactly what it would
//! accept, and answers the rest with a JSON-RPC error, as the library would before stopping.

use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedSender;
use tower_lsp_server::jsonrpc::{Error, Id, Request, Response};

/// Messages larger than this are discarded unread: no client sends one, and buffering it could exhaust memory.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// What tower-lsp-server decodes each frame's body into (its `jsonrpc::Message` is private, and is this enum): a body
/// that deserialises into it passes the library's decoder.
#[derive(Deserialize)]
#[serde(untagged)]
enum Incoming {
    // Each variant only has to deserialise; its value is dropped.
    #[allow(dead_code)]
    Response(Response),
    #[allow(dead_code)]
    Request(Request),
}

/// One complete frame (header and body) of a JSON-RPC message.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    framed.extend_from_slice(body);
    framed
}

fn error_frame(id: Id, error: Error) -> Vec<u8> {
    let body = serde_json::to_vec(&Response::from_error(id, error)).expect("a response serialises");
    frame(&body)
}

/// Whether the library decodes `body`; if not, the error response it gets: a parse error (id null) for invalid UTF-8
/// or invalid JSON, an invalid request otherwise, with the message's id when that is a valid id.
fn check_body(body: &[u8]) -> Result<(), Vec<u8>> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(error_frame(Id::Null, Error::parse_error()));
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Err(error_frame(Id::Null, Error::parse_error()));
    };
    if serde_json::from_str::<Incoming>(text).is_ok() {
        return Ok(());
    }
    let id = value.get("id").and_then(|id| Id::deserialize(id).ok()).unwrap_or(Id::Null);
    Err(error_frame(id, Error::invalid_request()))
}

/// The header block of the next frame: `Some(Some(length))`, `Some(None)` when it has no usable `Content-Length`, and
/// `None` at end of input.
async fn read_header(input: &mut (impl AsyncBufRead + Unpin)) -> Option<Option<usize>> {
    let mut length = None;
    let mut headers_seen = false;
    loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&line);
        // Only an empty line ends the headers: a line of blanks is a (malformed) header, and ending there would
        // read the body from the wrong place (found by fuzzing).
        if line.trim_end_matches(['\r', '\n']).is_empty() {
            if headers_seen {
                return Some(length);
            }
            continue;
        }
        headers_seen = true;
        let line = line.trim();
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            }
        }
    }
}

/// Copies LSP frames from `input` to `output` (re-framed with only a `Content-Length` header) when the library can
/// decode them; sends an error response to `answers` for every other frame, and for headers without a valid or with
/// an oversized length. Ends at end of input, or when either side is closed.
pub async fn forward_well_formed(
    mut input: impl AsyncBufRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
    answers: UnboundedSender<Vec<u8>>,
) {
    loop {
        let Some(length) = read_header(&mut input).await else { return };
        let verdict = match length {
            Some(length) if length <= MAX_MESSAGE_BYTES => {
                let mut body = vec![0; length];
                if input.read_exact(&mut body).await.is_err() {
                    return;
                }
                check_body(&body).map(|()| body)
            }
            Some(length) => {
                eprintln!("asynclint: discarding a message of {length} bytes (the limit is {MAX_MESSAGE_BYTES})");
                let mut rest = (&mut input).take(length as u64);
                if tokio::io::copy(&mut rest, &mut tokio::io::sink()).await.is_err() {
                    return;
                }
                Err(error_frame(Id::Null, Error::invalid_request()))
            }
            None => {
                eprintln!("asynclint: ignoring a message without a valid Content-Length header");
                Err(error_frame(Id::Null, Error::parse_error()))
            }
        };
        match verdict {
            Ok(body) => {
                let written = async {
                    output.write_all(&frame(&body)).await?;
                    output.flush().await
                };
                if written.await.is_err() {
                    return;
                }
            }
            Err(answer) => {
                eprintln!("asynclint: answering a malformed message with an error");
                if answers.send(answer).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads the library's output frame by frame and sends each whole frame to `frames`, so that the guard's answers,
/// sent to the same channel, never land inside one of them. Ends at end of input.
pub async fn relay_frames(mut input: impl AsyncBufRead + Unpin, frames: UnboundedSender<Vec<u8>>) {
    while let Some(Some(length)) = read_header(&mut input).await {
        let mut body = vec![0; length];
        if input.read_exact(&mut body).await.is_err() || frames.send(frame(&body)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the guard forwards, and the answers it sends, for `input`.
    async fn guarded(input: &[u8]) -> (String, Vec<String>) {
        let mut output = Vec::new();
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        forward_well_formed(input, &mut output, sender).await;
        let mut answers = Vec::new();
        while let Ok(answer) = receiver.try_recv() {
            answers.push(String::from_utf8(answer).unwrap());
        }
        (String::from_utf8(output).unwrap(), answers)
    }

    fn answer(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn well_formed_frames_pass_and_malformed_ones_are_answered() {
        let good = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let mut input = answer(good).into_bytes();
        input.extend_from_slice(b"Content-Length: 9\r\n\r\n{not json");
        input.extend_from_slice(answer(r#"{"jsonrpc":"1.0","id":7,"method":"shutdown"}"#).as_bytes());
        input.extend_from_slice(b"Content-Type: nothing\r\n\r\n");
        let (output, answers) = guarded(&input).await;
        assert_eq!(output, answer(good));
        let parse_error = r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#;
        let invalid = r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request"},"id":7}"#;
        assert_eq!(answers, [answer(parse_error), answer(invalid), answer(parse_error)]);
    }

    #[tokio::test]
    async fn a_header_line_of_blanks_does_not_end_the_headers() {
        let good = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let input = format!("Content-Length: {}\r\n\t \r\n\r\n{good}{}", good.len(), answer(good));
        let (output, answers) = guarded(input.as_bytes()).await;
        assert_eq!((output, answers), (format!("{}{}", answer(good), answer(good)), Vec::new()));
    }

    #[test]
    fn the_library_s_shape_decides() {
        let accepted: [&[u8]; 3] = [
            br#"{"jsonrpc":"2.0","id":"a","method":"x","params":[1]}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":null}"#,
            br#"{"jsonrpc":"2.0","method":"x"}"#,
        ];
        for body in accepted {
            assert!(check_body(body).is_ok(), "{}", String::from_utf8_lossy(body));
        }
        let rejected: [(&[u8], &str); 9] = [
            (b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}", "-32700,"),
            (b"{\"jsonrpc\":\"2.0\",\"method\":\"\xed\xa0\x80\"}", "-32700,"),
            (br#"{"jsonrpc":"2.0","id":1,"method":"x","params":"\ud800"}"#, "-32700,"),
            (b"[]", "-32600,"),
            (br#"{"jsonrpc":"1.0","id":"s","method":"x"}"#, r#""id":"s""#),
            (b"5", "-32600,"),
            (br#"{"jsonrpc":"2.0","id":{},"method":"x"}"#, r#""id":null"#),
            (br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, r#""id":null"#),
            (b"", "-32700,"),
        ];
        for (body, expected) in rejected {
            let answer = String::from_utf8(check_body(body).unwrap_err()).unwrap();
            assert!(answer.contains(expected), "{answer} for {}", String::from_utf8_lossy(body));
        }
    }

    #[tokio::test]
    async fn oversized_frames_are_discarded_without_buffering() {
        let input = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE_BYTES + 1).into_bytes();
        let (output, answers) = guarded(&input).await;
        assert_eq!(output, "");
        assert_eq!(answers.len(), 1);
        assert!(answers[0].contains("-32600"), "{}", answers[0]);
    }

    #[tokio::test]
    async fn the_relay_passes_whole_frames() {
        let input = format!("{}{}", answer("{}"), answer("[1]"));
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        relay_frames(input.as_bytes(), sender).await;
        assert_eq!(receiver.recv().await.unwrap(), answer("{}").into_bytes());
        assert_eq!(receiver.recv().await.unwrap(), answer("[1]").into_bytes());
        assert!(receiver.recv().await.is_none());
    }
}

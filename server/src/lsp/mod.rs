//! The language server (`asynclint server`): LSP over stdio on tower-lsp-server. Only this layer knows LSP types.

mod backend;
mod convert;
mod documents;
mod frames;

pub use backend::Backend;
pub use frames::forward_well_formed;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tower::Service;
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::{ClientSocket, LspService, Server};

/// The service and the socket of server-to-client messages, for running over stdio or driving in process (tests).
pub fn service() -> (LspService<Backend>, ClientSocket) {
    LspService::new(Backend::new)
}

/// How a session ended, as far as the exit status cares.
#[derive(Debug, Default)]
pub struct Outcome {
    /// A `shutdown` request reached the server.
    pub shutdown_requested: bool,
    /// An `exit` notification ended the session (rather than the end of input).
    pub exit_received: bool,
}

impl Outcome {
    /// The LSP specification's exit status: 0 after `shutdown`, 1 when the session ends without one.
    pub fn exit_code(&self) -> ExitCode {
        if self.shutdown_requested {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
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
    let outcome = runtime.block_on(serve(tokio::io::stdin(), tokio::io::stdout()));
    // Background indexing may still run on a blocking thread; it must not keep the process alive.
    runtime.shutdown_background();
    outcome.exit_code()
}

/// Serves one session: `input` goes through the frame guard into the protocol library, and the library's output and
/// the guard's error answers are merged, whole frame by whole frame, into `output`. Returns once the session ends and
/// everything is written.
pub async fn serve(
    input: impl AsyncRead + Unpin + Send + 'static,
    mut output: impl AsyncWrite + Unpin + Send + 'static,
) -> Outcome {
    let (service, socket) = service();
    let seen = Arc::new(Seen::default());
    let service = Watched { inner: service, seen: seen.clone() };
    let (guard_output, server_input) = tokio::io::duplex(1 << 20);
    let (server_output, relay_input) = tokio::io::duplex(1 << 20);
    let (frames, mut outbox) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let guard =
        tokio::spawn(frames::forward_well_formed(tokio::io::BufReader::new(input), guard_output, frames.clone()));
    let relay = tokio::spawn(frames::relay_frames(tokio::io::BufReader::new(relay_input), frames));
    let writer = tokio::spawn(async move {
        while let Some(frame) = outbox.recv().await {
            if output.write_all(&frame).await.is_err() || output.flush().await.is_err() {
                return;
            }
        }
    });
    Server::new(server_input, server_output, socket).serve(service).await;
    // The library has written its last frame and closed its output; the guard may still wait on input (a client that
    // keeps stdin open after `exit`), and its answers are moot now.
    guard.abort();
    let _ = guard.await;
    let _ = relay.await;
    let _ = writer.await;
    Outcome {
        shutdown_requested: seen.shutdown.load(Ordering::SeqCst),
        exit_received: seen.exit.load(Ordering::SeqCst),
    }
}

/// What the session has seen: the library handles `shutdown` and `exit` itself, so only the service's caller can
/// tell the exit status.
#[derive(Default)]
struct Seen {
    shutdown: AtomicBool,
    exit: AtomicBool,
}

/// The language service, noting `shutdown` and `exit` on their way in.
struct Watched<S> {
    inner: S,
    seen: Arc<Seen>,
}

impl<S: Service<Request, Response = Option<Response>>> Service<Request> for Watched<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> S::Future {
        match request.method() {
            "shutdown" if request.id().is_some() => self.seen.shutdown.store(true, Ordering::SeqCst),
            "exit" => self.seen.exit.store(true, Ordering::SeqCst),
            _ => {}
        }
        self.inner.call(request)
    }
}

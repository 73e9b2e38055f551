//! The language server (`asynclint server`): LSP over stdio on tower-lsp-server. Only this layer knows LSP types.

mod backend;
mod convert;

pub use backend::Backend;

use std::process::ExitCode;

use tower_lsp_server::{ClientSocket, LspService, Server};

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
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket).serve(service).await;
    });
    // Background indexing may still run on a blocking thread; it must not keep the process alive.
    runtime.shutdown_background();
    ExitCode::SUCCESS
}

//! asynclint: the I/O-free analysis core, and the two front ends that drive it (the CLI and the language server).
pub mod cli;
pub mod core;
pub mod lsp;
pub mod workspace;

//! asynclint: the I/O-free analysis core, the two front ends that drive it (the CLI and the language server), and
//! what they share on disk (project discovery, the check cache), and Jupyter notebooks as Python text.
pub mod cache;
pub mod cli;
pub mod core;
pub mod environment;
pub mod lsp;
pub mod notebook;
pub mod workspace;

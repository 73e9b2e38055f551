//! asynclint: the I/O-free analysis core and the command-line front end that drives it.
pub mod cli;
pub mod core;

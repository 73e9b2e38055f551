//! The `asynclint` binary: hands over to the CLI front end.

fn main() -> std::process::ExitCode {
    asynclint::cli::main()
}

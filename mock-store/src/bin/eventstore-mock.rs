//! `eventstore-mock`: the mock event store as a standalone server, for tests
//! in other processes and languages. See `eventstore-mock --help`. The
//! command line is [`eventstore_mock::cli`] (the same one the Python
//! wheel's `eventstore-mock` runs); this is its runtime.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let code = eventstore_mock::cli::main_from(std::env::args_os()).await;
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

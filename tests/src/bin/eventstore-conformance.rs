//! `eventstore-conformance`: is a store faithful to `spec/semantics.md`?
//! The command line is [`eventstore_conformance::cli`] (the same one the
//! Python wheel's `eventstore-conformance` runs); this is its runtime.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("eventstore-conformance: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(eventstore_conformance::cli::main_from(std::env::args_os()));
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

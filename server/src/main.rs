//! `eventstore-server`: parses the flags, sets up logging, serves until
//! SIGTERM or SIGINT. See `eventstore-server --help`.

use clap::Parser;
use eventstore_server::{Config, run, serve::Termination};
use std::{io::Write, process::ExitCode};
use tokio::signal::unix::SignalKind;

/// SIGXFSZ, "file size limit exceeded" (25 on Linux).
const SIGXFSZ: i32 = 25;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if config.probe {
        return match eventstore_server::probe::probe(&config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("eventstore-server --probe: {e}");
                ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    // Before anything can print the readiness line: a SIGTERM sent right
    // after it must already find the handler.
    let termination = match Termination::listen() {
        Ok(termination) => termination,
        Err(e) => {
            eprintln!("eventstore-server: cannot listen for SIGTERM and SIGINT: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The data file at the process's file-size limit (`ulimit -f`) raises
    // SIGXFSZ, whose default action kills the process. Handled (and
    // ignored), the write fails with EFBIG instead: that append gets
    // RESOURCE_EXHAUSTED, later ones the restart message, and reads go on.
    let _file_size_limit = match tokio::signal::unix::signal(SignalKind::from_raw(SIGXFSZ)) {
        Ok(signal) => signal,
        Err(e) => {
            eprintln!("eventstore-server: cannot handle SIGXFSZ: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match run(&config, termination.wait()).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("eventstore-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The readiness line: harnesses wait for it and read the port from it.
    let mut stdout = std::io::stdout().lock();
    let printed = writeln!(
        stdout,
        "eventstore-server listening on {}",
        server.local_addr
    )
    .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = printed {
        tracing::warn!("cannot print the readiness line: {e}");
    }
    tracing::info!(addr = %server.local_addr, limits = ?server.store.limits(), "serving eventstore.v1");

    match server.task.await {
        Ok(Ok(())) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("eventstore-server: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("eventstore-server: server task failed: {e}");
            ExitCode::FAILURE
        }
    }
}

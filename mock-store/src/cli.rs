//! `eventstore-mock`, the command line: the mock as a standalone server
//! (and `eventstore-mock record`). One front end, run by the Rust binary
//! (`src/bin/eventstore-mock.rs`) and by the Python wheel's
//! `eventstore-mock` / `python -m eventstore.testing.mock_server` (which
//! pass their argv to [`main_from`]), so the two commands are the same by
//! construction: flags, variables, readiness line, logs, signals and exit
//! status. See `eventstore-mock --help`.

use crate::{Backend, MockEventStore, record, seed};
use clap::{Parser, Subcommand};
use eventstore_engine::assembly::Termination;
use std::{ffi::OsString, io::Write, net::SocketAddr, path::PathBuf};
use tracing_subscriber::EnvFilter;

eventstore_engine::limit_flags!(
    /// The engine's limits as flags, each with its `EVENTSTORE_MOCK_*` variable.
    struct LimitFlags,
    env_prefix = "EVENTSTORE_MOCK_"
);

eventstore_engine::transport_flags!(
    /// How connections are served, each with its `EVENTSTORE_MOCK_*` variable.
    struct TransportFlags,
    env_prefix = "EVENTSTORE_MOCK_"
);

/// The mock event store: a working in-memory eventstore.v1 server with a call
/// journal, expectations, fault injection and verification.
///
/// Appends, reads and subscriptions behave exactly as the real store's. The
/// control API, gRPC service `eventstore.testing.v1.MockControl` on the same
/// port, mounts expectations (JSON), reads the call journal, verifies,
/// resets, seeds and reads streams, and turns strict mode on or off. gRPC
/// health (`grpc.health.v1.Health`, SERVING) and server reflection are
/// served there too.
///
/// Prints one line `eventstore-mock listening on <ip:port>` to stdout once it
/// accepts requests (after --seed is loaded); logs go to stderr, filtered by
/// RUST_LOG (default `info`). SIGTERM or SIGINT stops it and it exits 0.
///
/// `eventstore-mock record ...` instead writes a fixture from a real store's
/// tenant, for --seed (see `eventstore-mock record --help`).
#[derive(Debug, Clone, Parser)]
#[command(name = "eventstore-mock", version)]
struct Config {
    /// Without a subcommand, the mock serves.
    #[command(subcommand)]
    command: Option<Command>,

    /// Address to listen on; port 0 picks a free port (the readiness line
    /// shows the real one).
    #[arg(
        long,
        env = "EVENTSTORE_MOCK_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    listen: SocketAddr,

    /// JSON fixture file of streams to preload before accepting requests
    /// (format: {"streams": [{"tenant_id", "aggregate_id", "aggregate_type",
    /// "events": [{"event_type", "payload", ...}]}]}; see the
    /// `eventstore_mock::seed` docs). A file that is not valid stops the mock
    /// with an error naming the line and the field.
    #[arg(long, env = "EVENTSTORE_MOCK_SEED", value_name = "FILE")]
    seed: Option<PathBuf>,

    /// Strict mode: a call no expectation matches fails with
    /// FAILED_PRECONDITION (and is reported by Verify). The control API's
    /// SetStrict changes it at run time.
    #[arg(long, env = "EVENTSTORE_MOCK_STRICT")]
    strict: bool,

    /// On shutdown, verify the expectations: print the report to stderr and
    /// exit 1 if any is unmet.
    #[arg(long, env = "EVENTSTORE_MOCK_VERIFY_ON_EXIT")]
    verify_on_exit: bool,

    /// Require this username (with --password) as `authorization: Basic`
    /// on every call: eventstore.v1, the control API (MockControl) and
    /// reflection; grpc.health.v1.Health stays open for probes. Missing or
    /// wrong credentials get UNAUTHENTICATED.
    #[arg(long, env = "EVENTSTORE_MOCK_USERNAME", requires = "password")]
    username: Option<String>,

    /// The password that goes with --username. Prefer the variable
    /// EVENTSTORE_MOCK_PASSWORD: a flag's value is visible to every local user in the
    /// process list.
    #[arg(
        long,
        env = "EVENTSTORE_MOCK_PASSWORD",
        requires = "username",
        hide_env_values = true
    )]
    password: Option<String>,

    /// Require `authorization: Bearer TOKEN` on every call, as the
    /// reference's clients send it through its gateway; alone, or beside
    /// --username/--password (either then gets in). Prefer the variable
    /// EVENTSTORE_MOCK_TOKEN: a flag's value is visible in the process list.
    #[arg(
        long,
        env = "EVENTSTORE_MOCK_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,

    /// What GetServerInfo answers as `backend`: `memory` (default),
    /// `postgres` (as the reference's Postgres backend, the store many users
    /// run in production) or `unknown`.
    #[arg(
        long,
        env = "EVENTSTORE_MOCK_BACKEND",
        default_value = "memory",
        value_name = "BACKEND"
    )]
    backend: Backend,

    /// Record credential metadata (`authorization`, cookies, keys naming a
    /// token, secret, password or key) in the journal as sent. By default
    /// their values read `[redacted]` there (matchers still see them).
    #[arg(long, env = "EVENTSTORE_MOCK_JOURNAL_CREDENTIALS")]
    journal_credentials: bool,

    /// The limit flags (`--max-request-bytes` ...), shared with the server.
    #[command(flatten)]
    limits: LimitFlags,

    /// The transport flags (`--max-concurrent-streams` ...), shared with the server.
    #[command(flatten)]
    transport: TransportFlags,
}

#[derive(Debug, Clone, Subcommand)]
enum Command {
    /// Record a tenant's events from any store that serves ReadAll into a
    /// fixture file: `eventstore-mock --seed FILE` (or
    /// `MockEventStore::from_fixture`) then answers every ReadStream and
    /// ReadAll with what the source answered, the same nonces included.
    Record(record::RecordArgs),
}

/// `eventstore-mock` as a command line: `argv[0]` names the program, the
/// rest are its flags (or `record ...`). Serves until SIGTERM or SIGINT
/// and returns the exit status: 0 once stopped, 1 when it cannot serve
/// (the reason is printed to stderr) or `--verify-on-exit` found an unmet
/// expectation, 2 for a usage error (0 for `--help` and `--version`).
///
/// Serving installs a log subscriber writing to stderr, filtered by
/// `RUST_LOG` (default `info`), unless the process has one already.
pub async fn main_from<I, T>(argv: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let config = match Config::try_parse_from(argv) {
        Ok(config) => config,
        Err(error) => {
            let _ = error.print();
            return error.exit_code();
        }
    };
    if let Some(Command::Record(args)) = &config.command {
        // No log subscriber: the command prints one line, or the error.
        return record::run(args).await;
    }
    // Err: a subscriber is installed already (a second run in one process).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match run(config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eventstore-mock: {e}");
            1
        }
    }
}

/// Prints the readiness line, `eventstore-mock listening on <address>`.
fn print_readiness(address: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "eventstore-mock listening on {address}")?;
    stdout.flush()
}

async fn run(config: Config) -> Result<i32, String> {
    let limits = config
        .limits
        .limits()
        .map_err(|e| format!("invalid limits: {e}"))?;
    // Parse the fixtures before binding: a bad file never looks ready.
    let fixtures = match &config.seed {
        Some(path) => Some(seed::read_fixtures(path).map_err(|e| format!("--seed: {e}"))?),
        None => None,
    };
    let transport = config
        .transport
        .settings()
        .map_err(|e| format!("invalid transport settings: {e}"))?;
    let mut builder = MockEventStore::builder()
        .listen(config.listen)
        .strict(config.strict)
        .limits(limits.clone())
        .transport(transport)
        .redact_journal_credentials(!config.journal_credentials)
        .verify_on_drop(false);
    if let (Some(username), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(username, password);
    }
    if let Some(token) = &config.token {
        builder = builder.bearer_token(token);
    }
    builder = builder.backend(config.backend);
    let mock = builder.try_start().await.map_err(|e| e.to_string())?;
    if let (Some(streams), Some(path)) = (fixtures, &config.seed) {
        let count = streams.len();
        seed::load(&mock.engine(), streams)
            .await
            .map_err(|e| format!("--seed: {}: {e}", path.display()))?;
        tracing::info!(streams = count, file = %path.display(), "seeded");
    }

    // Before the readiness line: a SIGTERM sent right after it must already
    // find the handler, or it kills the mock with the default disposition.
    let termination =
        Termination::listen().map_err(|e| format!("cannot listen for SIGTERM and SIGINT: {e}"))?;
    // The readiness line: harnesses wait for it and read the port from it.
    print_readiness(mock.address()).map_err(|e| format!("cannot print the readiness line: {e}"))?;
    tracing::info!(
        addr = %mock.address(),
        strict = config.strict,
        credentials = config.username.is_some(),
        token = config.token.is_some(),
        backend = %config.backend,
        ?limits,
        "serving eventstore.v1 and eventstore.testing.v1.MockControl"
    );

    termination.wait().await;
    tracing::info!("shutting down");
    let code = if config.verify_on_exit {
        match mock.verify() {
            Ok(()) => 0,
            Err(report) => {
                eprintln!("{report}");
                1
            }
        }
    } else {
        0
    };
    // Stops accepting, ends open subscriptions.
    drop(mock);
    tracing::info!("stopped");
    Ok(code)
}

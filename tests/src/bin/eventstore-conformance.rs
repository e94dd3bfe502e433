//! `eventstore-conformance`: is a store faithful to `spec/semantics.md`?
//!
//! - `check --endpoint HOST:PORT`: runs every case of the conformance suite
//!   against the store, each in a fresh tenant; one line per case, then
//!   `N passed, M failed`; exit status 0 only when none failed.
//! - `diff --a HOST:PORT --b HOST:PORT [--ops N] [--seed S]`: the same
//!   random operations to two stores, every differing answer printed, then
//!   `N operations, M differences`; exit status 0 only when M is 0.
//!
//! `--json` prints the report as JSON instead. Exit status 2: the store
//! cannot be used (unreachable, bad options). The Python wheel ships the
//! same command (`python -m eventstore.testing.conformance`).

use clap::{Args, Parser, Subcommand};
use eventstore_conformance::{
    cases, diff::run_endpoints, endpoint::ConnectOptions, runner::Session,
};
use std::{io::Write, path::PathBuf, process::ExitCode};

#[derive(Debug, Parser)]
#[command(
    name = "eventstore-conformance",
    version,
    about = "Checks that an event store behaves as the eventstore.v1 semantics say."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every conformance case against the store at --endpoint.
    Check(CheckArgs),
    /// Send the same random operations to two stores and compare every answer.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The store: HOST:PORT, or http(s)://HOST:PORT.
    #[arg(long)]
    endpoint: String,
    /// PEM CA certificate of the store's TLS certificate (turns TLS on).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// PEM client certificate, for mutual TLS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The name the store's certificate is checked against (default: the host).
    #[arg(long, value_name = "NAME")]
    tls_domain: Option<String>,
    /// Basic-auth username (with --password).
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// Basic-auth password.
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// Bearer token, sent as `authorization: Bearer TOKEN` (instead of
    /// --username/--password).
    #[arg(
        long,
        env = "EVENTSTORE_TOKEN",
        value_name = "TOKEN",
        conflicts_with_all = ["username", "password"],
        hide_env_values = true
    )]
    token: Option<String>,
    /// Every tenant the cases use starts with this (then a run id).
    #[arg(long, default_value = "conformance-")]
    tenant_prefix: String,
    /// Only the cases whose id (module::name) contains PATTERN, or matches it as a glob (* and ?).
    #[arg(long, value_name = "PATTERN")]
    only: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// Store A: HOST:PORT, or http(s)://HOST:PORT.
    #[arg(long)]
    a: String,
    /// Store B: HOST:PORT, or http(s)://HOST:PORT.
    #[arg(long)]
    b: String,
    /// How many operations to send.
    #[arg(long, default_value_t = 1000)]
    ops: usize,
    /// Seed of the operation sequence (the same seed, the same sequence).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Every tenant the operations use starts with this (then a run id).
    #[arg(long, default_value = "conformance-diff-")]
    tenant_prefix: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn print(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn check(args: CheckArgs) -> ExitCode {
    let selected = cases::select(args.only.as_deref());
    if selected.is_empty() {
        eprintln!(
            "eventstore-conformance: --only {:?} selects no case",
            args.only.unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    let options = ConnectOptions {
        endpoint: args.endpoint,
        tls_ca: args.tls_ca,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        tls_domain: args.tls_domain,
        username: args.username,
        password: args.password,
        token: args.token,
    };
    let session = match Session::connect(&options, &args.tenant_prefix).await {
        Ok(session) => session,
        Err(error) => {
            eprintln!("eventstore-conformance: {error}");
            return ExitCode::from(2);
        }
    };
    let report = session
        .run_all(&selected, |outcome| {
            if !args.json {
                print(&outcome.line());
            }
        })
        .await;
    if args.json {
        print(&report.to_json(session.endpoint()).to_string());
    } else {
        print(&report.summary());
    }
    if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn diff(args: DiffArgs) -> ExitCode {
    let side = |endpoint: &str| ConnectOptions {
        endpoint: endpoint.to_owned(),
        ..ConnectOptions::default()
    };
    let json = args.json;
    let result = run_endpoints(
        &side(&args.a),
        &side(&args.b),
        args.ops,
        args.seed,
        &args.tenant_prefix,
        |difference| {
            if !json {
                print(&difference.text());
            }
        },
    )
    .await;
    match result {
        Ok(report) => {
            if json {
                print(&report.to_json(&args.a, &args.b, args.seed).to_string());
            } else {
                print(&report.summary());
            }
            if report.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("eventstore-conformance: {error}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    runtime.block_on(async move {
        match cli.command {
            Command::Check(args) => check(args).await,
            Command::Diff(args) => diff(args).await,
        }
    })
}

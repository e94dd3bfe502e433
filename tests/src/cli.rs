//! `eventstore-conformance`, the command line: is a store faithful to
//! `spec/semantics.md`? One front end, run by the Rust binary
//! (`src/bin/eventstore-conformance.rs`) and by the Python wheel's
//! `eventstore-conformance` / `python -m eventstore.testing.conformance`
//! (which pass their argv to [`main_from`]), so the two commands are the
//! same by construction.
//!
//! - `check --endpoint HOST:PORT`: runs every case of the conformance suite
//!   against the store, each in fresh tenants. It first says what it will
//!   write (test events, in new tenants named after `--tenant-prefix` and
//!   a run id, left in the store); then one line per case; then what it
//!   wrote (`wrote E events in T tenants starting with <run>`) and
//!   `N passed, M failed` (then the refused, skipped and deviating
//!   counts). A case is refused, not failed, when the store refused the
//!   credentials (`PERMISSION_DENIED`, `UNAUTHENTICATED`) on the way: a
//!   line then says what to do. Exit status: 1 when a case failed, else 2
//!   when one was refused, else 0. The connection options are the shared
//!   ones ([`ConnectArgs`]: TLS,
//!   credentials, `EVENTSTORE_PASSWORD`, `EVENTSTORE_TOKEN`, timeouts).
//! - `diff --a HOST:PORT --b HOST:PORT [--ops N] [--seed S]`: the same
//!   random operations to two stores, every differing answer printed, then
//!   `N operations, M differences`; exit status 0 only when M is 0. (No
//!   TLS or credentials: one set of connection flags cannot name two
//!   stores' options.) `--request-timeout SECONDS` (default 30): the
//!   longest wait for one call to either store.
//!
//! Every call to a store is within `--request-timeout` (`check`'s is the
//! shared connection flag, default 60 s), its whole answer included: a
//! store that accepts the connection and never answers is given up on,
//! naming it and the deadline (exit status 2 when that happens while
//! connecting).
//!
//! `--json` prints the report as JSON instead (`check`'s with `refused`
//! and `written`; its before-run line goes to stderr). Exit status 2: the
//! store cannot be used (unreachable, bad options, or, for `check`, it
//! refused the credentials a case needed) or the command line is wrong.

use crate::{cases, diff::run_endpoints_within, runner::Session};
use clap::{Args, Parser, Subcommand};
use eventstore_client::{ConnectArgs, ConnectOptions, cli::seconds};
use std::{ffi::OsString, io::Write, time::Duration};

/// The command's name, in its messages.
const PROGRAM: &str = "eventstore-conformance";

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
    ///
    /// The cases append test events to new tenants of the store (named
    /// after --tenant-prefix, then a run id), which stay there: point it at
    /// a store you can discard. Exit status: 0 every case passed (or was
    /// skipped, or is a known reference deviation), 1 a case failed, 2 the
    /// store refused the credentials a case needed (PERMISSION_DENIED,
    /// UNAUTHENTICATED: give credentials that may use those tenants) or
    /// could not be used.
    Check(CheckArgs),
    /// Send the same random operations to two stores and compare every answer.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The store: HOST:PORT, or http(s)://HOST:PORT.
    #[arg(long)]
    endpoint: String,
    /// Every tenant the cases use starts with this (then a run id).
    #[arg(long, default_value = "conformance-")]
    tenant_prefix: String,
    /// Only the cases whose id (module::name) contains PATTERN, or matches it as a glob (* and ?).
    #[arg(long, value_name = "PATTERN")]
    only: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
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
    // A negative number is a bad value of --ops (named), not another flag.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    ops: usize,
    /// Seed of the operation sequence (the same seed, the same sequence).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: u64,
    /// Every tenant the operations use starts with this (then a run id).
    #[arg(long, default_value = "conformance-diff-")]
    tenant_prefix: String,
    /// Seconds one call to either store may take (connecting's check
    /// included) before it is given up (a positive number).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "30",
        value_parser = seconds,
        allow_negative_numbers = true
    )]
    request_timeout: Duration,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn print(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn fail(message: impl std::fmt::Display) -> i32 {
    eprintln!("{PROGRAM}: {message}");
    2
}

async fn check(args: CheckArgs) -> i32 {
    let selected = cases::select(args.only.as_deref());
    if selected.is_empty() {
        return fail(format!(
            "--only '{}' selects no conformance case (ids are module::name; a pattern that \
             selects no case would check nothing)",
            args.only.unwrap_or_default()
        ));
    }
    let options = args.connect.options(&args.endpoint);
    let session = match Session::connect(&options, &args.tenant_prefix).await {
        Ok(session) => session,
        Err(error) => return fail(error),
    };
    // Before anything is written: what will be, and where (on stderr with
    // --json, so stdout stays one JSON document).
    let plan = session.plan(selected.len());
    if args.json {
        eprintln!("{PROGRAM}: {plan}");
    } else {
        print(&plan);
    }
    let report = session
        .run_all(&selected, |outcome| {
            if !args.json {
                print(&outcome.line());
            }
        })
        .await;
    if args.json {
        print(&session.report_json(&report).to_string());
    } else {
        if let Some(note) = session.refused_note(&report) {
            print(&note);
        }
        print(&session.written().line());
        print(&report.summary());
    }
    report.exit_status()
}

async fn diff(args: DiffArgs) -> i32 {
    let side = |endpoint: &str| ConnectOptions {
        endpoint: endpoint.to_owned(),
        request_timeout: Some(args.request_timeout),
        ..ConnectOptions::default()
    };
    let json = args.json;
    let result = run_endpoints_within(
        &side(&args.a),
        &side(&args.b),
        args.ops,
        args.seed,
        &args.tenant_prefix,
        args.request_timeout,
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
            if report.success() { 0 } else { 1 }
        }
        Err(error) => fail(error),
    }
}

/// `eventstore-conformance` as a command line: `argv[0]` names the
/// program, the rest are `check ...` or `diff ...`. Prints the report to
/// stdout (errors to stderr) and returns the exit status: 0 conforms, 1 a
/// case failed or an answer differed, 2 the command could not run (a
/// usage error, a store it cannot use, credentials it refused).
pub async fn main_from<I, T>(argv: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(argv) {
        Ok(cli) => match cli.command {
            Command::Check(args) => check(args).await,
            Command::Diff(args) => diff(args).await,
        },
        Err(error) => {
            let _ = error.print();
            error.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_s_default_deadline_is_the_library_s() {
        let cli = Cli::try_parse_from(["kit", "diff", "--a", "x:1", "--b", "y:2"]).expect("parses");
        let Command::Diff(args) = cli.command else {
            panic!("not diff: {cli:?}");
        };
        assert_eq!(args.request_timeout, crate::diff::CALL_TIMEOUT);
        let error = Cli::try_parse_from([
            "kit",
            "diff",
            "--a",
            "x:1",
            "--b",
            "y:2",
            "--request-timeout",
            "0",
        ])
        .map(|_| ())
        .expect_err("0 is refused");
        let error = error.to_string();
        assert!(
            error.contains("--request-timeout") && error.contains("'0'"),
            "{error}"
        );
    }
}

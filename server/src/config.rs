//! Command-line configuration. Every flag has an `EVENTSTORE_*` environment
//! variable, so a container can be configured without a shell; callers that
//! run the server in their own process hand the same variables to
//! [`Config::from_env_map`] (in `env.rs`), which parses them with these very
//! flags.

mod env;

pub use env::{ENV_PREFIX, EnvError};

use clap::Parser;
use eventstore_engine::{Limits, LimitsError};
use std::{net::SocketAddr, path::PathBuf};

eventstore_engine::limit_flags!(
    /// The engine's limits as flags, each with its `EVENTSTORE_*` variable.
    pub struct LimitFlags,
    env_prefix = "EVENTSTORE_"
);

eventstore_engine::transport_flags!(
    /// How connections are served (streams per connection, send buffer per
    /// stream, handshake timeout), each with its `EVENTSTORE_*` variable.
    pub struct TransportFlags,
    env_prefix = "EVENTSTORE_"
);

/// The flags that decide which connections and callers get in, kept
/// together behind one pointer in [`Config`].
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AdmissionFlags {
    /// The transport flags (`--max-concurrent-streams` ...), shared with the mock.
    #[command(flatten)]
    pub transport: TransportFlags,

    /// Require the credentials of a user of this file, and tie users to
    /// tenants: one `username:password:tenant1,tenant2` line per user (`*`
    /// for every tenant; `#` comments). A call naming a tenant not listed
    /// for its user gets PERMISSION_DENIED; GetServerInfo needs only valid
    /// credentials; health stays open. Instead of --username/--password.
    #[arg(long, env = "EVENTSTORE_USERS_FILE", value_name = "FILE")]
    pub users_file: Option<PathBuf>,

    /// Accept `authorization: Bearer TOKEN` on every call, for every tenant
    /// (as the reference's clients send it through its gateway); alone, or
    /// beside --username/--password (either then gets in). RFC 6750
    /// characters: letters, digits, `-._~+/`, trailing `=`. In a users file,
    /// a token per user: `:token=TOKEN` at the end of its line. Prefer the
    /// variable EVENTSTORE_TOKEN: a flag's value is visible in the process
    /// list.
    #[arg(
        long,
        env = "EVENTSTORE_TOKEN",
        value_name = "TOKEN",
        conflicts_with = "users_file",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// The real event store: the eventstore.v1 gRPC API, in memory or durable
/// (--data-dir), with optional username/password, bearer token and TLS or
/// mutual TLS.
///
/// Prints one line `eventstore-server listening on <ip:port>` to stdout once
/// it accepts requests; logs go to stderr, filtered by RUST_LOG (default
/// `info`). SIGTERM or SIGINT stops it gracefully: requests in flight finish,
/// subscriptions end with UNAVAILABLE.
#[derive(Debug, Clone, Parser)]
#[command(name = "eventstore-server", version)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the readiness line
    /// shows the real one).
    #[arg(long, env = "EVENTSTORE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// The limit flags (`--max-request-bytes` ...), shared with the mock.
    /// Boxed: eleven numbers would make `Config` large, and the container
    /// crate keeps one inside an enum variant.
    #[command(flatten)]
    pub limits: Box<LimitFlags>,

    /// Who and what connections get in: the transport flags and
    /// `--users-file`. Boxed, because a `Config` is held by value in other
    /// crates' enums and must stay small.
    #[command(flatten)]
    pub admission: Box<AdmissionFlags>,

    /// Seconds to wait for requests in flight at shutdown before exiting anyway.
    #[arg(long, env = "EVENTSTORE_SHUTDOWN_GRACE_SECS", default_value_t = Config::DEFAULT_SHUTDOWN_GRACE_SECS)]
    pub shutdown_grace_secs: u64,

    /// Keep the data in this directory (created if missing): every
    /// acknowledged append survives a crash. Without it the store is in memory.
    ///
    /// A zero-length data file (`eventstore.redb`, e.g. after a truncation or
    /// a failed copy) is refused at start instead of opening as an empty
    /// store: restore the file from a backup, or, if the store is new and its
    /// creation was interrupted, delete the file.
    #[arg(long, env = "EVENTSTORE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Require this username (with --password) as `authorization: Basic`
    /// on every call (eventstore.v1 and reflection; grpc.health.v1.Health
    /// stays open for probes); missing or wrong gets UNAUTHENTICATED.
    #[arg(
        long,
        env = "EVENTSTORE_USERNAME",
        requires = "password",
        conflicts_with = "users_file"
    )]
    pub username: Option<String>,

    /// The password that goes with --username. Prefer the variable
    /// EVENTSTORE_PASSWORD: a flag's value is visible to every local user in the
    /// process list.
    #[arg(
        long,
        env = "EVENTSTORE_PASSWORD",
        requires = "username",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// Serve TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "EVENTSTORE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "EVENTSTORE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Mutual TLS: require client certificates signed by this PEM CA.
    #[arg(long, env = "EVENTSTORE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Health probe: ask the server at --listen (0.0.0.0 means this host)
    /// whether it is SERVING, then exit 0 (serving) or 1. The image's
    /// health check. With TLS it trusts --tls-client-ca, else --tls-cert,
    /// and presents --tls-cert as its client certificate.
    #[arg(long)]
    pub probe: bool,
}

impl Config {
    /// Default of [`Config::shutdown_grace_secs`].
    pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;

    /// Whether TLS is configured.
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The engine limits these flags set, checked for consistency.
    pub fn limits(&self) -> Result<Limits, LimitsError> {
        self.limits.limits()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::parse_from(["eventstore-server"])
    }
}

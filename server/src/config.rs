//! Command-line configuration. Every flag has an `EVENTSTORE_*` environment
//! variable, so a container can be configured without a shell.

use clap::Parser;
use eventstore_engine::Limits;
use std::{net::SocketAddr, path::PathBuf};

/// The real event store: the eventstore.v1 gRPC API, in memory or durable
/// (--data-dir), with optional username/password and TLS or mutual TLS.
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

    /// Largest request accepted, in bytes; larger gets RESOURCE_EXHAUSTED.
    #[arg(long, env = "EVENTSTORE_MAX_REQUEST_BYTES", default_value_t = Limits::DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,

    /// Most events in one append; more gets INVALID_ARGUMENT. The default
    /// is more than a request of the default size can hold (the reference
    /// store has no event-count limit).
    #[arg(long, env = "EVENTSTORE_MAX_EVENTS_PER_BATCH", default_value_t = Limits::DEFAULT_MAX_EVENTS_PER_BATCH)]
    pub max_events_per_batch: usize,

    /// Longest id (tenant, aggregate, event, type, correlation...) in bytes;
    /// longer gets INVALID_ARGUMENT.
    #[arg(long, env = "EVENTSTORE_MAX_ID_LENGTH", default_value_t = Limits::DEFAULT_MAX_ID_LENGTH)]
    pub max_id_length: usize,

    /// Page size of a ReadAll whose max_count is 0. (ReadStream has no count
    /// limit: its max_count 0 reads to the end, up to --max-response-bytes.)
    #[arg(long, env = "EVENTSTORE_DEFAULT_PAGE_SIZE", default_value_t = Limits::DEFAULT_PAGE_SIZE)]
    pub default_page_size: u32,

    /// Largest page a ReadAll returns; a larger max_count is capped to it.
    /// (ReadStream does not cap max_count.)
    #[arg(long, env = "EVENTSTORE_MAX_PAGE_SIZE", default_value_t = Limits::DEFAULT_MAX_PAGE_SIZE)]
    pub max_page_size: u32,

    /// Largest ReadStream or ReadAll response in bytes; a page stops early
    /// (is_end = false) rather than grow past it, and always holds at least
    /// one event.
    #[arg(long, env = "EVENTSTORE_MAX_RESPONSE_BYTES", default_value_t = Limits::DEFAULT_MAX_RESPONSE_BYTES)]
    pub max_response_bytes: usize,

    /// Seconds to wait for requests in flight at shutdown before exiting anyway.
    #[arg(long, env = "EVENTSTORE_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Keep the data in this directory (created if missing): every
    /// acknowledged append survives a crash. Without it the store is in memory.
    #[arg(long, env = "EVENTSTORE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Require this username (with --password) as `authorization: Basic`
    /// on every eventstore.v1 call; missing or wrong gets UNAUTHENTICATED.
    #[arg(long, env = "EVENTSTORE_USERNAME", requires = "password")]
    pub username: Option<String>,

    /// The password that goes with --username.
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
    /// Whether TLS is configured.
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The engine limits these flags set, checked for consistency.
    pub fn limits(&self) -> Result<Limits, String> {
        let limits = Limits {
            max_request_bytes: self.max_request_bytes,
            max_events_per_batch: self.max_events_per_batch,
            max_id_length: self.max_id_length,
            default_page_size: self.default_page_size,
            max_page_size: self.max_page_size,
            max_response_bytes: self.max_response_bytes,
        };
        limits
            .validate()
            .map_err(|e| format!("invalid limits: {e}"))?;
        Ok(limits)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::parse_from(["eventstore-server"])
    }
}

//! Command-line configuration. Every flag has an `EVENTSTORE_*` environment
//! variable, so a container can be configured without a shell.

use clap::Parser;
use eventstore_engine::Limits;
use std::net::SocketAddr;

/// The real event store: the eventstore.v1 gRPC API over an in-memory log.
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

    /// Most events in one append; more gets INVALID_ARGUMENT.
    #[arg(long, env = "EVENTSTORE_MAX_EVENTS_PER_BATCH", default_value_t = Limits::DEFAULT_MAX_EVENTS_PER_BATCH)]
    pub max_events_per_batch: usize,

    /// Longest id (tenant, aggregate, event, type, correlation...) in bytes;
    /// longer gets INVALID_ARGUMENT.
    #[arg(long, env = "EVENTSTORE_MAX_ID_LENGTH", default_value_t = Limits::DEFAULT_MAX_ID_LENGTH)]
    pub max_id_length: usize,

    /// Page size of a read whose max_count is 0.
    #[arg(long, env = "EVENTSTORE_DEFAULT_PAGE_SIZE", default_value_t = Limits::DEFAULT_PAGE_SIZE)]
    pub default_page_size: u32,

    /// Largest page a read returns; a larger max_count is capped to it.
    #[arg(long, env = "EVENTSTORE_MAX_PAGE_SIZE", default_value_t = Limits::DEFAULT_MAX_PAGE_SIZE)]
    pub max_page_size: u32,

    /// Largest read response in bytes; a page stops early (is_end = false)
    /// rather than grow past it.
    #[arg(long, env = "EVENTSTORE_MAX_RESPONSE_BYTES", default_value_t = Limits::DEFAULT_MAX_RESPONSE_BYTES)]
    pub max_response_bytes: usize,

    /// Seconds to wait for requests in flight at shutdown before exiting anyway.
    #[arg(long, env = "EVENTSTORE_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

impl Config {
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

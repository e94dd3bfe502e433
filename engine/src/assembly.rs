//! What every eventstore process serves around its own services, written
//! once for `eventstore-server` and `eventstore-mock`.
//!
//! Both binaries are the engine behind gRPC; a client, a load balancer or
//! `grpcurl` must not be able to tell them apart by the plumbing. So the
//! pieces around the services live here, below both crates:
//!
//! - [`crate::transport`] (its own module): the accept loop and HTTP/2
//!   settings both serve with, behind the
//!   [`OversizedRequestLayer`](crate::OversizedRequestLayer) (an
//!   oversized request gets `RESOURCE_EXHAUSTED` naming the limit, not
//!   tonic's generic error);
//! - [`max_message_bytes`]: the encode limit for a service's responses;
//! - [`health`]: `grpc.health.v1.Health`, `SERVING` for the given services;
//! - [`reflection`]: server reflection over the given descriptor sets;
//! - [`limit_flags!`](crate::limit_flags): the limit flags of both command
//!   lines (same names, same help, each binary's own env prefix);
//! - [`Termination`]: the SIGTERM/SIGINT listener that makes a readiness
//!   line mean "stops gracefully";
//! - [`error_chain`]: an error with its sources, for messages a person
//!   reads (the client crate's, re-exported for the processes' messages).

use crate::Limits;
pub use eventstore_client::{error_chain, join_causes};
use tonic_health::{ServingStatus, server::HealthReporter};

/// Room for gRPC framing around the largest message.
pub const MESSAGE_SLACK_BYTES: usize = 64 * 1024;

/// The largest message a service may encode: the larger of a response page
/// and a request (a replayed request is echoed back), plus framing.
pub fn max_message_bytes(limits: &Limits) -> usize {
    limits.max_response_bytes.max(limits.max_request_bytes) + MESSAGE_SLACK_BYTES
}

/// The health service, reporting `SERVING` for the whole server (`""`) and
/// for each of `services`. The reporter flips them at shutdown.
pub async fn health(
    services: &[&str],
) -> (
    HealthReporter,
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) {
    let (reporter, service) = tonic_health::server::health_reporter();
    for name in std::iter::once("").chain(services.iter().copied()) {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    (reporter, service)
}

/// Marks the server and each of `services` `NOT_SERVING`: a load balancer
/// stops routing before the listener closes.
pub async fn not_serving(reporter: &HealthReporter, services: &[&str]) {
    for name in std::iter::once("").chain(services.iter().copied()) {
        reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
}

/// The reflection service could not be built (a descriptor set does not
/// decode: a build problem, never a user's).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the reflection service: {0}")]
pub struct ReflectionError(#[from] tonic_reflection::server::Error);

/// Server reflection (v1) over `descriptor_sets` and the health service's.
pub fn reflection(
    descriptor_sets: &[&'static [u8]],
) -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    ReflectionError,
> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for set in descriptor_sets {
        builder = builder.register_encoded_file_descriptor_set(set);
    }
    Ok(builder.build_v1()?)
}

/// Defines a clap `Args` struct with the eleven limit flags (`--max-request-bytes`
/// and so on), each with the env var `<prefix>MAX_REQUEST_BYTES` etc., and a
/// `limits()` that checks them. Both binaries flatten one, so the flags,
/// their defaults and their help are written once; a macro because clap
/// takes env var names as `&'static str` and each binary has its own prefix.
/// The calling crate depends on `clap` with the `derive` and `env` features.
///
/// ```
/// use clap::Parser;
///
/// eventstore_engine::limit_flags!(pub struct LimitFlags, env_prefix = "MY_STORE_");
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     limits: LimitFlags,
/// }
///
/// let cli = Cli::parse_from(["my-store", "--max-events-per-batch", "10"]);
/// let limits = cli.limits.limits().unwrap();
/// assert_eq!(limits.max_events_per_batch, 10);
/// assert_eq!(limits.max_page_size, eventstore_engine::Limits::default().max_page_size);
/// ```
#[macro_export]
macro_rules! limit_flags {
    ($(#[$meta:meta])* $vis:vis struct $name:ident, env_prefix = $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
        $vis struct $name {
            /// Largest request accepted, in bytes; larger gets RESOURCE_EXHAUSTED.
            #[arg(long, env = concat!($prefix, "MAX_REQUEST_BYTES"), default_value_t = $crate::Limits::DEFAULT_MAX_REQUEST_BYTES)]
            pub max_request_bytes: usize,

            /// Most events in one append; more gets INVALID_ARGUMENT. The default
            /// is more than a request of the default size can hold (the reference
            /// store has no event-count limit).
            #[arg(long, env = concat!($prefix, "MAX_EVENTS_PER_BATCH"), default_value_t = $crate::Limits::DEFAULT_MAX_EVENTS_PER_BATCH)]
            pub max_events_per_batch: usize,

            /// Longest id (tenant, aggregate, event, type, correlation...) in bytes;
            /// longer gets INVALID_ARGUMENT.
            #[arg(long, env = concat!($prefix, "MAX_ID_LENGTH"), default_value_t = $crate::Limits::DEFAULT_MAX_ID_LENGTH)]
            pub max_id_length: usize,

            /// Page size of a ReadAll whose max_count is 0. (ReadStream has no count
            /// limit: its max_count 0 reads to the end, up to --max-response-bytes.)
            #[arg(long, env = concat!($prefix, "DEFAULT_PAGE_SIZE"), default_value_t = $crate::Limits::DEFAULT_PAGE_SIZE)]
            pub default_page_size: u32,

            /// Largest page a ReadAll returns; a larger max_count is capped to it.
            /// (ReadStream does not cap max_count.)
            #[arg(long, env = concat!($prefix, "MAX_PAGE_SIZE"), default_value_t = $crate::Limits::DEFAULT_MAX_PAGE_SIZE)]
            pub max_page_size: u32,

            /// Largest ReadStream or ReadAll response in bytes; a page stops early
            /// (is_end = false) rather than grow past it, and always holds at least
            /// one event.
            #[arg(long, env = concat!($prefix, "MAX_RESPONSE_BYTES"), default_value_t = $crate::Limits::DEFAULT_MAX_RESPONSE_BYTES)]
            pub max_response_bytes: usize,

            /// Most headers on one event; more gets INVALID_ARGUMENT.
            #[arg(long, env = concat!($prefix, "MAX_HEADERS_PER_EVENT"), default_value_t = $crate::Limits::DEFAULT_MAX_HEADERS_PER_EVENT)]
            pub max_headers_per_event: usize,

            /// Longest header key of an event, in bytes; longer gets INVALID_ARGUMENT.
            #[arg(long, env = concat!($prefix, "MAX_HEADER_KEY_BYTES"), default_value_t = $crate::Limits::DEFAULT_MAX_HEADER_KEY_BYTES)]
            pub max_header_key_bytes: usize,

            /// Longest header value of an event, in bytes; longer gets INVALID_ARGUMENT.
            #[arg(long, env = concat!($prefix, "MAX_HEADER_VALUE_BYTES"), default_value_t = $crate::Limits::DEFAULT_MAX_HEADER_VALUE_BYTES)]
            pub max_header_value_bytes: usize,

            /// Longest content_type of an event, in bytes; longer gets INVALID_ARGUMENT.
            #[arg(long, env = concat!($prefix, "MAX_CONTENT_TYPE_BYTES"), default_value_t = $crate::Limits::DEFAULT_MAX_CONTENT_TYPE_BYTES)]
            pub max_content_type_bytes: usize,

            /// Longest content_schema of an event, in bytes; longer gets INVALID_ARGUMENT.
            #[arg(long, env = concat!($prefix, "MAX_CONTENT_SCHEMA_BYTES"), default_value_t = $crate::Limits::DEFAULT_MAX_CONTENT_SCHEMA_BYTES)]
            pub max_content_schema_bytes: usize,
        }

        impl $name {
            /// The engine limits these flags set, checked for consistency.
            pub fn limits(&self) -> Result<$crate::Limits, $crate::LimitsError> {
                let limits = $crate::Limits {
                    max_request_bytes: self.max_request_bytes,
                    max_events_per_batch: self.max_events_per_batch,
                    max_id_length: self.max_id_length,
                    default_page_size: self.default_page_size,
                    max_page_size: self.max_page_size,
                    max_response_bytes: self.max_response_bytes,
                    max_headers_per_event: self.max_headers_per_event,
                    max_header_key_bytes: self.max_header_key_bytes,
                    max_header_value_bytes: self.max_header_value_bytes,
                    max_content_type_bytes: self.max_content_type_bytes,
                    max_content_schema_bytes: self.max_content_schema_bytes,
                };
                limits.validate()?;
                Ok(limits)
            }
        }

        impl From<&$crate::Limits> for $name {
            fn from(limits: &$crate::Limits) -> Self {
                Self {
                    max_request_bytes: limits.max_request_bytes,
                    max_events_per_batch: limits.max_events_per_batch,
                    max_id_length: limits.max_id_length,
                    default_page_size: limits.default_page_size,
                    max_page_size: limits.max_page_size,
                    max_response_bytes: limits.max_response_bytes,
                    max_headers_per_event: limits.max_headers_per_event,
                    max_header_key_bytes: limits.max_header_key_bytes,
                    max_header_value_bytes: limits.max_header_value_bytes,
                    max_content_type_bytes: limits.max_content_type_bytes,
                    max_content_schema_bytes: limits.max_content_schema_bytes,
                }
            }
        }
    };
}

/// SIGTERM and SIGINT (Ctrl-C), listened for from the moment this is
/// created. Create it before the readiness line: a signal that arrives
/// between "listening" and the first poll of an `async fn` handler would
/// otherwise meet the default disposition and kill the process, so "ready"
/// would not yet mean "stops gracefully".
#[derive(Debug)]
pub struct Termination {
    #[cfg(unix)]
    signals: Vec<tokio::signal::unix::Signal>,
}

impl Termination {
    /// Installs the handlers now. Must be called inside a tokio runtime.
    pub fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = [SignalKind::terminate(), SignalKind::interrupt()]
                .into_iter()
                .map(signal)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Self { signals })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves when either signal arrives.
    pub async fn wait(self) {
        #[cfg(unix)]
        {
            let waits = self
                .signals
                .into_iter()
                .map(|mut s| Box::pin(async move { s.recv().await }));
            futures::future::select_all(waits).await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

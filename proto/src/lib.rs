//! The `eventstore.v1` wire contract: prost message types and the tonic
//! client and server for the `EventStore` service, generated at build time
//! from `proto/eventstore/v1/eventstore.proto`; and the mock's control API
//! (`eventstore.testing.v1`, in [`testing`]).

/// Generated code for the `eventstore.v1` protobuf package.
pub mod v1 {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]
    tonic::include_proto!("eventstore.v1");
}

pub use v1::*;

/// Generated code for the mock's control API, `eventstore.testing.v1`.
pub mod testing {
    /// `eventstore.testing.v1`.
    pub mod v1 {
        #![allow(missing_docs, missing_debug_implementations, clippy::all)]
        tonic::include_proto!("eventstore.testing.v1");
    }
}

/// Encoded `FileDescriptorSet` of `eventstore.v1`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/eventstore_descriptor.bin"));

/// Encoded `FileDescriptorSet` of `eventstore.v1` and `eventstore.testing.v1`,
/// for the mock's reflection service.
pub const TESTING_FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/eventstore_testing_descriptor.bin"
));

/// Type URL of [`ConcurrencyErrorDetail`] inside the `google.protobuf.Any`
/// of an `ABORTED` status's `grpc-status-details-bin`.
pub const CONCURRENCY_ERROR_DETAIL_TYPE_URL: &str =
    "type.googleapis.com/eventstore.v1.ConcurrencyErrorDetail";

pub mod conflict;
pub use conflict::{concurrency_detail, concurrency_detail_bytes};

/// Name of the gRPC service, as used by the health service.
pub const SERVICE_NAME: &str = "eventstore.v1.EventStore";

/// Trailer of a `DATA_LOSS` status: the global nonce of the stored event the
/// store could not decode (`spec/wire-contract.md`, Errors). Every event
/// before it was delivered; nothing at or past it was.
pub const UNDECODABLE_GLOBAL_NONCE_TRAILER: &str = "esp-undecodable-global-nonce";

/// The message part of an `UNAVAILABLE` that ends a subscription, followed
/// by the next undelivered global nonce: a client resubscribes from there.
pub const RESUME_FROM_GLOBAL_NONCE: &str = "resume from global_nonce";

/// `GetServerInfoResponse.api_version` of every store speaking this package.
pub const API_VERSION: &str = "eventstore.v1";

/// The reference store's release whose contract our stores implement
/// (`spec/semantics.md`, GetServerInfo): the SemVer core of every
/// `server_version` we answer. The reference's clients gate on
/// `server_version >= 0.17.0`, the first release with `GetServerInfo`.
pub const REFERENCE_API_LEVEL: &str = "0.17.0";

/// `GetServerInfoResponse.server_version` of our stores:
/// [`REFERENCE_API_LEVEL`], with this project's identity and version in
/// SemVer build metadata, which every SemVer comparison ignores. (Written
/// out because `concat!` takes literals; a test checks it against
/// [`REFERENCE_API_LEVEL`].) A store whose storage `backend` cannot name
/// adds the storage's name as one more build identifier (see
/// [`backends::server_info_names`]).
pub const SERVER_VERSION: &str = concat!("0.17.0+eventstore-sdk.", env!("CARGO_PKG_VERSION"));

/// `GetServerInfoResponse.backend`: the reference's values, the only ones
/// its clients and tests accept.
pub mod backends {
    /// Events kept in memory (our in-memory server and the mock).
    pub const MEMORY: &str = "memory";
    /// The reference's Postgres backend (a mock can answer as one).
    pub const POSTGRES: &str = "postgres";
    /// Any other storage (our durable server).
    pub const UNKNOWN: &str = "unknown";
    /// Every value, in the reference's order.
    pub const ALL: [&str; 3] = [MEMORY, POSTGRES, UNKNOWN];

    /// `(backend, server_version)` of a store whose storage is called
    /// `storage`: a name the reference knows is the backend as is; any other
    /// answers [`UNKNOWN`] and goes into the version's build metadata
    /// (`0.17.0+eventstore-sdk.0.1.0.durable`), so a person still sees it.
    pub fn server_info_names(storage: &str) -> (&str, String) {
        if ALL.contains(&storage) {
            (storage, super::SERVER_VERSION.to_owned())
        } else {
            (UNKNOWN, format!("{}.{storage}", super::SERVER_VERSION))
        }
    }
}

/// Capability names a store advertises in `GetServerInfoResponse.capabilities`
/// (`spec/semantics.md`, GetServerInfo). A released name is never renamed
/// or reused, so clients can match on these strings.
pub mod capabilities {
    /// A global nonce becomes visible only after every smaller nonce of the
    /// tenant: a reader whose cursor passed N never misses a nonce below N.
    pub const COMMIT_ORDERED_GLOBAL_NONCE: &str = "commit_ordered_global_nonce";
    /// A subscription the store ends says so (`UNAVAILABLE` with
    /// `resume from global_nonce N`), never ends silently.
    pub const SUBSCRIPTION_ERRORS_SURFACED: &str = "subscription_errors_surfaced";
    /// An event the store cannot decode is a `DATA_LOSS` naming its position,
    /// never skipped.
    pub const UNDECODABLE_EVENTS_SURFACED: &str = "undecodable_events_surfaced";
    /// A subscription's `aggregate_id_prefix` is matched literally: `_`,
    /// `%` and `\` are ordinary characters, not wildcards or escapes.
    pub const LITERAL_SUBSCRIPTION_PREFIX: &str = "literal_subscription_prefix";
    /// Every capability the stores of this project provide: the reference's
    /// four (v0.17).
    pub const ALL: [&str; 4] = [
        COMMIT_ORDERED_GLOBAL_NONCE,
        SUBSCRIPTION_ERRORS_SURFACED,
        UNDECODABLE_EVENTS_SURFACED,
        LITERAL_SUBSCRIPTION_PREFIX,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_version_is_the_reference_level_with_our_build_metadata() {
        assert_eq!(
            SERVER_VERSION,
            format!(
                "{REFERENCE_API_LEVEL}+eventstore-sdk.{}",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn a_storage_the_reference_cannot_name_is_unknown_and_named_in_the_version() {
        assert_eq!(
            backends::server_info_names("memory"),
            ("memory", SERVER_VERSION.to_owned())
        );
        assert_eq!(
            backends::server_info_names("durable"),
            ("unknown", format!("{SERVER_VERSION}.durable"))
        );
    }
}

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

/// Type URL of [`ConcurrencyErrorDetail`] inside `google.rpc.Status.details`.
pub const CONCURRENCY_ERROR_DETAIL_TYPE_URL: &str =
    "type.googleapis.com/eventstore.v1.ConcurrencyErrorDetail";

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
    /// Every capability the stores of this project provide.
    pub const ALL: [&str; 3] = [
        COMMIT_ORDERED_GLOBAL_NONCE,
        SUBSCRIPTION_ERRORS_SURFACED,
        UNDECODABLE_EVENTS_SURFACED,
    ];
}

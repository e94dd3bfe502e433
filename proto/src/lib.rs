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

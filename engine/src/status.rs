//! Engine errors as gRPC statuses, and back.
//!
//! A concurrency conflict carries its `ConcurrencyErrorDetail` in the
//! `grpc-status-details-bin` trailer, as a bare `google.protobuf.Any`, the
//! reference's bytes (`spec/wire-contract.md`; the encoding and decoding are
//! the proto crate's [`eventstore_proto::conflict`]).
//! An undecodable event is `DATA_LOSS` with its global nonce in the
//! `esp-undecodable-global-nonce` trailer.

use crate::Error;
pub use eventstore_proto::concurrency_detail;
use eventstore_proto::{UNDECODABLE_GLOBAL_NONCE_TRAILER, concurrency_detail_bytes};
use tonic::{
    Code, Status,
    metadata::{MetadataMap, MetadataValue},
};

/// The gRPC status for an engine error, message unchanged.
pub fn to_status(error: Error) -> Status {
    match error {
        Error::Unauthenticated(m) => Status::unauthenticated(m),
        Error::InvalidArgument(m) => Status::invalid_argument(m),
        Error::PermissionDenied(m) => Status::permission_denied(m),
        Error::AlreadyExists(m) => Status::already_exists(m),
        Error::ResourceExhausted(m) => Status::resource_exhausted(m),
        Error::Unavailable(m) => Status::unavailable(m),
        Error::Storage(e) => storage_status(e),
        e @ Error::DataLoss { global_nonce } => {
            let mut metadata = MetadataMap::new();
            metadata.insert(
                UNDECODABLE_GLOBAL_NONCE_TRAILER,
                MetadataValue::from(global_nonce),
            );
            Status::with_metadata(Code::DataLoss, e.to_string(), metadata)
        }
        Error::Concurrency { message, detail } => Status::with_details(
            Code::Aborted,
            message,
            concurrency_detail_bytes(&detail).into(),
        ),
    }
}

/// A storage failure as the code that says what happened: out of space
/// (a full disk, a file at its size limit) is `RESOURCE_EXHAUSTED`; a store
/// that refuses writes until it is restarted, or whose writer stopped, is
/// `UNAVAILABLE` (its message says to restart); anything else `INTERNAL`.
fn storage_status(error: crate::StorageError) -> Status {
    use crate::StorageError as E;
    let message = Error::Storage(error.clone()).to_string();
    match error {
        E::Full { .. } | E::TooLarge { .. } => Status::resource_exhausted(message),
        E::Poisoned { .. } | E::WriterStopped => Status::unavailable(message),
        _ => Status::internal(message),
    }
}

/// The global nonce a `DATA_LOSS` status names in its
/// `esp-undecodable-global-nonce` trailer, if any.
pub fn undecodable_global_nonce(status: &Status) -> Option<u64> {
    status
        .metadata()
        .get(UNDECODABLE_GLOBAL_NONCE_TRAILER)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstore_proto::{CONCURRENCY_ERROR_DETAIL_TYPE_URL, ConcurrencyErrorDetail};
    use prost::Message;

    #[test]
    fn a_conflict_carries_a_bare_any_as_the_reference_does() {
        let detail = ConcurrencyErrorDetail {
            tenant_id: "t".into(),
            aggregate_id: "a".into(),
            actual_last_aggregate_nonce: 3,
            actual_last_global_nonce: 9,
        };
        let status = to_status(Error::Concurrency {
            message: "conflict".into(),
            detail: detail.clone(),
        });
        let any = prost_types::Any::decode(status.details()).expect("a bare Any");
        assert_eq!(any.type_url, CONCURRENCY_ERROR_DETAIL_TYPE_URL);
        assert_eq!(any.value, detail.encode_to_vec());
    }

    #[test]
    fn concurrency_detail_round_trips_through_the_status() {
        let detail = ConcurrencyErrorDetail {
            tenant_id: "t".into(),
            aggregate_id: "a".into(),
            actual_last_aggregate_nonce: 3,
            actual_last_global_nonce: 9,
        };
        let status = to_status(Error::Concurrency {
            message: "conflict".into(),
            detail: detail.clone(),
        });
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(status.message(), "conflict");
        assert_eq!(concurrency_detail(&status), Some(detail));
        assert_eq!(concurrency_detail(&Status::aborted("no detail")), None);
    }

    #[test]
    fn out_of_space_is_resource_exhausted_and_a_poisoned_store_unavailable() {
        use crate::StorageError;
        let full = StorageError::Full {
            path: "/data/eventstore.redb".into(),
            action: "commit to",
        };
        let status = to_status(Error::Storage(full.clone()));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            status.message().contains("no space left on device"),
            "{status:?}"
        );
        let too_large = StorageError::TooLarge {
            path: "/data/eventstore.redb".into(),
            action: "commit to",
        };
        assert_eq!(
            to_status(Error::Storage(too_large)).code(),
            Code::ResourceExhausted
        );
        let poisoned = StorageError::Poisoned {
            cause: Box::new(full),
        };
        let status = to_status(Error::Storage(poisoned));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("restart it"), "{status:?}");
        let corrupt = StorageError::Corrupt {
            path: "/data/eventstore.redb".into(),
            what: "bad page".into(),
        };
        assert_eq!(to_status(Error::Storage(corrupt)).code(), Code::Internal);
    }

    #[test]
    fn data_loss_carries_the_position_in_its_trailer() {
        let status = to_status(Error::DataLoss { global_nonce: 42 });
        assert_eq!(status.code(), Code::DataLoss);
        assert!(status.message().contains("global_nonce 42"));
        assert_eq!(undecodable_global_nonce(&status), Some(42));
    }
}

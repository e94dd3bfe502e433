//! Engine errors as gRPC statuses, and back.
//!
//! A concurrency conflict carries the standard rich error model: the
//! `grpc-status-details-bin` trailer holds a `google.rpc.Status` whose
//! `details` hold one `ConcurrencyErrorDetail` (see `spec/wire-contract.md`).
//! An undecodable event is `DATA_LOSS` with its global nonce in the
//! `esp-undecodable-global-nonce` trailer.

use crate::Error;
use eventstore_proto::{
    CONCURRENCY_ERROR_DETAIL_TYPE_URL, ConcurrencyErrorDetail, UNDECODABLE_GLOBAL_NONCE_TRAILER,
};
use prost::Message;
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
        e @ Error::Storage(_) => Status::internal(e.to_string()),
        e @ Error::DataLoss { global_nonce } => {
            let mut metadata = MetadataMap::new();
            metadata.insert(
                UNDECODABLE_GLOBAL_NONCE_TRAILER,
                MetadataValue::from(global_nonce),
            );
            Status::with_metadata(Code::DataLoss, e.to_string(), metadata)
        }
        Error::Concurrency { message, detail } => {
            let rich = tonic_types::pb::Status {
                code: Code::Aborted as i32,
                message: message.clone(),
                details: vec![prost_types::Any {
                    type_url: CONCURRENCY_ERROR_DETAIL_TYPE_URL.to_owned(),
                    value: detail.encode_to_vec(),
                }],
            };
            Status::with_details(Code::Aborted, message, rich.encode_to_vec().into())
        }
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

/// The [`ConcurrencyErrorDetail`] carried by an `ABORTED` status, if any.
pub fn concurrency_detail(status: &Status) -> Option<ConcurrencyErrorDetail> {
    let rich = tonic_types::pb::Status::decode(status.details()).ok()?;
    rich.details
        .iter()
        .find(|any| any.type_url == CONCURRENCY_ERROR_DETAIL_TYPE_URL)
        .and_then(|any| ConcurrencyErrorDetail::decode(any.value.as_slice()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn data_loss_carries_the_position_in_its_trailer() {
        let status = to_status(Error::DataLoss { global_nonce: 42 });
        assert_eq!(status.code(), Code::DataLoss);
        assert!(status.message().contains("global_nonce 42"));
        assert_eq!(undecodable_global_nonce(&status), Some(42));
    }
}

//! The [`ConcurrencyErrorDetail`] of an `ABORTED` status, in the bytes the
//! reference store sends and in the standard envelope, one owner for both
//! directions (`spec/wire-contract.md`, Errors).
//!
//! The reference puts a bare `google.protobuf.Any` in
//! `grpc-status-details-bin`; the standard rich error model wraps that `Any`
//! in a `google.rpc.Status`. Our stores write the reference's form, so a
//! client that decodes the detail the reference's way works against them;
//! our clients read both, so they also work against servers that send the
//! envelope.

use crate::{CONCURRENCY_ERROR_DETAIL_TYPE_URL, ConcurrencyErrorDetail};
use prost::Message;

/// The `grpc-status-details-bin` bytes of a conflict, as the reference
/// writes them: a bare `Any` holding `detail`.
pub fn concurrency_detail_bytes(detail: &ConcurrencyErrorDetail) -> Vec<u8> {
    prost_types::Any {
        type_url: CONCURRENCY_ERROR_DETAIL_TYPE_URL.to_owned(),
        value: detail.encode_to_vec(),
    }
    .encode_to_vec()
}

/// The same detail in the standard rich error model: a `google.rpc.Status`
/// (code `ABORTED`, `message`) whose `details` hold the `Any`. Our stores
/// never send it; it is here for tests of clients that must read it, and
/// for tools that pass on what another server sent in its own form.
pub fn concurrency_detail_envelope_bytes(
    message: &str,
    detail: &ConcurrencyErrorDetail,
) -> Vec<u8> {
    tonic_types::pb::Status {
        code: tonic::Code::Aborted as i32,
        message: message.to_owned(),
        details: vec![prost_types::Any {
            type_url: CONCURRENCY_ERROR_DETAIL_TYPE_URL.to_owned(),
            value: detail.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}

/// Whether `bytes` hold the detail as the reference sends it (a bare
/// `Any` of [`ConcurrencyErrorDetail`]), not in an envelope.
pub fn is_bare_any(bytes: &[u8]) -> bool {
    prost_types::Any::decode(bytes).is_ok_and(|any| from_any(&any).is_some())
}

/// The [`ConcurrencyErrorDetail`] a status carries, whether its details are
/// the reference's bare `Any` or a `google.rpc.Status` envelope whose
/// `details` hold it; `None` when it carries none (or other details).
pub fn concurrency_detail(status: &tonic::Status) -> Option<ConcurrencyErrorDetail> {
    decode_details(status.details())
}

/// [`concurrency_detail`] over the raw `grpc-status-details-bin` bytes.
pub fn decode_details(bytes: &[u8]) -> Option<ConcurrencyErrorDetail> {
    if bytes.is_empty() {
        return None;
    }
    // An envelope does not decode as an `Any` (its field 1 is a varint, an
    // `Any`'s a string), and a bare `Any` has no field 3, so the two forms
    // cannot be mistaken for each other.
    if let Ok(any) = prost_types::Any::decode(bytes)
        && let Some(detail) = from_any(&any)
    {
        return Some(detail);
    }
    let envelope = tonic_types::pb::Status::decode(bytes).ok()?;
    envelope.details.iter().find_map(from_any)
}

fn from_any(any: &prost_types::Any) -> Option<ConcurrencyErrorDetail> {
    (any.type_url == CONCURRENCY_ERROR_DETAIL_TYPE_URL)
        .then(|| ConcurrencyErrorDetail::decode(any.value.as_slice()).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail() -> ConcurrencyErrorDetail {
        ConcurrencyErrorDetail {
            tenant_id: "t".into(),
            aggregate_id: "order-1".into(),
            actual_last_aggregate_nonce: 3,
            actual_last_global_nonce: 9,
        }
    }

    #[test]
    fn the_bytes_are_a_bare_any_as_the_reference_sends() {
        let bytes = concurrency_detail_bytes(&detail());
        let any = prost_types::Any::decode(bytes.as_slice()).expect("an Any");
        assert_eq!(any.type_url, CONCURRENCY_ERROR_DETAIL_TYPE_URL);
        assert_eq!(
            ConcurrencyErrorDetail::decode(any.value.as_slice()).ok(),
            Some(detail())
        );
        assert_eq!(decode_details(&bytes), Some(detail()));
    }

    #[test]
    fn the_standard_envelope_is_read_too() {
        let envelope = tonic_types::pb::Status {
            code: tonic::Code::Aborted as i32,
            message: "conflict".into(),
            details: vec![
                prost_types::Any {
                    type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
                    value: vec![],
                },
                prost_types::Any {
                    type_url: CONCURRENCY_ERROR_DETAIL_TYPE_URL.into(),
                    value: detail().encode_to_vec(),
                },
            ],
        };
        let status = tonic::Status::with_details(
            tonic::Code::Aborted,
            "conflict",
            envelope.encode_to_vec().into(),
        );
        assert_eq!(concurrency_detail(&status), Some(detail()));
        let ours = concurrency_detail_envelope_bytes("conflict", &detail());
        assert_eq!(decode_details(&ours), Some(detail()));
        assert!(!is_bare_any(&ours));
        assert!(is_bare_any(&concurrency_detail_bytes(&detail())));
    }

    #[test]
    fn no_detail_or_another_detail_is_none() {
        assert_eq!(concurrency_detail(&tonic::Status::aborted("x")), None);
        let other = prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
            value: vec![1, 2],
        };
        assert_eq!(decode_details(&other.encode_to_vec()), None);
        assert_eq!(decode_details(&[0xff, 0xff, 0xff]), None);
    }
}

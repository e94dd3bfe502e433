//! The status of a request that cannot be decoded.
//!
//! tonic's protobuf codec reports a request it cannot decode (a string
//! field that is not UTF-8, a malformed message) as `INTERNAL`, following
//! gRPC's status-code guide for the codec. For a server that is the
//! client's fault: `INVALID_ARGUMENT`, with prost's message, which names
//! the field where the decoder knows it (`AppendRequest.tenant_id: invalid
//! string value: data is not UTF-8 encoded`). The rewrite runs in the
//! [`crate::OversizedRequestLayer`], which every server wraps its router
//! with, on the trailers-only response tonic sends before any handler runs.

use http::{HeaderMap, HeaderValue};

/// How prost's decode error starts, as tonic writes it in `grpc-message`
/// (percent-encoded: a space is `%20`).
const PROST_DECODE_ERROR: &str = "failed%20to%20decode%20Protobuf%20message";

/// `grpc-status` of `INTERNAL` and of `INVALID_ARGUMENT`.
const INTERNAL: &str = "13";
const INVALID_ARGUMENT: &str = "3";

/// Turns tonic's `INTERNAL` for an undecodable request into
/// `INVALID_ARGUMENT`, keeping the message; any other response is left as
/// it is.
pub(crate) fn rewrite(headers: &mut HeaderMap) {
    let internal = headers.get("grpc-status").is_some_and(|v| v == INTERNAL);
    let undecodable = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.starts_with(PROST_DECODE_ERROR));
    if internal && undecodable {
        headers.insert("grpc-status", HeaderValue::from_static(INVALID_ARGUMENT));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: &'static str, message: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static(status));
        headers.insert("grpc-message", HeaderValue::from_static(message));
        headers
    }

    #[test]
    fn rewrites_only_a_decode_failure() {
        let mut undecodable = response(
            "13",
            "failed%20to%20decode%20Protobuf%20message:%20AppendRequest.tenant_id:%20invalid%20string%20value:%20data%20is%20not%20UTF-8%20encoded",
        );
        rewrite(&mut undecodable);
        assert_eq!(undecodable["grpc-status"], "3");
        assert!(
            undecodable["grpc-message"]
                .to_str()
                .unwrap_or_default()
                .contains("AppendRequest.tenant_id")
        );

        let mut storage = response("13", "storage%20failure");
        rewrite(&mut storage);
        assert_eq!(storage["grpc-status"], "13");
    }
}

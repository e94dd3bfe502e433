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

/// tonic's `INTERNAL` for a request body that ends inside a gRPC message
/// (a truncated frame), and for a frame whose flag byte is neither 0 nor 1.
const TRUNCATED_FRAME: &str = "Unexpected%20EOF%20decoding%20stream.";
const INVALID_FLAG: &str =
    "protocol%20error:%20received%20message%20with%20invalid%20compression%20flag";
/// What a client reads for a truncated frame (percent-encoded).
const TRUNCATED_MESSAGE: &str = "the%20request%20ended%20inside%20a%20gRPC%20message:%20its%20frame%20announced%20more%20bytes%20than%20were%20sent%20(a%20truncated%20request)";

/// `grpc-status` of `INTERNAL` and of `INVALID_ARGUMENT`.
const INTERNAL: &str = "13";
const INVALID_ARGUMENT: &str = "3";

/// Turns tonic's `INTERNAL` for an undecodable request into
/// `INVALID_ARGUMENT`, keeping the message; any other response is left as
/// it is.
///
/// A truncated frame and an invalid flag byte are the client's fault too
/// (`INVALID_ARGUMENT`). A message with the compressed flag set but no
/// `grpc-encoding` stays `INTERNAL`: gRPC's compression spec requires that
/// code for it, and the reference answers it so.
pub(crate) fn rewrite(headers: &mut HeaderMap) {
    if headers.get("grpc-status").is_none_or(|v| v != INTERNAL) {
        return;
    }
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if message == TRUNCATED_FRAME {
        headers.insert("grpc-message", HeaderValue::from_static(TRUNCATED_MESSAGE));
    } else if !(message.starts_with(PROST_DECODE_ERROR) || message.starts_with(INVALID_FLAG)) {
        return;
    }
    headers.insert("grpc-status", HeaderValue::from_static(INVALID_ARGUMENT));
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
    fn a_truncated_frame_or_a_bad_flag_is_invalid_argument() {
        let mut truncated = response("13", "Unexpected%20EOF%20decoding%20stream.");
        rewrite(&mut truncated);
        assert_eq!(truncated["grpc-status"], "3");
        assert!(
            truncated["grpc-message"]
                .to_str()
                .unwrap_or_default()
                .contains("truncated%20request")
        );
        let mut flag = response(
            "13",
            "protocol%20error:%20received%20message%20with%20invalid%20compression%20flag:%202%20(valid%20flags%20are%200%20and%201),%20while%20sending%20request",
        );
        rewrite(&mut flag);
        assert_eq!(flag["grpc-status"], "3");
        let mut compressed = response(
            "13",
            "protocol%20error:%20received%20message%20with%20compressed-flag%20but%20no%20grpc-encoding%20was%20specified",
        );
        rewrite(&mut compressed);
        assert_eq!(
            compressed["grpc-status"], "13",
            "gRPC requires INTERNAL here"
        );
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

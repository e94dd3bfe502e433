//! The wire's constants and small helpers, beside `eventstore_proto`'s: what
//! every store, tool and client means by the same number, message or name.
//!
//! - positions: [`HEAD_POSITION`];
//! - messages: [`CONNECTION_DROPPED`];
//! - names: gRPC status codes ([`code_name`], [`code_from_name`]), and the
//!   contract's own ([`API_VERSION`], [`SERVER_VERSION`],
//!   [`REFERENCE_API_LEVEL`], [`capabilities`], [`backends`]), re-exported
//!   from their owner, the proto crate;
//! - event ids: [`assign_event_id`], the one rule for an event given none.

use eventstore_proto::EventMetadata;
pub use eventstore_proto::{
    API_VERSION, REFERENCE_API_LEVEL, SERVER_VERSION, backends, capabilities,
};
use tonic::Code;

/// The largest position a store takes, `2^63 - 1`: the reference's
/// Postgres backend stores positions as signed 64-bit integers. A backward
/// read from here (ReadStream, ReadAll) starts at the head; a cursor past
/// it is a store breaking the paging rules.
pub const HEAD_POSITION: u64 = (1 << 63) - 1;

/// The message of the `UNAVAILABLE` a call gets when the mock cuts its
/// connection (`drop_connection`): the journal, the transport and the
/// service say it in these words, and clients can tell it apart.
pub const CONNECTION_DROPPED: &str = "connection dropped by the mock";

/// The canonical names, indexed by code number (0-16).
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The canonical name of `code`, e.g. `"UNAVAILABLE"`: how JSON, reports
/// and Python speak of a status, never Rust's `Unavailable` or a number.
pub fn code_name(code: Code) -> &'static str {
    usize::try_from(code as i32)
        .ok()
        .and_then(|i| CODE_NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// A code from its name: canonical (`UNAVAILABLE`), any case
/// (`unavailable`) or Rust's (`Unavailable`, `DataLoss`).
pub fn code_from_name(name: &str) -> Option<Code> {
    let upper = name.to_ascii_uppercase();
    // `DataLoss` -> `DATA_LOSS`: an underscore before each inner capital.
    let snake: String = name
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
            sep.into_iter()
                .chain(std::iter::once(c.to_ascii_uppercase()))
        })
        .collect();
    CODE_NAMES
        .iter()
        .position(|n| *n == upper || *n == snake)
        .and_then(|i| i32::try_from(i).ok())
        .map(Code::from_i32)
}

/// Gives `meta` a fresh UUIDv7 `event_id` when it has none: the one place
/// ids are invented (by the mock for stubbed and seeded events, by the SDK
/// for appended ones), time-ordered so ids sort like the appends.
pub fn assign_event_id(meta: &mut EventMetadata) {
    if meta.event_id.is_empty() {
        meta.event_id = uuid::Uuid::now_v7().to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in 0..=16 {
            let code = Code::from_i32(n);
            assert_eq!(code_from_name(code_name(code)), Some(code));
        }
        assert_eq!(code_name(Code::DataLoss), "DATA_LOSS");
        assert_eq!(code_from_name("DataLoss"), Some(Code::DataLoss));
        assert_eq!(code_from_name("unavailable"), Some(Code::Unavailable));
        assert_eq!(code_from_name("nope"), None);
    }

    #[test]
    fn ids_are_assigned_once() {
        let mut meta = EventMetadata::default();
        assign_event_id(&mut meta);
        let id = meta.event_id.clone();
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        assign_event_id(&mut meta);
        assert_eq!(meta.event_id, id);
    }

    #[test]
    fn the_head_is_the_largest_signed_position() {
        assert_eq!(HEAD_POSITION, i64::MAX.unsigned_abs());
    }
}

//! Requests that print readably. `AppendRequest` and `EventData` are prost
//! types: their derived `Debug` prints a payload as a byte array (one JSON
//! event becomes `[123, 34, 110, ...]`) and every empty metadata field, so
//! a shrunk failure ran to hundreds of lines nobody could read. [`Append`]
//! prints payloads as JSON text and leaves out empty fields.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_proto::{AppendRequest, EventData};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// A generated append request whose `Debug` prints each payload as its
/// JSON text (UTF-8 text in quotes when not JSON, `base64:...` when not
/// UTF-8) and only the fields that are set.
///
/// It derefs to the [`AppendRequest`], so fields read as usual; pass
/// `append.0` (or `append.into()`) where a request is taken by value.
///
/// ```
/// use eventstore_mock::strategies::Append;
/// use eventstore_proto::{AppendRequest, EventData};
///
/// let append = Append(AppendRequest {
///     tenant_id: "t".into(),
///     events: vec![EventData { meta: None, payload: br#"{"n":1}"#.to_vec() }],
///     ..AppendRequest::default()
/// });
/// let printed = format!("{append:?}");
/// assert!(printed.contains(r#"payload: {"n":1}"#), "{printed}");
/// assert_eq!(append.events.len(), 1); // reads through to the request
/// let _request: AppendRequest = append.into();
/// ```
#[derive(Clone, PartialEq, Default)]
pub struct Append(pub AppendRequest);

impl Append {
    /// The request.
    pub fn into_inner(self) -> AppendRequest {
        self.0
    }
}

impl Deref for Append {
    type Target = AppendRequest;
    fn deref(&self) -> &AppendRequest {
        &self.0
    }
}

impl DerefMut for Append {
    fn deref_mut(&mut self) -> &mut AppendRequest {
        &mut self.0
    }
}

impl From<Append> for AppendRequest {
    fn from(append: Append) -> AppendRequest {
        append.0
    }
}

impl From<AppendRequest> for Append {
    fn from(request: AppendRequest) -> Append {
        Append(request)
    }
}

impl fmt::Debug for Append {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Request(&self.0).fmt(f)
    }
}

/// The readable form of a borrowed request (also used by
/// [`super::InvalidAppend`]'s `Debug`).
pub(crate) struct Request<'a>(pub(crate) &'a AppendRequest);

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let mut s = f.debug_struct("AppendRequest");
        s.field("tenant_id", &r.tenant_id)
            .field("aggregate_id", &r.aggregate_id)
            .field("aggregate_type", &r.aggregate_type)
            .field("expected_aggregate_nonce", &r.expected_aggregate_nonce);
        if !r.idempotency_key.is_empty() {
            s.field("idempotency_key", &r.idempotency_key);
        }
        let events: Vec<Event<'_>> = r.events.iter().map(Event).collect();
        s.field("events", &events).finish()
    }
}

/// An event: its set metadata fields, flattened, then its payload.
struct Event<'a>(&'a EventData);

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("EventData");
        match &self.0.meta {
            None => {
                s.field("meta", &None::<()>);
            }
            Some(m) => {
                let strings = [
                    ("event_id", &m.event_id),
                    ("tenant_id", &m.tenant_id),
                    ("aggregate_id", &m.aggregate_id),
                    ("aggregate_type", &m.aggregate_type),
                ];
                for (name, value) in strings.into_iter().filter(|(_, v)| !v.is_empty()) {
                    s.field(name, value);
                }
                s.field("aggregate_nonce", &m.aggregate_nonce)
                    .field("event_type", &m.event_type)
                    .field("event_version", &m.event_version);
                let strings = [
                    ("content_type", &m.content_type),
                    ("content_schema", &m.content_schema),
                    ("correlation_id", &m.correlation_id),
                    ("causation_id", &m.causation_id),
                    ("actor_id", &m.actor_id),
                ];
                for (name, value) in strings.into_iter().filter(|(_, v)| !v.is_empty()) {
                    s.field(name, value);
                }
                if m.timestamp_unix_ms != 0 {
                    s.field("timestamp_unix_ms", &m.timestamp_unix_ms);
                }
                if !m.headers.is_empty() {
                    s.field("headers", &m.headers);
                }
            }
        }
        s.field("payload", &Payload(&self.0.payload)).finish()
    }
}

/// A payload as JSON text when it is JSON, else quoted UTF-8 text, else
/// `base64:` and its base64.
struct Payload<'a>(&'a [u8]);

impl fmt::Debug for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(text) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
                f.write_str(text.trim())
            }
            Ok(text) => fmt::Debug::fmt(text, f),
            Err(_) => write!(f, "base64:{}", STANDARD.encode(self.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstore_proto::EventMetadata;

    fn event(payload: &[u8]) -> EventData {
        EventData {
            meta: Some(EventMetadata {
                event_id: "e-1".into(),
                aggregate_nonce: 1,
                event_type: "T".into(),
                ..EventMetadata::default()
            }),
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn payloads_print_as_json_text_or_utf8_or_base64_and_empty_fields_are_left_out() {
        let append = Append(AppendRequest {
            tenant_id: "t".into(),
            events: vec![
                event(br#"{"n": 1, "s": "a b"}"#),
                event(b"plain text"),
                event(&[0xff, 0x00]),
            ],
            ..AppendRequest::default()
        });
        let printed = format!("{append:?}");
        assert!(
            printed.contains(r#"payload: {"n": 1, "s": "a b"}"#),
            "{printed}"
        );
        assert!(printed.contains(r#"payload: "plain text""#), "{printed}");
        assert!(printed.contains("payload: base64:/wA="), "{printed}");
        for absent in [
            "payload_sha256",
            "headers",
            "correlation_id",
            "global_nonce",
        ] {
            assert!(!printed.contains(absent), "{absent} in {printed}");
        }
    }
}

//! An event as JSON, both ways, with one set of defaults.
//!
//! Two front ends read events:
//!
//! - the *view* form, `{"meta": {...}, "payload": ...}`: what the journal,
//!   matchers and reports show ([`event_json`]) and what stubbed responses
//!   and the control API take ([`event_from_json`]); `meta` may hold any of
//!   the 17 `EventMetadata` fields;
//! - the *fixture* form, flat, for files preloaded into a mock
//!   ([`FixtureEvent`]): only the fields a writer chooses (the store assigns
//!   nonces, times and the aggregate).
//!
//! Both become an [`EventFields`] and then an event through
//! [`EventFields::into_event`], so an omitted field means the same in both:
//!
//! - `event_version`: 1 (the first version of an event type);
//! - `content_type`: `application/json` when the payload is JSON, else
//!   empty (a real store then records `application/octet-stream`);
//! - `event_id`: empty; a store that records the event gives it a UUIDv7
//!   ([`assign_event_id`], the wire's one rule, from `eventstore_client`);
//! - every other field: empty, zero, no headers.
//!
//! The rule follows what a real append of the same event would record, so a
//! stubbed event looks like one the store returned.

use crate::wire::{
    non_empty::NonEmpty,
    payload::{ExactPayload, Payload, payload_json},
};
pub use eventstore_client::wire::assign_event_id;
use eventstore_proto::{EventData, EventMetadata};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json, value::RawValue};
use std::collections::BTreeMap;

/// The `event_version` of an event that does not say.
pub const DEFAULT_EVENT_VERSION: u32 = 1;
/// The `content_type` of an event with a JSON payload that does not say.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// An event that cannot be read from JSON; `at` is the field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct EventJsonError {
    /// Where, e.g. `respond.events[0].meta.event_version`.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

/// The 17 `EventMetadata` fields as JSON: the one place they are spelled
/// out. Every field is optional; see the module docs for the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // The fields are `EventMetadata`'s, documented in the proto.
pub struct EventFields {
    pub event_id: String,
    pub aggregate_id: String,
    pub aggregate_type: String,
    pub aggregate_nonce: u64,
    pub event_type: String,
    /// `None`: [`DEFAULT_EVENT_VERSION`].
    pub event_version: Option<u32>,
    /// `None`: [`JSON_CONTENT_TYPE`] for a JSON payload, else empty.
    pub content_type: Option<String>,
    pub content_schema: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub actor_id: String,
    pub tenant_id: String,
    pub timestamp_unix_ms: u64,
    pub recorded_time_unix_ms: u64,
    /// Lowercase hex.
    pub payload_sha256: String,
    pub headers: BTreeMap<String, String>,
    pub global_nonce: u64,
}

impl EventFields {
    /// The fields of `meta`, every one set.
    pub fn from_metadata(meta: &EventMetadata) -> Self {
        Self {
            event_id: meta.event_id.clone(),
            aggregate_id: meta.aggregate_id.clone(),
            aggregate_type: meta.aggregate_type.clone(),
            aggregate_nonce: meta.aggregate_nonce,
            event_type: meta.event_type.clone(),
            event_version: Some(meta.event_version),
            content_type: Some(meta.content_type.clone()),
            content_schema: meta.content_schema.clone(),
            correlation_id: meta.correlation_id.clone(),
            causation_id: meta.causation_id.clone(),
            actor_id: meta.actor_id.clone(),
            tenant_id: meta.tenant_id.clone(),
            timestamp_unix_ms: meta.timestamp_unix_ms,
            recorded_time_unix_ms: meta.recorded_time_unix_ms,
            payload_sha256: hex(&meta.payload_sha256),
            headers: meta.headers.clone(),
            global_nonce: meta.global_nonce,
        }
    }

    /// The event, omitted fields defaulted (see the module docs). `at`
    /// names the event in an error.
    pub fn into_event(self, payload: Payload, at: &str) -> Result<EventData, EventJsonError> {
        let payload_sha256 = unhex(&self.payload_sha256).ok_or_else(|| EventJsonError {
            at: format!("{at}.meta.payload_sha256"),
            message: format!("not hex: {:?}", self.payload_sha256),
        })?;
        let content_type = self.content_type.unwrap_or_else(|| {
            if payload.is_json {
                JSON_CONTENT_TYPE.to_owned()
            } else {
                String::new()
            }
        });
        Ok(EventData {
            meta: Some(EventMetadata {
                event_id: self.event_id,
                aggregate_id: self.aggregate_id,
                aggregate_type: self.aggregate_type,
                aggregate_nonce: self.aggregate_nonce,
                event_type: self.event_type,
                event_version: self.event_version.unwrap_or(DEFAULT_EVENT_VERSION),
                content_type,
                content_schema: self.content_schema,
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
                actor_id: self.actor_id,
                tenant_id: self.tenant_id,
                timestamp_unix_ms: self.timestamp_unix_ms,
                recorded_time_unix_ms: self.recorded_time_unix_ms,
                payload_sha256,
                headers: self.headers,
                global_nonce: self.global_nonce,
            }),
            payload: payload.bytes,
        })
    }
}

/// The view form: `{"meta": {...}, "payload": ...}`; a missing `meta` shows
/// as `null`.
pub fn event_json(e: &EventData) -> Value {
    let meta = e.meta.as_ref().map_or(Value::Null, |m| {
        serde_json::to_value(EventFields::from_metadata(m)).unwrap_or(Value::Null)
    });
    json!({ "meta": meta, "payload": payload_json(&e.payload) })
}

/// Reads one event in the view form; `at` names it in errors.
pub fn event_from_json(value: &Value, at: &str) -> Result<EventData, EventJsonError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ViewEvent {
        #[serde(default)]
        meta: Option<EventFields>,
        #[serde(default)]
        payload: Payload,
    }
    let view: ViewEvent =
        serde_path_to_error::deserialize(value.clone()).map_err(|e| EventJsonError {
            at: format!("{at}.{}", e.path()),
            message: e.inner().to_string(),
        })?;
    view.meta.unwrap_or_default().into_event(view.payload, at)
}

/// Reads a list of events in the view form; `at` names the list.
pub fn events_from_json(values: &[Value], at: &str) -> Result<Vec<EventData>, EventJsonError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| event_from_json(v, &format!("{at}[{i}]")))
        .collect()
}

/// The fixture form of an event (see [`crate::seed`]): flat, `event_type`
/// required, the rest optional with the module's defaults. The store's
/// fields (`aggregate_nonce`, `global_nonce`, `recorded_time_unix_ms`) are
/// optional too: a fixture written by the recorder carries them, so a mock
/// loaded from it answers with the positions the source store answered.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureEvent {
    event_type: NonEmpty,
    event_version: Option<u32>,
    #[serde(default)]
    payload: ExactPayload,
    #[serde(default)]
    event_id: String,
    content_type: Option<String>,
    #[serde(default)]
    content_schema: String,
    #[serde(default)]
    correlation_id: String,
    #[serde(default)]
    causation_id: String,
    #[serde(default)]
    actor_id: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    timestamp_unix_ms: u64,
    #[serde(default)]
    payload_sha256: HexString,
    #[serde(default)]
    aggregate_nonce: u64,
    #[serde(default)]
    global_nonce: u64,
    #[serde(default)]
    recorded_time_unix_ms: u64,
}

impl FixtureEvent {
    /// The event to append or import. Its store fields are 0 unless the
    /// fixture gave them (the store assigns them then).
    pub fn into_event(self) -> EventData {
        let fields = EventFields {
            event_id: self.event_id,
            event_type: self.event_type.0,
            event_version: self.event_version,
            content_type: self.content_type,
            content_schema: self.content_schema,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor_id: self.actor_id,
            headers: self.headers,
            timestamp_unix_ms: self.timestamp_unix_ms,
            payload_sha256: self.payload_sha256.0,
            aggregate_nonce: self.aggregate_nonce,
            global_nonce: self.global_nonce,
            recorded_time_unix_ms: self.recorded_time_unix_ms,
            ..EventFields::default()
        };
        // `payload_sha256`, the only fallible field, was checked by the parser.
        fields
            .into_event(self.payload.0, "")
            .unwrap_or_else(|_| unreachable!("payload_sha256 was checked when parsed"))
    }
}

/// The fixture form of a recorded event, as the recorder writes it: every
/// field the store returned (a field at its default is left out), so
/// loading it gives the same event back. Serialize it straight to text:
/// through a `Value` the raw payload would lose its key order.
#[derive(Debug, Serialize)]
pub struct RecordedFixtureEvent<'a> {
    event_type: &'a str,
    event_version: u32,
    event_id: &'a str,
    aggregate_nonce: u64,
    global_nonce: u64,
    recorded_time_unix_ms: u64,
    /// Always written: an omitted one defaults by the payload's kind.
    content_type: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    content_schema: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    correlation_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    causation_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    actor_id: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    timestamp_unix_ms: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    payload_sha256: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: &'a BTreeMap<String, String>,
    /// The payload's JSON text as the fixture holds it (see [`ExactPayload`]).
    payload: Box<RawValue>,
}

impl<'a> RecordedFixtureEvent<'a> {
    /// `meta` with `payload`, the payload's fixture text.
    pub fn new(meta: &'a EventMetadata, payload: Box<RawValue>) -> Self {
        Self {
            event_type: &meta.event_type,
            event_version: meta.event_version,
            event_id: &meta.event_id,
            aggregate_nonce: meta.aggregate_nonce,
            global_nonce: meta.global_nonce,
            recorded_time_unix_ms: meta.recorded_time_unix_ms,
            content_type: &meta.content_type,
            content_schema: &meta.content_schema,
            correlation_id: &meta.correlation_id,
            causation_id: &meta.causation_id,
            actor_id: &meta.actor_id,
            timestamp_unix_ms: meta.timestamp_unix_ms,
            payload_sha256: hex(&meta.payload_sha256),
            headers: &meta.headers,
            payload,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A lowercase hex string, checked while parsing so the error keeps its line.
#[derive(Debug, Default)]
struct HexString(String);

impl<'de> Deserialize<'de> for HexString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match unhex(&text) {
            Some(_) => Ok(HexString(text)),
            None => Err(serde::de::Error::custom(format!("not hex: {text:?}"))),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len() / 2)
        .map(|i| {
            text.get(2 * i..2 * i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn view_round_trips() {
        let event = EventData {
            meta: Some(EventMetadata {
                event_id: "e".into(),
                event_type: "T".into(),
                event_version: 0,
                payload_sha256: vec![0xab, 0x01],
                headers: [("k".to_owned(), "v".to_owned())].into(),
                global_nonce: 7,
                ..EventMetadata::default()
            }),
            payload: b"{\"a\":1}".to_vec(),
        };
        let view = event_json(&event);
        assert_eq!(view["meta"]["payload_sha256"], "ab01");
        assert_eq!(event_from_json(&view, "e").unwrap(), event);
    }

    #[test]
    fn view_and_fixture_share_the_defaults() {
        let view = event_from_json(
            &json!({"meta": {"event_type": "T"}, "payload": {"a": 1}}),
            "e",
        )
        .unwrap();
        let fixture: FixtureEvent =
            serde_json::from_value(json!({"event_type": "T", "payload": {"a": 1}})).unwrap();
        let fixture = fixture.into_event();
        assert_eq!(view, fixture);
        let meta = view.meta.unwrap();
        assert_eq!(meta.event_version, DEFAULT_EVENT_VERSION);
        assert_eq!(meta.content_type, JSON_CONTENT_TYPE);

        let bytes = event_from_json(&json!({"payload": {"$base64": "AAEC"}}), "e").unwrap();
        assert_eq!(bytes.meta.unwrap().content_type, "");
    }

    #[test]
    fn errors_name_the_field() {
        let err =
            event_from_json(&json!({"meta": {"event_version": "one"}}), "events[0]").unwrap_err();
        assert_eq!(err.at, "events[0].meta.event_version");
        let err =
            event_from_json(&json!({"meta": {"payload_sha256": "xyz"}}), "events[1]").unwrap_err();
        assert_eq!(err.at, "events[1].meta.payload_sha256");
    }
}

//! Fixture files: streams to preload into a mock (`eventstore-mock --seed
//! FILE`, or [`parse_fixtures`] then [`load`] from Rust).
//!
//! A fixture file is one JSON object:
//!
//! ```json
//! {"streams": [
//!   {"tenant_id": "t1", "aggregate_id": "order-1", "aggregate_type": "Order",
//!    "events": [
//!      {"event_type": "com.myco.order.OrderCreated", "event_version": 1,
//!       "payload": {"amount": 10}},
//!      {"event_type": "com.myco.order.OrderShipped",
//!       "payload": {"$base64": "AAEC"},
//!       "event_id": "0190f7a4-5b3c-7000-8000-000000000001",
//!       "content_type": "application/octet-stream", "content_schema": "",
//!       "correlation_id": "c-1", "causation_id": "e-0", "actor_id": "alice",
//!       "headers": {"source": "fixture"}, "timestamp_unix_ms": 1700000000000}
//!    ]}
//! ]}
//! ```
//!
//! - A stream needs a non-empty `tenant_id`, `aggregate_id`,
//!   `aggregate_type` and at least one event. The same stream may appear
//!   more than once: each entry appends after the previous one.
//! - An event needs a non-empty `event_type`. Everything else is optional,
//!   with the defaults every JSON event has (see [`crate::wire::event`]):
//!   - `event_version` (default 1);
//!   - `payload`: any JSON, stored as its JSON encoding, or
//!     `{"$base64": "..."}` for raw bytes; absent or `null` is an empty
//!     payload;
//!   - `content_type`: defaults to `application/json` when the payload is
//!     JSON, else left empty (the store then records
//!     `application/octet-stream`);
//!   - `event_id`: a UUIDv7 is assigned when absent or empty;
//!   - `content_schema`, `correlation_id`, `causation_id`, `actor_id`,
//!     `headers` (string to string) and `timestamp_unix_ms` (default 0).
//! - Aggregate nonces are assigned from the stream's current head, global
//!   nonces and recorded times by the store, as [`MockEventStore::seed`] does.
//! - Any other field is an error, so a typo never goes unnoticed.
//!
//! Files, in the order a fixture file flows through them: `format` (the
//! file's shape; events in the fixture form of [`crate::wire::event`]),
//! `error` ([`SeedError`], and serde's messages rewritten to name the line
//! and the field), this file (parse, read, load).
//!
//! A file that is not valid gets an error naming the line and the field:
//!
//! ```text
//! fixtures.json line 7: streams[0].events[1].event_type: missing field
//! fixtures.json line 3: streams[0].aggregate_id: must not be empty
//! fixtures.json line 9: streams[0].events[0].evnt_id: unknown field (expected one of ...)
//! ```

mod error;
mod format;

pub use error::SeedError;

use crate::MockEventStore;
use crate::wire::event::FixtureEvent;
use error::invalid;
use eventstore_proto::{AppendResponse, EventData, testing::v1 as control};
use format::FixtureFile;
use std::path::Path;

/// One stream to preload: its identity and its events, ready to append
/// (aggregate nonces are assigned when it is loaded).
#[derive(Debug, Clone, PartialEq)]
pub struct SeedStream {
    /// Tenant.
    pub tenant_id: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Aggregate type.
    pub aggregate_type: String,
    /// The events, in order.
    pub events: Vec<EventData>,
}

impl From<SeedStream> for control::SeedStream {
    /// The control API's form, for `MockControl.Seed`.
    fn from(s: SeedStream) -> Self {
        control::SeedStream {
            tenant_id: s.tenant_id,
            aggregate_id: s.aggregate_id,
            aggregate_type: s.aggregate_type,
            events: s.events,
        }
    }
}

/// Parses a fixture file's text (see the module docs). `source_name` (a
/// file name) starts every error message.
pub fn parse_fixtures(text: &str, source_name: &str) -> Result<Vec<SeedStream>, SeedError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let file: FixtureFile = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| invalid(e.path().to_string(), e.into_inner(), source_name))?;
    // Trailing characters after the object are an error too.
    deserializer
        .end()
        .map_err(|e| invalid(String::new(), e, source_name))?;
    Ok(file
        .streams
        .into_iter()
        .map(|s| SeedStream {
            tenant_id: s.tenant_id.0,
            aggregate_id: s.aggregate_id.0,
            aggregate_type: s.aggregate_type.0,
            events: s
                .events
                .0
                .into_iter()
                .map(FixtureEvent::into_event)
                .collect(),
        })
        .collect())
}

/// Reads and parses a fixture file; errors start with the file's path.
pub fn read_fixtures(path: &Path) -> Result<Vec<SeedStream>, SeedError> {
    let source_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SeedError::Read {
        source_name: source_name.clone(),
        message: e.to_string(),
    })?;
    parse_fixtures(&text, &source_name)
}

/// Preloads `streams` into `mock`, in order, through [`MockEventStore::seed`]
/// (bypassing the journal and the expectations). Returns each stream's
/// append response; stops at the first stream the store refuses.
pub async fn load(
    mock: &MockEventStore,
    streams: impl IntoIterator<Item = SeedStream>,
) -> Result<Vec<AppendResponse>, SeedError> {
    let mut responses = Vec::new();
    for (index, s) in streams.into_iter().enumerate() {
        let response = mock
            .seed(&s.tenant_id, &s.aggregate_id, &s.aggregate_type, s.events)
            .await
            .map_err(|status| SeedError::Load {
                index,
                tenant_id: s.tenant_id.clone(),
                aggregate_id: s.aggregate_id.clone(),
                code: status.code(),
                message: status.message().to_owned(),
            })?;
        responses.push(response);
    }
    Ok(responses)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use eventstore_proto::EventMetadata;
    use serde_json::Value;

    const GOOD: &str = r#"{"streams": [
  {"tenant_id": "t1", "aggregate_id": "order-1", "aggregate_type": "Order",
   "events": [
     {"event_type": "com.myco.order.OrderCreated", "event_version": 2,
      "payload": {"amount": 10}},
     {"event_type": "com.myco.order.OrderShipped",
      "payload": {"$base64": "AAEC"},
      "event_id": "e-2", "content_schema": "s",
      "correlation_id": "c-1", "causation_id": "e-1", "actor_id": "alice",
      "headers": {"k": "v"}, "timestamp_unix_ms": 1700000000000},
     {"event_type": "Noted", "payload": "text", "content_type": "text/plain"},
     {"event_type": "Empty"}
   ]},
  {"tenant_id": "t2", "aggregate_id": "cart-9", "aggregate_type": "Cart",
   "events": [{"event_type": "Listed", "payload": [1, 2.5, true, null]}]}
]}
"#;

    fn meta(e: &EventData) -> &EventMetadata {
        e.meta.as_ref().unwrap()
    }

    fn invalid_parts(text: &str) -> (usize, String, String, String) {
        match parse_fixtures(text, "fixtures.json").unwrap_err() {
            e @ SeedError::Invalid { .. } => {
                let shown = e.to_string();
                let SeedError::Invalid {
                    line,
                    path,
                    message,
                    ..
                } = e
                else {
                    unreachable!()
                };
                (line, path, message, shown)
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_good_file() {
        let streams = parse_fixtures(GOOD, "fixtures.json").unwrap();
        assert_eq!(streams.len(), 2);
        let s = &streams[0];
        assert_eq!(
            (
                s.tenant_id.as_str(),
                s.aggregate_id.as_str(),
                s.aggregate_type.as_str()
            ),
            ("t1", "order-1", "Order")
        );
        assert_eq!(s.events.len(), 4);

        let created = &s.events[0];
        assert_eq!(meta(created).event_type, "com.myco.order.OrderCreated");
        assert_eq!(meta(created).event_version, 2);
        assert_eq!(meta(created).content_type, "application/json");
        assert_eq!(meta(created).event_id, "");
        assert_eq!(meta(created).aggregate_nonce, 0);
        assert_eq!(
            serde_json::from_slice::<Value>(&created.payload).unwrap(),
            serde_json::json!({"amount": 10})
        );

        let shipped = &s.events[1];
        assert_eq!(shipped.payload, vec![0, 1, 2]);
        let m = meta(shipped);
        assert_eq!(m.event_version, 1, "event_version defaults to 1");
        assert_eq!(m.content_type, "", "bytes get no default content type");
        assert_eq!(
            (
                m.event_id.as_str(),
                m.content_schema.as_str(),
                m.correlation_id.as_str(),
                m.causation_id.as_str(),
                m.actor_id.as_str()
            ),
            ("e-2", "s", "c-1", "e-1", "alice")
        );
        assert_eq!(m.headers.get("k").map(String::as_str), Some("v"));
        assert_eq!(m.timestamp_unix_ms, 1_700_000_000_000);

        assert_eq!(s.events[2].payload, b"\"text\"");
        assert_eq!(meta(&s.events[2]).content_type, "text/plain");
        assert!(s.events[3].payload.is_empty());
        assert_eq!(meta(&s.events[3]).content_type, "");

        assert_eq!(streams[1].events[0].payload, b"[1,2.5,true,null]");
    }

    #[test]
    fn an_empty_stream_list_is_fine() {
        assert!(
            parse_fixtures(r#"{"streams": []}"#, "f")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn missing_field_names_line_and_path() {
        let text = r#"{"streams": [
  {"tenant_id": "t1", "aggregate_id": "order-1", "aggregate_type": "Order",
   "events": [
     {"event_type": "A"},
     {"event_version": 1,
      "payload": {}
     }
   ]}
]}"#;
        let (line, path, message, shown) = invalid_parts(text);
        assert_eq!(path, "streams[0].events[1].event_type");
        assert_eq!(message, "missing field");
        assert_eq!(line, 7, "the line of the event's closing brace");
        assert_eq!(
            shown,
            "fixtures.json line 7: streams[0].events[1].event_type: missing field"
        );
    }

    #[test]
    fn missing_streams_names_the_field() {
        let (line, path, message, shown) = invalid_parts("{\n}");
        assert_eq!(
            (line, path.as_str(), message.as_str()),
            (2, "streams", "missing field")
        );
        assert_eq!(shown, "fixtures.json line 2: streams: missing field");
    }

    #[test]
    fn unknown_field_names_line_and_path() {
        let text = r#"{"streams": [
  {"tenant_id": "t1", "aggregate_id": "order-1", "aggregate_type": "Order",
   "events": [
     {"event_type": "A",
      "evnt_id": "x"}
   ]}
]}"#;
        let (line, path, message, shown) = invalid_parts(text);
        assert_eq!(line, 5);
        assert_eq!(path, "streams[0].events[0].evnt_id");
        assert!(
            message.starts_with("unknown field (expected one of"),
            "{message}"
        );
        assert!(message.contains("`event_id`"), "{message}");
        assert!(
            shown.starts_with("fixtures.json line 5: streams[0].events[0].evnt_id: unknown field"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_top_level_field() {
        let (line, path, message, _) = invalid_parts("{\"streams\": [],\n \"extra\": 1}");
        assert_eq!((line, path.as_str()), (2, "extra"));
        assert!(message.starts_with("unknown field"), "{message}");
    }

    #[test]
    fn wrong_type_names_line_and_path() {
        let text = r#"{"streams": [
  {"tenant_id": "t1", "aggregate_id": "order-1", "aggregate_type": "Order",
   "events": [
     {"event_type": "A",
      "event_version": "one"}
   ]}
]}"#;
        let (line, path, message, shown) = invalid_parts(text);
        assert_eq!(line, 5);
        assert_eq!(path, "streams[0].events[0].event_version");
        assert!(
            message.starts_with("invalid type: string \"one\""),
            "{message}"
        );
        assert!(
            shown.starts_with(
                "fixtures.json line 5: streams[0].events[0].event_version: invalid type"
            )
        );
    }

    #[test]
    fn empty_ids_and_types_name_line_and_path() {
        const TWO_STREAMS: &str = r#"{"streams": [
  {"tenant_id": "t",
   "aggregate_id": "a",
   "aggregate_type": "A",
   "events": [{"event_type": "E"}]},
  {"tenant_id": "t",
   "aggregate_id": "a",
   "aggregate_type": "A",
   "events": [{"event_type": "E"}]}
]}"#;
        // Blank each field of the second stream (lines 6 to 8).
        let cases = [
            ("tenant_id", r#""tenant_id": "t""#, r#""tenant_id": """#, 6),
            (
                "aggregate_id",
                r#""aggregate_id": "a""#,
                r#""aggregate_id": """#,
                7,
            ),
            (
                "aggregate_type",
                r#""aggregate_type": "A""#,
                r#""aggregate_type": """#,
                8,
            ),
        ];
        for (field, original, blank, expected_line) in cases {
            let at = TWO_STREAMS.rfind(original).unwrap();
            let text = format!(
                "{}{blank}{}",
                &TWO_STREAMS[..at],
                &TWO_STREAMS[at + original.len()..]
            );
            let (line, path, message, shown) = invalid_parts(&text);
            assert_eq!(path, format!("streams[1].{field}"));
            assert_eq!(message, "must not be empty");
            assert_eq!(line, expected_line, "{field}");
            assert_eq!(
                shown,
                format!(
                    "fixtures.json line {expected_line}: streams[1].{field}: must not be empty"
                )
            );
        }
    }

    #[test]
    fn empty_event_type_names_line_and_path() {
        let text = r#"{"streams": [
  {"tenant_id": "t1", "aggregate_id": "order-1", "aggregate_type": "Order",
   "events": [
     {"event_type": "A"},
     {"event_type": "",
      "payload": 1}
   ]}
]}"#;
        let (line, path, message, shown) = invalid_parts(text);
        assert_eq!(
            (line, path.as_str(), message.as_str()),
            (5, "streams[0].events[1].event_type", "must not be empty")
        );
        assert_eq!(
            shown,
            "fixtures.json line 5: streams[0].events[1].event_type: must not be empty"
        );
    }

    #[test]
    fn a_stream_without_events_is_an_error() {
        let text = "{\"streams\": [\n {\"tenant_id\": \"t\", \"aggregate_id\": \"a\", \"aggregate_type\": \"A\",\n  \"events\": []}\n]}";
        let (line, path, message, _) = invalid_parts(text);
        assert_eq!((line, path.as_str()), (3, "streams[0].events"));
        assert_eq!(message, "must hold at least one event");
    }

    #[test]
    fn bad_base64_names_line_and_path() {
        let text = "{\"streams\": [\n {\"tenant_id\": \"t\", \"aggregate_id\": \"a\", \"aggregate_type\": \"A\",\n  \"events\": [\n   {\"event_type\": \"E\",\n    \"payload\": {\"$base64\": \"not base64!\"}}]}\n]}";
        let (line, path, message, _) = invalid_parts(text);
        assert_eq!((line, path.as_str()), (5, "streams[0].events[0].payload"));
        assert!(message.starts_with("$base64:"), "{message}");

        let text = text.replace(
            "{\"$base64\": \"not base64!\"}",
            "{\"$base64\": \"AA==\", \"x\": 1}",
        );
        let (line, path, message, _) = invalid_parts(&text);
        assert_eq!((line, path.as_str()), (5, "streams[0].events[0].payload"));
        assert!(message.contains("only key"), "{message}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let text = "{\"streams\": [\n  {\"tenant_id\": \"t\",\n   \"aggregate_id\" \"a\"}\n]}";
        let (line, path, message, shown) = invalid_parts(text);
        assert_eq!(line, 3);
        assert_eq!(path, "streams[0]");
        assert!(message.starts_with("not valid JSON (column"), "{message}");
        assert!(
            shown.starts_with("fixtures.json line 3: streams[0]: not valid JSON"),
            "{shown}"
        );

        // A broken key: the path stops at the object holding it.
        let (line, path, message, _) = invalid_parts("{\"streams\": [\n  {,}]}");
        assert_eq!((line, path.as_str()), (2, "streams[0]"));
        assert!(message.contains("key must be a string"), "{message}");
        let (line, path, _, _) = invalid_parts("{,}");
        assert_eq!((line, path.as_str()), (1, ""));

        let (line, path, message, _) = invalid_parts("{\"streams\": []}\n\nextra");
        assert_eq!((line, path.as_str()), (3, ""));
        assert!(message.contains("trailing characters"), "{message}");

        let (line, _, message, _) = invalid_parts("{\"streams\": [\n");
        assert_eq!(line, 2);
        assert!(message.contains("EOF"), "{message}");
    }

    #[test]
    fn unreadable_file_names_it() {
        let err = read_fixtures(Path::new("/nonexistent/fixtures.json")).unwrap_err();
        assert!(matches!(err, SeedError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/fixtures.json: cannot read:"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn load_seeds_streams_in_order() {
        let mock = MockEventStore::builder()
            .verify_on_drop(false)
            .start()
            .await;
        let streams = parse_fixtures(GOOD, "fixtures.json").unwrap();
        let responses = load(&mock, streams.clone()).await.unwrap();
        assert_eq!(responses.len(), 2);
        assert_eq!(responses[0].last_aggregate_nonce, 4);
        assert_eq!(responses[0].last_global_nonce, 4);
        assert_eq!(responses[1].last_aggregate_nonce, 1);
        assert_eq!(responses[1].last_global_nonce, 5);

        let events = mock.read_all("t1", "order-1").await.unwrap();
        let nonces: Vec<u64> = events.iter().map(|e| meta(e).aggregate_nonce).collect();
        assert_eq!(nonces, [1, 2, 3, 4]);
        assert_eq!(meta(&events[1]).event_id, "e-2");
        assert!(uuid::Uuid::parse_str(&meta(&events[0]).event_id).is_ok());
        assert_eq!(meta(&events[3]).content_type, "application/octet-stream");
        assert_eq!(meta(&events[0]).aggregate_type, "Order");
        assert!(mock.received_calls().is_empty(), "seeding is not journaled");

        // Loading the same file again appends after the heads; the fixed
        // event id is now a duplicate, which the error reports.
        let err = load(&mock, streams).await.unwrap_err();
        let SeedError::Load { index, code, .. } = &err else {
            panic!("expected Load, got {err:?}");
        };
        assert_eq!((*index, *code), (0, tonic::Code::AlreadyExists));
        assert!(
            err.to_string()
                .starts_with("streams[0] (t1/order-1): ALREADY_EXISTS: "),
            "{err}"
        );
    }

    #[test]
    fn converts_to_the_control_api_form() {
        let stream = parse_fixtures(GOOD, "f").unwrap().remove(1);
        let proto = control::SeedStream::from(stream.clone());
        assert_eq!(proto.tenant_id, "t2");
        assert_eq!(proto.events, stream.events);
    }
}

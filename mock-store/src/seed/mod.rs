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
//!   - `payload_sha256` (lowercase hex).
//! - A JSON payload is stored as written, only the whitespace between its
//!   tokens removed (key order, numbers and escapes are kept byte for byte).
//! - Aggregate nonces are assigned from the stream's current head, global
//!   nonces and recorded times by the store, as
//!   [`MockEventStore::seed`](crate::MockEventStore::seed) does,
//!   unless the fixture is *recorded*.
//! - A recorded fixture (what `eventstore-mock record` writes) gives every
//!   event its `aggregate_nonce`, `global_nonce` and
//!   `recorded_time_unix_ms`: the mock keeps them, so it answers every
//!   ReadStream and ReadAll with the nonces the source store answered,
//!   global nonces included (gaps where other tenants wrote stay gaps; the
//!   next append gets the last global nonce + 1). Its events are loaded in
//!   global order ([`eventstore_engine::EventStore::import`]), whatever the
//!   order of the streams in the file. Either every event carries a
//!   `global_nonce` or none does.
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

use crate::state::data::{seed_stream, stream_head};
use crate::wire::event::FixtureEvent;
use error::invalid;
use eventstore_engine::{EventStore, status::to_status};
use eventstore_proto::{AppendRequest, AppendResponse, EventData, testing::v1 as control};
use format::FixtureFile;
use std::{collections::HashMap, path::Path};
use tonic::Status;

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
    let streams: Vec<SeedStream> = file
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
        .collect();
    check_positions(&streams, source_name)?;
    Ok(streams)
}

/// Whether `streams` hold recorded positions (see the module docs).
fn is_recorded(streams: &[SeedStream]) -> bool {
    streams
        .iter()
        .flat_map(|s| &s.events)
        .any(|e| e.meta.as_ref().is_some_and(|m| m.global_nonce != 0))
}

/// Every event carries recorded positions, or none does.
fn check_positions(streams: &[SeedStream], source_name: &str) -> Result<(), SeedError> {
    let recorded = is_recorded(streams);
    for (i, stream) in streams.iter().enumerate() {
        for (j, event) in stream.events.iter().enumerate() {
            let Some(meta) = &event.meta else { continue };
            let problem = if recorded {
                [
                    ("global_nonce", meta.global_nonce),
                    ("aggregate_nonce", meta.aggregate_nonce),
                ]
                .into_iter()
                .find(|&(_, value)| value == 0)
                .map(|(field, _)| {
                    (
                        field,
                        "missing, but other events carry recorded positions: give every event its global_nonce and aggregate_nonce (a recorded fixture), or none".to_owned(),
                    )
                })
            } else {
                [
                    ("aggregate_nonce", meta.aggregate_nonce),
                    ("recorded_time_unix_ms", meta.recorded_time_unix_ms),
                ]
                .into_iter()
                .find(|&(_, value)| value != 0)
                .map(|(field, value)| {
                    (
                        field,
                        format!(
                            "{value} given without a global_nonce: the store assigns it, unless every event carries its recorded global_nonce"
                        ),
                    )
                })
            };
            if let Some((field, message)) = problem {
                return Err(SeedError::Positions {
                    source_name: source_name.to_owned(),
                    path: format!("streams[{i}].events[{j}].{field}"),
                    message,
                });
            }
        }
    }
    Ok(())
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

/// Preloads `streams` into `engine`, the data of a mock
/// ([`MockEventStore::engine`](crate::MockEventStore::engine)): straight
/// into the engine, so bypassing the journal and the expectations. In
/// order, each stream as [`seed_stream`] appends it, or, for a recorded
/// fixture, event by event in global order keeping the recorded positions.
/// Returns each stream's append response (of its last event); stops at the
/// first stream or event the store refuses.
pub async fn load(
    engine: &EventStore,
    streams: impl IntoIterator<Item = SeedStream>,
) -> Result<Vec<AppendResponse>, SeedError> {
    let streams: Vec<SeedStream> = streams.into_iter().collect();
    if is_recorded(&streams) {
        return import(engine, streams).await;
    }
    let mut responses = Vec::new();
    for (index, s) in streams.into_iter().enumerate() {
        let response = seed_stream(
            engine,
            &s.tenant_id,
            &s.aggregate_id,
            &s.aggregate_type,
            s.events,
        )
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

/// Loads a recorded fixture: every event in global order, each with the
/// aggregate nonce, global nonce and recorded time it carries.
async fn import(
    engine: &EventStore,
    mut streams: Vec<SeedStream>,
) -> Result<Vec<AppendResponse>, SeedError> {
    let mut responses = vec![AppendResponse::default(); streams.len()];
    // The events move out of their streams (the streams keep their names).
    let mut events: Vec<(usize, usize, EventData)> = Vec::new();
    for (i, s) in streams.iter_mut().enumerate() {
        events.extend(
            std::mem::take(&mut s.events)
                .into_iter()
                .enumerate()
                .map(|(j, e)| (i, j, e)),
        );
    }
    let global_nonce = |e: &EventData| e.meta.as_ref().map_or(0, |m| m.global_nonce);
    events.sort_by_key(|(_, _, e)| global_nonce(e));
    let mut heads: HashMap<(&str, &str), u64> = HashMap::new();
    for (index, event_index, event) in events {
        let stream = &streams[index];
        let event_global_nonce = global_nonce(&event);
        let refused = |status: Status| SeedError::Import {
            index,
            event: event_index,
            tenant_id: stream.tenant_id.clone(),
            aggregate_id: stream.aggregate_id.clone(),
            global_nonce: event_global_nonce,
            code: status.code(),
            // The request held this one event: its index says nothing.
            message: status
                .message()
                .strip_prefix("events[0].")
                .unwrap_or(status.message())
                .to_owned(),
        };
        let key = (stream.tenant_id.as_str(), stream.aggregate_id.as_str());
        let head = match heads.get(&key) {
            Some(&head) => head,
            None => stream_head(engine, key.0, key.1).await.map_err(&refused)?,
        };
        let response = engine
            .import(AppendRequest {
                tenant_id: stream.tenant_id.clone(),
                aggregate_id: stream.aggregate_id.clone(),
                aggregate_type: stream.aggregate_type.clone(),
                // The stream's head, so a nonce that does not follow it is
                // reported as such (not as a concurrency conflict).
                expected_aggregate_nonce: head,
                idempotency_key: String::new(),
                events: vec![event],
            })
            .await
            .map_err(|e| refused(to_status(e)))?;
        heads.insert(key, response.last_aggregate_nonce);
        responses[index] = response;
    }
    Ok(responses)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::MockEventStore;
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
        let responses = load(&mock.engine(), streams.clone()).await.unwrap();
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
        let err = load(&mock.engine(), streams).await.unwrap_err();
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
    fn json_payloads_are_kept_as_written() {
        let text = r#"{"streams": [{"tenant_id": "t", "aggregate_id": "a", "aggregate_type": "A",
  "events": [{"event_type": "E", "payload": {"b": 1, "a": [1.50, "\u00e9 \" x"]}}]}]}"#;
        let streams = parse_fixtures(text, "f").unwrap();
        let event = &streams[0].events[0];
        // Key order, number spelling and escapes survive; only the
        // whitespace between tokens goes.
        assert_eq!(
            String::from_utf8(event.payload.clone()).unwrap(),
            r#"{"b":1,"a":[1.50,"\u00e9 \" x"]}"#
        );
        assert_eq!(meta(event).content_type, "application/json");
    }

    #[test]
    fn recorded_positions_are_all_or_nothing() {
        let recorded = r#"{"streams": [{"tenant_id": "t", "aggregate_id": "a", "aggregate_type": "A",
  "events": [{"event_type": "E", "aggregate_nonce": 1, "global_nonce": 4,
              "recorded_time_unix_ms": 17, "payload_sha256": "ab01"}]}]}"#;
        let streams = parse_fixtures(recorded, "f").unwrap();
        let m = meta(&streams[0].events[0]);
        assert_eq!(
            (m.aggregate_nonce, m.global_nonce, m.recorded_time_unix_ms),
            (1, 4, 17)
        );
        assert_eq!(m.payload_sha256, vec![0xab, 0x01]);

        let alone = recorded.replace(r#""global_nonce": 4,"#, "");
        let err = parse_fixtures(&alone, "f.json").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "f.json: streams[0].events[0].aggregate_nonce: 1 given without a global_nonce"
            ),
            "{err}"
        );

        let (line, path, message, _) = invalid_parts(&recorded.replace("\"ab01\"", "\"xyz\""));
        assert_eq!(
            (line, path.as_str()),
            (3, "streams[0].events[0].payload_sha256")
        );
        assert!(message.starts_with("not hex"), "{message}");
    }

    #[tokio::test]
    async fn recorded_fixtures_load_in_global_order_with_their_positions() {
        let mock = MockEventStore::builder()
            .verify_on_drop(false)
            .start()
            .await;
        // Streams listed out of global order; positions with gaps.
        let text = r#"{"streams": [
  {"tenant_id": "t", "aggregate_id": "b", "aggregate_type": "B", "events": [
    {"event_type": "E", "event_id": "b1", "aggregate_nonce": 1, "global_nonce": 6, "recorded_time_unix_ms": 60}]},
  {"tenant_id": "t", "aggregate_id": "a", "aggregate_type": "A", "events": [
    {"event_type": "E", "event_id": "a1", "aggregate_nonce": 1, "global_nonce": 2, "recorded_time_unix_ms": 20},
    {"event_type": "E", "event_id": "a2", "aggregate_nonce": 2, "global_nonce": 9, "recorded_time_unix_ms": 90}]}
]}"#;
        let responses = load(&mock.engine(), parse_fixtures(text, "f").unwrap())
            .await
            .unwrap();
        assert_eq!(responses[0].last_global_nonce, 6);
        assert_eq!(
            (
                responses[1].last_aggregate_nonce,
                responses[1].last_global_nonce
            ),
            (2, 9)
        );
        let a = mock.read_all("t", "a").await.unwrap();
        let positions: Vec<(u64, u64, u64)> = a
            .iter()
            .map(|e| {
                let m = meta(e);
                (m.aggregate_nonce, m.global_nonce, m.recorded_time_unix_ms)
            })
            .collect();
        assert_eq!(positions, [(1, 2, 20), (2, 9, 90)]);
        assert_eq!(mock.engine().last_global_nonce(), 9);
    }

    #[test]
    fn converts_to_the_control_api_form() {
        let stream = parse_fixtures(GOOD, "f").unwrap().remove(1);
        let proto = control::SeedStream::from(stream.clone());
        assert_eq!(proto.tenant_id, "t2");
        assert_eq!(proto.events, stream.events);
    }
}

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
//! - An event needs a non-empty `event_type`. Everything else is optional:
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
//! A file that is not valid gets an error naming the line and the field:
//!
//! ```text
//! fixtures.json line 7: streams[0].events[1].event_type: missing field
//! fixtures.json line 3: streams[0].aggregate_id: must not be empty
//! fixtures.json line 9: streams[0].events[0].evnt_id: unknown field (expected one of ...)
//! ```

use crate::MockEventStore;
use eventstore_proto::{AppendResponse, EventData, EventMetadata, testing::v1 as control};
use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, SeqAccess, Visitor},
};
use serde_json::{Map, Value};
use std::{collections::BTreeMap, fmt, path::Path};

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

/// Why fixtures could not be read, parsed or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("{source_name}: cannot read: {message}")]
    Read {
        /// The file.
        source_name: String,
        /// The I/O error.
        message: String,
    },
    /// The text is not valid JSON or not a valid fixture file.
    #[error("{}", invalid_message(.source_name, *.line, .path, .message))]
    Invalid {
        /// The file (or whatever name the caller gave the text).
        source_name: String,
        /// 1-based line where the problem was found.
        line: usize,
        /// 1-based column where the problem was found.
        column: usize,
        /// Field path, e.g. `streams[0].events[1].event_type` (empty when
        /// the text is not JSON at all).
        path: String,
        /// What is wrong, e.g. `missing field`.
        message: String,
    },
    /// The store refused a stream (e.g. a duplicate `event_id`).
    #[error("streams[{index}] ({tenant_id}/{aggregate_id}): {code:?}: {message}")]
    Load {
        /// Index of the stream in the list given to [`load`].
        index: usize,
        /// Its tenant.
        tenant_id: String,
        /// Its aggregate id.
        aggregate_id: String,
        /// The store's status code.
        code: tonic::Code,
        /// The store's message.
        message: String,
    },
}

fn invalid_message(source: &str, line: usize, path: &str, message: &str) -> String {
    if path.is_empty() {
        format!("{source} line {line}: {message}")
    } else {
        format!("{source} line {line}: {path}: {message}")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    streams: Vec<StreamSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamSpec {
    tenant_id: NonEmpty,
    aggregate_id: NonEmpty,
    aggregate_type: NonEmpty,
    events: NonEmptyList<EventSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventSpec {
    event_type: NonEmpty,
    event_version: Option<u32>,
    #[serde(default)]
    payload: Payload,
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
}

impl EventSpec {
    fn into_event(self) -> EventData {
        let content_type = self.content_type.unwrap_or_else(|| {
            if self.payload.is_json {
                "application/json".to_owned()
            } else {
                String::new()
            }
        });
        EventData {
            meta: Some(EventMetadata {
                event_id: self.event_id,
                event_type: self.event_type.0,
                event_version: self.event_version.unwrap_or(1),
                content_type,
                content_schema: self.content_schema,
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
                actor_id: self.actor_id,
                timestamp_unix_ms: self.timestamp_unix_ms,
                headers: self.headers,
                ..EventMetadata::default()
            }),
            payload: self.payload.bytes,
        }
    }
}

/// A string that must not be empty. The check runs inside the string's
/// visitor, so the JSON parser reports the position of the string itself.
struct NonEmpty(String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NonEmpty;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<NonEmpty, E> {
                if s.is_empty() {
                    Err(E::custom("must not be empty"))
                } else {
                    Ok(NonEmpty(s.to_owned()))
                }
            }
        }
        deserializer.deserialize_string(V)
    }
}

/// A list that must hold at least one item.
struct NonEmptyList<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NonEmptyList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = NonEmptyList<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                if items.is_empty() {
                    return Err(de::Error::custom("must hold at least one event"));
                }
                Ok(NonEmptyList(items))
            }
        }
        deserializer.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// An event payload: the bytes, and whether they are JSON (for the default
/// `content_type`).
#[derive(Default)]
struct Payload {
    bytes: Vec<u8>,
    is_json: bool,
}

impl Payload {
    fn json(value: &Value) -> Self {
        Payload {
            // Encoding a `Value` cannot fail.
            bytes: serde_json::to_vec(value).unwrap_or_default(),
            is_json: true,
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value, or {\"$base64\": \"...\"}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Payload, E> {
                Ok(Payload::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Payload, E> {
                Ok(Payload::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Payload, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Payload, E> {
                Ok(Payload::json(&Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Payload, E> {
                Ok(Payload::json(&Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Payload, E> {
                Ok(Payload::json(&Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Payload, E> {
                Ok(Payload::json(&Value::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Payload, E> {
                Ok(Payload::json(&Value::from(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(Payload::json(&Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
                let mut entries = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    entries.insert(key, value);
                }
                if entries.contains_key("$base64") {
                    if entries.len() != 1 {
                        return Err(de::Error::custom(
                            "$base64 must be the only key of a bytes payload",
                        ));
                    }
                    let bytes = crate::spec::payload_bytes(&Value::Object(entries))
                        .map_err(de::Error::custom)?;
                    return Ok(Payload {
                        bytes,
                        is_json: false,
                    });
                }
                Ok(Payload::json(&Value::Object(entries)))
            }
        }
        deserializer.deserialize_any(V)
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
            events: s.events.0.into_iter().map(EventSpec::into_event).collect(),
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

fn invalid(mut path: String, inner: serde_json::Error, source_name: &str) -> SeedError {
    // `.` is the root; `?` a key the parser never got to read.
    while let Some(parent) = path.strip_suffix(".?") {
        path.truncate(parent.len());
    }
    if path == "." || path == "?" {
        path.clear();
    }
    let (line, column) = (inner.line(), inner.column());
    let full = inner.to_string();
    let mut message = full
        .strip_suffix(&format!(" at line {line} column {column}"))
        .unwrap_or(&full)
        .to_owned();
    // serde names the missing or unknown field in the message, not the path:
    // move it into the path, where the reader looks for it.
    let field_error = [
        ("missing field `", "missing field"),
        ("unknown field `", "unknown field"),
    ]
    .into_iter()
    .find_map(|(prefix, what)| {
        let rest = message.strip_prefix(prefix)?;
        let (field, tail) = rest.split_once('`')?;
        Some((
            field.to_owned(),
            what,
            tail.trim_start_matches(", ").to_owned(),
        ))
    });
    if let Some((field, what, tail)) = field_error {
        let parent = path
            .strip_suffix(&format!(".{field}"))
            .or_else(|| (path == field).then_some(""))
            .unwrap_or(&path)
            .to_owned();
        path = if parent.is_empty() {
            field
        } else {
            format!("{parent}.{field}")
        };
        message = if tail.is_empty() {
            what.to_owned()
        } else {
            format!("{what} ({tail})")
        };
    }
    if inner.is_syntax() || inner.is_eof() {
        message = format!("not valid JSON (column {column}): {message}");
    }
    SeedError::Invalid {
        source_name: source_name.to_owned(),
        line,
        column,
        path,
        message,
    }
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
                .starts_with("streams[0] (t1/order-1): AlreadyExists: "),
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

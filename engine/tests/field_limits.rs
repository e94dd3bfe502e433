//! Issue 14 items 5 and 7: every string field of an event is bounded by a
//! documented, configurable limit, and no error message echoes a huge value
//! (a long one is quoted shortened, with its length).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore_engine::{Error, EventStore, Limits, proto};
use proto::{AppendRequest, EventData, EventMetadata, ReadStreamRequest};

/// Longest message a status may carry in these tests: a few hundred bytes.
const SHORT_MESSAGE: usize = 600;

fn event(id: &str, nonce: u64) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: id.into(),
            aggregate_nonce: nonce,
            event_type: "test.Event".into(),
            ..EventMetadata::default()
        }),
        payload: b"{}".to_vec(),
    }
}

fn request(stream: &str, expected: u64, events: Vec<EventData>) -> AppendRequest {
    AppendRequest {
        tenant_id: "t".into(),
        aggregate_id: stream.into(),
        aggregate_type: "A".into(),
        expected_aggregate_nonce: expected,
        idempotency_key: String::new(),
        events,
    }
}

fn meta(event: &mut EventData) -> &mut EventMetadata {
    event.meta.as_mut().unwrap()
}

/// The error's message is short and names every one of `parts`.
fn assert_names(error: &Error, parts: &[&str]) {
    let text = error.to_string();
    assert!(
        text.len() < SHORT_MESSAGE,
        "message of {} bytes: {}...",
        text.len(),
        &text[..200.min(text.len())]
    );
    for part in parts {
        assert!(text.contains(part), "{text:?} should name {part:?}");
    }
}

async fn stream_len(store: &EventStore, stream: &str) -> usize {
    store
        .read_stream(ReadStreamRequest {
            tenant_id: "t".into(),
            aggregate_id: stream.into(),
            from_aggregate_nonce: 0,
            max_count: 0,
            forward: true,
        })
        .await
        .unwrap()
        .events
        .len()
}

/// A 3 MB aggregate id is refused as over the id limit, whatever the
/// expected nonce, in a message of a few hundred bytes (before: an ABORTED
/// whose message and detail carried the 3 MB id back).
#[tokio::test]
async fn a_huge_aggregate_id_is_not_echoed() {
    let store = EventStore::in_memory();
    let huge = "a".repeat(3_000_000);
    for expected in [0, 5] {
        let error = store
            .append(request(&huge, expected, vec![event("e1", expected + 1)]))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
        assert_names(
            &error,
            &["aggregate_id", "3000000 bytes", "max_id_length = 256"],
        );
    }
    let error = store
        .read_stream(ReadStreamRequest {
            tenant_id: "t".into(),
            aggregate_id: huge,
            from_aggregate_nonce: 0,
            max_count: 0,
            forward: true,
        })
        .await
        .unwrap_err();
    assert_names(&error, &["aggregate_id", "3000000", "max_id_length"]);
}

/// Values echoed by other checks are quoted shortened: an event's
/// aggregate id that differs from the request's, an event id twice in a
/// batch.
#[tokio::test]
async fn long_values_in_other_errors_are_shortened() {
    let store = EventStore::in_memory();
    let long = "b".repeat(1_000_000);
    let mut mismatched = event("e1", 1);
    meta(&mut mismatched).aggregate_id = long.clone();
    let error = store
        .append(request("s", 0, vec![mismatched]))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
    assert_names(
        &error,
        &["events[0].meta.aggregate_id", "(1000000 bytes)", "\"s\""],
    );

    let twice = vec![event(&long, 1), event(&long, 2)];
    let error = store.append(request("s", 0, twice)).await.unwrap_err();
    assert!(matches!(error, Error::AlreadyExists(_)), "{error:?}");
    assert_names(&error, &["events[1].meta.event_id", "(1000000 bytes)"]);
    assert_eq!(stream_len(&store, "s").await, 0);
}

/// The defaults accept generous use and refuse what is past them, naming
/// the field, the event index, the size and the limit.
#[tokio::test]
async fn header_and_content_fields_are_bounded_by_default() {
    let store = EventStore::in_memory();
    let l = Limits::default();

    // Exactly at every default limit: accepted.
    let mut full = event("full", 1);
    let m = meta(&mut full);
    m.headers = (0..l.max_headers_per_event)
        .map(|i| (format!("h{i}"), "v".into()))
        .collect();
    m.headers
        .insert("k".repeat(l.max_header_key_bytes), "v".into());
    m.headers.remove("h0");
    m.headers
        .insert("big".into(), "v".repeat(l.max_header_value_bytes));
    m.headers.remove("h1");
    m.content_type = "c".repeat(l.max_content_type_bytes);
    m.content_schema = "s".repeat(l.max_content_schema_bytes);
    store
        .append(request("ok", 0, vec![full]))
        .await
        .expect("everything at the limit is accepted");

    type Breaker = fn(&mut EventMetadata);
    let cases: [(Breaker, &[&str]); 5] = [
        (
            |m| m.headers = (0..1_001).map(|i| (format!("h{i}"), "v".into())).collect(),
            &[
                "events[1].meta.headers",
                "1001 entries",
                "max_headers_per_event = 1000",
            ],
        ),
        (
            |m| {
                m.headers.insert("k".repeat(16_385), "v".into());
            },
            &[
                "events[1].meta.headers key",
                "16385 bytes",
                "max_header_key_bytes = 16384",
            ],
        ),
        (
            |m| {
                m.headers.insert("trace".into(), "v".repeat(3_000_000));
            },
            &[
                "events[1].meta.headers[\"trace\"]",
                "3000000 bytes",
                "max_header_value_bytes = 16384",
            ],
        ),
        (
            |m| m.content_type = "c".repeat(100_000),
            &[
                "events[1].meta.content_type",
                "100000 bytes",
                "max_content_type_bytes = 1024",
            ],
        ),
        (
            |m| m.content_schema = "s".repeat(1_000_000),
            &[
                "events[1].meta.content_schema",
                "1000000 bytes",
                "max_content_schema_bytes = 65536",
            ],
        ),
    ];
    for (breaker, parts) in cases {
        let mut events = vec![event("x0", 1), event("x1", 2)];
        breaker(meta(&mut events[1]));
        let error = store
            .append(request("broken", 0, events))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
        assert_names(&error, parts);
    }
    assert_eq!(stream_len(&store, "broken").await, 0);
}

/// The limits are configurable.
#[tokio::test]
async fn header_and_content_limits_are_configurable() {
    let store = EventStore::in_memory_with_limits(Limits {
        max_headers_per_event: 2,
        max_header_key_bytes: 4,
        max_header_value_bytes: 4,
        max_content_type_bytes: 8,
        max_content_schema_bytes: 8,
        ..Limits::default()
    })
    .unwrap();
    let mut e = event("e1", 1);
    meta(&mut e).headers.insert("abcde".into(), "v".into());
    let error = store.append(request("s", 0, vec![e])).await.unwrap_err();
    assert_names(
        &error,
        &[
            "events[0].meta.headers key",
            "5 bytes",
            "max_header_key_bytes = 4",
        ],
    );

    let mut e = event("e1", 1);
    meta(&mut e).content_type = "text/plain".into();
    let error = store.append(request("s", 0, vec![e])).await.unwrap_err();
    assert_names(
        &error,
        &[
            "events[0].meta.content_type",
            "10 bytes",
            "max_content_type_bytes = 8",
        ],
    );

    let zero = Limits {
        max_header_value_bytes: 0,
        ..Limits::default()
    };
    assert!(
        zero.validate()
            .unwrap_err()
            .to_string()
            .contains("max_header_value_bytes")
    );
}

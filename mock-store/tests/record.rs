//! The recorder and its replay: a tenant recorded from a store, loaded into
//! a mock from the fixture, answers every ReadStream and ReadAll exactly as
//! the source did (events, nonces, cursors, `is_end`), and the recorder's
//! options (--prefix, --redact, the errors) do what they say.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore_client::ConnectArgs;
use eventstore_mock::{
    Mock, MockEventStore, Respond, StartError,
    connect::ConnectError,
    matchers,
    record::{RecordArgs, RecordError, record},
};
use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadAllRequest, ReadAllResponse, ReadStreamRequest,
    ReadStreamResponse, event_store_client::EventStoreClient,
};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};
use tonic::transport::Channel;

const HEAD: u64 = (1 << 63) - 1;

fn event(id: &str, event_type: &str, payload: &[u8]) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: id.to_owned(),
            event_type: event_type.to_owned(),
            ..EventMetadata::default()
        }),
        payload: payload.to_vec(),
    }
}

struct Appender {
    client: EventStoreClient<Channel>,
    heads: BTreeMap<(String, String), u64>,
}

impl Appender {
    async fn append(&mut self, tenant: &str, aggregate: &str, kind: &str, events: Vec<EventData>) {
        let head = self
            .heads
            .entry((tenant.to_owned(), aggregate.to_owned()))
            .or_default();
        let events = events
            .into_iter()
            .zip(*head + 1..)
            .map(|(mut e, nonce)| {
                e.meta.as_mut().unwrap().aggregate_nonce = nonce;
                e
            })
            .collect::<Vec<_>>();
        let count = events.len() as u64;
        self.client
            .append(AppendRequest {
                tenant_id: tenant.to_owned(),
                aggregate_id: aggregate.to_owned(),
                aggregate_type: kind.to_owned(),
                expected_aggregate_nonce: *head,
                idempotency_key: String::new(),
                events,
            })
            .await
            .expect("append to the source");
        *head += count;
    }
}

/// A source store: tenant `acme` (JSON payloads in any key order,
/// metadata, headers, binary, text, empty and non-compact payloads, a
/// stream whose aggregate type changes, a long stream) interleaved with
/// tenant `other`, so acme's global nonces have gaps.
async fn source() -> MockEventStore {
    let source = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let mut a = Appender {
        client: source.client(),
        heads: BTreeMap::new(),
    };
    let mut rich = event(
        "e-rich",
        "com.acme.OrderCreated",
        br#"{"z":1,"a":[1.50,"\u00e9"],"customer":{"email":"ann@x.io"}}"#,
    );
    {
        let m = rich.meta.as_mut().unwrap();
        m.event_version = 3;
        m.correlation_id = "corr-1".into();
        m.causation_id = "cause-1".into();
        m.actor_id = "alice".into();
        m.content_schema = "schema://order/3".into();
        m.timestamp_unix_ms = 1_700_000_000_123;
        m.payload_sha256 = vec![0xab; 32];
        m.headers = [("traceparent".to_owned(), "00-abc".to_owned())].into();
        m.content_type = "application/json".into();
    }
    a.append("other", "x-1", "X", vec![event("o-1", "X", b"{}")])
        .await;
    a.append(
        "acme",
        "order-1",
        "Order",
        vec![
            rich,
            event(
                "e-2",
                "com.acme.OrderPaid",
                br#"{"customer":{"email":"bob@x.io"},"amount":10}"#,
            ),
        ],
    )
    .await;
    a.append(
        "other",
        "x-1",
        "X",
        vec![event("o-2", "X", b"{}"), event("o-3", "X", b"{}")],
    )
    .await;
    a.append(
        "acme",
        "order-2",
        "Order",
        vec![
            event("e-3", "Blob", &[0, 159, 146, 150, 255]),
            event("e-4", "Text", b"plain text"),
            event("e-5", "Empty", b""),
            event("e-6", "Spaced", br#"{"a": 1}"#),
            event("e-7", "Null", b"null"),
            event("e-8", "LooksLikeBytes", br#"{"$base64":"AAEC"}"#),
        ],
    )
    .await;
    a.append(
        "acme",
        "cart-1",
        "Cart",
        vec![event("e-9", "Added", br#"{"sku":"s-1"}"#)],
    )
    .await;
    a.append("other", "x-2", "X", vec![event("o-4", "X", b"{}")])
        .await;
    a.append(
        "acme",
        "cart-1",
        "CartV2",
        vec![event("e-10", "Added", br#"{"sku":"s-2"}"#)],
    )
    .await;
    a.append(
        "acme",
        "order-1",
        "Order",
        vec![event(
            "e-11",
            "com.acme.OrderShipped",
            br#"{"customer":{"email":"ann@x.io"}}"#,
        )],
    )
    .await;
    for i in 0..60 {
        a.append(
            "acme",
            "bulk-1",
            "Bulk",
            vec![event(
                &format!("b-{i}"),
                "Tick",
                format!("{{\"i\":{i}}}").as_bytes(),
            )],
        )
        .await;
        if i % 7 == 0 {
            a.append(
                "other",
                "x-3",
                "X",
                vec![event(&format!("ob-{i}"), "X", b"{}")],
            )
            .await;
        }
    }
    source
}

fn args(source: &MockEventStore, out: PathBuf) -> RecordArgs {
    RecordArgs {
        from: source.address().to_string(),
        tenant: "acme".into(),
        prefix: String::new(),
        redact: Vec::new(),
        out,
        page_size: 7,
        connect: ConnectArgs::default(),
    }
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eventstore-record-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("fixture.json")
}

async fn stream_pages(
    client: &mut EventStoreClient<Channel>,
    aggregate: &str,
    forward: bool,
    max_count: u32,
) -> Vec<ReadStreamResponse> {
    let mut pages = Vec::new();
    let mut from = if forward { 1 } else { HEAD };
    loop {
        let page = client
            .read_stream(ReadStreamRequest {
                tenant_id: "acme".into(),
                aggregate_id: aggregate.into(),
                from_aggregate_nonce: from,
                max_count,
                forward,
            })
            .await
            .unwrap()
            .into_inner();
        from = page.next_from_aggregate_nonce;
        let end = page.is_end;
        pages.push(page);
        if end {
            return pages;
        }
    }
}

async fn read_all(
    client: &mut EventStoreClient<Channel>,
    from: u64,
    max_count: u32,
    forward: bool,
) -> ReadAllResponse {
    client
        .read_all(ReadAllRequest {
            tenant_id: "acme".into(),
            from_global_nonce: from,
            max_count,
            forward,
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_recorded_fixture_replays_every_read_of_the_source() {
    let source = source().await;
    let out = temp_file("round-trip");
    let summary = record(&args(&source, out.clone())).await.expect("record");
    assert_eq!(summary.events, 71);
    // order-1, order-2, cart-1 (Cart), cart-1 (CartV2), bulk-1.
    assert_eq!(summary.streams, 5);
    assert!(
        summary.pages >= 71 / 7,
        "paged with --page-size 7: {summary:?}"
    );

    let text = std::fs::read_to_string(&out).unwrap();
    // Compact JSON payloads stay readable JSON, key order kept.
    assert!(
        text.contains(r#""payload":{"z":1,"a":[1.50,"\u00e9"],"customer":{"email":"ann@x.io"}}"#),
        "{text}"
    );
    assert!(
        !text.contains("o-1"),
        "another tenant's event leaked into the fixture"
    );

    let replay = MockEventStore::from_fixture(&out)
        .await
        .expect("load the fixture");
    let (mut s, mut r) = (source.client(), replay.client());
    for aggregate in ["order-1", "order-2", "cart-1", "bulk-1", "missing"] {
        for forward in [true, false] {
            for max_count in [0, 1, 2, 7] {
                assert_eq!(
                    stream_pages(&mut s, aggregate, forward, max_count).await,
                    stream_pages(&mut r, aggregate, forward, max_count).await,
                    "ReadStream {aggregate} forward={forward} max_count={max_count}"
                );
            }
        }
    }
    // ReadAll from every position (gaps included), both directions, and
    // page sizes that cut the log in different places.
    let last = source.engine().last_global_nonce();
    for from in 0..=last + 2 {
        for (max_count, forward) in [(1, true), (3, true), (0, true), (2, false), (1000, false)] {
            assert_eq!(
                read_all(&mut s, from, max_count, forward).await,
                read_all(&mut r, from, max_count, forward).await,
                "ReadAll from {from} max_count {max_count} forward={forward}"
            );
        }
    }
    assert_eq!(
        read_all(&mut s, HEAD, 5, false).await,
        read_all(&mut r, HEAD, 5, false).await
    );

    // The replay is a working store: the next append follows the stream,
    // and the global log goes on after the last recorded position.
    let last_recorded = read_all(&mut r, HEAD, 1, false).await.events[0]
        .meta
        .as_ref()
        .unwrap()
        .global_nonce;
    let next = r
        .append(AppendRequest {
            tenant_id: "acme".into(),
            aggregate_id: "order-1".into(),
            aggregate_type: "Order".into(),
            expected_aggregate_nonce: 3,
            idempotency_key: String::new(),
            events: vec![{
                let mut e = event("new-1", "com.acme.Note", b"{}");
                e.meta.as_mut().unwrap().aggregate_nonce = 4;
                e
            }],
        })
        .await
        .expect("append after the replay")
        .into_inner();
    assert_eq!(next.last_aggregate_nonce, 4);
    assert_eq!(next.last_global_nonce, last_recorded + 1);
    std::fs::remove_dir_all(out.parent().unwrap()).ok();
}

#[tokio::test]
async fn prefix_keeps_only_matching_streams() {
    let source = source().await;
    let out = temp_file("prefix");
    let summary = record(&RecordArgs {
        prefix: "order-".into(),
        ..args(&source, out.clone())
    })
    .await
    .unwrap();
    assert_eq!((summary.events, summary.streams), (9, 2));
    let replay = MockEventStore::from_fixture(&out).await.unwrap();
    let mut r = replay.client();
    let all = read_all(&mut r, 1, 1000, true).await;
    assert!(
        all.events
            .iter()
            .all(|e| e.meta.as_ref().unwrap().aggregate_id.starts_with("order-"))
    );
    assert_eq!(all.events.len(), 9);
    std::fs::remove_dir_all(out.parent().unwrap()).ok();
}

#[tokio::test]
async fn redact_replaces_fields_with_stable_placeholders() {
    let source = source().await;
    let out = temp_file("redact");
    // order-2 holds binary payloads: redacting it is refused, naming the event.
    let err = record(&RecordArgs {
        redact: vec!["/customer/email".into()],
        ..args(&source, out.clone())
    })
    .await
    .unwrap_err();
    assert!(matches!(err, RecordError::NotJson { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("order-2/1 (global_nonce"), "{message}");
    assert!(message.contains("--prefix"), "{message}");
    assert!(!out.exists(), "a failed recording writes no file");

    let summary = record(&RecordArgs {
        prefix: "order-1".into(),
        redact: vec!["/customer/email".into(), "/absent".into()],
        ..args(&source, out.clone())
    })
    .await
    .unwrap();
    assert_eq!(summary.redacted, 3);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("ann@x.io") && !text.contains("bob@x.io"),
        "{text}"
    );

    let replay = MockEventStore::from_fixture(&out).await.unwrap();
    let events = replay.read_all("acme", "order-1").await.unwrap();
    let emails: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_slice::<Value>(&e.payload).unwrap()["customer"]["email"].clone())
        .collect();
    // ann, bob, ann: equal values stay equal.
    assert_eq!(
        emails,
        [
            json!("redacted-1"),
            json!("redacted-2"),
            json!("redacted-1")
        ]
    );
    // Everything else is kept, and the payload hash follows the new payload.
    let first: Value = serde_json::from_slice(&events[0].payload).unwrap();
    assert_eq!(first["z"], 1);
    let meta = events[0].meta.as_ref().unwrap();
    assert_eq!(meta.correlation_id, "corr-1");
    assert_ne!(meta.payload_sha256, vec![0xab; 32]);
    assert_eq!(meta.payload_sha256.len(), 32);
    std::fs::remove_dir_all(out.parent().unwrap()).ok();
}

#[tokio::test]
async fn bad_options_and_endpoints_get_clear_errors() {
    let source = source().await;
    let out = temp_file("errors");

    let err = record(&RecordArgs {
        redact: vec!["customer/email".into()],
        ..args(&source, out.clone())
    })
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--redact \"customer/email\": not a JSON pointer"),
        "{err}"
    );

    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = record(&RecordArgs {
        from: closed.to_string(),
        ..args(&source, out.clone())
    })
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, RecordError::Connect(ConnectError::Unreachable { .. })),
        "{err:?}"
    );
    assert!(
        message.starts_with(&format!("cannot reach {closed}: ")),
        "{message}"
    );
    assert!(!out.exists());

    let err = record(&args(
        &source,
        PathBuf::from("/nonexistent-dir/fixture.json"),
    ))
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--out /nonexistent-dir/fixture.json: cannot write:"),
        "{err}"
    );

    // --out naming a directory is refused before anything is read.
    let directory = out.parent().unwrap().to_owned();
    let err = record(&args(&source, directory.clone())).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "--out {}: cannot write: is a directory",
            directory.display()
        )
    );

    let err = record(&RecordArgs {
        connect: ConnectArgs {
            tls_ca: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..ConnectArgs::default()
        },
        ..args(&source, out.clone())
    })
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--tls-ca /nonexistent/ca.pem: cannot read:"),
        "{err}"
    );
    std::fs::remove_dir_all(out.parent().unwrap()).ok();
}

#[tokio::test]
async fn record_reads_a_store_that_requires_credentials() {
    let source = MockEventStore::builder()
        .credentials("u", "p")
        .verify_on_drop(false)
        .start()
        .await;
    let out = temp_file("credentials");
    let err = record(&args(&source, out.clone())).await.unwrap_err();
    assert!(err.to_string().contains("UNAUTHENTICATED"), "{err}");
    let summary = record(&RecordArgs {
        connect: ConnectArgs {
            username: Some("u".into()),
            password: Some("p".into()),
            ..ConnectArgs::default()
        },
        ..args(&source, out.clone())
    })
    .await
    .unwrap();
    assert_eq!(summary.events, 0);
    // An empty tenant makes an empty, loadable fixture.
    assert!(MockEventStore::from_fixture(&out).await.is_ok());
    std::fs::remove_dir_all(out.parent().unwrap()).ok();
}

#[tokio::test]
async fn from_fixture_names_the_file_line_and_field() {
    let dir = temp_file("bad-fixture");
    let missing = dir.with_file_name("missing.json");
    let err = MockEventStore::from_fixture(&missing).await.unwrap_err();
    assert!(matches!(err, StartError::Fixture { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read:", missing.display())),
        "{err}"
    );

    std::fs::write(
        &dir,
        "{\"streams\": [\n {\"tenant_id\": \"t\", \"aggregate_id\": \"a\", \"aggregate_type\": \"A\",\n  \"events\": [{\"event_type\": \"E\", \"global_nonce\": \"x\"}]}\n]}",
    )
    .unwrap();
    let err = MockEventStore::from_fixture(&dir).await.unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{} line 3: streams[0].events[0].global_nonce: invalid type",
            dir.display()
        )),
        "{err}"
    );

    // Recorded positions out of order: the event is named.
    std::fs::write(
        &dir,
        r#"{"streams": [
 {"tenant_id": "t", "aggregate_id": "a", "aggregate_type": "A", "events": [
   {"event_type": "E", "event_id": "1", "aggregate_nonce": 1, "global_nonce": 5},
   {"event_type": "E", "event_id": "2", "aggregate_nonce": 3, "global_nonce": 7}]}
]}"#,
    )
    .unwrap();
    let err = MockEventStore::from_fixture(&dir).await.unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with(&format!("{}: streams[0].events[1] (t/a, global_nonce 7): INVALID_ARGUMENT: meta.aggregate_nonce is 3, expected 2", dir.display())), "{message}");

    // Some events with positions, some without.
    std::fs::write(
        &dir,
        r#"{"streams": [
 {"tenant_id": "t", "aggregate_id": "a", "aggregate_type": "A", "events": [
   {"event_type": "E", "aggregate_nonce": 1, "global_nonce": 5},
   {"event_type": "E"}]}
]}"#,
    )
    .unwrap();
    let err = MockEventStore::from_fixture(&dir).await.unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}: streams[0].events[1].global_nonce: missing",
            dir.display()
        )),
        "{err}"
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

/// The names of the entries of `dir` (links included, not followed).
fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A link planted where the recorder once put its temporary
/// (`.<out>.recording`) is never followed: neither a successful nor a
/// failed recording touches what it points to, and no temporary is left.
#[cfg(unix)]
#[tokio::test]
async fn a_link_at_the_old_temporary_name_is_not_followed() {
    let source = source().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixture.json");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.path().join(".fixture.json.recording");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let expected = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };

    let summary = record(&args(&source, out.clone())).await.expect("record");
    assert_eq!(summary.events, 71);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!std::fs::symlink_metadata(&out).unwrap().is_symlink());
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("{\"streams\": [")
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(
        names_in(dir.path()),
        expected(&[".fixture.json.recording", "fixture.json", "victim.txt"])
    );

    // A failed recording (the store refuses the call) leaves no file.
    std::fs::remove_file(&out).unwrap();
    let refusing = MockEventStore::builder()
        .credentials("u", "p")
        .verify_on_drop(false)
        .start()
        .await;
    let err = record(&args(&refusing, out.clone())).await.unwrap_err();
    assert!(err.to_string().contains("UNAUTHENTICATED"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        names_in(dir.path()),
        expected(&[".fixture.json.recording", "victim.txt"])
    );
}

/// A store whose ReadAll of tenant `acme` returns another tenant's event
/// fails the recording, naming the event and both tenants; no file.
#[tokio::test]
async fn an_event_of_another_tenant_fails_the_recording() {
    let source = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let long_id = format!("order-{}", "x".repeat(100));
    let mut stray = event("e-1", "E", b"{}");
    {
        let meta = stray.meta.as_mut().unwrap();
        meta.tenant_id = "globex".into();
        meta.aggregate_id = long_id.clone();
        meta.aggregate_type = "Order".into();
        meta.aggregate_nonce = 1;
        meta.global_nonce = 7;
    }
    Mock::given(matchers::read_all())
        .respond_with(Respond::read_all_response(ReadAllResponse {
            events: vec![stray],
            is_end: true,
            next_from_global_nonce: 8,
        }))
        .mount(&source);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixture.json");
    let err = record(&args(&source, out.clone())).await.unwrap_err();
    assert!(matches!(err, RecordError::OtherTenant { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("global_nonce 7"), "{message}");
    assert!(
        message.contains("\"globex\"") && message.contains("\"acme\""),
        "{message}"
    );
    // The id, clipped.
    assert!(message.contains(&long_id[..60]), "{message}");
    assert!(!message.contains(&long_id), "{message}");
    assert!(
        names_in(dir.path()).is_empty(),
        "a failed recording writes no file"
    );
}

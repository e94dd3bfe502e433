//! Expectations: every kind of matcher, every count, and ordering.

mod common;

use common::{append_req, ev, read_req, subscribe_req, tcp_client};
use eventstore_mock::{
    Mock, MockEventStore, Respond, Sequence, Times,
    matchers::{self, EventMatcher, Matcher, append, event, events, read_stream, subscribe},
};
use eventstore_proto::{AppendRequest, EventData, EventMetadata};
use serde_json::json;
use std::collections::BTreeMap;
use tonic::Request;

/// Appends with every field set, so every matcher has something to look at.
fn rich_append() -> AppendRequest {
    let meta = |id: &str, event_type: &str, nonce: u64| EventMetadata {
        event_id: id.to_owned(),
        event_type: event_type.to_owned(),
        aggregate_nonce: nonce,
        event_version: 2,
        content_type: "application/json".into(),
        correlation_id: "corr-1".into(),
        causation_id: format!("cause-{nonce}"),
        headers: BTreeMap::from([
            ("source".to_owned(), "checkout".to_owned()),
            ("trace".to_owned(), "abc".to_owned()),
        ]),
        ..EventMetadata::default()
    };
    AppendRequest {
        tenant_id: "t1".into(),
        aggregate_id: "order-42".into(),
        aggregate_type: "Order".into(),
        expected_aggregate_nonce: 0,
        idempotency_key: "key-1".into(),
        events: vec![
            EventData {
                meta: Some(meta(
                    "0190aaaa-0000-7000-8000-000000000001",
                    "OrderCreated",
                    1,
                )),
                payload: serde_json::to_vec(&json!({"amount": 10, "lines": [{"sku": "A"}]}))
                    .expect("JSON encodes"),
            },
            EventData {
                meta: Some(meta("0190aaaa-0000-7000-8000-000000000002", "OrderPaid", 2)),
                payload: serde_json::to_vec(&json!({"amount": 12, "method": "card"}))
                    .expect("JSON encodes"),
            },
        ],
    }
}

/// Mounts each `(name, matcher, should_match)`, sends `rich_append` with
/// metadata, and checks that exactly the expected ones matched.
#[tokio::test]
async fn every_matcher_kind_matches_and_mismatches_an_append() {
    let cases: Vec<(&str, Matcher, bool)> = vec![
        ("rpc append", append(), true),
        ("rpc read_stream", read_stream(), false),
        ("rpc subscribe", subscribe(), false),
        ("tenant_id", matchers::tenant_id("t1"), true),
        ("tenant_id other", matchers::tenant_id("t2"), false),
        ("aggregate_id", matchers::aggregate_id("order-42"), true),
        (
            "aggregate_id other",
            matchers::aggregate_id("order-4"),
            false,
        ),
        (
            "aggregate_id_regex",
            matchers::aggregate_id_regex(r"^order-\d+$"),
            true,
        ),
        (
            "aggregate_id_regex other",
            matchers::aggregate_id_regex("^cart-"),
            false,
        ),
        ("aggregate_type", matchers::aggregate_type("Order"), true),
        (
            "aggregate_type other",
            matchers::aggregate_type("Cart"),
            false,
        ),
        (
            "expected_aggregate_nonce",
            matchers::expected_aggregate_nonce(0),
            true,
        ),
        (
            "expected_aggregate_nonce other",
            matchers::expected_aggregate_nonce(1),
            false,
        ),
        ("idempotency_key", matchers::idempotency_key("key-1"), true),
        (
            "idempotency_key other",
            matchers::idempotency_key("key-2"),
            false,
        ),
        ("event_count", matchers::event_count(2), true),
        ("event_count other", matchers::event_count(1), false),
        (
            "request partial",
            matchers::request(
                json!({"aggregate_id": "order-42", "events": [{}, {"payload": {"method": "card"}}]}),
            ),
            true,
        ),
        (
            "request partial other",
            matchers::request(json!({"aggregate_id": "order-42", "idempotency_key": ""})),
            false,
        ),
        (
            "field",
            matchers::field("events[0].payload.lines[0].sku", "A"),
            true,
        ),
        (
            "field other",
            matchers::field("events[0].payload.lines[0].sku", "B"),
            false,
        ),
        (
            "field missing",
            matchers::field("events[2].payload", json!({})),
            false,
        ),
        (
            "field exact object",
            matchers::field(
                "events[1].payload",
                json!({"$eq": {"amount": 12, "method": "card"}}),
            ),
            true,
        ),
        (
            "field exact object other",
            matchers::field("events[1].payload", json!({"$eq": {"amount": 12}})),
            false,
        ),
        (
            "field number by value",
            matchers::field("events[0].payload.amount", 10.0),
            true,
        ),
        (
            "field $any",
            matchers::field("events[1].payload.method", json!({"$any": true})),
            true,
        ),
        (
            "field $any missing",
            matchers::field("events[0].payload.method", json!({"$any": true})),
            false,
        ),
        (
            "field_regex",
            matchers::field_regex("events[1].meta.event_id", "-0+2$"),
            true,
        ),
        (
            "field_regex other",
            matchers::field_regex("events[1].meta.event_id", "-0+1$"),
            false,
        ),
        (
            "metadata",
            matchers::metadata("X-Request-Id", "req-7"),
            true,
        ),
        (
            "metadata other",
            matchers::metadata("x-request-id", "req-8"),
            false,
        ),
        (
            "metadata missing",
            matchers::metadata("x-absent", "req-7"),
            false,
        ),
        (
            "metadata_regex",
            matchers::metadata_regex("x-request-id", r"^req-\d$"),
            true,
        ),
        (
            "metadata_regex other",
            matchers::metadata_regex("x-request-id", "^id-"),
            false,
        ),
        (
            "predicate",
            matchers::predicate(
                "two events",
                |call| matches!(call.request, eventstore_mock::CallRequest::Append(r) if r.events.len() == 2),
            ),
            true,
        ),
        (
            "predicate other",
            matchers::predicate("never", |_| false),
            false,
        ),
        (
            "predicate sees metadata",
            matchers::predicate("has request id", |call| {
                call.metadata.contains_key("x-request-id")
            }),
            true,
        ),
        (
            "event type",
            event(0).event_type("OrderCreated").into(),
            true,
        ),
        (
            "event type other",
            event(1).event_type("OrderCreated").into(),
            false,
        ),
        ("event revision", event(1).revision(2).into(), true),
        ("event revision other", event(1).revision(1).into(), false),
        (
            "event id regex",
            event(0).event_id_regex("^0190aaaa-").into(),
            true,
        ),
        (
            "event id regex other",
            event(0).event_id_regex("^0191").into(),
            false,
        ),
        (
            "event aggregate_nonce",
            event(1).aggregate_nonce(2).into(),
            true,
        ),
        (
            "event aggregate_nonce other",
            event(1).aggregate_nonce(1).into(),
            false,
        ),
        (
            "event correlation",
            event(1).correlation_id("corr-1").into(),
            true,
        ),
        (
            "event correlation other",
            event(1).correlation_id("corr-2").into(),
            false,
        ),
        (
            "event causation",
            event(1).causation_id("cause-2").into(),
            true,
        ),
        (
            "event causation other",
            event(1).causation_id("cause-1").into(),
            false,
        ),
        (
            "event content_type",
            event(0).content_type("application/json").into(),
            true,
        ),
        (
            "event content_type other",
            event(0).content_type("text/plain").into(),
            false,
        ),
        (
            "event header",
            event(0).header("source", "checkout").into(),
            true,
        ),
        (
            "event header other",
            event(0).header("source", "admin").into(),
            false,
        ),
        (
            "event header missing",
            event(0).header("tenant", "x").into(),
            false,
        ),
        (
            "event meta_field",
            event(0)
                .meta_field("event_type", json!({"$regex": "^Order"}))
                .into(),
            true,
        ),
        (
            "event meta_field other",
            event(0).meta_field("actor_id", json!("bob")).into(),
            false,
        ),
        (
            "event payload subset",
            event(1).payload(json!({"amount": 12})).into(),
            true,
        ),
        (
            "event payload subset nested",
            event(0).payload(json!({"lines": [{"sku": "A"}]})).into(),
            true,
        ),
        (
            "event payload other",
            event(1).payload(json!({"amount": 10})).into(),
            false,
        ),
        (
            "event index out of range",
            event(2).event_type("OrderCreated").into(),
            false,
        ),
        (
            "event all at once",
            event(0)
                .event_type("OrderCreated")
                .revision(2)
                .correlation_id("corr-1")
                .causation_id("cause-1")
                .header("trace", "abc")
                .payload(json!({"amount": 10}))
                .into(),
            true,
        ),
        (
            "events in order",
            events([
                EventMatcher::any().event_type("OrderCreated"),
                EventMatcher::any()
                    .event_type("OrderPaid")
                    .payload(json!({"amount": 12})),
            ]),
            true,
        ),
        (
            "events any",
            events([EventMatcher::any(), EventMatcher::any()]),
            true,
        ),
        ("events too few", events([EventMatcher::any()]), false),
        (
            "events wrong order",
            events([
                EventMatcher::any().event_type("OrderPaid"),
                EventMatcher::any().event_type("OrderCreated"),
            ]),
            false,
        ),
    ];

    let mock = MockEventStore::start().await;
    let ids: Vec<_> = cases
        .iter()
        .map(|(name, matcher, _)| {
            Mock::given(matcher.clone())
                .named(*name)
                .expect(..)
                .mount(&mock)
        })
        .collect();

    let mut request = Request::new(rich_append());
    request
        .metadata_mut()
        .insert("x-request-id", "req-7".parse().unwrap());
    mock.client().append(request).await.unwrap();

    let failures: Vec<String> = cases
        .iter()
        .zip(&ids)
        .filter_map(|((name, matcher, should), id)| {
            let matched = mock.calls_matching(*id).len() == 1;
            (matched != *should).then(|| format!("{name} ({matcher}): matched = {matched}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "wrong matches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn matchers_on_read_and_subscribe_requests() {
    let mock = MockEventStore::start().await;
    let read_forward = Mock::given(read_stream())
        .and(matchers::field("forward", true))
        .and(matchers::field("from_aggregate_nonce", 1))
        .and(matchers::aggregate_id("order-1"))
        .expect(..)
        .mount(&mock);
    let read_backward = Mock::given(read_stream())
        .and(matchers::field("forward", false))
        .expect(..)
        .mount(&mock);
    let sub_orders = Mock::given(subscribe())
        .and(matchers::field("aggregate_id_prefix", "order-"))
        .and(matchers::field("from_global_nonce", 5))
        .expect(..)
        .mount(&mock);
    let sub_any = Mock::given(subscribe())
        .and(matchers::request(json!({"tenant_id": "t1"})))
        .expect(..)
        .mount(&mock);

    let mut client = mock.client();
    client.read_stream(read_req("order-1")).await.unwrap();
    let mut sub = subscribe_req();
    sub.aggregate_id_prefix = "order-".into();
    sub.from_global_nonce = 5;
    drop(client.subscribe(sub).await.unwrap());
    drop(client.subscribe(subscribe_req()).await.unwrap());

    assert_eq!(mock.calls_matching(read_forward).len(), 1);
    assert_eq!(mock.calls_matching(read_backward).len(), 0);
    assert_eq!(mock.calls_matching(sub_orders).len(), 1);
    assert_eq!(mock.calls_matching(sub_any).len(), 2);
}

#[tokio::test]
async fn metadata_matches_over_tcp_too() {
    let mock = MockEventStore::start().await;
    let traced = Mock::given(read_stream())
        .and(matchers::metadata("x-tenant-hint", "blue"))
        .expect(1)
        .mount(&mock);
    let mut client = tcp_client(&mock).await;
    let mut request = Request::new(read_req("order-1"));
    request
        .metadata_mut()
        .insert("x-tenant-hint", "blue".parse().unwrap());
    client.read_stream(request).await.unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();

    assert_eq!(mock.calls_matching(traced).len(), 1);
    assert_eq!(mock.calls_matching(traced)[0].seq, 1);
    mock.verify().unwrap();
}

#[tokio::test]
async fn any_call_and_several_conditions() {
    let mock = MockEventStore::start().await;
    let all = Mock::any_call().expect(3).mount(&mock);
    let both = Mock::any_call()
        .and(matchers::aggregate_id("order-1"))
        .and(read_stream())
        .expect(1)
        .mount(&mock);
    let mut client = mock.client();
    client
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();
    client.read_stream(read_req("order-2")).await.unwrap();
    assert_eq!(mock.calls_matching(all).len(), 3);
    assert_eq!(mock.calls_matching(both).len(), 1);
    mock.verify().unwrap();
}

async fn reads(mock: &MockEventStore, n: usize) {
    let mut client = mock.client();
    for _ in 0..n {
        client
            .read_stream(read_req("order-1"))
            .await
            .expect("reads pass through");
    }
}

/// Mounts `times` on reads of a fresh mock, makes `calls` reads, and verifies.
async fn verify_count(times: Times, calls: usize) -> bool {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    Mock::given(read_stream()).expect(times).mount(&mock);
    reads(&mock, calls).await;
    mock.verify().is_ok()
}

#[tokio::test]
async fn every_count_kind() {
    let table = [
        (Times::Any, 0, true),
        (Times::Any, 5, true),
        (Times::Exactly(2), 1, false),
        (Times::Exactly(2), 2, true),
        (Times::Exactly(2), 3, false),
        (Times::AtLeast(2), 1, false),
        (Times::AtLeast(2), 2, true),
        (Times::AtLeast(2), 4, true),
        (Times::AtMost(2), 0, true),
        (Times::AtMost(2), 2, true),
        (Times::AtMost(2), 3, false),
        (Times::Between(1, 2), 0, false),
        (Times::Between(1, 2), 1, true),
        (Times::Between(1, 2), 2, true),
        (Times::Between(1, 2), 3, false),
        (Times::Exactly(0), 0, true),
        (Times::Exactly(0), 1, false),
    ];
    for (times, calls, ok) in table {
        assert_eq!(
            verify_count(times, calls).await,
            ok,
            "{times} with {calls} calls"
        );
    }
}

#[test]
fn counts_convert_from_numbers_and_ranges() {
    let times = |t: Mock| t.describe();
    // The conversions `expect` accepts.
    assert_eq!(Times::from(3), Times::Exactly(3));
    assert_eq!(Times::from(2..), Times::AtLeast(2));
    assert_eq!(Times::from(..=4), Times::AtMost(4));
    assert_eq!(Times::from(1..=3), Times::Between(1, 3));
    assert_eq!(Times::Exactly(0).to_string(), "no call");
    assert_eq!(Times::Exactly(1).to_string(), "exactly 1 call");
    assert_eq!(Times::AtLeast(2).to_string(), "at least 2 calls");
    assert_eq!(Times::AtMost(1).to_string(), "at most 1 call");
    assert_eq!(Times::Between(1, 3).to_string(), "between 1 and 3 calls");
    assert_eq!(Times::Any.to_string(), "any number of calls");
    assert_eq!(
        times(
            Mock::given(append())
                .and(matchers::aggregate_id("a"))
                .named("x")
        ),
        "\"x\" (rpc = Append and aggregate_id = \"a\")"
    );
    assert_eq!(times(Mock::any_call()), "any call");
}

#[tokio::test]
async fn expect_with_ranges_and_never() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    Mock::given(read_stream()).expect(2..).mount(&mock);
    Mock::given(read_stream()).expect(..=3).mount(&mock);
    Mock::given(read_stream()).expect(1..=2).mount(&mock);
    Mock::given(append()).never().mount(&mock);
    reads(&mock, 2).await;
    mock.verify().unwrap();

    mock.client()
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .expect("never() only verifies: the call still goes through");
    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 1);
    assert!(err.report.contains("expected no call, received 1"), "{err}");
}

#[tokio::test]
async fn sequence_in_order_passes() {
    let mock = MockEventStore::start().await;
    let checkout = Sequence::new("checkout");
    Mock::given(read_stream())
        .in_sequence(&checkout)
        .expect(..)
        .mount(&mock);
    Mock::given(append())
        .in_sequence(&checkout)
        .expect(..)
        .mount(&mock);
    Mock::given(subscribe())
        .in_sequence(&checkout)
        .expect(..)
        .mount(&mock);

    let mut client = mock.client();
    client.read_stream(read_req("order-1")).await.unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();
    client
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap();
    drop(client.subscribe(subscribe_req()).await.unwrap());
    mock.verify().unwrap();
}

#[tokio::test]
async fn sequence_out_of_order_fails_verification() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let checkout = Sequence::new("checkout");
    Mock::given(read_stream())
        .in_sequence(&checkout)
        .expect(..)
        .mount(&mock);
    Mock::given(append())
        .in_sequence(&checkout)
        .expect(..)
        .mount(&mock);
    // Another sequence, in order: not reported.
    let other = Sequence::new("other");
    Mock::given(matchers::aggregate_id("order-2"))
        .in_sequence(&other)
        .expect(..)
        .mount(&mock);
    Mock::given(matchers::aggregate_id("order-1"))
        .in_sequence(&other)
        .expect(..)
        .mount(&mock);

    let mut client = mock.client();
    client.read_stream(read_req("order-2")).await.unwrap();
    client
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap();
    client.read_stream(read_req("order-3")).await.unwrap();

    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 1, "{err}");
    assert!(
        err.report
            .contains("sequence \"checkout\" out of order: call #2 matched rpc = Append"),
        "{err}"
    );
    assert!(err.report.contains("came before call #3"), "{err}");
}

#[tokio::test]
async fn sequence_order_is_checked_across_a_member_without_calls() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let flow = Sequence::new("flow");
    Mock::given(read_stream())
        .in_sequence(&flow)
        .expect(..)
        .mount(&mock);
    Mock::given(append())
        .in_sequence(&flow)
        .expect(..)
        .mount(&mock);
    Mock::given(subscribe())
        .in_sequence(&flow)
        .expect(..)
        .mount(&mock);

    let mut client = mock.client();
    drop(client.subscribe(subscribe_req()).await.unwrap());
    client.read_stream(read_req("order-1")).await.unwrap();

    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 1, "{err}");
    assert!(
        err.report.contains(
            "sequence \"flow\" out of order: call #1 matched rpc = Subscribe\n   but came before call #2, which matched the earlier rpc = ReadStream"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn sequences_from_json_share_a_name() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    mock.mount_json(r#"{"rpc": "append", "sequence": "s"}"#)
        .unwrap();
    mock.mount_json(r#"{"rpc": "read_stream", "sequence": "s"}"#)
        .unwrap();
    let mut client = mock.client();
    client.read_stream(read_req("order-1")).await.unwrap();
    client
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap();
    let err = mock.verify().unwrap_err();
    assert!(err.report.contains("sequence \"s\" out of order"), "{err}");
}

/// The crate's default count (and the Python layer's): an expectation
/// mounted without `.expect(..)` wants exactly one matching call; `..`
/// asks for any number.
#[tokio::test]
async fn default_count_is_exactly_once_and_dot_dot_means_any() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let once = Mock::given(read_stream()).named("once").mount(&mock);
    let any = Mock::given(read_stream())
        .named("any")
        .expect(..)
        .mount(&mock);
    let err = mock.verify().unwrap_err();
    assert!(err.report.contains("\"once\""), "{err}");
    assert!(!err.report.contains("\"any\""), "{err}");
    let mut client = mock.client();
    client.read_stream(read_req("order-1")).await.unwrap();
    mock.verify().unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();
    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 1, "{err}");
    assert!(
        err.report.contains("expected exactly 1 call, received 2"),
        "{err}"
    );
    assert_eq!(mock.calls_matching(once).len(), 2);
    assert_eq!(mock.calls_matching(any).len(), 2);
    assert_eq!(Times::default(), Times::Exactly(1));
}

/// A failing expectation without `up_to` fails every matching call; when
/// it got more calls than expected, the report says how to fail only the
/// first ones (`up_to`), and says nothing of it once `up_to` is given or
/// the reply is not a failure.
#[tokio::test]
async fn too_many_calls_on_a_failing_expectation_suggest_up_to() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    Mock::given(read_stream())
        .respond_with(Respond::status(tonic::Code::Unavailable, "down"))
        .mount(&mock);
    let mut client = mock.client();
    for _ in 0..3 {
        client.read_stream(read_req("order-1")).await.unwrap_err();
    }
    let err = mock.verify().unwrap_err();
    assert!(
        err.report.contains("expected exactly 1 call, received 3.")
            && err.report.contains(
                "(a fail_with expectation answers every matching call; to fail only the first 1 and then \
                 pass through to the store, give up_to=1 (Rust: .up_to_n_times(1); JSON: \"up_to\": 1))"
            ),
        "{err}"
    );

    // With up_to, or with a reply that is not a failure: no hint.
    mock.reset_expectations();
    Mock::given(read_stream()).mount(&mock);
    Mock::given(append())
        .respond_with(Respond::status(tonic::Code::Unavailable, "down"))
        .up_to_n_times(3)
        .expect(1)
        .mount(&mock);
    client.read_stream(read_req("order-1")).await.unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();
    for _ in 0..2 {
        client
            .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
            .await
            .unwrap_err();
    }
    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 2, "{err}");
    assert!(!err.report.contains("up_to"), "{err}");
}

/// Issue 25 item 3: `aggregate_id_prefix` matches a Subscribe's prefix, and
/// a matcher that can never match the RPC it is mounted on (a field that
/// RPC's request does not have) is refused at mount, naming both, in Rust
/// and in JSON (it silently matched nothing).
#[tokio::test]
async fn a_prefix_matcher_for_subscribe_and_matchers_that_never_match_are_refused() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let id = Mock::given(matchers::subscribe())
        .and(matchers::aggregate_id_prefix("customer-"))
        .mount(&mock);
    let mut client = mock.client();
    let _stream = client
        .subscribe(eventstore_proto::SubscribeRequest {
            tenant_id: "t1".into(),
            aggregate_id_prefix: "customer-".into(),
            from_global_nonce: 0,
        })
        .await
        .unwrap();
    assert_eq!(mock.calls_matching(id).len(), 1);

    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Mock::given(matchers::subscribe())
            .and(matchers::aggregate_id_regex("^customer-"))
            .mount(&mock)
    }))
    .unwrap_err();
    let message = refused
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("can never match a Subscribe call")
            && message.contains("\"aggregate_id\"")
            && message.contains("aggregate_id_prefix"),
        "{message}"
    );
    let error = mock
        .mount_json(r#"{"rpc": "read_all", "fields": {"aggregate_id": "x"}}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("can never match a ReadAll call"), "{error}");
    // A matcher without an RPC, or on a field the RPC has, mounts.
    Mock::given(matchers::aggregate_id("x"))
        .expect(..)
        .mount(&mock);
    Mock::given(matchers::read_stream())
        .and(matchers::aggregate_id("x"))
        .expect(..)
        .mount(&mock);
}

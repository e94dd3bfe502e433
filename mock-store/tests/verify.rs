//! verify(): met expectations pass; unmet ones give a report (snapshotted,
//! so its wording stays stable) naming each problem, the nearest calls and
//! a field-by-field diff. Strict mode, and verification on drop.

mod common;

use common::{append_req, ev, read_req, subscribe_req};
use eventstore_mock::{
    Mock, MockEventStore, Respond, Sequence,
    matchers::{self, EventMatcher, append, event, events, read_stream, subscribe},
};
use serde_json::json;
use tonic::{Code, Request};

/// A mock that is verified explicitly, not on drop.
async fn mock() -> MockEventStore {
    MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await
}

async fn order_with_amounts(mock: &MockEventStore, aggregate: &str, first: i64, second: i64) {
    mock.client()
        .append(append_req(
            aggregate,
            0,
            vec![
                ev(
                    &format!("{aggregate}-1"),
                    "OrderCreated",
                    json!({"amount": first}),
                ),
                ev(
                    &format!("{aggregate}-2"),
                    "OrderPaid",
                    json!({"amount": second, "method": "card"}),
                ),
            ],
        ))
        .await
        .expect("the append passes through");
}

#[tokio::test]
async fn met_expectations_verify() {
    let mock = mock().await;
    Mock::given(append())
        .and(matchers::aggregate_id("order-1"))
        .and(event(1).payload(json!({"amount": 12})))
        .expect(1)
        .mount(&mock);
    Mock::given(read_stream()).never().mount(&mock);
    order_with_amounts(&mock, "order-1", 10, 12).await;
    mock.verify().unwrap();
}

#[tokio::test]
async fn report_shows_the_nearest_calls_with_a_field_diff() {
    let mock = mock().await;
    Mock::given(append())
        .and(matchers::aggregate_id("order-1"))
        .and(
            event(1)
                .event_type("OrderPaid")
                .payload(json!({"amount": 10})),
        )
        .expect(1)
        .mount(&mock);
    order_with_amounts(&mock, "order-2", 9, 11).await;
    order_with_amounts(&mock, "order-1", 10, 12).await;
    mock.client()
        .read_stream(read_req("order-1"))
        .await
        .unwrap();

    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 1);
    assert!(
        err.report
            .contains("events[1].payload.amount: expected 10, got 12"),
        "{err}"
    );
    insta::assert_snapshot!(err.to_string());
}

#[tokio::test]
async fn report_when_no_call_was_received() {
    let mock = mock().await;
    Mock::given(subscribe())
        .and(matchers::field("aggregate_id_prefix", "order-"))
        .expect(1)
        .mount(&mock);
    Mock::any_call().expect(1..).mount(&mock);
    insta::assert_snapshot!(mock.verify().unwrap_err().to_string());
}

#[tokio::test]
async fn report_when_too_few_calls_matched() {
    let mock = mock().await;
    Mock::given(append())
        .and(matchers::aggregate_id("order-1"))
        .expect(2)
        .mount(&mock);
    Mock::given(append())
        .and(events([EventMatcher::any()]))
        .and(event(0).payload(json!({})))
        .expect(1)
        .mount(&mock);
    let mut request = append_req(
        "order-1",
        0,
        vec![
            ev("e1", "OrderCreated", json!({})),
            ev("e2", "OrderPaid", json!({})),
        ],
    );
    request.events[0].payload = Vec::new();
    mock.client().append(request).await.unwrap();
    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 2);
    insta::assert_snapshot!(err.to_string());
}

#[tokio::test]
async fn report_for_too_many_calls_lists_the_matching_calls() {
    let mock = mock().await;
    Mock::given(read_stream()).never().mount(&mock);
    Mock::given(read_stream())
        .and(matchers::aggregate_id("order-1"))
        .expect(..=1)
        .mount(&mock);
    Mock::given(append()).expect(0..=1).mount(&mock);
    let mut client = mock.client();
    client.read_stream(read_req("order-1")).await.unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();
    client.read_stream(read_req("order-2")).await.unwrap();
    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 2);
    insta::assert_snapshot!(err.to_string());
}

#[tokio::test]
async fn report_names_expectations_and_explains_metadata_predicates_and_counts() {
    let mock = mock().await;
    Mock::given(append())
        .and(matchers::metadata_regex("authorization", "^Bearer "))
        .and(matchers::metadata("x-request-id", "req-1"))
        .and(matchers::predicate("has an idempotency key", |call| {
            call.json["idempotency_key"] != ""
        }))
        .named("authorized append")
        .expect(1)
        .mount(&mock);
    Mock::given(append())
        .and(events([
            EventMatcher::any().event_type("OrderCreated"),
            EventMatcher::any().event_type("OrderPaid"),
            EventMatcher::any().event_type("OrderShipped"),
        ]))
        .named("three events")
        .expect(1..)
        .mount(&mock);
    Mock::given(append())
        .and(
            event(0)
                .header("source", "checkout")
                .correlation_id("corr-9"),
        )
        .and(matchers::aggregate_id_regex("^cart-"))
        .named("checkout append")
        .expect(2..=3)
        .mount(&mock);

    let mut request = Request::new(append_req(
        "order-1",
        0,
        vec![
            ev("e1", "OrderCreated", json!({})),
            ev("e2", "OrderPaid", json!({})),
        ],
    ));
    request
        .metadata_mut()
        .insert("x-request-id", "req-2".parse().unwrap());
    mock.client().append(request).await.unwrap();

    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 3);
    insta::assert_snapshot!(err.to_string());
}

#[tokio::test]
async fn report_shows_at_most_three_nearest_calls_fewest_differences_first() {
    let mock = mock().await;
    Mock::given(read_stream())
        .and(matchers::aggregate_id("order-9"))
        .and(matchers::field("forward", true))
        .and(matchers::field("max_count", 10))
        .expect(1)
        .mount(&mock);
    let mut client = mock.client();
    let mut backwards = read_req("order-1");
    backwards.forward = false;
    client.read_stream(backwards).await.unwrap();
    client.read_stream(read_req("order-2")).await.unwrap();
    let mut close = read_req("order-3");
    close.max_count = 10;
    client.read_stream(close).await.unwrap();
    client.read_stream(read_req("order-4")).await.unwrap();
    insta::assert_snapshot!(mock.verify().unwrap_err().to_string());
}

#[tokio::test]
async fn report_for_a_sequence_out_of_order() {
    let mock = mock().await;
    let checkout = Sequence::new("checkout");
    Mock::given(read_stream())
        .named("load the order")
        .in_sequence(&checkout)
        .mount(&mock);
    Mock::given(append())
        .named("save the order")
        .in_sequence(&checkout)
        .mount(&mock);
    let mut client = mock.client();
    client
        .append(append_req(
            "order-1",
            0,
            vec![ev("e1", "OrderCreated", json!({}))],
        ))
        .await
        .unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();
    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 1);
    insta::assert_snapshot!(err.to_string());
}

#[tokio::test]
async fn strict_mode_fails_unmatched_calls_and_reports_them() {
    let mock = MockEventStore::builder()
        .strict(true)
        .verify_on_drop(false)
        .start()
        .await;
    Mock::given(read_stream()).expect(..).mount(&mock);
    let mut client = mock.client();

    client
        .read_stream(read_req("order-1"))
        .await
        .expect("an expected call passes through");
    let err = client
        .append(append_req(
            "order-1",
            0,
            vec![ev("e1", "OrderCreated", json!({}))],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        err.message(),
        "strict mock: no expectation matches call #2 Append t1/order-1 expected_aggregate_nonce=0, 1 event: OrderCreated"
    );
    let err = client.subscribe(subscribe_req()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("#3 Subscribe t1"),
        "{}",
        err.message()
    );
    assert!(
        mock.read_all("t1", "order-1").await.unwrap().is_empty(),
        "the refused append wrote nothing"
    );
    assert_eq!(mock.unmatched_calls().len(), 2);

    let report = mock.verify().unwrap_err();
    assert_eq!(report.problems, 1);
    insta::assert_snapshot!(report.to_string());

    // Strict mode can be turned off: new calls pass through and are not
    // reported; the calls it refused still are, until the journal is reset.
    mock.set_strict(false);
    client
        .append(append_req(
            "order-1",
            0,
            vec![ev("e1", "OrderCreated", json!({}))],
        ))
        .await
        .unwrap();
    let still = mock.verify().unwrap_err();
    assert_eq!(still.problems, 1);
    assert!(!still.report.contains("#3 Append"), "{}", still.report);
    mock.reset_journal();
    mock.verify().unwrap();
    // ... and on again at run time: only calls refused from then on count.
    mock.set_strict(true);
    mock.verify().unwrap();
}

/// A huge value in an unmatched call is clipped in the strict mock's
/// message (its first characters and its length), and a long batch lists
/// ten event types: the status stays small enough for every gRPC client
/// (a 1 MB id made a 1 MB message, which grpcio reports as a metadata-size
/// error instead of the real one).
#[tokio::test]
async fn strict_mode_clips_huge_values_in_its_message() {
    let mock = MockEventStore::builder()
        .strict(true)
        .verify_on_drop(false)
        .start()
        .await;
    let huge = "a".repeat(1_000_000);
    let big_type = "T".repeat(100_000);
    let events: Vec<_> = (0..12)
        .map(|i| ev(&format!("e{i}"), &big_type, json!({})))
        .collect();
    let mut request = append_req(&huge, 0, events);
    for (i, e) in request.events.iter_mut().enumerate() {
        if let Some(m) = e.meta.as_mut() {
            m.aggregate_nonce = i as u64 + 1;
        }
    }
    let err = mock.client().append(request).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let message = err.message();
    assert!(message.len() < 2_000, "{} bytes", message.len());
    assert!(
        message.contains(&format!("t1/{}... (1000000 bytes)", "a".repeat(32))),
        "{message}"
    );
    assert!(message.contains("... (2 more)"), "{message}");
}

#[tokio::test]
async fn strict_mode_honours_responses_and_counts() {
    let mock = MockEventStore::builder().strict(true).start().await;
    Mock::given(read_stream())
        .respond_with(Respond::status(Code::NotFound, "stubbed"))
        .expect(1)
        .mount(&mock);
    let err = mock.client().read_stream(read_req("a")).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "the expectation answers, not strict mode"
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn report_lists_at_most_twenty_received_calls() {
    let mock = mock().await;
    Mock::given(append()).expect(1).mount(&mock);
    let mut client = mock.client();
    for i in 0..23 {
        client
            .read_stream(read_req(&format!("order-{i}")))
            .await
            .unwrap();
    }
    insta::assert_snapshot!(mock.verify().unwrap_err().to_string());
}

#[tokio::test]
async fn json_expectations_report_like_rust_ones() {
    let mock = mock().await;
    mock.mount_json(
        r#"{
            "rpc": "append",
            "fields": {"events[1].payload.amount": 10, "aggregate_id": {"$regex": "^order-"}},
            "metadata": {"x-request-id": {"$any": true}},
            "times": 1,
            "name": "from JSON"
        }"#,
    )
    .unwrap();
    order_with_amounts(&mock, "order-1", 10, 12).await;
    insta::assert_snapshot!(mock.verify().unwrap_err().to_string());
}

#[tokio::test]
#[should_panic(expected = "MockEventStore verification failed: 1 problem.")]
async fn dropping_an_unverified_mock_panics_with_the_report() {
    let mock = MockEventStore::start().await;
    Mock::given(append())
        .and(matchers::aggregate_id("order-1"))
        .expect(1)
        .mount(&mock);
    drop(mock);
}

#[tokio::test]
#[should_panic(expected = "events[0].payload.amount: expected 10, got 11")]
async fn the_drop_panic_carries_the_diff() {
    let mock = MockEventStore::start().await;
    Mock::given(append())
        .and(event(0).payload(json!({"amount": 10})))
        .expect(1)
        .mount(&mock);
    mock.client()
        .append(append_req(
            "order-1",
            0,
            vec![ev("e1", "OrderCreated", json!({"amount": 11}))],
        ))
        .await
        .unwrap();
}

#[tokio::test]
#[should_panic(expected = "strict mode: 1 call matched no expectation")]
async fn dropping_a_strict_mock_with_unmatched_calls_panics() {
    let mock = MockEventStore::builder().strict(true).start().await;
    let _ = mock.client().read_stream(read_req("order-1")).await;
}

#[tokio::test]
async fn verify_on_drop_can_be_turned_off() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    Mock::given(append()).expect(1).mount(&mock);
    assert!(mock.verify().is_err());
    drop(mock);

    let mock = MockEventStore::start().await;
    Mock::given(append()).expect(1).mount(&mock);
    mock.set_verify_on_drop(false);
    drop(mock);

    // And back on: a mock that is met does not panic on drop either.
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    mock.set_verify_on_drop(true);
    Mock::given(read_stream()).expect(1).mount(&mock);
    mock.client().read_stream(read_req("a")).await.unwrap();
    drop(mock);
}

#[tokio::test]
async fn a_panicking_test_is_not_hidden_by_the_drop_check() {
    // The drop check stays quiet while the thread is already panicking, so
    // the test's own failure is what gets reported.
    let result = tokio::spawn(async {
        let mock = MockEventStore::start().await;
        Mock::given(append()).expect(1).mount(&mock);
        panic!("the test's own failure");
    })
    .await
    .unwrap_err();
    let message = result.into_panic();
    assert_eq!(
        message.downcast_ref::<&str>(),
        Some(&"the test's own failure")
    );
}

#[tokio::test]
async fn a_failed_verify_on_drop_names_where_the_test_started_the_mock_and_mounted_the_expectation()
{
    let started = line!() + 1;
    let mock = MockEventStore::start().await;
    let mounted = line!() + 1;
    Mock::given(append()).expect(1).mount(&mock);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(mock)))
        .expect_err("an unmet expectation fails the drop");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(
        message.contains(&format!("started at {}:{started}:", file!())),
        "{message}"
    );
    assert!(
        message.contains(&format!("mounted at {}:{mounted}:", file!())),
        "{message}"
    );
}

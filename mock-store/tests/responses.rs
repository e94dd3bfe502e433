//! Responses: pass through, statuses, conflicts, stubs, delays, nth-call
//! failures and dropped connections.

mod common;

use common::{TENANT, append_req, ev, read_req, tcp_client};
use eventstore_engine::status::concurrency_detail;
use eventstore_mock::{Mock, MockEventStore, Outcome, Respond, matchers::*};
use eventstore_proto::{AppendResponse, ConcurrencyErrorDetail, ReadStreamResponse};
use serde_json::json;
use std::time::{Duration, Instant};
use tonic::Code;

#[tokio::test]
async fn passes_through_to_the_engine_by_default() {
    let mock = MockEventStore::start().await;
    let mut client = mock.client();
    let appended = client
        .append(append_req(
            "order-1",
            0,
            vec![
                ev("e1", "OrderCreated", json!({"amount": 10})),
                ev("e2", "OrderPaid", json!({})),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        appended,
        AppendResponse {
            last_global_nonce: 2,
            last_aggregate_nonce: 2
        }
    );
    // An expectation without a response only counts: the engine still answers.
    Mock::given(read_stream()).expect(1).mount(&mock);
    let page = tcp_client(&mock)
        .await
        .read_stream(read_req("order-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(common::types(&page.events), ["OrderCreated", "OrderPaid"]);
    assert!(page.is_end);
    let meta = page.events[0].meta.as_ref().unwrap();
    assert_eq!((meta.tenant_id.as_str(), meta.global_nonce), (TENANT, 1));
    // The engine's own errors come through unchanged.
    let err = client
        .append(append_req("order-1", 0, vec![ev("e3", "X", json!({}))]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(
        concurrency_detail(&err)
            .unwrap()
            .actual_last_aggregate_nonce,
        2
    );
}

#[tokio::test]
async fn status_with_message_on_both_transports() {
    let mock = MockEventStore::start().await;
    Mock::given(append())
        .respond_with(Respond::status(Code::Unavailable, "store is down"))
        .expect(..)
        .mount(&mock);
    let request = append_req("order-1", 0, vec![ev("e1", "A", json!({}))]);
    for err in [
        mock.client().append(request.clone()).await.unwrap_err(),
        tcp_client(&mock).await.append(request).await.unwrap_err(),
    ] {
        assert_eq!(err.code(), Code::Unavailable);
        assert_eq!(err.message(), "store is down");
    }
    assert!(
        mock.read_all(TENANT, "order-1").await.unwrap().is_empty(),
        "a failed append writes nothing"
    );
}

#[tokio::test]
async fn status_with_details_reaches_the_client() {
    let mock = MockEventStore::start().await;
    let details = b"\x08\x09\x12\x04nope".to_vec();
    Mock::given(read_stream())
        .respond_with(Respond::status_with_details(
            Code::FailedPrecondition,
            "precondition",
            details.clone(),
        ))
        .expect(..)
        .mount(&mock);
    for err in [
        mock.client().read_stream(read_req("a")).await.unwrap_err(),
        tcp_client(&mock)
            .await
            .read_stream(read_req("a"))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert_eq!(err.message(), "precondition");
        assert_eq!(err.details(), details.as_slice());
    }
}

#[tokio::test]
async fn conflict_fills_tenant_and_aggregate_from_the_request() {
    let mock = MockEventStore::start().await;
    Mock::given(append())
        .respond_with(Respond::conflict(7, 99))
        .mount(&mock);
    let err = mock
        .client()
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(
        err.message().contains("aggregate nonce 7"),
        "{}",
        err.message()
    );
    assert_eq!(
        concurrency_detail(&err),
        Some(ConcurrencyErrorDetail {
            tenant_id: TENANT.into(),
            aggregate_id: "order-1".into(),
            actual_last_aggregate_nonce: 7,
            actual_last_global_nonce: 99,
        })
    );
    assert!(mock.read_all(TENANT, "order-1").await.unwrap().is_empty());
}

#[tokio::test]
async fn conflict_with_a_chosen_detail_keeps_it() {
    let mock = MockEventStore::start().await;
    let detail = ConcurrencyErrorDetail {
        tenant_id: "other-tenant".into(),
        aggregate_id: "other-stream".into(),
        actual_last_aggregate_nonce: 3,
        actual_last_global_nonce: 30,
    };
    Mock::given(append())
        .respond_with(Respond::conflict_with(detail.clone()))
        .mount(&mock);
    let err = tcp_client(&mock)
        .await
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(concurrency_detail(&err), Some(detail));
}

#[tokio::test]
async fn stubbed_append_writes_nothing() {
    let mock = MockEventStore::start().await;
    let stub = AppendResponse {
        last_global_nonce: 1000,
        last_aggregate_nonce: 5,
    };
    Mock::given(append())
        .respond_with(Respond::append_response(stub))
        .mount(&mock);
    let got = mock
        .client()
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, stub);
    assert!(mock.read_all(TENANT, "order-1").await.unwrap().is_empty());
    assert_eq!(mock.engine().last_global_nonce(), 0);
}

#[tokio::test]
async fn stubbed_read_answers_without_the_engine() {
    let mock = MockEventStore::start().await;
    let mut event = ev("stub-1", "OrderCreated", json!({"amount": 1}));
    event.meta.as_mut().unwrap().aggregate_nonce = 1;
    let stub = ReadStreamResponse {
        events: vec![event],
        is_end: false,
        next_from_aggregate_nonce: 2,
    };
    Mock::given(read_stream())
        .and(aggregate_id("order-1"))
        .respond_with(Respond::read_response(stub.clone()))
        .mount(&mock);
    let mut client = mock.client();
    assert_eq!(
        client
            .read_stream(read_req("order-1"))
            .await
            .unwrap()
            .into_inner(),
        stub
    );
    // Other streams still come from the (empty) engine.
    let page = client
        .read_stream(read_req("order-2"))
        .await
        .unwrap()
        .into_inner();
    assert!(page.events.is_empty() && page.is_end);
}

#[tokio::test]
async fn a_stub_for_another_rpc_is_reported_as_misconfiguration() {
    let mock = MockEventStore::start().await;
    Mock::any_call()
        .respond_with(Respond::append_response(AppendResponse::default()))
        .mount(&mock);
    let err = mock.client().read_stream(read_req("a")).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert!(
        err.message().contains("mock misconfigured"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("ReadStream"), "{}", err.message());
}

#[tokio::test]
async fn fails_only_the_nth_matching_call() {
    let mock = MockEventStore::start().await;
    let id = Mock::given(append())
        .and(aggregate_id("order-1"))
        .respond_with(Respond::status(Code::Unavailable, "second call fails"))
        .on_nth_call(2)
        .expect(3)
        .mount(&mock);
    let mut client = mock.client();
    client
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .expect("1st passes through");
    // A call the expectation does not match does not count.
    client
        .append(append_req("order-2", 0, vec![ev("x1", "A", json!({}))]))
        .await
        .unwrap();
    let err = client
        .append(append_req("order-1", 1, vec![ev("e2", "B", json!({}))]))
        .await
        .expect_err("2nd fails");
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.message(), "second call fails");
    client
        .append(append_req("order-1", 1, vec![ev("e2", "B", json!({}))]))
        .await
        .expect("3rd passes through");

    let stored = mock.read_all(TENANT, "order-1").await.unwrap();
    assert_eq!(common::types(&stored), ["A", "B"]);
    assert_eq!(mock.calls_matching(id).len(), 3);
    mock.verify().unwrap();
}

#[tokio::test]
async fn up_to_n_times_fails_the_first_calls_then_falls_through() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let id = Mock::given(append())
        .and(aggregate_id("order-1"))
        .respond_with(Respond::conflict_at_head())
        .up_to_n_times(2)
        .mount(&mock);
    let mut client = mock.client();
    // Without `.expect`, it verifies exactly its 2 calls: none yet.
    let err = mock.verify().unwrap_err();
    assert!(
        err.report.contains("expected exactly 2 calls, received 0"),
        "{err}"
    );
    for attempt in 1..=2 {
        let err = client
            .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
            .await
            .expect_err("the first two calls fail");
        assert_eq!(err.code(), Code::Aborted, "attempt {attempt}");
    }
    // The third goes past the retired expectation to the engine: it writes.
    client
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .expect("the third call reaches the store");
    assert_eq!(
        common::types(&mock.read_all(TENANT, "order-1").await.unwrap()),
        ["A"]
    );
    // Later calls are not counted against it.
    assert_eq!(mock.calls_matching(id).len(), 2);
    assert!(mock.received_calls()[2].matched.is_empty());
    mock.verify().unwrap();
}

/// Issue 25 item 1: "fail twice, then work" converges in three calls for a
/// client that retries with the head the conflict reports: an injected
/// `conflict_at_head` reports the stream's real head and last global nonce
/// (it reported `expected + 1` and a global nonce past the log, a head the
/// store does not have, so such a client needed a fourth call).
#[tokio::test]
async fn a_conflict_at_the_real_head_converges_for_a_client_that_retries_with_it() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let mut client = mock.client();
    client
        .append(append_req(
            "order-1",
            0,
            vec![ev("e1", "A", json!({})), ev("e2", "A", json!({}))],
        ))
        .await
        .expect("seed");
    Mock::given(append())
        .respond_with(Respond::conflict_at_head())
        .up_to_n_times(2)
        .mount(&mock);
    // A client that believes the head is 1, and retries with the head each
    // conflict reports.
    let mut expected = 1;
    let mut calls = 0;
    loop {
        calls += 1;
        let mut request = append_req("order-1", expected, vec![ev("e3", "B", json!({}))]);
        request.events[0].meta.as_mut().unwrap().aggregate_nonce = expected + 1;
        match client.append(request).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted);
                assert!(
                    status.message().contains("injected by the mock"),
                    "{status:?}"
                );
                let detail = concurrency_detail(&status).unwrap();
                assert_eq!(
                    (
                        detail.actual_last_aggregate_nonce,
                        detail.actual_last_global_nonce
                    ),
                    (2, 2),
                    "the real head"
                );
                expected = detail.actual_last_aggregate_nonce;
            }
        }
        assert!(calls < 3, "did not converge in three calls");
    }
    assert_eq!(calls, 3);
    mock.verify().unwrap();
}

/// `Respond::conflict(h, g)` reports exactly `h` and `g`, also when `h` is
/// what the request expected (it used to report `h + 1`).
#[tokio::test]
async fn a_named_conflict_reports_exactly_what_it_names() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    Mock::given(append())
        .respond_with(Respond::conflict(3, 9))
        .expect(..)
        .mount(&mock);
    let mut client = mock.client();
    for expected in [0, 3] {
        let status = client
            .append(append_req(
                "order-1",
                expected,
                vec![ev("e1", "A", json!({}))],
            ))
            .await
            .unwrap_err();
        let detail = concurrency_detail(&status).unwrap();
        assert_eq!(
            (
                detail.actual_last_aggregate_nonce,
                detail.actual_last_global_nonce
            ),
            (3, 9),
            "expected {expected}"
        );
    }
}

#[tokio::test]
async fn up_to_n_times_keeps_an_explicit_count_and_lets_older_expectations_answer() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let older = Mock::given(read_stream())
        .respond_with(Respond::status(Code::Internal, "older"))
        .expect(..)
        .mount(&mock);
    Mock::given(read_stream())
        .respond_with(Respond::status(Code::Unavailable, "newer, once"))
        .expect(1..)
        .up_to_n_times(1)
        .mount(&mock);
    let mut client = mock.client();
    let first = client.read_stream(read_req("a")).await.unwrap_err();
    let second = client.read_stream(read_req("a")).await.unwrap_err();
    assert_eq!(first.message(), "newer, once");
    assert_eq!(second.message(), "older");
    assert_eq!(mock.calls_matching(older).len(), 2);
    // `expect(1..)` given before `up_to_n_times` stays: one call meets it.
    mock.verify().unwrap();
}

#[test]
#[should_panic(expected = "up_to_n_times: n must be at least 1, got 0")]
fn up_to_n_times_needs_one_call_at_least() {
    let _ = Mock::given(append()).up_to_n_times(0);
}

#[test]
#[should_panic(expected = "on_nth_call: calls are counted from 1, got 0")]
fn nth_call_counts_from_one() {
    let _ = Mock::given(append()).on_nth_call(0);
}

#[tokio::test]
async fn newest_matching_response_wins_and_nth_falls_back_to_older() {
    let mock = MockEventStore::start().await;
    Mock::given(read_stream())
        .respond_with(Respond::status(Code::Internal, "older"))
        .expect(..)
        .mount(&mock);
    Mock::given(read_stream())
        .respond_with(Respond::status(Code::Unavailable, "newer, first call only"))
        .on_nth_call(1)
        .expect(..)
        .mount(&mock);
    // Newest: matches but has no response, so it does not hide the others.
    let counting = Mock::given(read_stream()).expect(2).mount(&mock);
    let mut client = mock.client();
    let first = client.read_stream(read_req("a")).await.unwrap_err();
    let second = client.read_stream(read_req("a")).await.unwrap_err();
    assert_eq!(first.message(), "newer, first call only");
    assert_eq!(second.message(), "older");
    assert_eq!(mock.received_calls()[0].matched.len(), 3);
    assert_eq!(mock.calls_matching(counting).len(), 2);
}

#[tokio::test]
async fn delay_before_answering() {
    let mock = MockEventStore::start().await;
    let delay = Duration::from_millis(150);
    Mock::given(append())
        .respond_with(Respond::pass_through().with_delay(delay))
        .mount(&mock);
    Mock::given(read_stream())
        .respond_with(Respond::status(Code::Unavailable, "slow and failing").with_delay(delay))
        .mount(&mock);
    let mut client = mock.client();

    let started = Instant::now();
    client
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= delay,
        "append took {:?}",
        started.elapsed()
    );
    assert_eq!(
        mock.read_all(TENANT, "order-1").await.unwrap().len(),
        1,
        "then passed through"
    );

    let started = Instant::now();
    let err = client.read_stream(read_req("order-1")).await.unwrap_err();
    assert!(
        started.elapsed() >= delay,
        "read took {:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), Code::Unavailable);

    let latencies: Vec<Duration> = mock
        .received_calls()
        .iter()
        .map(|c| c.latency.unwrap())
        .collect();
    assert!(latencies.iter().all(|l| *l >= delay), "{latencies:?}");
}

#[tokio::test]
async fn drop_connection_on_unary_calls() {
    let mock = MockEventStore::start().await;
    Mock::given(append())
        .respond_with(Respond::drop_connection())
        .on_nth_call(1)
        .expect(..)
        .mount(&mock);
    Mock::given(read_stream())
        .respond_with(Respond::drop_connection())
        .on_nth_call(1)
        .expect(..)
        .mount(&mock);

    let mut in_process = mock.client();
    let err = in_process
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap_err();
    let mut tcp = tcp_client(&mock).await;
    let err2 = tcp.read_stream(read_req("order-1")).await.unwrap_err();
    for err in [&err, &err2] {
        // A broken connection, not an answer: tonic reports the I/O error.
        assert!(
            std::error::Error::source(err).is_some(),
            "a transport error, got {err:?}"
        );
        assert_ne!(err.message(), "connection dropped by the mock", "{err:?}");
    }
    assert!(mock.read_all(TENANT, "order-1").await.unwrap().is_empty());
    let calls = mock.received_calls();
    assert_eq!(calls[0].outcome, Some(Outcome::Dropped));
    assert_eq!(calls[1].outcome, Some(Outcome::Dropped));

    // The clients reconnect and the later calls pass through (the first
    // call after a drop may still find the dead connection, as with a real
    // crash, so retry a little).
    let mut appended = None;
    for _ in 0..50 {
        let request = append_req("order-1", 0, vec![ev("e1", "A", json!({}))]);
        if let Ok(r) = in_process.append(request).await {
            appended = Some(r.into_inner());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(appended.map(|r| r.last_aggregate_nonce), Some(1));
    let mut page = None;
    for _ in 0..50 {
        if let Ok(r) = tcp.read_stream(read_req("order-1")).await {
            page = Some(r.into_inner());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(page.map(|p| p.events.len()), Some(1));
}

#[tokio::test]
async fn an_event_without_meta_still_journals() {
    let mock = MockEventStore::start().await;
    let mut request = append_req("order-1", 0, vec![ev("e1", "A", json!({}))]);
    request.events[0].meta = None;
    let err = mock.client().append(request).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let call = mock.received_calls().remove(0);
    assert!(call.summary().ends_with("1 event: ?"), "{}", call.summary());
}

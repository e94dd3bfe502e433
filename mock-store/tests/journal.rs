//! The call journal: every call in order, with its request, metadata,
//! outcome, receive time and latency; subscriptions with each delivered
//! event and how the stream ended.

mod common;

use common::{
    TENANT, append_req, ev, eventually, read_req, subscribe_req, take_events, tcp_client,
};
use eventstore_mock::{
    CallRequest, Mock, MockEventStore, Outcome, Respond, Rpc, StreamEnd, matchers::*,
};
use eventstore_proto::AppendResponse;
use serde_json::json;
use tonic::{Code, Request};

#[tokio::test]
async fn records_every_call_in_order_with_request_outcome_and_latency() {
    let mock = MockEventStore::start().await;
    let mut client = mock.client();

    let first = append_req(
        "order-1",
        0,
        vec![ev("e1", "OrderCreated", json!({"amount": 10}))],
    );
    let appended = client.append(first.clone()).await.unwrap().into_inner();
    let page = client
        .read_stream(read_req("order-1"))
        .await
        .unwrap()
        .into_inner();
    // The stream exists: expecting it not to is a conflict, answered by the engine.
    let stale = append_req("order-1", 0, vec![ev("e2", "OrderShipped", json!({}))]);
    let conflict = client.append(stale.clone()).await.unwrap_err();
    assert_eq!(conflict.code(), Code::Aborted);

    let calls = mock.received_calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 2, 3],
        "sequence numbers count from 1"
    );
    assert_eq!(
        calls.iter().map(|c| c.rpc()).collect::<Vec<_>>(),
        [Rpc::Append, Rpc::ReadStream, Rpc::Append]
    );
    assert!(
        calls
            .windows(2)
            .all(|w| w[0].received_at <= w[1].received_at),
        "received_at follows arrival order"
    );

    assert_eq!(calls[0].request, CallRequest::Append(first));
    assert_eq!(calls[0].outcome, Some(Outcome::Appended(appended)));
    assert_eq!(
        calls[0].request_json["events"][0]["payload"],
        json!({"amount": 10}),
        "the JSON view decodes JSON payloads"
    );
    assert_eq!(
        calls[1].request,
        CallRequest::ReadStream(read_req("order-1"))
    );
    assert_eq!(calls[1].outcome, Some(Outcome::Read(page)));
    assert_eq!(calls[2].request, CallRequest::Append(stale));
    assert_eq!(
        calls[2].outcome,
        Some(Outcome::Status {
            code: Code::Aborted,
            message: conflict.message().to_owned(),
        })
    );
    for call in &calls {
        assert!(call.latency.is_some(), "{} has a latency", call.summary());
        assert!(call.is_complete());
        assert!(call.matched.is_empty());
        assert!(call.delivered.is_empty());
        assert_eq!(call.stream_end, None);
    }
}

#[tokio::test]
async fn records_grpc_metadata_on_both_transports() {
    let mock = MockEventStore::start().await;

    let mut request = Request::new(read_req("order-1"));
    request
        .metadata_mut()
        .insert("x-request-id", "in-process-1".parse().unwrap());
    mock.client().read_stream(request).await.unwrap();

    let mut request = Request::new(read_req("order-1"));
    request
        .metadata_mut()
        .insert("x-request-id", "tcp-1".parse().unwrap());
    request
        .metadata_mut()
        .insert("authorization", "Bearer token".parse().unwrap());
    tcp_client(&mock).await.read_stream(request).await.unwrap();

    let calls = mock.received_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].metadata["x-request-id"], "in-process-1");
    assert_eq!(calls[1].metadata["x-request-id"], "tcp-1");
    // Credentials are redacted in the journal by default (issue 14 item 10);
    // the scheme is kept.
    assert_eq!(calls[1].metadata["authorization"], "Bearer [redacted]");
    assert!(!calls[0].metadata.contains_key("authorization"));
}

#[tokio::test]
async fn queries_by_rpc_by_expectation_and_unmatched() {
    let mock = MockEventStore::start().await;
    let reads = Mock::given(read_stream()).expect(..).mount(&mock);
    let order_appends = Mock::given(append())
        .and(aggregate_id("order-1"))
        .expect(..)
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
    client
        .append(append_req(
            "cart-1",
            0,
            vec![ev("e2", "CartOpened", json!({}))],
        ))
        .await
        .unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();
    client.read_stream(read_req("cart-1")).await.unwrap();

    let seqs = |calls: Vec<eventstore_mock::CallRecord>| -> Vec<u64> {
        calls.iter().map(|c| c.seq).collect()
    };
    assert_eq!(seqs(mock.received_calls()), [1, 2, 3, 4]);
    assert_eq!(seqs(mock.calls_to(Rpc::Append)), [1, 2]);
    assert_eq!(seqs(mock.calls_to(Rpc::ReadStream)), [3, 4]);
    assert_eq!(seqs(mock.calls_to(Rpc::Subscribe)), Vec::<u64>::new());
    assert_eq!(seqs(mock.calls_matching(reads)), [3, 4]);
    assert_eq!(seqs(mock.calls_matching(order_appends)), [1]);
    assert_eq!(
        seqs(mock.unmatched_calls()),
        [2],
        "the cart append matched nothing"
    );
    assert_eq!(mock.received_calls()[0].matched, [order_appends]);
    assert_eq!(mock.received_calls()[2].matched, [reads]);
}

#[tokio::test]
async fn records_stubbed_and_failed_outcomes() {
    let mock = MockEventStore::start().await;
    let stub = AppendResponse {
        last_global_nonce: 41,
        last_aggregate_nonce: 7,
    };
    Mock::given(aggregate_id("stubbed"))
        .respond_with(Respond::append_response(stub))
        .mount(&mock);
    Mock::given(aggregate_id("failing"))
        .respond_with(Respond::status(Code::Unavailable, "down"))
        .mount(&mock);
    let mut client = mock.client();
    client
        .append(append_req("stubbed", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap();
    client.read_stream(read_req("failing")).await.unwrap_err();

    let calls = mock.received_calls();
    assert_eq!(calls[0].outcome, Some(Outcome::Appended(stub)));
    assert_eq!(
        calls[1].outcome,
        Some(Outcome::Status {
            code: Code::Unavailable,
            message: "down".into(),
        })
    );
}

#[tokio::test]
async fn subscriptions_record_delivered_events_and_cancellation() {
    let mock = MockEventStore::start().await;
    let mut client = mock.client();
    client
        .append(append_req(
            "order-1",
            0,
            vec![
                ev("e1", "OrderCreated", json!({})),
                ev("e2", "OrderPaid", json!({})),
                ev("e3", "OrderShipped", json!({})),
            ],
        ))
        .await
        .unwrap();

    let mut stream = client
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    let received = take_events(&mut stream, 3).await;

    let call = mock.calls_to(Rpc::Subscribe).remove(0);
    assert_eq!(call.outcome, Some(Outcome::Streaming));
    assert_eq!(
        call.delivered, received,
        "each delivered event is journaled"
    );
    assert_eq!(call.stream_end, None, "still open");
    assert_eq!(call.latency, None, "latency is known when the stream ends");
    assert!(!call.is_complete());

    drop(stream);
    let call = eventually("the cancellation to be journaled", || {
        mock.calls_to(Rpc::Subscribe)
            .pop()
            .filter(|c| c.stream_end.is_some())
    })
    .await;
    assert_eq!(call.stream_end, Some(StreamEnd::Cancelled));
    assert!(call.latency.is_some());
    assert!(call.is_complete());
    assert_eq!(call.delivered.len(), 3);
    assert_eq!(
        call.request,
        CallRequest::Subscribe(subscribe_req()),
        "the subscribe request is recorded"
    );
    assert_eq!(call.request_json["tenant_id"], TENANT);
}

#[tokio::test]
async fn summaries_describe_calls_in_one_line() {
    let mock = MockEventStore::start().await;
    let mut client = mock.client();
    client
        .append(append_req(
            "order-1",
            0,
            vec![
                ev("e1", "OrderCreated", json!({})),
                ev("e2", "OrderPaid", json!({})),
            ],
        ))
        .await
        .unwrap();
    client.read_stream(read_req("order-1")).await.unwrap();
    let stream = client.subscribe(subscribe_req()).await.unwrap();
    drop(stream);

    let summaries: Vec<String> = mock.received_calls().iter().map(|c| c.summary()).collect();
    assert_eq!(
        summaries,
        [
            "#1 Append t1/order-1 expected_aggregate_nonce=0, 2 events: OrderCreated, OrderPaid",
            "#2 ReadStream t1/order-1 from_aggregate_nonce=1 max_count=0 forward",
            "#3 Subscribe t1 aggregate_id_prefix=\"\" from_global_nonce=0",
        ]
    );
}

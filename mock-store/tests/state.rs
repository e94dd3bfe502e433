//! State control: reset (all, or journal / expectations / data), seed and
//! read back without gRPC.

mod common;

use common::{TENANT, append_req, ev, read_req, types};
use eventstore_engine::Limits;
use eventstore_mock::{Mock, MockEventStore, Respond, matchers::*};
use eventstore_proto::{AppendResponse, EventData};
use serde_json::json;
use tonic::Code;

/// A mock with one event stored, one call journaled and one expectation
/// that fails reads of `order-1` on their first call.
async fn busy_mock() -> MockEventStore {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    mock.client()
        .append(append_req(
            "order-1",
            0,
            vec![ev("e1", "OrderCreated", json!({}))],
        ))
        .await
        .expect("the append passes through");
    Mock::given(read_stream())
        .respond_with(Respond::status(Code::Unavailable, "first read fails"))
        .on_nth_call(1)
        .expect(1)
        .mount(&mock);
    mock
}

async fn first_read_fails(mock: &MockEventStore) -> bool {
    let mut client = mock.client();
    let first = client.read_stream(read_req("order-1")).await.is_err();
    let second = client.read_stream(read_req("order-1")).await.is_ok();
    assert!(second, "only the first read is failed");
    first
}

async fn stored(mock: &MockEventStore) -> usize {
    mock.read_all(TENANT, "order-1")
        .await
        .expect("the stream reads")
        .len()
}

#[tokio::test]
async fn reset_journal_keeps_data_and_expectations() {
    let mock = busy_mock().await;
    assert!(first_read_fails(&mock).await);
    assert_eq!(mock.received_calls().len(), 3);

    mock.reset_journal();
    assert!(mock.received_calls().is_empty());
    assert_eq!(stored(&mock).await, 1, "data kept");
    // The expectation is still mounted, and its call count starts again.
    assert!(
        first_read_fails(&mock).await,
        "on_nth_call counts from the reset"
    );
    let calls = mock.received_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].seq, 4,
        "sequence numbers keep growing across resets"
    );
    // Two matching reads since the reset: `expect(1)` is unmet.
    assert!(mock.verify().is_err());
}

#[tokio::test]
async fn reset_expectations_keeps_data_and_journal() {
    let mock = busy_mock().await;
    mock.reset_expectations();
    assert!(
        !first_read_fails(&mock).await,
        "no expectation fails the read"
    );
    mock.verify().expect("no expectation left to verify");
    assert_eq!(stored(&mock).await, 1, "data kept");
    assert_eq!(mock.received_calls().len(), 3, "journal kept");
    assert!(mock.received_calls()[0].matched.is_empty());
}

#[tokio::test]
async fn reset_data_keeps_journal_and_expectations() {
    let mock = busy_mock().await;
    let engine_before = mock.engine();
    mock.reset_data();
    assert_eq!(stored(&mock).await, 0, "data gone");
    assert_eq!(mock.engine().last_global_nonce(), 0);
    assert!(engine_before.is_shut_down(), "the old store is shut down");
    assert_eq!(mock.received_calls().len(), 1, "journal kept");
    assert!(first_read_fails(&mock).await, "expectations kept");
    // The same stream can be created again, numbered from 1.
    let appended = mock
        .client()
        .append(append_req(
            "order-1",
            0,
            vec![ev("e1", "OrderCreated", json!({}))],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        appended,
        AppendResponse {
            last_global_nonce: 1,
            last_aggregate_nonce: 1
        }
    );
    assert_eq!(mock.received_calls().len(), 4, "the journal went on");
}

#[tokio::test]
async fn reset_forgets_everything() {
    let mock = busy_mock().await;
    mock.set_verify_on_drop(true);
    mock.reset();
    assert!(mock.received_calls().is_empty());
    assert_eq!(stored(&mock).await, 0);
    assert!(!first_read_fails(&mock).await);
    mock.verify().unwrap();
    // Verified on drop: nothing left unmet, so no panic.
}

fn typed(event_type: &str, id: &str) -> EventData {
    ev(id, event_type, json!({"type": event_type}))
}

#[tokio::test]
async fn seed_numbers_events_like_the_engine() {
    let mock = MockEventStore::start().await;
    let first = mock
        .seed(
            TENANT,
            "order-1",
            "Order",
            vec![typed("A", "a"), typed("B", "")],
        )
        .await
        .unwrap();
    assert_eq!(
        first,
        AppendResponse {
            last_global_nonce: 2,
            last_aggregate_nonce: 2
        }
    );
    mock.seed(TENANT, "cart-1", "Cart", vec![typed("C", "")])
        .await
        .unwrap();
    // Nonces continue from the head, whatever the events say.
    let mut late = typed("D", "d");
    late.meta.as_mut().unwrap().aggregate_nonce = 99;
    let second = mock
        .seed(TENANT, "order-1", "Order", vec![late])
        .await
        .unwrap();
    assert_eq!(
        second,
        AppendResponse {
            last_global_nonce: 4,
            last_aggregate_nonce: 3
        }
    );

    let events = mock.read_all(TENANT, "order-1").await.unwrap();
    assert_eq!(types(&events), ["A", "B", "D"]);
    let metas: Vec<_> = events.iter().map(|e| e.meta.clone().unwrap()).collect();
    assert_eq!(
        metas.iter().map(|m| m.aggregate_nonce).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        metas.iter().map(|m| m.global_nonce).collect::<Vec<_>>(),
        [1, 2, 4],
        "global nonces in commit order across streams"
    );
    assert_eq!(metas[0].event_id, "a", "a given event id is kept");
    let generated = uuid::Uuid::parse_str(&metas[1].event_id).expect("a generated UUID");
    assert_eq!(generated.get_version_num(), 7);
    for m in &metas {
        assert_eq!(m.tenant_id, TENANT);
        assert_eq!(m.aggregate_id, "order-1");
        assert_eq!(m.aggregate_type, "Order");
        assert!(m.recorded_time_unix_ms > 0);
    }
    assert_eq!(common::payload(&events[2]), json!({"type": "D"}));

    // Seeded data is ordinary data: an append after the head succeeds.
    mock.client()
        .append(append_req("order-1", 3, vec![typed("E", "e")]))
        .await
        .unwrap();
    assert_eq!(mock.read_all(TENANT, "order-1").await.unwrap().len(), 4);
}

#[tokio::test]
async fn seed_bypasses_the_journal_and_the_expectations() {
    let mock = MockEventStore::builder().strict(true).start().await;
    Mock::given(append())
        .respond_with(Respond::status(Code::Unavailable, "no appends"))
        .never()
        .mount(&mock);
    mock.seed(TENANT, "order-1", "Order", vec![typed("A", "")])
        .await
        .unwrap();
    assert_eq!(mock.read_all(TENANT, "order-1").await.unwrap().len(), 1);
    assert!(mock.received_calls().is_empty());
    mock.verify().unwrap();
}

#[tokio::test]
async fn seed_reports_the_engines_errors() {
    let mock = MockEventStore::start().await;
    let err = mock
        .seed(TENANT, "order-1", "Order", vec![ev("x", "", json!({}))])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("event_type is required"),
        "{}",
        err.message()
    );
    mock.seed(TENANT, "order-1", "Order", vec![typed("A", "dup")])
        .await
        .unwrap();
    let err = mock
        .seed(TENANT, "order-2", "Order", vec![typed("B", "dup")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn read_all_pages_through_long_streams() {
    let limits = Limits {
        default_page_size: 2,
        max_page_size: 3,
        ..Limits::default()
    };
    let mock = MockEventStore::builder().limits(limits).start().await;
    let events: Vec<EventData> = (0..10).map(|i| typed(&format!("E{i}"), "")).collect();
    mock.seed(TENANT, "order-1", "Order", events).await.unwrap();
    let all = mock.read_all(TENANT, "order-1").await.unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(types(&all)[9], "E9");
    // gRPC reads follow the engine's rules: ReadStream with max_count 0
    // reads to the end, whatever the page limits (issue 9's paging rule);
    // ReadAll pages by default_page_size.
    let page = mock
        .client()
        .read_stream(read_req("order-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.events.len(), 10);
    assert!(page.is_end);
    let page = mock
        .client()
        .read_all(eventstore_proto::ReadAllRequest {
            tenant_id: TENANT.into(),
            from_global_nonce: 0,
            max_count: 0,
            forward: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.events.len(), 2);
    assert!(!page.is_end);
    // An unknown stream reads as empty, other tenants are separate.
    assert!(mock.read_all(TENANT, "nope").await.unwrap().is_empty());
    assert!(mock.read_all("t2", "order-1").await.unwrap().is_empty());
    assert!(
        mock.received_calls().iter().all(|c| c.seq <= 2),
        "read_all is not journaled"
    );
}

#[tokio::test]
async fn the_engine_is_reachable_directly() {
    let mock = MockEventStore::start().await;
    mock.engine()
        .append(append_req("order-1", 0, vec![typed("A", "a")]))
        .await
        .unwrap();
    assert_eq!(mock.read_all(TENANT, "order-1").await.unwrap().len(), 1);
    assert!(mock.received_calls().is_empty());
}

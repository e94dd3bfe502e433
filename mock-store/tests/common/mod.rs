//! Helpers shared by the mock's integration tests.
#![allow(dead_code)]

use eventstore_mock::MockEventStore;
use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadStreamRequest, SubscribeRequest,
    SubscribeResponse, event_store_client::EventStoreClient,
};
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tonic::{Status, transport::Channel};

pub const TENANT: &str = "t1";

/// An event with a fixed id, a type and a JSON payload (nonce set by [`append_req`]).
pub fn ev(id: &str, event_type: &str, payload: Value) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: id.to_owned(),
            event_type: event_type.to_owned(),
            ..EventMetadata::default()
        }),
        payload: serde_json::to_vec(&payload).expect("JSON encodes"),
    }
}

/// An append of `events` to `t1/<aggregate>` after `expected`, nonces numbered from `expected + 1`.
pub fn append_req(aggregate: &str, expected: u64, events: Vec<EventData>) -> AppendRequest {
    let events = events
        .into_iter()
        .zip(expected + 1..)
        .map(|(mut e, nonce)| {
            e.meta
                .get_or_insert_with(EventMetadata::default)
                .aggregate_nonce = nonce;
            e
        })
        .collect();
    AppendRequest {
        tenant_id: TENANT.to_owned(),
        aggregate_id: aggregate.to_owned(),
        aggregate_type: "Order".to_owned(),
        expected_aggregate_nonce: expected,
        idempotency_key: String::new(),
        events,
    }
}

/// A forward read of the whole of `t1/<aggregate>`.
pub fn read_req(aggregate: &str) -> ReadStreamRequest {
    ReadStreamRequest {
        tenant_id: TENANT.to_owned(),
        aggregate_id: aggregate.to_owned(),
        from_aggregate_nonce: 1,
        max_count: 0,
        forward: true,
    }
}

/// A subscription to all of tenant `t1` from the beginning.
pub fn subscribe_req() -> SubscribeRequest {
    SubscribeRequest {
        tenant_id: TENANT.to_owned(),
        aggregate_id_prefix: String::new(),
        from_global_nonce: 0,
    }
}

/// A tonic client connected to the mock's TCP endpoint.
pub async fn tcp_client(mock: &MockEventStore) -> EventStoreClient<Channel> {
    EventStoreClient::connect(mock.endpoint())
        .await
        .expect("connects to the mock's endpoint")
}

/// The event types of `events`.
pub fn types(events: &[EventData]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e.meta
                .as_ref()
                .map(|m| m.event_type.clone())
                .unwrap_or_default()
        })
        .collect()
}

/// The payload of `event` as JSON.
pub fn payload(event: &EventData) -> Value {
    serde_json::from_slice(&event.payload).expect("payload is JSON")
}

/// Reads `n` events from a subscription, failing the test after 5 s.
/// Event-less responses (the caught-up marker, keepalives) are skipped, as
/// every client must.
pub async fn take_events(
    stream: &mut (impl Stream<Item = Result<SubscribeResponse, Status>> + Unpin),
    n: usize,
) -> Vec<EventData> {
    let mut events = Vec::new();
    while events.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream is still open")
            .expect("an event, not an error");
        events.extend(item.event);
    }
    events
}

/// The next item of a subscription that is not an event-less response,
/// failing the test after 5 s.
pub async fn next_item(
    stream: &mut (impl Stream<Item = Result<SubscribeResponse, Status>> + Unpin),
) -> Option<Result<SubscribeResponse, Status>> {
    loop {
        let item = next_response(stream).await;
        if !matches!(&item, Some(Ok(r)) if r.event.is_none()) {
            return item;
        }
    }
}

/// The next response of a subscription, event-less ones included, failing
/// the test after 5 s.
pub async fn next_response(
    stream: &mut (impl Stream<Item = Result<SubscribeResponse, Status>> + Unpin),
) -> Option<Result<SubscribeResponse, Status>> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the stream answers within 5 s")
}

/// Polls `check` until it returns `Some`, for up to 5 s.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

//! Builders for valid requests, so each case states only what it is about.

use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadAllRequest, ReadStreamRequest, SubscribeRequest,
};

/// `2^63 - 1`: the position clients send to read backward from the head
/// (any position at or past the head does): the wire's
/// [`HEAD_POSITION`](eventstore_client::wire::HEAD_POSITION).
pub const HEAD: u64 = eventstore_client::wire::HEAD_POSITION;

/// A fresh, unique event id (UUIDv7, as clients are told to use).
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A valid event with aggregate nonce `nonce`, a fresh event id, type
/// `test.Event` and a small JSON payload; tenant, aggregate id and type are
/// left empty so the store fills them from the request.
pub fn event(nonce: u64) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: new_event_id(),
            aggregate_nonce: nonce,
            event_type: "test.Event".into(),
            event_version: 1,
            content_type: "application/json".into(),
            ..EventMetadata::default()
        }),
        payload: format!("{{\"n\":{nonce}}}").into_bytes(),
    }
}

/// `count` valid events continuing a stream whose head is `head`.
pub fn events_after(head: u64, count: u64) -> Vec<EventData> {
    (head + 1..=head + count).map(event).collect()
}

/// An append of `count` events to `tenant`/`aggregate_id` (type `Test`)
/// expecting the stream's head at `expected`.
pub fn append(tenant: &str, aggregate_id: &str, expected: u64, count: u64) -> AppendRequest {
    AppendRequest {
        tenant_id: tenant.into(),
        aggregate_id: aggregate_id.into(),
        aggregate_type: "Test".into(),
        expected_aggregate_nonce: expected,
        idempotency_key: String::new(),
        events: events_after(expected, count),
    }
}

/// A read of one page.
pub fn read(
    tenant: &str,
    aggregate_id: &str,
    from: u64,
    max_count: u32,
    forward: bool,
) -> ReadStreamRequest {
    ReadStreamRequest {
        tenant_id: tenant.into(),
        aggregate_id: aggregate_id.into(),
        from_aggregate_nonce: from,
        max_count,
        forward,
    }
}

/// A ReadAll of one page of `tenant`'s log.
pub fn read_all(tenant: &str, from: u64, max_count: u32, forward: bool) -> ReadAllRequest {
    ReadAllRequest {
        tenant_id: tenant.into(),
        from_global_nonce: from,
        max_count,
        forward,
    }
}

/// A subscription to `tenant`'s streams starting with `prefix`, from `from`.
pub fn subscribe(tenant: &str, prefix: &str, from: u64) -> SubscribeRequest {
    SubscribeRequest {
        tenant_id: tenant.into(),
        aggregate_id_prefix: prefix.into(),
        from_global_nonce: from,
    }
}

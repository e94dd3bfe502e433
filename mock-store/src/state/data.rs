//! The mock's data, straight through the engine ([`MockState`]'s, or any):
//! preloading streams and reading whole streams back. Seeding bypasses the
//! journal and the expectations, so it sits below the mock's Rust API
//! ([`crate::MockEventStore::seed`]), the control API's `Seed` and the
//! fixture files ([`crate::seed::load`]), which all call down to it.
//!
//! [`MockState`]: crate::state::MockState

use crate::wire::assign_event_id;
use eventstore_client::wire::HEAD_POSITION;
use eventstore_engine::{EventStore, status::to_status};
use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, EventMetadata, ReadStreamRequest,
};
use tonic::Status;

/// Preloads a stream of `engine`: the events get the next aggregate nonces
/// after the stream's head, a UUIDv7 event id when they have none, and the
/// request's tenant, aggregate id and type.
pub async fn seed_stream(
    engine: &EventStore,
    tenant_id: &str,
    aggregate_id: &str,
    aggregate_type: &str,
    events: Vec<EventData>,
) -> Result<AppendResponse, Status> {
    let head = stream_head(engine, tenant_id, aggregate_id).await?;
    let events = events
        .into_iter()
        .zip(head + 1..)
        .map(|(mut event, nonce)| {
            let meta = event.meta.get_or_insert_with(EventMetadata::default);
            meta.aggregate_nonce = nonce;
            assign_event_id(meta);
            event
        })
        .collect();
    engine
        .append(AppendRequest {
            tenant_id: tenant_id.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            aggregate_type: aggregate_type.to_owned(),
            expected_aggregate_nonce: head,
            idempotency_key: String::new(),
            events,
        })
        .await
        .map_err(to_status)
}

/// The aggregate nonce of a stream's last event (0 when it has none).
pub(crate) async fn stream_head(
    engine: &EventStore,
    tenant_id: &str,
    aggregate_id: &str,
) -> Result<u64, Status> {
    Ok(last_event_meta(engine, tenant_id, aggregate_id)
        .await?
        .map_or(0, |m| m.aggregate_nonce))
}

/// The metadata of a stream's last event, if it has one.
pub(crate) async fn last_event_meta(
    engine: &EventStore,
    tenant_id: &str,
    aggregate_id: &str,
) -> Result<Option<EventMetadata>, Status> {
    Ok(engine
        .read_stream(ReadStreamRequest {
            tenant_id: tenant_id.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            // Backward from any position at or past the head reads the head.
            from_aggregate_nonce: HEAD_POSITION,
            max_count: 1,
            forward: false,
        })
        .await
        .map_err(to_status)?
        .events
        .into_iter()
        .next()
        .and_then(|e| e.meta))
}

/// Every event of one stream of `engine`, in order (all pages).
pub async fn read_all(
    engine: &EventStore,
    tenant_id: &str,
    aggregate_id: &str,
) -> Result<Vec<EventData>, Status> {
    let mut events = Vec::new();
    let mut from = 1;
    loop {
        let page = engine
            .read_stream(ReadStreamRequest {
                tenant_id: tenant_id.to_owned(),
                aggregate_id: aggregate_id.to_owned(),
                from_aggregate_nonce: from,
                max_count: engine.limits().max_page_size,
                forward: true,
            })
            .await
            .map_err(to_status)?;
        from = page.next_from_aggregate_nonce;
        events.extend(page.events);
        if page.is_end {
            return Ok(events);
        }
    }
}

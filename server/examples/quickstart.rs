//! Quick start: talks to a running `eventstore-server` over gRPC.
//!
//! Appends two events to a new stream, reads them back, then subscribes to
//! the stream and prints its history until the caught-up marker. Usage:
//!
//! ```text
//! cargo run -p eventstore-server --example quickstart -- 127.0.0.1:50051
//! ```

use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadStreamRequest, SubscribeRequest,
    event_store_client::EventStoreClient,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".into());
    let mut client = EventStoreClient::connect(format!("http://{addr}")).await?;

    // A fresh stream per run, so the example can run against a store again.
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let order = format!("order-{run}");
    let event = |nonce: u64, event_type: &str, payload: &str| EventData {
        meta: Some(EventMetadata {
            event_id: format!("{order}-{nonce}"),
            aggregate_nonce: nonce,
            event_type: event_type.into(),
            event_version: 1,
            content_type: "application/json".into(),
            ..EventMetadata::default()
        }),
        payload: payload.as_bytes().to_vec(),
    };

    let appended = client
        .append(AppendRequest {
            tenant_id: "tenant-123".into(),
            aggregate_id: order.clone(),
            aggregate_type: "Order".into(),
            expected_aggregate_nonce: 0,
            idempotency_key: String::new(),
            events: vec![
                event(
                    1,
                    "com.myco.order.OrderCreated",
                    r#"{"order_id":"1","amount":99.99}"#,
                ),
                event(
                    2,
                    "com.myco.order.OrderShipped",
                    r#"{"tracking_number":"TRK123456"}"#,
                ),
            ],
        })
        .await?
        .into_inner();
    println!(
        "appended {order}: head {} at global position {}",
        appended.last_aggregate_nonce, appended.last_global_nonce
    );

    let page = client
        .read_stream(ReadStreamRequest {
            tenant_id: "tenant-123".into(),
            aggregate_id: order.clone(),
            from_aggregate_nonce: 1,
            max_count: 100,
            forward: true,
        })
        .await?
        .into_inner();
    for e in &page.events {
        let meta = e.meta.clone().unwrap_or_default();
        println!(
            "read  #{} {} {}",
            meta.aggregate_nonce,
            meta.event_type,
            String::from_utf8_lossy(&e.payload)
        );
    }

    let mut events = client
        .subscribe(SubscribeRequest {
            tenant_id: "tenant-123".into(),
            aggregate_id_prefix: order.clone(),
            from_global_nonce: 0,
        })
        .await?
        .into_inner();
    // The history, then one event-less response (the caught-up marker).
    while let Some(response) =
        tokio::time::timeout(Duration::from_secs(5), events.message()).await??
    {
        let Some(meta) = response.event.and_then(|e| e.meta) else {
            println!("subscription: caught up");
            break;
        };
        println!(
            "subscription: global #{} {}",
            meta.global_nonce, meta.event_type
        );
    }
    Ok(())
}

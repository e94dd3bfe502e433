//! `EventStoreContainer`: the real server in its FROM-scratch image, one
//! container per case (the image is built once; a start takes well under a
//! second). Docker is required unless `EVENTSTORE_SKIP_DOCKER_TESTS=1`, in
//! which case the harness's own fallback (the server in process) runs;
//! `EVENTSTORE_CONTAINER_MODE` picks another mode.

use crate::{Target, targets::GrpcStore};
use eventstore_container::{EventStoreContainer, Mode};
use eventstore_engine::Limits;
use eventstore_proto::event_store_client::EventStoreClient;
use std::sync::Arc;

/// Target: the server image through `EventStoreContainer`.
#[derive(Debug)]
pub struct Container;

/// `EVENTSTORE_*` variables that set `limits` on the server.
pub fn limit_env(limits: &Limits) -> Vec<(&'static str, String)> {
    vec![
        (
            "EVENTSTORE_MAX_REQUEST_BYTES",
            limits.max_request_bytes.to_string(),
        ),
        (
            "EVENTSTORE_MAX_EVENTS_PER_BATCH",
            limits.max_events_per_batch.to_string(),
        ),
        ("EVENTSTORE_MAX_ID_LENGTH", limits.max_id_length.to_string()),
        (
            "EVENTSTORE_DEFAULT_PAGE_SIZE",
            limits.default_page_size.to_string(),
        ),
        ("EVENTSTORE_MAX_PAGE_SIZE", limits.max_page_size.to_string()),
        (
            "EVENTSTORE_MAX_RESPONSE_BYTES",
            limits.max_response_bytes.to_string(),
        ),
    ]
}

fn mode() -> Mode {
    if let Some(mode) = std::env::var("EVENTSTORE_CONTAINER_MODE")
        .ok()
        .and_then(|m| Mode::parse(&m))
    {
        return mode;
    }
    if std::env::var("EVENTSTORE_SKIP_DOCKER_TESTS").is_ok_and(|v| v == "1") {
        Mode::Auto
    } else {
        Mode::Docker
    }
}

impl Target for Container {
    type Store = GrpcStore;
    // Durable in its image; the in-process fallback of `Mode::Auto` may run
    // in memory.
    const BACKENDS: &'static [&'static str] = &["unknown", "memory"];

    async fn start(limits: Limits) -> GrpcStore {
        let mut builder = EventStoreContainer::builder().mode(mode());
        for (key, value) in limit_env(&limits) {
            builder = builder.env(key, value);
        }
        let container = builder
            .start()
            .await
            .unwrap_or_else(|e| panic!("cannot start the event store container: {e}"));
        let channel = container
            .tonic_endpoint()
            .unwrap_or_else(|e| panic!("{e}"))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", container.url()));
        let client = EventStoreClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024);
        let endpoint = container.endpoint();
        GrpcStore::with_client(client, &endpoint, Some(Arc::new(container)))
    }
}

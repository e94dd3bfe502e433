//! `MockEventStore` with no expectations: it must behave exactly like the
//! real store, over TCP and over its in-process transport.

use super::{GrpcStore, Stopper};
use crate::Target;
use eventstore_engine::Limits;
use eventstore_mock::MockEventStore;
use eventstore_proto::event_store_client::EventStoreClient;
use std::sync::Arc;

/// Target: the mock over gRPC on its loopback port.
#[derive(Debug)]
pub struct MockGrpc;

/// Target: the mock through its in-process channel (no socket).
#[derive(Debug)]
pub struct MockInProcess;

async fn start_mock(limits: Limits) -> Arc<MockEventStore> {
    Arc::new(MockEventStore::builder().limits(limits).start().await)
}

/// Shuts the mock's engine down, as the mock does when it stops.
fn stopper(mock: &Arc<MockEventStore>) -> Stopper {
    let engine = mock.engine();
    Arc::new(move || engine.shutdown())
}

impl Target for MockGrpc {
    type Store = GrpcStore;
    const BACKENDS: &'static [&'static str] = &["memory"];

    async fn start(limits: Limits) -> GrpcStore {
        let mock = start_mock(limits).await;
        let client = EventStoreClient::connect(mock.endpoint())
            .await
            .expect("connect to the mock")
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024);
        let addr = mock.address().to_string();
        GrpcStore::with_client(client, &addr, Some(mock.clone())).with_stopper(stopper(&mock))
    }
}

impl Target for MockInProcess {
    type Store = GrpcStore;
    const BACKENDS: &'static [&'static str] = &["memory"];

    async fn start(limits: Limits) -> GrpcStore {
        let mock = start_mock(limits).await;
        let client = mock.client();
        GrpcStore::with_client(client, "in-process", Some(mock.clone()))
            .with_stopper(stopper(&mock))
    }
}

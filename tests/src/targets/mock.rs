//! `MockEventStore` with no expectations: it must behave exactly like the
//! real store, over TCP, over its in-process transport, and called
//! directly without a transport (the Python SDK's in-process path).

use super::{GrpcStore, Stopper};
use crate::{Responses, Store, Target};
use eventstore_engine::Limits;
use eventstore_mock::{Direct, MockEventStore};
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
    event_store_client::EventStoreClient,
};
use std::sync::Arc;
use tonic::{Request, Status};

/// Target: the mock over gRPC on its loopback port.
#[derive(Debug)]
pub struct MockGrpc;

/// Target: the mock through its in-process channel (no socket).
#[derive(Debug)]
pub struct MockInProcess;

/// Target: the mock's service called directly ([`Direct`]: no HTTP/2, no
/// protobuf), as the Python SDK's `endpoint="mock"` calls it; its
/// subscriptions go through the in-process channel, as the SDK's do.
#[derive(Debug)]
pub struct MockDirect;

/// A mock reached through [`Direct`].
#[derive(Debug, Clone)]
pub struct DirectStore {
    direct: Direct,
    /// The in-process channel's store: subscriptions and stopping.
    channel: GrpcStore,
}

impl Store for DirectStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendResponse, Status> {
        self.direct.append(Request::new(request)).await
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<ReadStreamResponse, Status> {
        self.direct.read_stream(Request::new(request)).await
    }

    async fn read_all(&self, request: ReadAllRequest) -> Result<ReadAllResponse, Status> {
        self.direct.read_all(Request::new(request)).await
    }

    async fn server_info(&self) -> Result<GetServerInfoResponse, Status> {
        self.direct
            .get_server_info(Request::new(GetServerInfoRequest {}))
            .await
    }

    async fn subscribe_responses(&self, request: SubscribeRequest) -> Result<Responses, Status> {
        self.channel.subscribe_responses(request).await
    }

    fn stop(&self) -> bool {
        self.channel.stop()
    }
}

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

impl Target for MockDirect {
    type Store = DirectStore;
    const BACKENDS: &'static [&'static str] = &["memory"];

    async fn start(limits: Limits) -> DirectStore {
        let mock = start_mock(limits).await;
        let channel = GrpcStore::with_client(mock.client(), "in-process", Some(mock.clone()))
            .with_stopper(stopper(&mock));
        DirectStore {
            direct: mock.direct(),
            channel,
        }
    }
}

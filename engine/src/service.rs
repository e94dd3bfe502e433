//! The tonic adapter: serves `eventstore.v1.EventStore` from an
//! [`EventStore`]. It only converts; every rule lives in the engine.

use crate::{EventStore, status::to_status, subscription::Delivery};
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest, SubscribeResponse,
    event_store_server::{EventStore as EventStoreRpc, EventStoreServer},
};
use futures::{StreamExt, stream::BoxStream};
use tonic::{Request, Response, Status};

/// The gRPC face of an [`EventStore`].
#[derive(Debug, Clone)]
pub struct EventStoreService {
    store: EventStore,
    /// `GetServerInfoResponse.backend`: the storage's name unless replaced.
    backend: String,
}

impl EventStoreService {
    /// Serves `store`.
    pub fn new(store: EventStore) -> Self {
        let backend = store.server_info().backend;
        Self { store, backend }
    }

    /// Answers `backend` in `GetServerInfo` instead of the storage's name
    /// (the mock says `"mock"`).
    #[must_use]
    pub fn with_backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = backend.into();
        self
    }

    /// The store behind the service.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The tonic server, with message size limits taken from the store's
    /// [`crate::Limits`]: a request over `max_request_bytes` is refused by
    /// the transport before it is decoded (wrap the router in
    /// [`crate::OversizedRequestLayer`] so that refusal is `RESOURCE_EXHAUSTED`).
    pub fn into_server(self) -> EventStoreServer<Self> {
        let limits = self.store.limits().clone();
        EventStoreServer::new(self)
            .max_decoding_message_size(limits.max_request_bytes)
            .max_encoding_message_size(crate::assembly::max_message_bytes(&limits))
    }
}

#[tonic::async_trait]
impl EventStoreRpc for EventStoreService {
    async fn append(
        &self,
        request: Request<AppendRequest>,
    ) -> Result<Response<AppendResponse>, Status> {
        let response = self
            .store
            .append(request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(response))
    }

    async fn read_stream(
        &self,
        request: Request<ReadStreamRequest>,
    ) -> Result<Response<ReadStreamResponse>, Status> {
        let response = self
            .store
            .read_stream(request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(response))
    }

    type SubscribeStream = BoxStream<'static, Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let subscription = self
            .store
            .subscribe(request.into_inner())
            .map_err(to_status)?;
        let responses =
            subscription.map(|item| item.map(Delivery::into_response).map_err(to_status));
        // Paced: small encoder chunks, so a stalled subscription pins little.
        Ok(Response::new(crate::transport::paced(responses).boxed()))
    }

    async fn read_all(
        &self,
        request: Request<ReadAllRequest>,
    ) -> Result<Response<ReadAllResponse>, Status> {
        let response = self
            .store
            .read_all(request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(response))
    }

    async fn get_server_info(
        &self,
        _request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        let mut info = self.store.server_info();
        info.backend.clone_from(&self.backend);
        Ok(Response::new(info))
    }
}

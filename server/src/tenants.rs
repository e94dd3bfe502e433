//! `--users-file` mode: each call may use only its user's tenants.
//!
//! The tenant is in the request body, which the authentication interceptor
//! cannot see; so [`TenantGuard`] wraps the event store service and checks
//! the decoded request's `tenant_id` against the
//! [`Principal`] the interceptor
//! attached. A request naming another tenant gets `PERMISSION_DENIED`
//! naming the user and the tenant; `GetServerInfo` needs only valid
//! credentials. Without a principal (single-password mode, no auth) every
//! tenant passes, as before.

use eventstore_engine::{EventStoreService, auth::Principal};
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
    event_store_server::{EventStore as EventStoreRpc, EventStoreServer},
};
use tonic::{Request, Response, Status};

/// The event store service, checking each request's tenant first.
#[derive(Debug, Clone)]
pub struct TenantGuard {
    inner: EventStoreService,
}

impl TenantGuard {
    /// Guards `inner`.
    pub fn new(inner: EventStoreService) -> Self {
        Self { inner }
    }

    /// The tonic server, with the message size limits of the inner service.
    pub fn into_server(self) -> EventStoreServer<Self> {
        let limits = self.inner.store().limits().clone();
        EventStoreServer::new(self)
            .max_decoding_message_size(limits.max_request_bytes)
            .max_encoding_message_size(eventstore_engine::assembly::max_message_bytes(&limits))
    }
}

#[tonic::async_trait]
impl EventStoreRpc for TenantGuard {
    async fn append(
        &self,
        request: Request<AppendRequest>,
    ) -> Result<Response<AppendResponse>, Status> {
        Principal::check(request.extensions(), &request.get_ref().tenant_id)?;
        self.inner.append(request).await
    }

    async fn read_stream(
        &self,
        request: Request<ReadStreamRequest>,
    ) -> Result<Response<ReadStreamResponse>, Status> {
        Principal::check(request.extensions(), &request.get_ref().tenant_id)?;
        self.inner.read_stream(request).await
    }

    type SubscribeStream = <EventStoreService as EventStoreRpc>::SubscribeStream;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Principal::check(request.extensions(), &request.get_ref().tenant_id)?;
        self.inner.subscribe(request).await
    }

    async fn read_all(
        &self,
        request: Request<ReadAllRequest>,
    ) -> Result<Response<ReadAllResponse>, Status> {
        Principal::check(request.extensions(), &request.get_ref().tenant_id)?;
        self.inner.read_all(request).await
    }

    async fn get_server_info(
        &self,
        request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        self.inner.get_server_info(request).await
    }
}

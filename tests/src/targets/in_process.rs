//! The engine in process, through its tonic service adapter.

use crate::Responses;
use crate::{Store, Target};
use eventstore_engine::{EventStore, EventStoreService, Limits};
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
    event_store_server::EventStore as _,
};
use futures::StreamExt;
use tonic::{Request, Status};

/// Target: the engine in process.
#[derive(Debug)]
pub struct InProcess;

/// A store served by [`EventStoreService`] without a transport.
#[derive(Debug, Clone)]
pub struct InProcessStore {
    service: EventStoreService,
}

impl InProcessStore {
    /// The engine behind the service.
    pub fn engine(&self) -> &EventStore {
        self.service.store()
    }
}

impl Target for InProcess {
    type Store = InProcessStore;
    const BACKENDS: &'static [&'static str] = &["memory"];

    async fn start(limits: Limits) -> InProcessStore {
        let engine = EventStore::in_memory_with_limits(limits).expect("valid limits");
        InProcessStore {
            service: EventStoreService::new(engine),
        }
    }
}

impl Store for InProcessStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendResponse, Status> {
        self.service
            .append(Request::new(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<ReadStreamResponse, Status> {
        self.service
            .read_stream(Request::new(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn read_all(&self, request: ReadAllRequest) -> Result<ReadAllResponse, Status> {
        self.service
            .read_all(Request::new(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn server_info(&self) -> Result<GetServerInfoResponse, Status> {
        self.service
            .get_server_info(Request::new(GetServerInfoRequest {}))
            .await
            .map(|r| r.into_inner())
    }

    async fn subscribe_responses(&self, request: SubscribeRequest) -> Result<Responses, Status> {
        let stream = self
            .service
            .subscribe(Request::new(request))
            .await?
            .into_inner();
        Ok(stream.boxed())
    }

    fn stop(&self) -> bool {
        self.engine().shutdown();
        true
    }
}

//! [`Direct`]: the mock's `eventstore.v1.EventStore` without a transport,
//! for a client in the same process (the Python SDK's `endpoint="mock"`).
//!
//! A call goes through the same code as one over HTTP/2 (the service's one
//! shape: journal, match, decide, answer from a stub, a fault or the
//! engine, journal the outcome), after the same admission the servers
//! apply before any handler runs: the request-size limit and the
//! credentials. What HTTP/2 adds and a client could see is added here too:
//! the metadata a tonic client sends (`content-type`, `te`,
//! `user-agent`), so the journal reads the same on both paths.
//!
//! Why: over the in-memory pipe a call costs HTTP/2 framing, protobuf both
//! ways and thread hops; here it is a function call, and its future is
//! ready at its first poll unless the answer needs time (a `delay`, a
//! commit that is not visible yet). A dropped connection (`drop_connection`)
//! has no connection to cut: the call fails with the same `UNAVAILABLE`
//! status and the same journal entry. Subscriptions stay on the channel
//! ([`crate::MockEventStore::channel`]): their live phase is a stream.

use crate::{server::Servers, service::MockService, state::MockState};
use eventstore_engine::{Limits, auth::BasicAuth, size_limit};
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse,
};
use prost::Message;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, MetadataMap},
    service::Interceptor,
    transport::Channel,
};

/// The `user-agent` the SDK's tonic client sends (checked against a call
/// over the channel by this crate's tests, so a tonic upgrade that changes
/// it fails there, not silently in users' journals).
pub const TONIC_USER_AGENT: &str = "tonic/0.14.9";

/// A handle on one mock's service for calls without a transport; cheap to
/// clone. Made by [`crate::MockEventStore::direct`].
#[derive(Debug, Clone)]
pub struct Direct {
    service: MockService,
    auth: BasicAuth,
    max_request_bytes: usize,
    servers: Arc<Servers>,
}

impl Direct {
    pub(crate) fn new(
        state: Arc<MockState>,
        auth: BasicAuth,
        limits: &Limits,
        servers: Arc<Servers>,
    ) -> Self {
        Self {
            service: MockService { state },
            auth,
            max_request_bytes: limits.max_request_bytes,
            servers,
        }
    }

    /// Cancelled once the mock is dropped: calls from then on fail.
    pub fn stopped(&self) -> CancellationToken {
        self.servers.shutdown.clone()
    }

    /// Whether the mock has been dropped (its servers are stopping or
    /// stopped): [`stopped`](Self::stopped) without a token to hold.
    pub fn is_stopped(&self) -> bool {
        self.servers.shutdown.is_cancelled()
    }

    /// The in-process channel (made on first use), for what has no direct
    /// form: subscriptions.
    pub fn channel(&self) -> Channel {
        self.servers.channel()
    }

    /// `Append`, as a call over the channel would answer it.
    pub fn append(
        &self,
        request: Request<AppendRequest>,
    ) -> impl Future<Output = Result<AppendResponse, Status>> + Send + 'static {
        self.call(request)
    }

    /// `ReadStream`, as a call over the channel would answer it.
    pub fn read_stream(
        &self,
        request: Request<ReadStreamRequest>,
    ) -> impl Future<Output = Result<ReadStreamResponse, Status>> + Send + 'static {
        self.call(request)
    }

    /// `ReadAll`, as a call over the channel would answer it.
    pub fn read_all(
        &self,
        request: Request<ReadAllRequest>,
    ) -> impl Future<Output = Result<ReadAllResponse, Status>> + Send + 'static {
        self.call(request)
    }

    /// `GetServerInfo`, as a call over the channel would answer it.
    pub fn get_server_info(
        &self,
        request: Request<GetServerInfoRequest>,
    ) -> impl Future<Output = Result<GetServerInfoResponse, Status>> + Send + 'static {
        self.call(request)
    }

    fn call<R>(
        &self,
        request: Request<R>,
    ) -> impl Future<Output = Result<R::Answer, Status>> + Send + 'static
    where
        R: crate::service::MockRpc + Message,
    {
        let admitted = self.admit(request);
        let service = self.service.clone();
        async move { service.serve(admitted?).await.map(|served| served.answer) }
    }

    /// What the servers check before any handler runs, in their order: the
    /// mock is running, the credentials (an interceptor, on the headers),
    /// then the request fits `max_request_bytes` (tonic, decoding the body;
    /// the message of `size_limit`); and the metadata of a tonic client.
    fn admit<R: Message>(&self, request: Request<R>) -> Result<Request<R>, Status> {
        if self.servers.shutdown.is_cancelled() {
            return Err(Status::unavailable("the mock has stopped"));
        }
        let (mut metadata, extensions, message) = request.into_parts();
        add_client_metadata(&mut metadata);
        let checked = self
            .auth
            .clone()
            .call(Request::from_parts(metadata, extensions, ()))?;
        let size = message.encoded_len();
        if size > self.max_request_bytes {
            return Err(Status::resource_exhausted(size_limit::too_large_message(
                Some(size),
                self.max_request_bytes,
            )));
        }
        let (metadata, extensions, ()) = checked.into_parts();
        Ok(Request::from_parts(metadata, extensions, message))
    }
}

/// The headers a tonic client adds to every call.
fn add_client_metadata(metadata: &mut MetadataMap) {
    for (key, value) in [
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("user-agent", TONIC_USER_AGENT),
    ] {
        if !metadata.contains_key(key) {
            metadata.insert(key, AsciiMetadataValue::from_static(value));
        }
    }
}

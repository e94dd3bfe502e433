//! The `eventstore-server` binary, spawned per case.

use crate::{Responses, Store, Target};
use eventstore_client::is_client_deadline;
use eventstore_engine::Limits;
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
    event_store_client::EventStoreClient,
};
use futures::StreamExt;
use std::{path::PathBuf, process::Stdio, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use tonic::{
    Request, Response, Status,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

/// Target: the server binary over gRPC on loopback.
#[derive(Debug)]
pub struct ServerProcess;

/// Whatever must live as long as the store's clients (a server process, a mock).
type KeepAlive = Arc<dyn std::any::Any + Send + Sync>;

/// Shuts the store down as its operator would; see [`Store::stop`].
pub type Stopper = Arc<dyn Fn() + Send + Sync>;

/// A gRPC client to a store, keeping the store alive (if it owns one).
#[derive(Clone)]
pub struct GrpcStore {
    client: EventStoreClient<Channel>,
    /// The address the store listens on.
    pub addr: String,
    stopper: Option<Stopper>,
    /// `authorization` metadata sent with every call, if the store needs it.
    authorization: Option<MetadataValue<Ascii>>,
    /// The deadline of each unary call and of the opening of a
    /// subscription (a user's store: the connector's request timeout),
    /// enforced here (see [`GrpcStore::with_request_timeout`]).
    request_timeout: Option<Duration>,
    _keep_alive: Option<KeepAlive>,
}

impl std::fmt::Debug for GrpcStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcStore")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Kills the server process when the last clone of its store is dropped.
#[derive(Debug)]
struct ServerGuard(std::sync::Mutex<Child>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Ok(mut child) = self.0.lock() {
            let _ = child.start_kill();
        }
    }
}

/// Path of the `eventstore-server` binary: `$EVENTSTORE_SERVER_BIN`, or the
/// one cargo built next to this test binary (`target/<profile>/`).
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("EVENTSTORE_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/eventstore-server
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join("eventstore-server");
    assert!(
        path.exists(),
        "{} not found: build it first (`cargo build -p eventstore-server`) or set EVENTSTORE_SERVER_BIN",
        path.display()
    );
    path
}

impl GrpcStore {
    /// A client to a store already listening at `addr` (`ip:port`).
    pub async fn connect(addr: &str) -> Self {
        let client = EventStoreClient::connect(format!("http://{addr}"))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"))
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024);
        Self::with_client(client, addr, None)
    }

    /// A client to the store at `channel`, named `addr` in messages.
    pub fn with_channel(channel: Channel, addr: &str) -> Self {
        let client = EventStoreClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024);
        Self::with_client(client, addr, None)
    }

    /// A store reached through `client`, keeping `keep_alive` alive as long as it.
    pub fn with_client(
        client: EventStoreClient<Channel>,
        addr: &str,
        keep_alive: Option<KeepAlive>,
    ) -> Self {
        Self {
            client,
            addr: addr.to_owned(),
            stopper: None,
            authorization: None,
            request_timeout: None,
            _keep_alive: keep_alive,
        }
    }

    /// The same store, sending `authorization` (e.g. a
    /// [`Connection`](eventstore_client::Connection)'s) with every call.
    #[must_use]
    pub fn with_authorization(mut self, authorization: Option<MetadataValue<Ascii>>) -> Self {
        self.authorization = authorization;
        self
    }

    /// The same store, each unary call within `timeout`, and each
    /// subscription's opening (up to its response headers) too (`None`: no
    /// deadline). The deadline is sent as `grpc-timeout` and enforced here
    /// around the whole call, body included: tonic's channel enforces the
    /// header only until the response headers, so a store that never
    /// finished an answer held the caller forever. A call past it fails
    /// with `DEADLINE_EXCEEDED` naming the store and the deadline.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// `message` as a request carrying the store's credentials.
    fn request<T>(&self, message: T) -> Request<T> {
        eventstore_client::request(message, self.authorization.as_ref(), None)
    }

    /// `message` as a unary call: the credentials and the deadline.
    fn unary<T>(&self, message: T) -> Request<T> {
        eventstore_client::request(message, self.authorization.as_ref(), self.request_timeout)
    }

    /// `call`'s answer, within the request timeout when there is one (see
    /// [`Self::with_request_timeout`]).
    async fn within<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<T, Status> {
        let Some(timeout) = self.request_timeout else {
            return call.await.map(Response::into_inner);
        };
        match tokio::time::timeout(timeout, call).await {
            // The channel's own deadline (the same one) fired first.
            Ok(Err(status)) if is_client_deadline(&status) => Err(self.no_answer(timeout)),
            Ok(answer) => answer.map(Response::into_inner),
            Err(_) => Err(self.no_answer(timeout)),
        }
    }

    /// The status of a call that got no answer within `timeout`.
    fn no_answer(&self, timeout: Duration) -> Status {
        Status::deadline_exceeded(format!(
            "no answer from {} within {} s (--request-timeout): the store took the call but did \
             not finish its answer; check that an event store is serving there and is not \
             overloaded, or allow it longer with --request-timeout",
            self.addr,
            timeout.as_secs_f64()
        ))
    }

    /// The same store, stopped by `stopper` in [`Store::stop`].
    #[must_use]
    pub fn with_stopper(mut self, stopper: Stopper) -> Self {
        self.stopper = Some(stopper);
        self
    }

    /// Spawns `eventstore-server` with `args` on a free port and waits for
    /// its readiness line.
    pub async fn spawn(args: &[String]) -> Self {
        let mut child = Command::new(server_binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn eventstore-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("eventstore-server printed no readiness line within 20 s")
            .expect("read eventstore-server stdout")
            .expect("eventstore-server exited before it was ready");
        let addr = line
            .split("listening on ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected readiness line: {line}"))
            .trim()
            .to_owned();
        let mut store = Self::connect(&addr).await;
        if let Some(pid) = child.id() {
            store.stopper = Some(Arc::new(move || {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }));
        }
        store._keep_alive = Some(Arc::new(ServerGuard(std::sync::Mutex::new(child))));
        store
    }
}

/// Command-line flags that set `limits` on `eventstore-server`.
pub fn limit_flags(limits: &Limits) -> Vec<String> {
    [
        ("--max-request-bytes", limits.max_request_bytes.to_string()),
        (
            "--max-events-per-batch",
            limits.max_events_per_batch.to_string(),
        ),
        ("--max-id-length", limits.max_id_length.to_string()),
        ("--default-page-size", limits.default_page_size.to_string()),
        ("--max-page-size", limits.max_page_size.to_string()),
        (
            "--max-response-bytes",
            limits.max_response_bytes.to_string(),
        ),
        (
            "--max-headers-per-event",
            limits.max_headers_per_event.to_string(),
        ),
        (
            "--max-header-key-bytes",
            limits.max_header_key_bytes.to_string(),
        ),
        (
            "--max-header-value-bytes",
            limits.max_header_value_bytes.to_string(),
        ),
        (
            "--max-content-type-bytes",
            limits.max_content_type_bytes.to_string(),
        ),
        (
            "--max-content-schema-bytes",
            limits.max_content_schema_bytes.to_string(),
        ),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}

impl Target for ServerProcess {
    type Store = GrpcStore;
    const BACKENDS: &'static [&'static str] = &["memory"];

    async fn start(limits: Limits) -> GrpcStore {
        GrpcStore::spawn(&limit_flags(&limits)).await
    }
}

impl Store for GrpcStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendResponse, Status> {
        let mut client = self.client.clone();
        self.within(client.append(self.unary(request))).await
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<ReadStreamResponse, Status> {
        let mut client = self.client.clone();
        self.within(client.read_stream(self.unary(request))).await
    }

    async fn read_all(&self, request: ReadAllRequest) -> Result<ReadAllResponse, Status> {
        let mut client = self.client.clone();
        self.within(client.read_all(self.unary(request))).await
    }

    async fn server_info(&self) -> Result<GetServerInfoResponse, Status> {
        let mut client = self.client.clone();
        self.within(client.get_server_info(self.unary(GetServerInfoRequest {})))
            .await
    }

    async fn subscribe_responses(&self, request: SubscribeRequest) -> Result<Responses, Status> {
        // The opening only: a subscription then lasts as long as it may.
        let mut client = self.client.clone();
        let stream = self.within(client.subscribe(self.request(request))).await?;
        Ok(stream.boxed())
    }

    fn stop(&self) -> bool {
        match &self.stopper {
            Some(stop) => {
                stop();
                true
            }
            None => false,
        }
    }
}

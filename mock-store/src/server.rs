//! [`MockEventStore`]: one mock, its servers, and the API tests use.
//!
//! Each mock owns its engine, journal and expectations: mocks started in one
//! test binary share nothing. It serves on an ephemeral `127.0.0.1` port
//! (for clients in other processes), over an in-process pipe (for clients
//! in this process: no socket, no port), and without a transport
//! ([`crate::Direct`]). Starting binds the port and nothing more: the
//! services are assembled when a connection or the pipe first needs them.

use crate::{
    control::ControlService,
    direct::Direct,
    expectation::{ExpectationId, Mock},
    journal::CallRecord,
    seed::{self, SeedError},
    spec::{self, SpecError},
    state::{
        Backend, MockState,
        data::{read_all, seed_stream},
    },
    transport::Cuttable,
    verify::{VerificationError, verify},
    wire::Rpc,
};
use eventstore_engine::{
    EventStore, Limits, assembly,
    auth::BasicAuth,
    size_limit::OversizedRequest,
    transport::{self, TransportSettings},
};
use eventstore_proto::{
    AppendResponse, EventData, event_store_client::EventStoreClient,
    event_store_server::EventStoreServer, testing::v1::mock_control_server::MockControlServer,
};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use std::{
    net::SocketAddr,
    panic::Location,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tokio_util::sync::CancellationToken;
use tonic::{
    Status,
    service::{Routes, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

/// Buffer of one in-process connection, each way.
const PIPE_BYTES: usize = 1 << 20;

/// Why a mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The engine refused the limits.
    #[error("invalid limits: {0}")]
    Limits(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bound address could not be read back.
    #[error("cannot read the bound address: {0}")]
    LocalAddr(std::io::Error),
    /// The reflection service could not be built.
    #[error("cannot build the reflection service: {0}")]
    Reflection(String),
    /// The transport settings are unusable (a zero).
    #[error("invalid transport settings: {0}")]
    Transport(#[from] eventstore_engine::transport::TransportSettingsError),
    /// The fixture file ([`MockEventStoreBuilder::fixture`]) could not be
    /// read, is not valid, or the store refused an event of it.
    #[error("{}", fixture_message(.path, .source))]
    Fixture {
        /// The file.
        path: PathBuf,
        /// Why (the file's errors name their line and field); boxed, as
        /// it is much larger than every other reason.
        source: Box<SeedError>,
    },
    /// The bearer token ([`MockEventStoreBuilder::bearer_token`]) is not
    /// valid; the message never quotes it.
    #[error("bearer token: {0}")]
    Token(#[from] eventstore_engine::auth::TokenError),
    /// [`MockEventStoreBuilder::start_on`] was given a fixture, which only
    /// [`MockEventStoreBuilder::try_start`] can load (it awaits the engine).
    #[error(
        "fixture {}: start_on does not load fixtures (loading awaits the engine); use try_start",
        .0.display()
    )]
    FixtureNeedsTryStart(PathBuf),
}

/// A fixture error, the file named once (most [`SeedError`]s start with it).
fn fixture_message(path: &Path, error: &SeedError) -> String {
    match error {
        SeedError::Load { .. } | SeedError::Import { .. } => {
            format!("{}: {error}", path.display())
        }
        _ => error.to_string(),
    }
}

/// Configures a [`MockEventStore`] before it starts.
#[derive(Debug, Clone)]
pub struct MockEventStoreBuilder {
    limits: Limits,
    strict: bool,
    legacy_server: bool,
    backend: Backend,
    verify_on_drop: bool,
    listen: SocketAddr,
    transport: TransportSettings,
    auth: BasicAuth,
    token: Option<String>,
    redact_credentials: bool,
    fixture: Option<PathBuf>,
    /// Where the test asked for this mock ([`MockEventStore::builder`] or
    /// [`MockEventStore::start`]): a failed verify-on-drop names it.
    started_at: &'static Location<'static>,
}

impl Default for MockEventStoreBuilder {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            strict: false,
            legacy_server: false,
            backend: Backend::Memory,
            verify_on_drop: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            transport: TransportSettings::default(),
            auth: BasicAuth::disabled(),
            token: None,
            redact_credentials: true,
            fixture: None,
            started_at: Location::caller(),
        }
    }
}

impl MockEventStoreBuilder {
    /// The engine's limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Strict mode: a call that no expectation matches fails with
    /// `FAILED_PRECONDITION` and is reported by [`MockEventStore::verify`].
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Legacy server mode: `GetServerInfo` answers `UNIMPLEMENTED`, as a
    /// store from before that RPC does, so clients' fallbacks can be tested
    /// (an expectation's response still wins).
    pub fn legacy_server(mut self, legacy: bool) -> Self {
        self.legacy_server = legacy;
        self
    }

    /// What `GetServerInfo` answers as `backend` (default
    /// [`Backend::Memory`]): [`Backend::Postgres`] answers as the
    /// reference's Postgres backend, the store many users run in production.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Whether dropping the mock verifies it and panics on unmet
    /// expectations (default `true`, like the `wiremock` crate).
    pub fn verify_on_drop(mut self, verify: bool) -> Self {
        self.verify_on_drop = verify;
        self
    }

    /// Address to listen on (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// How connections are served (streams per connection, send buffer per
    /// stream, handshake timeout); default [`TransportSettings::default`],
    /// the real server's.
    pub fn transport(mut self, settings: TransportSettings) -> Self {
        self.transport = settings;
        self
    }

    /// Require `authorization: Basic` with `username:password` on every
    /// call, over TCP and in process: `eventstore.v1`, the control API and
    /// reflection (health stays open for probes). Missing or wrong
    /// credentials get `UNAUTHENTICATED`, as from the real server.
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        self.auth = BasicAuth::required(username, password);
        self
    }

    /// Require `authorization: Bearer <token>`, the way the reference's
    /// clients authenticate through its gateway, with the same scope and
    /// answers as [`Self::credentials`]; with both set, either gets in. The
    /// token is compared in constant time; one that breaks RFC 6750's
    /// characters stops [`Self::try_start`] with [`StartError::Token`].
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Whether the journal hides credential metadata (`authorization`,
    /// cookies, and keys naming a token, secret, password, key or auth)
    /// as `[redacted]`; default `true`. Matchers still see the real values.
    pub fn redact_journal_credentials(mut self, redact: bool) -> Self {
        self.redact_credentials = redact;
        self
    }

    /// Preloads the fixture file at `path` before the mock accepts calls
    /// (format: [`crate::seed`]; `eventstore-mock record` writes one from
    /// a real store). A file that cannot be read, is not valid, or holds an
    /// event the store refuses stops [`MockEventStoreBuilder::try_start`]
    /// with [`StartError::Fixture`], naming the file, line and field.
    pub fn fixture(mut self, path: impl Into<PathBuf>) -> Self {
        self.fixture = Some(path.into());
        self
    }

    /// Starts the mock; panics with the reason if it cannot.
    pub async fn start(self) -> MockEventStore {
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("MockEventStore: {e}"))
    }

    /// Starts the mock.
    pub async fn try_start(self) -> Result<MockEventStore, StartError> {
        let fixture = match &self.fixture {
            // Parsed before binding: a bad file never looks ready.
            Some(path) => Some((
                path.clone(),
                seed::read_fixtures(path).map_err(|source| StartError::Fixture {
                    path: path.clone(),
                    source: Box::new(source),
                })?,
            )),
            None => None,
        };
        let mock = Self {
            fixture: None,
            ..self
        }
        .start_on(&tokio::runtime::Handle::current())?;
        if let Some((path, streams)) = fixture {
            seed::load(&mock.engine(), streams)
                .await
                .map_err(|source| StartError::Fixture {
                    path,
                    source: Box::new(source),
                })?;
        }
        Ok(mock)
    }

    /// Starts the mock on `runtime` without waiting: its state, and its
    /// listener bound (so [`MockEventStore::address`] is known at once).
    /// Nothing else runs until a client needs it: the services are
    /// assembled when the first connection arrives, the in-process pipe
    /// when [`MockEventStore::channel`] is first asked for, and a client
    /// of [`MockEventStore::direct`] needs neither. This is what makes a
    /// mock cheap enough to make one per test. A fixture (which needs
    /// awaiting) is [`Self::try_start`]'s; here it is refused.
    pub fn start_on(self, runtime: &tokio::runtime::Handle) -> Result<MockEventStore, StartError> {
        if let Some(path) = &self.fixture {
            return Err(StartError::FixtureNeedsTryStart(path.clone()));
        }
        self.transport.validate().map_err(StartError::Transport)?;
        let auth = match &self.token {
            Some(token) => self.auth.clone().with_token(token)?,
            None => self.auth.clone(),
        };
        let state = Arc::new(MockState::new(self.limits.clone(), self.strict)?);
        state.set_legacy_server(self.legacy_server);
        state.set_backend(self.backend);
        state.set_redact_credentials(self.redact_credentials);
        let _entered = runtime.enter();
        let listener = std::net::TcpListener::bind(self.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
            .map_err(|source| StartError::Listen {
                addr: self.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(StartError::LocalAddr)?;
        let servers = Arc::new(Servers {
            state: state.clone(),
            limits: self.limits.clone(),
            auth: auth.clone(),
            transport: self.transport.clone(),
            runtime: runtime.clone(),
            routes: tokio::sync::OnceCell::new(),
            channel: std::sync::OnceLock::new(),
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(servers.clone().serve_tcp(listener));
        Ok(MockEventStore {
            direct: Direct::new(state.clone(), auth, &self.limits, servers.clone()),
            state,
            addr,
            servers,
            verify_on_drop: AtomicBool::new(self.verify_on_drop),
            started_at: self.started_at,
        })
    }
}

/// The mock's servers: TCP (bound at start) and the in-process pipe, which
/// share one set of routes, assembled by the first of them that needs it.
#[derive(Debug)]
pub(crate) struct Servers {
    state: Arc<MockState>,
    limits: Limits,
    auth: BasicAuth,
    transport: TransportSettings,
    runtime: tokio::runtime::Handle,
    routes: tokio::sync::OnceCell<OversizedRequest<Routes>>,
    channel: std::sync::OnceLock<Channel>,
    pub(crate) shutdown: CancellationToken,
}

impl Servers {
    /// The services, assembled once. A failure (the reflection service's
    /// descriptors, which are compiled in) is logged, and that server stops.
    async fn routes(&self) -> Option<OversizedRequest<Routes>> {
        self.routes
            .get_or_try_init(|| routes(&self.state, &self.limits, &self.auth))
            .await
            .map_err(|e| tracing::error!("the mock cannot serve: {e}"))
            .ok()
            .cloned()
    }

    /// Serves TCP clients until shutdown; the services are assembled when
    /// the first connection arrives.
    async fn serve_tcp(self: Arc<Self>, listener: TcpListener) {
        let first = tokio::select! {
            accepted = listener.accept() => accepted.map(|(stream, _)| stream),
            () = self.shutdown.cancelled() => return,
        };
        let tcp = futures::stream::once(async { first })
            .chain(TcpListenerStream::new(listener))
            .map(|conn| {
                conn.map(|stream| {
                    // Latency matters more than throughput for a test double.
                    let _ = stream.set_nodelay(true);
                    Cuttable::new(stream)
                })
            });
        self.serve(tcp).await;
    }

    /// Serves `incoming` connections (the listener's or the in-process
    /// pipe's) with the routes, assembled now, until the mock stops.
    async fn serve<IO>(&self, incoming: impl futures::Stream<Item = std::io::Result<IO>>)
    where
        IO: tokio::io::AsyncRead
            + tokio::io::AsyncWrite
            + tonic::transport::server::Connected
            + Unpin
            + Send
            + 'static,
    {
        let Some(service) = self.routes().await else {
            return;
        };
        transport::serve(
            incoming,
            service,
            self.transport.clone(),
            None,
            self.shutdown.clone().cancelled_owned(),
        )
        .await;
    }

    /// The in-process channel, made (with the server behind it) on first use.
    pub(crate) fn channel(self: &Arc<Self>) -> Channel {
        self.channel
            .get_or_init(|| {
                let _entered = self.runtime.enter();
                let (pipes, accepted) = mpsc::unbounded_channel();
                let servers = self.clone();
                tokio::spawn(async move {
                    let in_process = UnboundedReceiverStream::new(accepted)
                        .map(|io| Ok::<_, std::io::Error>(Cuttable::new(io)));
                    servers.serve(in_process).await;
                });
                Endpoint::from_static("http://in-process.mock").connect_with_connector_lazy(
                    tower::service_fn(move |_: tonic::transport::Uri| {
                        let (client, server) = tokio::io::duplex(PIPE_BYTES);
                        let sent = pipes.send(server);
                        async move {
                            sent.map_err(|_| {
                                std::io::Error::new(
                                    std::io::ErrorKind::NotConnected,
                                    "the mock has stopped",
                                )
                            })?;
                            Ok::<_, std::io::Error>(TokioIo::new(client))
                        }
                    }),
                )
            })
            .clone()
    }
}

/// The mock's services: `eventstore.v1.EventStore`, the control API, gRPC
/// health (every service `SERVING`) and reflection, behind the
/// oversized-request layer: the same assembly as the real server's. With
/// credentials, every service but health requires them.
async fn routes(
    state: &Arc<MockState>,
    limits: &Limits,
    auth: &BasicAuth,
) -> Result<OversizedRequest<Routes>, StartError> {
    let max_message = assembly::max_message_bytes(limits);
    let store = EventStoreServer::new(crate::service::MockService {
        state: state.clone(),
    })
    .max_decoding_message_size(limits.max_request_bytes)
    .max_encoding_message_size(max_message);
    let control = MockControlServer::new(ControlService {
        state: state.clone(),
    })
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(usize::MAX);
    let (_reporter, health) = assembly::health(&[
        eventstore_proto::SERVICE_NAME,
        "eventstore.testing.v1.MockControl",
    ])
    .await;
    let reflection = assembly::reflection(&[eventstore_proto::TESTING_FILE_DESCRIPTOR_SET])
        .map_err(|e| StartError::Reflection(e.to_string()))?;
    let routes = Routes::new(health)
        .add_service(InterceptedService::new(store, auth.clone()))
        .add_service(InterceptedService::new(control, auth.clone()))
        .add_service(InterceptedService::new(reflection, auth.clone()));
    Ok(transport::limited_routes(routes, limits))
}

/// A mock event store: a working in-memory store with a call journal,
/// expectations, fault injection and verification.
#[derive(Debug)]
pub struct MockEventStore {
    pub(crate) state: Arc<MockState>,
    addr: SocketAddr,
    servers: Arc<Servers>,
    direct: Direct,
    verify_on_drop: AtomicBool,
    started_at: &'static Location<'static>,
}

impl MockEventStore {
    /// Starts a mock with the defaults: not strict, verified on drop.
    #[track_caller]
    pub fn start() -> impl Future<Output = Self> + Send {
        Self::builder().start()
    }

    /// Starts a mock with the defaults, preloaded with the fixture file at
    /// `path` (what `eventstore-mock record` writes, or one written by
    /// hand; see [`crate::seed`]). Shorthand for
    /// `MockEventStore::builder().fixture(path).try_start()`.
    #[track_caller]
    pub fn from_fixture(
        path: impl Into<PathBuf>,
    ) -> impl Future<Output = Result<Self, StartError>> + Send {
        Self::builder().fixture(path).try_start()
    }

    /// Configures a mock.
    #[track_caller]
    pub fn builder() -> MockEventStoreBuilder {
        MockEventStoreBuilder {
            started_at: Location::caller(),
            ..MockEventStoreBuilder::default()
        }
    }

    /// `http://127.0.0.1:<port>`: a URI for clients in other processes or
    /// runtimes (the scheme included, as gRPC clients want it).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address (`127.0.0.1:<port>`, no scheme).
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// A channel to this mock through memory, no socket involved (made,
    /// with the server behind it, on first use).
    pub fn channel(&self) -> Channel {
        self.servers.channel()
    }

    /// This mock's service without a transport: what a client in this
    /// process calls to skip HTTP/2 (see [`Direct`]).
    pub fn direct(&self) -> Direct {
        self.direct.clone()
    }

    /// An `eventstore.v1` client over [`MockEventStore::channel`].
    pub fn client(&self) -> EventStoreClient<Channel> {
        EventStoreClient::new(self.channel())
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    /// The engine holding the mock's data (replaced by [`MockEventStore::reset_data`]).
    pub fn engine(&self) -> EventStore {
        self.state.engine()
    }

    pub(crate) fn register(&self, mock: Mock) -> ExpectationId {
        self.state.mount(mock)
    }

    /// Mounts an expectation written as JSON (see [`crate::spec`]); the
    /// error names the offending field.
    pub fn mount_json(&self, json: &str) -> Result<ExpectationId, SpecError> {
        let mock = spec::parse(json, |name| self.state.named_sequence(name))?;
        Ok(self.state.mount(mock))
    }

    /// Mounts an expectation given as a JSON value (see [`crate::spec`]).
    pub fn mount_value(&self, value: serde_json::Value) -> Result<ExpectationId, SpecError> {
        let mock = spec::from_value(value, |name| self.state.named_sequence(name))?;
        Ok(self.state.mount(mock))
    }

    /// Every call received, in order.
    pub fn received_calls(&self) -> Vec<CallRecord> {
        self.state.journal.snapshot()
    }

    /// How many calls were received (without copying them).
    pub fn received_call_count(&self) -> usize {
        self.state.journal.len()
    }

    /// The calls to one RPC, in order.
    pub fn calls_to(&self, rpc: Rpc) -> Vec<CallRecord> {
        self.received_calls()
            .into_iter()
            .filter(|c| c.rpc() == rpc)
            .collect()
    }

    /// The calls no expectation matched.
    pub fn unmatched_calls(&self) -> Vec<CallRecord> {
        self.received_calls()
            .into_iter()
            .filter(|c| c.matched.is_empty())
            .collect()
    }

    /// The calls an expectation matched.
    pub fn calls_matching(&self, id: ExpectationId) -> Vec<CallRecord> {
        self.received_calls()
            .into_iter()
            .filter(|c| c.matched.contains(&id))
            .collect()
    }

    /// Checks every expectation; in strict mode, also that no call went unmatched.
    pub fn verify(&self) -> Result<(), VerificationError> {
        let expectations = self.state.expectations.lock();
        let calls = self.state.journal.snapshot();
        verify(&expectations.mounted, &calls)
    }

    /// Turns strict mode on or off.
    pub fn set_strict(&self, strict: bool) {
        self.state.set_strict(strict);
    }

    /// Turns legacy server mode on or off (see
    /// [`MockEventStoreBuilder::legacy_server`]).
    pub fn set_legacy_server(&self, legacy: bool) {
        self.state.set_legacy_server(legacy);
    }

    /// Changes what `GetServerInfo` answers as `backend` (see
    /// [`MockEventStoreBuilder::backend`]).
    pub fn set_backend(&self, backend: Backend) {
        self.state.set_backend(backend);
    }

    /// What this mock's `GetServerInfo` answers when nothing overrides it
    /// (backend `"memory"` unless set otherwise).
    pub fn server_info(&self) -> eventstore_proto::GetServerInfoResponse {
        self.state.server_info()
    }

    /// Turns verification on drop on or off.
    pub fn set_verify_on_drop(&self, verify: bool) {
        self.verify_on_drop.store(verify, Ordering::Relaxed);
    }

    /// Forgets everything: calls, expectations and data.
    pub fn reset(&self) {
        self.reset_journal();
        self.reset_expectations();
        self.reset_data();
    }

    /// Forgets the recorded calls (and the counts of `on_nth_call`).
    pub fn reset_journal(&self) {
        self.state.reset_journal();
    }

    /// Unmounts every expectation.
    pub fn reset_expectations(&self) {
        self.state.reset_expectations();
    }

    /// Empties the store; open subscriptions end with `UNAVAILABLE`.
    pub fn reset_data(&self) {
        self.state.reset_data();
    }

    /// Preloads a stream through the engine, bypassing the journal and the
    /// expectations. Events get the next aggregate nonces, a UUIDv7 event id
    /// when they have none, and the request's tenant, aggregate id and type.
    pub async fn seed(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
        aggregate_type: &str,
        events: Vec<EventData>,
    ) -> Result<AppendResponse, Status> {
        seed_stream(
            &self.engine(),
            tenant_id,
            aggregate_id,
            aggregate_type,
            events,
        )
        .await
    }

    /// Preloads the fixture file at `path` into this running mock (see
    /// [`crate::seed`]), bypassing the journal and the expectations.
    /// A recorded fixture needs its global nonces above the mock's last
    /// one, so load it first ([`MockEventStore::from_fixture`] does).
    pub async fn load_fixture(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<Vec<AppendResponse>, StartError> {
        let path = path.as_ref();
        let fixture_error = |source| StartError::Fixture {
            path: path.to_owned(),
            source: Box::new(source),
        };
        let streams = seed::read_fixtures(path).map_err(fixture_error)?;
        seed::load(&self.engine(), streams)
            .await
            .map_err(fixture_error)
    }

    /// Every event of a stream, in order, read straight from the engine.
    pub async fn read_all(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
    ) -> Result<Vec<EventData>, Status> {
        read_all(&self.engine(), tenant_id, aggregate_id).await
    }
}

impl Drop for MockEventStore {
    fn drop(&mut self) {
        self.servers.shutdown.cancel();
        self.state.engine().shutdown();
        if self.verify_on_drop.load(Ordering::Relaxed)
            && !std::thread::panicking()
            && let Err(e) = self.verify()
        {
            // The panic is raised here, in this crate: say where the test's
            // own mock and expectations come from.
            let sites = crate::verify::unmet_mount_sites(
                &self.state.expectations.lock().mounted,
                &self.state.journal.snapshot(),
            );
            let mounted = if sites.is_empty() {
                String::new()
            } else {
                format!(
                    "; the unmet expectations were mounted at {}",
                    sites.join(", ")
                )
            };
            panic!(
                "{e}\n(verified on drop of the MockEventStore started at {}{mounted})",
                self.started_at
            );
        }
    }
}

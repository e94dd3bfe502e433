//! `EventStoreContainer`: the real event store for tests, in a local Docker
//! image, or without Docker in process.
//!
//! The files, in the order a start goes through them:
//!
//! - `lib.rs`: the builder (settings, [`Mode`]) and [`EventStoreContainer`],
//!   which picks a backend and hands out the endpoint;
//! - `embedded.rs`: the static `eventstore-server` binary this crate
//!   carries, and the files written from it;
//! - `image.rs`: [`EventStoreImage`], its defaults and the local image build
//!   (FROM scratch, from the embedded binary);
//! - `labels.rs`: the labels and session id that mark a container as ours;
//! - `docker.rs`: the Docker backend (create, start, restart, sweep);
//! - `workdir.rs`: the temporary directory of a store outside Docker;
//! - `child_process.rs`: the binary as a child process (`Mode::Process`);
//! - `in_process.rs`: the server in this process (`Mode::InProcess`);
//! - `tls.rs`: [`TlsSettings`], read by every backend and by readiness;
//! - `readiness.rs`: "ready" is gRPC health `SERVING` and `GetServerInfo`
//!   answering our API version (every backend);
//! - `error.rs`: [`ContainerError`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), eventstore_container::ContainerError> {
//! use eventstore_container::EventStoreContainer;
//!
//! let mut store = EventStoreContainer::builder().start().await?;
//! let endpoint = store.endpoint(); // "http://127.0.0.1:<random port>"
//! // ... talk to it with any eventstore.v1 client at store.url() ...
//! store.stop().await?; // or just drop it: the container is removed either way
//! # Ok(()) }
//! ```
//!
//! - **The image** is `eventstore-server:<content hash>`, `FROM scratch` with
//!   only the statically linked server ([`DOCKERFILE`]). This crate carries
//!   that binary (its build script builds it), so when the image is missing
//!   the harness builds it locally: nothing is pulled, there is no step for
//!   the user. [`EventStoreContainerBuilder::image`] points at any other
//!   image that speaks the API.
//! - **Ready** means: the server's readiness line, then
//!   `grpc.health.v1.Health/Check("eventstore.v1.EventStore")` answering
//!   `SERVING` (with retries, over TLS when the store speaks TLS). Every
//!   start error carries the store's logs.
//! - **Nothing leaks**: [`stop`](EventStoreContainer::stop) and `Drop`
//!   remove the container; every container is labelled
//!   (`org.eventstore.testing=eventstore-container`, with session, pid and
//!   host labels), and [`EventStoreContainer::sweep_leftovers`] removes
//!   those whose process is gone.
//! - **Modes** ([`Mode`]): `Auto` (default) uses Docker when an engine
//!   answers, else runs the real server in process (durable, on a temporary
//!   directory) with one warning; `Docker` fails with instructions when no
//!   engine answers; `Process` runs the `eventstore-server` binary
//!   (`$EVENTSTORE_SERVER_BIN`, else the embedded one); `InProcess` forces
//!   the fallback. `EVENTSTORE_CONTAINER_MODE=auto|docker|process|in-process`
//!   sets the mode when the builder does not.
//!
//! On testcontainers: the image is built with testcontainers'
//! `GenericBuildableImage` (BuildKit; the engine's classic builder when
//! BuildKit is not there), [`EventStoreImage`] implements
//! `testcontainers::Image`, and containers are driven through bollard, the
//! engine client testcontainers is built on. Not through testcontainers'
//! `ContainerAsync`, because its `Drop` needs a Tokio runtime on the
//! dropping thread (Python drops objects on any thread), and a failed
//! readiness wait removes the container before its logs can be read.

mod child_process;
mod docker;
mod embedded;
mod error;
mod image;
mod in_process;
mod labels;
mod readiness;
mod tls;
mod workdir;

pub use embedded::{embedded_image_tag, embedded_server_binary};
pub use error::ContainerError;
pub use image::{
    CONTAINER_PORT, DOCKERFILE, EventStoreImage, IMAGE_NAME, READINESS_LINE, build_context,
};
pub use labels::{
    HOST_LABEL, LABEL_KEY, LABEL_VALUE, PID_LABEL, REUSE_LABEL, SESSION_LABEL, session_id,
};
pub use readiness::HEALTH_SERVICE;
#[cfg(feature = "testcontainers")]
pub use testcontainers;
pub use tls::TlsSettings;

use std::{
    collections::BTreeMap,
    sync::Once,
    time::{Duration, Instant as StdInstant},
};
use tokio::time::Instant;

/// Default time for a store to become ready.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the store runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Docker when an engine answers, else the real server in process
    /// (with one warning).
    #[default]
    Auto,
    /// Docker, or an error saying how to get an engine.
    Docker,
    /// The `eventstore-server` binary as a child process:
    /// `$EVENTSTORE_SERVER_BIN`, else the embedded static binary.
    Process,
    /// The real server in this process (what `Auto` falls back to).
    InProcess,
}

impl Mode {
    /// `auto`, `docker`, `process` or `in-process` (as
    /// `EVENTSTORE_CONTAINER_MODE` takes them).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Some(Self::Auto),
            "docker" => Some(Self::Docker),
            "process" => Some(Self::Process),
            "in-process" | "inprocess" => Some(Self::InProcess),
            _ => None,
        }
    }
}

/// Settings of an [`EventStoreContainer`]; [`start`](Self::start) it.
#[derive(Debug, Clone)]
pub struct EventStoreContainerBuilder {
    image: Option<(String, String)>,
    env: BTreeMap<String, String>,
    credentials: Option<(String, String)>,
    token: Option<String>,
    tls: Option<TlsSettings>,
    mode: Option<Mode>,
    reuse: bool,
    startup_timeout: Duration,
    docker_host: Option<String>,
    readiness_line: Option<String>,
    container_port: u16,
    warn_on_fallback: bool,
}

impl Default for EventStoreContainerBuilder {
    fn default() -> Self {
        Self {
            image: None,
            env: BTreeMap::new(),
            credentials: None,
            token: None,
            tls: None,
            mode: None,
            reuse: false,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            docker_host: None,
            readiness_line: Some(READINESS_LINE.to_owned()),
            container_port: CONTAINER_PORT,
            warn_on_fallback: true,
        }
    }
}

impl EventStoreContainerBuilder {
    /// Runs `name:tag` instead of the embedded image (Docker only). It must
    /// speak eventstore.v1 with the health service on
    /// [`CONTAINER_PORT`] (see [`container_port`](Self::container_port)),
    /// and print [`READINESS_LINE`] (see
    /// [`readiness_line`](Self::readiness_line)). Pulled if missing.
    #[must_use]
    pub fn image(mut self, name: impl Into<String>, tag: impl Into<String>) -> Self {
        self.image = Some((name.into(), tag.into()));
        self
    }

    /// Sets an environment variable of the store: `EVENTSTORE_*`
    /// configures the server (`EVENTSTORE_MAX_PAGE_SIZE`, ...). The
    /// in-process server takes the `EVENTSTORE_*` ones as flags.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Requires `username`/`password` (`authorization: Basic`) on every
    /// eventstore.v1 call.
    #[must_use]
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((username.into(), password.into()));
        self
    }

    /// Requires `authorization: Bearer <token>` on every eventstore.v1
    /// call (the server's `--token`); with [`credentials`](Self::credentials)
    /// too, either gets in.
    #[must_use]
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Serves TLS with this PEM certificate and key; with `client_ca`,
    /// mutual TLS (client certificates must chain to it). The files are
    /// copied into the container. The harness checks health trusting
    /// `client_ca` (else the certificate itself) for the name `localhost`,
    /// and under mutual TLS presents the server certificate as its client
    /// certificate; [`tls_settings`](Self::tls_settings) changes that.
    #[must_use]
    pub fn tls(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
        client_ca_pem: Option<Vec<u8>>,
    ) -> Self {
        self.tls = Some(TlsSettings {
            cert: cert_pem.into(),
            key: key_pem.into(),
            client_ca: client_ca_pem,
            ca: None,
            client_identity: None,
            domain: "localhost".to_owned(),
        });
        self
    }

    /// Every TLS setting, including the harness's trust root and client
    /// identity.
    #[must_use]
    pub fn tls_settings(mut self, tls: TlsSettings) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Where the store runs (default: `$EVENTSTORE_CONTAINER_MODE`, else
    /// [`Mode::Auto`]).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Reuse a running container of this session with the same settings
    /// instead of starting one (Docker only; its data is shared, so a reused
    /// store is not empty). A reused container outlives its handles: stop
    /// it, or [`EventStoreContainer::sweep_session`] at the end.
    #[must_use]
    pub fn reuse(mut self, reuse: bool) -> Self {
        self.reuse = reuse;
        self
    }

    /// How long the store has to become ready (default 60 s).
    #[must_use]
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// The Docker engine to use (`unix:///...`, `tcp://...`), instead of
    /// `$DOCKER_HOST` or the platform default.
    #[must_use]
    pub fn docker_host(mut self, host: impl Into<String>) -> Self {
        self.docker_host = Some(host.into());
        self
    }

    /// The stdout line that announces readiness (before the health check),
    /// or `None` to rely on the health check alone (Docker only).
    #[must_use]
    pub fn readiness_line(mut self, line: Option<String>) -> Self {
        self.readiness_line = line;
        self
    }

    /// The port the image listens on (default [`CONTAINER_PORT`]).
    #[must_use]
    pub fn container_port(mut self, port: u16) -> Self {
        self.container_port = port;
        self
    }

    /// Whether [`Mode::Auto`] says on stderr (once per process) that it
    /// runs in process because no Docker engine answered (default: yes).
    /// A wrapper that reports [`EventStoreContainer::fallback_cause`] its
    /// own way (the Python package, as a warning) turns it off.
    #[must_use]
    pub fn warn_on_fallback(mut self, warn: bool) -> Self {
        self.warn_on_fallback = warn;
        self
    }

    fn resolved_mode(&self) -> Result<Mode, ContainerError> {
        if let Some(mode) = self.mode {
            return Ok(mode);
        }
        match std::env::var("EVENTSTORE_CONTAINER_MODE") {
            Ok(text) if !text.trim().is_empty() => Mode::parse(&text).ok_or_else(|| {
                ContainerError::Config(format!(
                    "EVENTSTORE_CONTAINER_MODE={text}: expected auto, docker, process or in-process"
                ))
            }),
            _ => Ok(Mode::Auto),
        }
    }

    /// The store's environment: the settings, then the credentials.
    fn store_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some((user, password)) = &self.credentials {
            env.push(("EVENTSTORE_USERNAME".to_owned(), user.clone()));
            env.push(("EVENTSTORE_PASSWORD".to_owned(), password.clone()));
        }
        if let Some(token) = &self.token {
            env.push(("EVENTSTORE_TOKEN".to_owned(), token.clone()));
        }
        env
    }

    fn image_ref(&self) -> EventStoreImage {
        match &self.image {
            Some((name, tag)) => EventStoreImage::new(name, tag),
            None => EventStoreImage::default(),
        }
    }

    /// Starts the store and waits until it is ready.
    pub async fn start(self) -> Result<EventStoreContainer, ContainerError> {
        let deadline = Instant::now() + self.startup_timeout;
        let started = StdInstant::now();
        let mode = self.resolved_mode()?;
        let mut fallback_cause = None;
        let backend = match mode {
            Mode::Docker => self.start_docker(deadline).await?,
            Mode::Auto => match docker::connect(self.docker_host.as_deref()).await {
                Ok(docker) => self.start_docker_with(docker, deadline).await?,
                Err(ContainerError::DockerUnavailable { cause }) => {
                    if self.warn_on_fallback {
                        warn_fallback(&cause);
                    }
                    let backend = self.start_in_process(deadline).await?;
                    fallback_cause = Some(cause);
                    backend
                }
                Err(e) => return Err(e),
            },
            Mode::Process => Backend::Process(
                child_process::ProcessStore::start(self.store_env(), self.tls.as_ref(), deadline)
                    .await?,
            ),
            Mode::InProcess => self.start_in_process(deadline).await?,
        };
        let container = EventStoreContainer {
            backend,
            spec: self,
            stopped: false,
            fallback_cause,
        };
        tracing::debug!(
            mode = ?container.mode(),
            endpoint = %container.endpoint(),
            elapsed = ?started.elapsed(),
            "event store ready"
        );
        Ok(container)
    }

    async fn start_in_process(&self, deadline: Instant) -> Result<Backend, ContainerError> {
        Ok(Backend::InProcess(
            in_process::InProcessStore::start(&self.store_env(), self.tls.as_ref(), deadline)
                .await?,
        ))
    }

    async fn start_docker(&self, deadline: Instant) -> Result<Backend, ContainerError> {
        let docker = docker::connect(self.docker_host.as_deref()).await?;
        self.start_docker_with(docker, deadline).await
    }

    async fn start_docker_with(
        &self,
        docker: bollard::Docker,
        deadline: Instant,
    ) -> Result<Backend, ContainerError> {
        // A killed test run cannot remove its containers; the next start
        // does (those of dead processes of other sessions). Best effort: a
        // failed sweep does not stop the start.
        match docker::sweep(&docker, docker::Sweep::DeadSessions).await {
            Ok(removed) if !removed.is_empty() => tracing::info!(
                count = removed.len(),
                "removed containers left by killed test runs"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot sweep containers left by killed test runs: {e}"),
        }
        let image = self.image_ref();
        image::ensure_image(&docker, self.docker_host.as_deref(), &image).await?;
        let spec = self.docker_spec(&image);
        let store = if self.reuse {
            // One lookup-or-create at a time, so parallel tests share.
            static REUSE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
            let _guard = REUSE_LOCK.lock().await;
            docker::start(&docker, self.docker_host.clone(), &spec, deadline).await?
        } else {
            docker::start(&docker, self.docker_host.clone(), &spec, deadline).await?
        };
        Ok(Backend::Docker(store))
    }

    fn docker_spec(&self, image: &EventStoreImage) -> docker::DockerSpec {
        let env = self.store_env();
        let reuse_key = self.reuse.then(|| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            image.reference().hash(&mut hasher);
            env.hash(&mut hasher);
            self.tls
                .as_ref()
                .map(|t| (&t.cert, &t.key, &t.client_ca))
                .hash(&mut hasher);
            self.container_port.hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        });
        docker::DockerSpec {
            reference: image.reference(),
            env,
            tls: self.tls.clone(),
            reuse_key,
            readiness_line: self.readiness_line.clone(),
            container_port: self.container_port,
        }
    }
}

/// Says once per process that Docker is unavailable and what runs instead.
fn warn_fallback(cause: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let message = format!(
            "Docker is not available ({cause}); EventStoreContainer runs the real eventstore-server \
             in this process instead (durable storage on a temporary directory, same API). \
             Set EVENTSTORE_CONTAINER_MODE=docker to require Docker."
        );
        tracing::warn!("{message}");
        eprintln!("warning: {message}");
    });
}

#[derive(Debug)]
enum Backend {
    Docker(docker::DockerStore),
    Process(child_process::ProcessStore),
    InProcess(in_process::InProcessStore),
}

/// A running event store: a container of the event store image, or (see
/// [`Mode`]) the server as a process or in this process. Removed on
/// [`stop`](Self::stop) and on drop.
#[derive(Debug)]
pub struct EventStoreContainer {
    backend: Backend,
    spec: EventStoreContainerBuilder,
    stopped: bool,
    fallback_cause: Option<String>,
}

impl EventStoreContainer {
    /// Settings for a store; `EventStoreContainer::builder().start().await`
    /// starts the default one.
    pub fn builder() -> EventStoreContainerBuilder {
        EventStoreContainerBuilder::default()
    }

    /// Starts a store with the default settings.
    pub async fn start() -> Result<Self, ContainerError> {
        Self::builder().start().await
    }

    /// Where it actually runs: `Docker`, `Process` or `InProcess`.
    pub fn mode(&self) -> Mode {
        match self.backend {
            Backend::Docker(_) => Mode::Docker,
            Backend::Process(_) => Mode::Process,
            Backend::InProcess(_) => Mode::InProcess,
        }
    }

    /// Why [`Mode::Auto`] runs the store in process: what the Docker
    /// engine (or its socket) answered. `None` when no fallback happened.
    pub fn fallback_cause(&self) -> Option<&str> {
        self.fallback_cause.as_deref()
    }

    /// The host port the store is reached on.
    pub fn host_port(&self) -> u16 {
        match &self.backend {
            Backend::Docker(store) => store.host_port,
            Backend::Process(store) => store.addr.port(),
            Backend::InProcess(store) => store.addr.port(),
        }
    }

    /// `127.0.0.1:<port>`, the bare socket address; the same across
    /// [`restart`](Self::restart).
    pub fn address(&self) -> String {
        EventStoreImage::endpoint(self.host_port())
    }

    /// `http://127.0.0.1:<port>`, like `MockEventStore::endpoint()`: what a
    /// tonic `Endpoint` or a gRPC client takes. Always `http://`, also with
    /// TLS (tonic's TLS config decides); [`url`](Self::url) has the scheme
    /// a client should use.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address())
    }

    /// `http://127.0.0.1:<port>`, or `https://` with TLS (whose certificate
    /// is checked against [`tls_domain`](Self::tls_domain)).
    pub fn url(&self) -> String {
        let scheme = if self.spec.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.address())
    }

    /// The name the server's certificate is checked against, with TLS.
    pub fn tls_domain(&self) -> Option<&str> {
        self.spec.tls.as_ref().map(|t| t.domain.as_str())
    }

    /// The credentials the store requires, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.spec
            .credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The container id (Docker only).
    pub fn id(&self) -> Option<&str> {
        match &self.backend {
            Backend::Docker(store) => Some(&store.id),
            _ => None,
        }
    }

    /// A tonic channel endpoint to the store, with the TLS the harness uses
    /// (trust root, client identity, domain) already set.
    pub fn tonic_endpoint(&self) -> Result<tonic::transport::Endpoint, ContainerError> {
        readiness::endpoint(&self.address(), self.spec.tls.as_ref())
            .map(|e| e.timeout(Duration::from_secs(30)))
            .map_err(ContainerError::Config)
    }

    /// One health check now: `Ok(())` when SERVING.
    pub async fn check_health(&self) -> Result<(), ContainerError> {
        readiness::check(&self.address(), self.spec.tls.as_ref())
            .await
            .map_err(ContainerError::Io)
    }

    /// Stops the server (SIGTERM) and starts it again with the same data
    /// and endpoint; returns once it is ready again.
    pub async fn restart(&mut self) -> Result<(), ContainerError> {
        if self.stopped {
            return Err(ContainerError::Config(
                "the store was stopped; start a new one".to_owned(),
            ));
        }
        let deadline = Instant::now() + self.spec.startup_timeout;
        let tls = self.spec.tls.clone();
        match &mut self.backend {
            Backend::Docker(store) => {
                let docker = docker::connect(store.docker_host.as_deref()).await?;
                let spec = self.spec.docker_spec(&self.spec.image_ref());
                docker::restart(&docker, store, &spec, deadline).await
            }
            Backend::Process(store) => store.restart(tls.as_ref(), deadline).await,
            Backend::InProcess(store) => store.restart(tls.as_ref(), deadline).await,
        }
    }

    /// Stops the store and removes the container (a reused one too).
    /// Idempotent.
    pub async fn stop(&mut self) -> Result<(), ContainerError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        match &mut self.backend {
            Backend::Docker(store) => {
                let docker = docker::connect(store.docker_host.as_deref()).await?;
                let stopped = docker::stop(&docker, &store.id).await;
                docker::remove(&docker, &store.id).await;
                store.removed = true;
                stopped
            }
            Backend::Process(store) => {
                store.terminate().await;
                Ok(())
            }
            Backend::InProcess(store) => {
                store.shutdown().await;
                Ok(())
            }
        }
    }

    /// What the store printed (stdout and stderr, without terminal colours).
    /// The in-process server logs through this process's `tracing`
    /// subscriber instead.
    pub async fn logs(&self) -> Result<String, ContainerError> {
        match &self.backend {
            Backend::Docker(store) => {
                let docker = docker::connect(store.docker_host.as_deref()).await?;
                docker::logs(&docker, &store.id)
                    .await
                    .map(|logs| error::strip_ansi(&logs))
            }
            Backend::Process(store) => Ok(error::strip_ansi(&store.logs())),
            Backend::InProcess(_) => Ok(String::new()),
        }
    }

    /// Removes every container of this project whose process is gone (on
    /// this host: no process with the pid on its label), e.g. left by a
    /// test run that was killed. Returns the ids of those it removed.
    /// Containers of running processes (other test binaries, other
    /// sessions) are left alone. Every Docker start also sweeps the
    /// leftovers of other sessions first.
    pub async fn sweep_leftovers() -> Result<Vec<String>, ContainerError> {
        let docker = docker::connect(None).await?;
        docker::sweep(&docker, docker::Sweep::Leftovers).await
    }

    /// Removes every container of this session ([`session_id`]), e.g.
    /// reused ones at the end of a test session. Returns their ids.
    pub async fn sweep_session() -> Result<Vec<String>, ContainerError> {
        let docker = docker::connect(None).await?;
        docker::sweep(&docker, docker::Sweep::Session).await
    }

    /// Removes every container with the project label, whoever started
    /// it. Returns their ids.
    pub async fn sweep_all() -> Result<Vec<String>, ContainerError> {
        let docker = docker::connect(None).await?;
        docker::sweep(&docker, docker::Sweep::All).await
    }

    /// Whether a Docker engine answers (at `$DOCKER_HOST` or the default).
    pub async fn docker_available() -> bool {
        docker::connect(None).await.is_ok()
    }

    /// Builds the embedded image unless it exists; returns its reference
    /// (`eventstore-server:<tag>`) and whether it had to build.
    pub async fn build_image() -> Result<(String, bool), ContainerError> {
        let docker = docker::connect(None).await?;
        let image = EventStoreImage::default();
        let built = image::ensure_image(&docker, None, &image).await?;
        Ok((image.reference(), built))
    }
}

impl Drop for EventStoreContainer {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        if let Backend::Docker(store) = &mut self.backend
            && !store.removed
            && !store.reused
            && !(self.spec.reuse)
        {
            store.removed = true;
            docker::remove_blocking(store.docker_host.clone(), store.id.clone());
        }
        // Process and in-process stores stop in their own Drop.
    }
}

/// `EventStoreContainer` moves between threads and is shared (the Python
/// wrapper and the conformance harness rely on it).
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<EventStoreContainer>();
    send_sync::<EventStoreContainerBuilder>();
    send_sync::<ContainerError>();
};

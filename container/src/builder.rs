//! [`EventStoreContainerBuilder`]: the settings of a store, and its start,
//! which picks the backend ([`Mode`]) and hands over an
//! [`EventStoreContainer`]; with [`EventStoreContainer::builder`] and
//! [`EventStoreContainer::start`], the entry points.

use crate::{
    child_process, docker,
    error::ContainerError,
    handle::{Backend, EventStoreContainer, Kept},
    image,
    image::{CONTAINER_PORT, EventStoreImage, READINESS_LINE},
    in_process,
    mode::Mode,
    tls::TlsSettings,
};
use std::{
    collections::BTreeMap,
    sync::Once,
    time::{Duration, Instant as StdInstant},
};
use tokio::time::Instant;

/// Default time for a store to become ready.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

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
        let kept = Kept {
            tls: self.tls,
            credentials: self.credentials,
            startup_timeout: self.startup_timeout,
            reuse: self.reuse,
        };
        let container = EventStoreContainer::new(backend, kept, fallback_cause);
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
        Ok(Backend::Docker {
            store,
            spec: Box::new(spec),
        })
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

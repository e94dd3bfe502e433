//! [`EventStoreContainer`]: a running store, whichever backend runs it;
//! its endpoint, restart, stop, logs, and the Docker housekeeping (sweeps,
//! the image build) that needs no store.

use crate::{
    child_process, docker, error, error::ContainerError, image, image::EventStoreImage, in_process,
    mode::Mode, readiness, tls::TlsSettings,
};
use std::time::Duration;
use tokio::time::Instant;

/// What runs the store.
#[derive(Debug)]
pub(crate) enum Backend {
    /// A container, and what it was created from (a restart waits for it
    /// as a start does).
    Docker {
        store: docker::DockerStore,
        spec: Box<docker::DockerSpec>,
    },
    Process(child_process::ProcessStore),
    InProcess(in_process::InProcessStore),
}

/// What a running store keeps of its builder's settings: how to reach it,
/// and how long a restart may take.
#[derive(Debug)]
pub(crate) struct Kept {
    pub(crate) tls: Option<TlsSettings>,
    pub(crate) credentials: Option<(String, String)>,
    pub(crate) startup_timeout: Duration,
    /// A reused container outlives its handles (Docker only).
    pub(crate) reuse: bool,
}

/// A running event store: a container of the event store image, or (see
/// [`Mode`]) the server as a process or in this process. Removed on
/// [`stop`](Self::stop) and on drop.
#[derive(Debug)]
pub struct EventStoreContainer {
    backend: Backend,
    kept: Kept,
    stopped: bool,
    fallback_cause: Option<String>,
}

impl EventStoreContainer {
    /// The handle of a store that is ready; `fallback_cause` is why
    /// [`Mode::Auto`] did not use Docker, if it did not.
    pub(crate) fn new(backend: Backend, kept: Kept, fallback_cause: Option<String>) -> Self {
        Self {
            backend,
            kept,
            stopped: false,
            fallback_cause,
        }
    }

    /// Where it actually runs: `Docker`, `Process` or `InProcess`.
    pub fn mode(&self) -> Mode {
        match self.backend {
            Backend::Docker { .. } => Mode::Docker,
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
            Backend::Docker { store, .. } => store.host_port,
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
        let scheme = if self.kept.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.address())
    }

    /// The name the server's certificate is checked against, with TLS.
    pub fn tls_domain(&self) -> Option<&str> {
        self.kept.tls.as_ref().map(|t| t.domain.as_str())
    }

    /// The credentials the store requires, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.kept
            .credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The container id (Docker only).
    pub fn id(&self) -> Option<&str> {
        match &self.backend {
            Backend::Docker { store, .. } => Some(&store.id),
            _ => None,
        }
    }

    /// A tonic channel endpoint to the store, with the TLS the harness uses
    /// (trust root, client identity, domain) already set.
    pub fn tonic_endpoint(&self) -> Result<tonic::transport::Endpoint, ContainerError> {
        readiness::options(&self.address(), self.kept.tls.as_ref())
            .dialer()
            .map(|dialer| dialer.template.timeout(Duration::from_secs(30)))
            .map_err(|e| ContainerError::Config(e.to_string()))
    }

    /// One health check now: `Ok(())` when SERVING.
    pub async fn check_health(&self) -> Result<(), ContainerError> {
        readiness::check(&self.address(), self.kept.tls.as_ref())
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
        let deadline = Instant::now() + self.kept.startup_timeout;
        let tls = self.kept.tls.as_ref();
        match &mut self.backend {
            Backend::Docker { store, spec } => {
                let docker = docker::connect(store.docker_host.as_deref()).await?;
                docker::restart(&docker, store, spec, deadline).await
            }
            Backend::Process(store) => store.restart(tls, deadline).await,
            Backend::InProcess(store) => store.restart(tls, deadline).await,
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
            Backend::Docker { store, .. } => {
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
            Backend::Docker { store, .. } => {
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

    /// Removes every container of this session ([`session_id`](crate::session_id)), e.g.
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
        if let Backend::Docker { store, .. } = &mut self.backend
            && !store.removed
            && !store.reused
            && !self.kept.reuse
        {
            store.removed = true;
            docker::remove_blocking(store.docker_host.clone(), store.id.clone());
        }
        // Process and in-process stores stop in their own Drop.
    }
}

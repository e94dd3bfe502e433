//! `NativeContainer`: the Rust `EventStoreContainer` behind
//! `eventstore.testing.EventStoreContainer`. The image is built on demand
//! from the static server binary embedded in this extension.

use crate::{
    errors::{Kind, NativeError},
    runtime::{block_on, future_into_py},
};
use eventstore_container::{ContainerError, EventStoreContainer, Mode};
use pyo3::{exceptions::PyValueError, prelude::*};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::sync::Mutex;

fn container_error(e: ContainerError) -> NativeError {
    NativeError::new(Kind::Container, e.to_string())
}

/// A started store (a container, a process or an in-process server).
#[pyclass(module = "eventstore._native")]
#[derive(Debug)]
pub struct NativeContainer {
    inner: Arc<Mutex<Option<EventStoreContainer>>>,
    endpoint: String,
    url: String,
    mode: String,
    id: Option<String>,
    fallback_cause: Option<String>,
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Auto => "auto",
        Mode::Docker => "docker",
        Mode::Process => "process",
        Mode::InProcess => "in-process",
    }
}

/// The builder from the Python arguments.
#[allow(clippy::too_many_arguments)]
fn builder(
    image: Option<(String, String)>,
    env: BTreeMap<String, String>,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
    tls_cert: Option<Vec<u8>>,
    tls_key: Option<Vec<u8>>,
    tls_client_ca: Option<Vec<u8>>,
    mode: Option<&str>,
    reuse: bool,
    startup_timeout: f64,
) -> PyResult<eventstore_container::EventStoreContainerBuilder> {
    // Python reports the fallback as a warning (`DockerUnavailableWarning`).
    let mut b = EventStoreContainer::builder()
        .reuse(reuse)
        .warn_on_fallback(false);
    if let Some((name, tag)) = image {
        b = b.image(name, tag);
    }
    for (k, v) in env {
        b = b.env(k, v);
    }
    match (username, password) {
        (Some(u), Some(p)) => b = b.credentials(u, p),
        (None, None) => {}
        _ => {
            return Err(PyValueError::new_err(
                "credentials: give both username and password",
            ));
        }
    }
    if let Some(token) = token {
        b = b.bearer_token(token);
    }
    match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => b = b.tls(cert, key, tls_client_ca),
        (None, None) if tls_client_ca.is_none() => {}
        _ => {
            return Err(PyValueError::new_err(
                "tls: give both certificate and key (and optionally client_ca)",
            ));
        }
    }
    if let Some(mode) = mode {
        let parsed = Mode::parse(mode).ok_or_else(|| {
            PyValueError::new_err(format!(
                "mode {mode:?}: expected 'auto', 'docker', 'process' or 'in-process'"
            ))
        })?;
        b = b.mode(parsed);
    }
    if !(startup_timeout.is_finite() && startup_timeout > 0.0) {
        return Err(PyValueError::new_err(format!(
            "startup_timeout must be a positive number of seconds, got {startup_timeout}"
        )));
    }
    Ok(b.startup_timeout(Duration::from_secs_f64(startup_timeout)))
}

impl NativeContainer {
    fn wrap(container: EventStoreContainer) -> Self {
        Self {
            endpoint: container.address(),
            url: container.url(),
            mode: mode_name(container.mode()).to_owned(),
            id: container.id().map(str::to_owned),
            fallback_cause: container.fallback_cause().map(str::to_owned),
            inner: Arc::new(Mutex::new(Some(container))),
        }
    }
}

#[pymethods]
impl NativeContainer {
    /// Starts a store; resolves to a `NativeContainer` once it is ready.
    #[staticmethod]
    #[pyo3(signature = (*, image=None, env=BTreeMap::new(), username=None, password=None, token=None, tls_cert=None, tls_key=None, tls_client_ca=None, mode=None, reuse=false, startup_timeout=60.0, blocking=false))]
    #[allow(clippy::too_many_arguments)]
    fn start<'py>(
        py: Python<'py>,
        image: Option<(String, String)>,
        env: BTreeMap<String, String>,
        username: Option<String>,
        password: Option<String>,
        token: Option<String>,
        tls_cert: Option<Vec<u8>>,
        tls_key: Option<Vec<u8>>,
        tls_client_ca: Option<Vec<u8>>,
        mode: Option<&str>,
        reuse: bool,
        startup_timeout: f64,
        blocking: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let b = builder(
            image,
            env,
            username,
            password,
            token,
            tls_cert,
            tls_key,
            tls_client_ca,
            mode,
            reuse,
            startup_timeout,
        )?;
        let start = async move {
            b.start()
                .await
                .map(NativeContainer::wrap)
                .map_err(container_error)
        };
        if blocking {
            let container = block_on(py, start)?;
            return Ok(Bound::new(py, container)?.into_any());
        }
        future_into_py(py, start)
    }

    /// `127.0.0.1:<port>`.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `http://...` or `https://...`.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// `docker`, `process` or `in-process`.
    #[getter]
    fn mode(&self) -> &str {
        &self.mode
    }

    /// The Docker container id, if it is one.
    #[getter]
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Why the `auto` mode runs in process (what the Docker engine
    /// answered); `None` without a fallback.
    #[getter]
    fn fallback_cause(&self) -> Option<&str> {
        self.fallback_cause.as_deref()
    }

    /// Removes the containers of this project whose process is gone;
    /// returns their ids. Blocking.
    #[staticmethod]
    fn sweep_leftovers(py: Python<'_>) -> PyResult<Vec<String>> {
        block_on(py, async {
            EventStoreContainer::sweep_leftovers()
                .await
                .map_err(container_error)
        })
    }

    /// Restarts the store, keeping its data.
    fn restart<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let mut guard = inner.lock().await;
            let container = guard
                .as_mut()
                .ok_or_else(|| NativeError::new(Kind::Container, "the store is stopped"))?;
            container.restart().await.map_err(container_error)
        })
    }

    /// The store's logs so far.
    fn logs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let guard = inner.lock().await;
            match guard.as_ref() {
                Some(c) => c.logs().await.map_err(container_error),
                None => Ok(String::new()),
            }
        })
    }

    /// Stops and removes the store. Idempotent.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        future_into_py(py, async move { stop(&inner).await })
    }

    /// Stops and removes the store, blocking (for interpreter exit and
    /// sync fixtures). Idempotent.
    fn stop_blocking(&self, py: Python<'_>) -> PyResult<()> {
        let inner = self.inner.clone();
        block_on(py, async move { stop(&inner).await })
    }

    #[getter]
    fn stopped(&self) -> bool {
        self.inner.try_lock().map(|g| g.is_none()).unwrap_or(false)
    }
}

async fn stop(inner: &Mutex<Option<EventStoreContainer>>) -> Result<(), NativeError> {
    let container = inner.lock().await.take();
    match container {
        Some(mut c) => c.stop().await.map_err(container_error),
        None => Ok(()),
    }
}

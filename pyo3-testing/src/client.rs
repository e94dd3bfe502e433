//! `NativeClient`: the gRPC client behind `eventstore.EventStoreClient`.
//!
//! All I/O is here, on the shared runtime: a small pool of HTTP/2
//! connections (round-robin), basic auth, TLS and mutual TLS, connect and
//! request timeouts. Python only builds requests and reads results.

use crate::{
    connections::Connections,
    convert::{RawEvent, event_from_dict},
    errors::NativeResult,
    mock::NativeMock,
    runtime::{future_into_py, handle},
    subscription::NativeSubscription,
};
use eventstore_engine::auth;
use eventstore_proto::{
    AppendRequest, GetServerInfoRequest, ReadAllRequest, ReadStreamRequest, SubscribeRequest,
};
use pyo3::{exceptions::PyValueError, prelude::*, types::PyDict};
use std::{sync::Arc, time::Duration};
use tonic::{
    metadata::MetadataValue,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};

fn seconds(name: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 => Ok(Some(Duration::from_secs_f64(v))),
        Some(v) => Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, got {v}"
        ))),
    }
}

/// The native client.
#[pyclass(module = "eventstore._native")]
#[derive(Debug)]
pub struct NativeClient {
    inner: Arc<Connections>,
}

#[pymethods]
impl NativeClient {
    #[new]
    #[pyo3(signature = (
        endpoint, *, username=None, password=None, token=None, ca_certificate=None, client_certificate=None,
        client_key=None, tls=false, tls_domain=None, connection_timeout=None, request_timeout=None,
        max_connections=1, mock=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        endpoint: &str,
        username: Option<String>,
        password: Option<String>,
        token: Option<String>,
        ca_certificate: Option<Vec<u8>>,
        client_certificate: Option<Vec<u8>>,
        client_key: Option<Vec<u8>>,
        tls: bool,
        tls_domain: Option<String>,
        connection_timeout: Option<f64>,
        request_timeout: Option<f64>,
        max_connections: usize,
        mock: Option<PyRef<'_, NativeMock>>,
    ) -> PyResult<Self> {
        let connection_timeout = seconds("connection_timeout", connection_timeout)?;
        let request_timeout = seconds("request_timeout", request_timeout)?;
        if max_connections == 0 {
            return Err(PyValueError::new_err(
                "max_connections must be at least 1, got 0",
            ));
        }
        let header = match (username, password, token) {
            (None, None, None) => None,
            (Some(user), Some(pass), None) => Some(auth::basic_header(&user, &pass)),
            (None, None, Some(token)) => Some(
                auth::bearer_header(&token)
                    .map_err(|e| PyValueError::new_err(format!("token: {e}")))?,
            ),
            (_, _, Some(_)) => {
                return Err(PyValueError::new_err(
                    "credentials: give a username and password or a token, not both",
                ));
            }
            _ => {
                return Err(PyValueError::new_err(
                    "credentials: give both username and password",
                ));
            }
        };
        let auth = header
            .map(|value| {
                MetadataValue::try_from(value).map_err(|_| {
                    PyValueError::new_err(
                        "credentials: username and password must be printable ASCII",
                    )
                })
            })
            .transpose()?;
        let mut target = "the in-process MockEventStore".to_owned();
        let mock_stopped = mock.as_ref().map(|mock| mock.stopped());
        let channels = if let Some(mock) = mock {
            vec![mock.channel()?]
        } else {
            let runtime = handle()?;
            let _entered = runtime.enter();
            let use_tls = tls || ca_certificate.is_some() || client_certificate.is_some();
            let url = normalize_endpoint(endpoint, use_tls)?;
            target.clone_from(&url);
            let mut template = Endpoint::from_shared(url.clone())
                .map_err(|e| {
                    PyValueError::new_err(format!(
                        "endpoint {endpoint:?} is not a valid address: {e}"
                    ))
                })?
                // Not http2_adaptive_window: it starts the connection window
                // at 64 KiB, and h2 then tolerates only ~130 small unread DATA
                // frames (its budget is half the window) before it sends
                // GOAWAY ENHANCE_YOUR_CALM and fails every call in flight.
                // hyper's fixed 5 MiB / 2 MiB windows leave room for thousands.
                .tcp_nodelay(true);
            if let Some(t) = connection_timeout {
                template = template.connect_timeout(t);
            }
            if use_tls {
                let mut config = ClientTlsConfig::new().with_webpki_roots();
                if let Some(ca) = ca_certificate {
                    config = config.ca_certificate(Certificate::from_pem(ca));
                }
                match (client_certificate, client_key) {
                    (Some(cert), Some(key)) => {
                        config = config.identity(Identity::from_pem(cert, key))
                    }
                    (None, None) => {}
                    _ => {
                        return Err(PyValueError::new_err(
                            "tls: give both client_certificate and client_key for mutual TLS",
                        ));
                    }
                }
                if let Some(domain) = tls_domain {
                    config = config.domain_name(domain);
                }
                template = template.tls_config(config).map_err(|e| {
                    PyValueError::new_err(format!("tls: {}", crate::errors::error_chain(&e)))
                })?;
            }
            (0..max_connections)
                .map(|_| template.clone().connect_lazy())
                .collect()
        };
        Ok(Self {
            inner: Arc::new(Connections::new(
                channels,
                auth,
                request_timeout,
                target,
                mock_stopped,
            )),
        })
    }

    /// Appends; resolves to `(last_global_nonce, last_aggregate_nonce)`.
    #[allow(clippy::too_many_arguments)]
    fn append<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        aggregate_id: String,
        aggregate_type: String,
        expected_aggregate_nonce: u64,
        idempotency_key: String,
        events: Vec<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let events = events
            .iter()
            .enumerate()
            .map(|(i, e)| event_from_dict(e, &format!("events[{i}]")))
            .collect::<NativeResult<Vec<_>>>()?;
        let request = AppendRequest {
            tenant_id,
            aggregate_id,
            aggregate_type,
            expected_aggregate_nonce,
            idempotency_key,
            events,
        };
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let mut client = inner.client();
            let response = inner
                .call(
                    client.append(inner.request(request, true)),
                    Some(expected_aggregate_nonce),
                )
                .await?;
            Ok((response.last_global_nonce, response.last_aggregate_nonce))
        })
    }

    /// Reads a page; resolves to `(events, is_end, next_from_aggregate_nonce)`.
    fn read_stream<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        aggregate_id: String,
        from_aggregate_nonce: u64,
        max_count: u32,
        forward: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = ReadStreamRequest {
            tenant_id,
            aggregate_id,
            from_aggregate_nonce,
            max_count,
            forward,
        };
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let mut client = inner.client();
            let page = inner
                .call(client.read_stream(inner.request(request, true)), None)
                .await?;
            let events: Vec<RawEvent> = page.events.into_iter().map(RawEvent::new).collect();
            Ok((events, page.is_end, page.next_from_aggregate_nonce))
        })
    }

    /// Reads a page of the tenant's global log; resolves to
    /// `(events, is_end, next_from_global_nonce)`.
    fn read_all<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        from_global_nonce: u64,
        max_count: u32,
        forward: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = ReadAllRequest {
            tenant_id,
            from_global_nonce,
            max_count,
            forward,
        };
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let mut client = inner.client();
            let page = inner
                .call(client.read_all(inner.request(request, true)), None)
                .await?;
            let events: Vec<RawEvent> = page.events.into_iter().map(RawEvent::new).collect();
            Ok((events, page.is_end, page.next_from_global_nonce))
        })
    }

    /// Asks the server what it is; resolves to `(server_version,
    /// api_version, backend, capabilities)`, or to `None` when the server
    /// answers `UNIMPLEMENTED` (it predates `GetServerInfo`: a legacy
    /// server). Decided here, on the status code itself, so a legacy server
    /// is never confused with another failure.
    fn server_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let mut client = inner.client();
            let request = inner.request(GetServerInfoRequest {}, true);
            let call = async move {
                match client.get_server_info(request).await {
                    Ok(response) => Ok(response.map(Some)),
                    Err(status) if status.code() == tonic::Code::Unimplemented => {
                        Ok(tonic::Response::new(None))
                    }
                    Err(status) => Err(status),
                }
            };
            let info = inner.call(call, None).await?;
            Ok(info.map(|i| (i.server_version, i.api_version, i.backend, i.capabilities)))
        })
    }

    /// Opens a subscription (see `NativeSubscription`).
    #[pyo3(signature = (tenant_id, aggregate_id_prefix, from_global_nonce, max_reconnect_attempts=10, buffer=4096))]
    fn subscribe(
        &self,
        tenant_id: String,
        aggregate_id_prefix: String,
        from_global_nonce: u64,
        max_reconnect_attempts: u32,
        buffer: usize,
    ) -> PyResult<NativeSubscription> {
        NativeSubscription::start(
            self.inner.clone(),
            SubscribeRequest {
                tenant_id,
                aggregate_id_prefix,
                from_global_nonce,
            },
            max_reconnect_attempts,
            buffer.max(1),
        )
    }

    /// Closes the client: calls in flight and open subscriptions end.
    fn close(&self) {
        self.inner.closed.cancel();
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }
}

/// `localhost:50051` -> `http://localhost:50051` (`https` with TLS).
fn normalize_endpoint(endpoint: &str, tls: bool) -> PyResult<String> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err(PyValueError::new_err(
            "endpoint must not be empty (e.g. \"localhost:50051\")",
        ));
    }
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        return Ok(endpoint.to_owned());
    }
    if endpoint.contains("://") {
        return Err(PyValueError::new_err(format!(
            "endpoint {endpoint:?}: only http:// and https:// are supported"
        )));
    }
    // Without a scheme the port is not optional: "localhost" would mean
    // port 80, where no event store listens.
    let has_port = endpoint
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !has_port {
        return Err(PyValueError::new_err(format!(
            "endpoint {endpoint:?} has no port: write host:port, e.g. \"{host}:50051\" \
             (50051 is the event store's usual port)",
            host = endpoint.trim_end_matches(':')
        )));
    }
    Ok(format!(
        "{}://{endpoint}",
        if tls { "https" } else { "http" }
    ))
}

//! `NativeConnectOptions`: the connection options as Python gives them,
//! one signature for every Python user of a store (`EventStoreClient`, the
//! conformance kit's `check` and `ConformanceSession`), mapped one to one
//! onto the connector's [`ConnectOptions`] (`eventstore_client`), whose
//! checks and messages (in the Python keywords' words) apply to them all.
//! Python builds them in `eventstore/_connect.py`.

use eventstore_client::{
    ConnectOptions, Pem, Spelling,
    connect::{CONNECT_TIMEOUT, REQUEST_TIMEOUT},
};
use pyo3::{exceptions::PyValueError, prelude::*, types::PyBytes};
use std::{path::PathBuf, time::Duration};

/// The tools' connect timeout in seconds (the keyword's default).
const CONNECT_SECONDS: f64 = CONNECT_TIMEOUT.as_secs_f64();
/// The tools' request timeout in seconds (the keyword's default).
const REQUEST_SECONDS: f64 = REQUEST_TIMEOUT.as_secs_f64();

/// gRPC's longest deadline (99,999,999 hours) in seconds: the most a
/// `grpc-timeout` header can say ([`eventstore_client::MAX_TIMEOUT`]).
const MAX_TIMEOUT_SECS: f64 = eventstore_client::MAX_TIMEOUT.as_secs_f64();

/// `value` seconds as a duration: positive and at most gRPC's longest
/// deadline, or `None` for no limit. Python's `_checks.check_timeout` has
/// the same rule and messages (the SDK checks first; this holds for every
/// other caller of the core).
fn seconds(name: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(v) if v > MAX_TIMEOUT_SECS => Err(PyValueError::new_err(format!(
            "{name} must be at most {MAX_TIMEOUT_SECS} seconds (99,999,999 hours, gRPC's longest deadline), \
             got {v} (None means no limit)"
        ))),
        Some(v) if v > 0.0 => Ok(Some(Duration::from_secs_f64(v))),
        Some(v) => Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, got {v} \
             (None means no limit; 0 is refused, it would fail every call)"
        ))),
    }
}

/// A PEM from Python: `bytes` are the PEM itself, a path (`str` or
/// `os.PathLike`) names a file the connector reads.
fn pem(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Pem>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Some(Pem::Bytes(bytes.as_bytes().to_vec())));
    }
    Ok(Some(Pem::File(value.extract::<PathBuf>()?)))
}

/// Where a store is and how to talk to it (see the module docs).
#[pyclass(frozen, module = "eventstore._native")]
#[derive(Debug, Clone)]
pub struct NativeConnectOptions {
    pub(crate) options: ConnectOptions,
}

#[pymethods]
impl NativeConnectOptions {
    /// The options; only the timeouts are checked here, every other option
    /// where it is used (the connector's checks, before any I/O).
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (
        endpoint, *, username=None, password=None, token=None, tls=false, ca_certificate=None,
        client_certificate=None, client_key=None, server_name=None,
        connection_timeout=Some(CONNECT_SECONDS), request_timeout=Some(REQUEST_SECONDS)
    ))]
    fn new(
        endpoint: String,
        username: Option<String>,
        password: Option<String>,
        token: Option<String>,
        tls: bool,
        ca_certificate: Option<&Bound<'_, PyAny>>,
        client_certificate: Option<&Bound<'_, PyAny>>,
        client_key: Option<&Bound<'_, PyAny>>,
        server_name: Option<String>,
        connection_timeout: Option<f64>,
        request_timeout: Option<f64>,
    ) -> PyResult<Self> {
        Ok(Self {
            options: ConnectOptions {
                endpoint,
                tls,
                tls_ca: pem(ca_certificate)?,
                tls_cert: pem(client_certificate)?,
                tls_key: pem(client_key)?,
                tls_domain: server_name,
                username,
                password,
                token,
                connect_timeout: seconds("connection_timeout", connection_timeout)?,
                request_timeout: seconds("request_timeout", request_timeout)?,
                spelling: Spelling::Python,
            },
        })
    }

    /// The endpoint as given.
    #[getter]
    fn endpoint(&self) -> String {
        self.options.endpoint.clone()
    }
}

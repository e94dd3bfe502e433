//! Errors as they cross into Python.
//!
//! Futures on the runtime produce a `NativeError` (plain Rust data); it
//! becomes a Python exception only once attached to the interpreter, as an
//! instance of a class defined in `eventstore/_errors.py`, so users catch
//! Python classes and the server's message is kept word for word.

pub(crate) use eventstore_client::wire::code_name;
use eventstore_engine::status::{concurrency_detail, undecodable_global_nonce};
use eventstore_proto::ConcurrencyErrorDetail;
use pyo3::{exceptions::PyRuntimeError, prelude::*, types::PyDict};
use tonic::{Code, Status};

/// Which Python exception class, when Rust knows better than the status
/// code. Otherwise ([`Kind::Status`]) the class is the one
/// `eventstore/_errors.py` names for the code: that table is the only
/// code <-> class mapping, used both ways (raising, and `fail_with=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The class `_errors.py` gives the status code.
    Status,
    /// The connection failed or was lost (also a status whose cause is a
    /// transport error, whatever its code).
    Connection,
    /// The client's own deadline passed.
    Timeout,
    /// The request could not be built on this side.
    Validation,
    /// An `EventStoreContainer` failure.
    Container,
}

impl Kind {
    /// The class's name in `eventstore._errors`; `None`: decided by the code.
    fn class_name(self) -> Option<&'static str> {
        match self {
            Kind::Status => None,
            Kind::Connection => Some("ConnectionError"),
            Kind::Timeout => Some("TimeoutError"),
            Kind::Validation => Some("ValidationError"),
            Kind::Container => Some("ContainerError"),
        }
    }
}

/// An error on its way to Python.
#[derive(Debug, Clone)]
pub(crate) struct NativeError {
    pub(crate) kind: Kind,
    pub(crate) message: String,
    /// The gRPC status code's name, when the error came from the server.
    pub(crate) code: Option<&'static str>,
    pub(crate) detail: Option<Box<ConcurrencyErrorDetail>>,
    /// The nonce the client expected (for `ConcurrencyError`).
    pub(crate) expected: Option<u64>,
    /// The global nonce a `DATA_LOSS` names in its
    /// `esp-undecodable-global-nonce` trailer (for `UndecodableEventError`).
    pub(crate) undecodable: Option<u64>,
}

pub(crate) type NativeResult<T> = Result<T, NativeError>;

impl NativeError {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            code: None,
            detail: None,
            expected: None,
            undecodable: None,
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(Kind::Validation, message)
    }

    pub(crate) fn connection(message: impl Into<String>) -> Self {
        Self::new(Kind::Connection, message)
    }

    /// The connector's refusal: a `ValidationError` for wrong options
    /// (nothing was tried), a `ConnectionError` for a store that could not
    /// be reached or refused.
    pub(crate) fn connect(error: eventstore_client::ConnectError) -> Self {
        if error.is_usage() {
            Self::validation(error.to_string())
        } else {
            Self::connection(error.to_string())
        }
    }

    /// A call to a closed in-process mock (`endpoint`): one cause whichever
    /// way the stopping mock ended the call.
    pub(crate) fn mock_stopped(endpoint: &str) -> Self {
        Self {
            code: Some(code_name(Code::Unavailable)),
            ..Self::connection(format!(
                "cannot reach the event store at {endpoint}: the mock has stopped; it was closed \
                 (its close(), or the end of its fixture or `with` block)"
            ))
        }
    }

    /// Maps a gRPC status; `expected` is the nonce an append expected.
    pub(crate) fn from_status(status: &Status, expected: Option<u64>) -> Self {
        // The client's own deadline (`request_timeout`, sent as grpc-timeout)
        // surfaces from tonic as CANCELLED "Timeout expired": it is a timeout.
        if is_client_deadline(status) {
            return Self {
                code: Some(code_name(Code::DeadlineExceeded)),
                ..Self::new(
                    Kind::Timeout,
                    "request timed out: no answer within the client's request_timeout",
                )
            };
        }
        let transport = is_transport(status);
        let kind = match status.code() {
            // tonic reports a broken connection under these codes.
            Code::Unknown | Code::Cancelled | Code::Internal if transport => Kind::Connection,
            _ => Kind::Status,
        };
        let message = if status.message().is_empty() {
            format!("{:?}", status.code())
        } else if transport && (kind == Kind::Connection || status.code() == Code::Unavailable) {
            transport_message(status)
        } else {
            status.message().to_owned()
        };
        Self {
            kind,
            message,
            code: Some(code_name(status.code())),
            detail: concurrency_detail(status).map(Box::new),
            expected,
            undecodable: undecodable_global_nonce(status),
        }
    }

    /// The error of a call to `endpoint`: a failure to reach it (not a
    /// status the store sent) names the endpoint and what to do, once.
    pub(crate) fn at(mut self, endpoint: &str, status: &Status) -> Self {
        if self.kind == Kind::Connection
            || (status.code() == Code::Unavailable && is_transport(status))
        {
            self.message = connection_failure(endpoint, status);
        }
        self
    }

    /// The Python exception.
    pub(crate) fn into_py(self, py: Python<'_>) -> PyErr {
        self.build(py).unwrap_or_else(|e| e)
    }

    fn build(self, py: Python<'_>) -> PyResult<PyErr> {
        // `_errors.from_native` picks the class (by name, or by the code),
        // passes the conflict detail only to `ConcurrencyError` and the
        // undecodable position only to `UndecodableEventError`.
        let conflict = PyDict::new(py);
        let d = self.detail.map(|d| *d).unwrap_or_default();
        conflict.set_item("tenant_id", d.tenant_id)?;
        conflict.set_item("aggregate_id", d.aggregate_id)?;
        conflict.set_item("expected_aggregate_nonce", self.expected)?;
        conflict.set_item("actual_last_aggregate_nonce", d.actual_last_aggregate_nonce)?;
        conflict.set_item("actual_last_global_nonce", d.actual_last_global_nonce)?;
        let instance = py
            .import("eventstore._errors")?
            .getattr("from_native")?
            .call1((
                self.kind.class_name(),
                self.message,
                self.code,
                conflict,
                self.undecodable,
            ))?;
        Ok(PyErr::from_value(instance))
    }

    /// Whether a subscription should reconnect after this error: the
    /// connection went away, or the server was too slow this time.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self.kind, Kind::Connection | Kind::Timeout)
            || (self.kind == Kind::Status
                && matches!(
                    self.code,
                    Some(c) if c == code_name(Code::Unavailable) || c == code_name(Code::DeadlineExceeded)
                ))
    }
}

impl From<NativeError> for PyErr {
    fn from(e: NativeError) -> Self {
        Python::try_attach(|py| e.clone().into_py(py))
            .unwrap_or_else(|| PyRuntimeError::new_err(e.message))
    }
}

/// The client's own deadline (tonic's `CANCELLED "Timeout expired"`): the
/// connector's rule, one for every client.
pub(crate) use eventstore_client::connect::is_client_deadline;

fn is_transport(status: &Status) -> bool {
    let text = format!(
        "{} {:?}",
        status.message(),
        std::error::Error::source(status)
    );
    [
        "transport",
        "connection",
        "broken pipe",
        "connect",
        "h2 protocol",
        "reset",
    ]
    .iter()
    .any(|needle| text.to_ascii_lowercase().contains(needle))
}

fn transport_message(status: &Status) -> String {
    eventstore_client::join_causes(status.message(), std::error::Error::source(status))
}

/// A failure to reach the store, said once: which endpoint, the innermost
/// cause (tonic and hyper wrap it three or four times: "tcp connect error:
/// transport error: tcp connect error: ..."), and what to do about it.
pub(crate) fn connection_failure(endpoint: &str, status: &Status) -> String {
    let chain = transport_message(status);
    let lower = chain.to_ascii_lowercase();
    let innermost = innermost_cause(status);
    let (what, hint) = if lower.contains("connection refused") {
        (
            "connection refused".to_owned(),
            "nothing listens there: start the event store, or check the endpoint's host and port",
        )
    } else if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
        (
            "the TLS handshake failed: the server answered in plaintext".to_owned(),
            "the store does not serve TLS there: connect without TLS (an http:// endpoint, no tls=, \
             ca_certificate= or client_certificate=)",
        )
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        (
            format!("cannot resolve the host name ({innermost})"),
            "check the endpoint's host name",
        )
    } else if lower.contains("certificate") || lower.contains("tls handshake") {
        (
            format!("the TLS handshake failed ({innermost})"),
            "check tls.ca_certificate, tls.server_name and the server's certificate",
        )
    } else if lower.contains("timed out") {
        (
            "no connection within connection_timeout".to_owned(),
            "check that the store runs there and that the network lets the connection through",
        )
    } else {
        (
            innermost,
            "check that the store runs there; if it serves TLS, connect with TLS (an https:// \
             endpoint or tls=True), and without it if it does not",
        )
    };
    format!("cannot reach the event store at {endpoint}: {what}; {hint}")
}

/// The last source of `status` (the OS or TLS error itself), or its message.
fn innermost_cause(status: &Status) -> String {
    let mut cause = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    cause
}

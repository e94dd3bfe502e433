//! Errors as they cross into Python.
//!
//! Futures on the runtime produce a [`NativeError`] (plain Rust data); it
//! becomes a Python exception only once attached to the interpreter, as an
//! instance of a class defined in `eventstore/_errors.py`, so users catch
//! Python classes and the server's message is kept word for word.

use eventstore_engine::status::concurrency_detail;
use eventstore_proto::ConcurrencyErrorDetail;
use pyo3::{exceptions::PyRuntimeError, prelude::*, types::PyDict};
use tonic::{Code, Status};

/// Which Python exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Connection,
    Timeout,
    Validation,
    Authentication,
    Authorization,
    Concurrency,
    Duplicate,
    Container,
    Other,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::Connection => "ConnectionError",
            Kind::Timeout => "TimeoutError",
            Kind::Validation => "ValidationError",
            Kind::Authentication => "AuthenticationError",
            Kind::Authorization => "AuthorizationError",
            Kind::Concurrency => "ConcurrencyError",
            Kind::Duplicate => "DuplicateEventError",
            Kind::Container => "ContainerError",
            Kind::Other => "EventStoreError",
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
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(Kind::Validation, message)
    }

    pub(crate) fn connection(message: impl Into<String>) -> Self {
        Self::new(Kind::Connection, message)
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
        let kind = match status.code() {
            Code::Aborted => Kind::Concurrency,
            Code::AlreadyExists => Kind::Duplicate,
            Code::InvalidArgument | Code::ResourceExhausted | Code::OutOfRange => Kind::Validation,
            Code::Unauthenticated => Kind::Authentication,
            Code::PermissionDenied => Kind::Authorization,
            Code::DeadlineExceeded => Kind::Timeout,
            Code::Unavailable => Kind::Connection,
            Code::Unknown | Code::Cancelled | Code::Internal if is_transport(status) => {
                Kind::Connection
            }
            _ => Kind::Other,
        };
        let message = if status.message().is_empty() {
            format!("{:?}", status.code())
        } else if kind == Kind::Connection && is_transport(status) {
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
        }
    }

    /// The Python exception.
    pub(crate) fn into_py(self, py: Python<'_>) -> PyErr {
        self.build(py).unwrap_or_else(|e| e)
    }

    fn build(self, py: Python<'_>) -> PyResult<PyErr> {
        let class = py
            .import("eventstore._errors")?
            .getattr(self.kind.class_name())?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("code", self.code)?;
        if self.kind == Kind::Concurrency {
            let d = self.detail.map(|d| *d).unwrap_or_default();
            kwargs.set_item("tenant_id", d.tenant_id)?;
            kwargs.set_item("aggregate_id", d.aggregate_id)?;
            kwargs.set_item("expected_aggregate_nonce", self.expected)?;
            kwargs.set_item("actual_last_aggregate_nonce", d.actual_last_aggregate_nonce)?;
            kwargs.set_item("actual_last_global_nonce", d.actual_last_global_nonce)?;
        }
        let instance = class.call((self.message,), Some(&kwargs))?;
        Ok(PyErr::from_value(instance))
    }
}

impl From<NativeError> for PyErr {
    fn from(e: NativeError) -> Self {
        Python::try_attach(|py| e.clone().into_py(py))
            .unwrap_or_else(|| PyRuntimeError::new_err(e.message))
    }
}

/// Whether tonic ended the call because the client's own deadline passed.
pub(crate) fn is_client_deadline(status: &Status) -> bool {
    if status.code() != Code::Cancelled {
        return false;
    }
    // tonic's `TimeoutExpired`, as a source or (when the source was lost on
    // the way) as the message it leaves.
    if status.message() == tonic::TimeoutExpired(()).to_string() {
        return true;
    }
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        if s.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

/// An error and its sources, `a: b: c` (one definition, in the engine).
pub(crate) use eventstore_engine::assembly::error_chain;

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
    let mut message = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The canonical name of a gRPC code (`UNAVAILABLE`).
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

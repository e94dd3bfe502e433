//! `NativeMock`: the Rust `MockEventStore`, in this process, for
//! `eventstore.testing.MockEventStore`. Expectations arrive as JSON (the
//! mock's own JSON expectation format), the journal leaves as JSON.

use crate::{
    convert::{RawEvent, event_from_dict},
    errors::{NativeError, NativeResult, code_name},
    runtime::block_on,
};
use eventstore_engine::Limits;
use eventstore_mock::{CallRecord, CallRequest, MockEventStore, Outcome, StreamEnd, view};
use parking_lot::Mutex;
use pyo3::{
    exceptions::{PyRuntimeError, PyValueError},
    prelude::*,
    types::PyDict,
};
use serde_json::{Value, json};
use std::time::UNIX_EPOCH;
use tonic::transport::Channel;

/// A running mock.
#[pyclass(module = "eventstore._native")]
#[derive(Debug)]
pub struct NativeMock {
    mock: Mutex<Option<MockEventStore>>,
    endpoint: String,
}

impl NativeMock {
    fn with<T>(&self, f: impl FnOnce(&MockEventStore) -> T) -> PyResult<T> {
        self.mock
            .lock()
            .as_ref()
            .map(f)
            .ok_or_else(|| PyRuntimeError::new_err("this MockEventStore is closed"))
    }

    pub(crate) fn channel(&self) -> PyResult<Channel> {
        self.with(MockEventStore::channel)
    }
}

fn call_json(c: &CallRecord) -> Value {
    let (status, message, response) = match &c.outcome {
        Some(Outcome::Appended(r)) => ("OK", String::new(), view::append_response_json(r)),
        Some(Outcome::Read(r)) => ("OK", String::new(), view::read_response_json(r)),
        Some(Outcome::ReadAll(r)) => ("OK", String::new(), view::read_all_response_json(r)),
        Some(Outcome::ServerInfo(r)) => ("OK", String::new(), view::server_info_response_json(r)),
        Some(Outcome::Streaming) => match &c.stream_end {
            Some(StreamEnd::Status { code, message }) => {
                (code_name(*code), message.clone(), Value::Null)
            }
            Some(StreamEnd::Dropped) => (
                "UNAVAILABLE",
                "connection dropped by the mock".to_owned(),
                Value::Null,
            ),
            _ => ("OK", String::new(), Value::Null),
        },
        Some(Outcome::Status { code, message }) => (code_name(*code), message.clone(), Value::Null),
        Some(Outcome::Dropped) => (
            "UNAVAILABLE",
            "connection dropped by the mock".to_owned(),
            Value::Null,
        ),
        None => ("", String::new(), Value::Null),
    };
    json!({
        "seq": c.seq,
        "rpc": c.rpc().as_str(),
        "request": c.request_json,
        "metadata": c.metadata,
        "status": status,
        "message": message,
        "response": response,
        "received_unix_micros": c.received_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64),
        "latency_micros": c.latency.map(|d| d.as_micros() as u64),
        "stream_end": c.stream_end.as_ref().map(|end| {
            let (reason, status, message) = match end {
                StreamEnd::Cancelled => ("cancelled", "CANCELLED", end.to_string()),
                StreamEnd::Status { code, message } => ("status", code_name(*code), message.clone()),
                StreamEnd::Completed => ("completed", "OK", String::new()),
                StreamEnd::Dropped => ("dropped", "UNAVAILABLE", end.to_string()),
            };
            json!({"reason": reason, "status": status, "message": message})
        }),
        "matched": c.matched.iter().map(|id| id.0).collect::<Vec<_>>(),
        "completed": c.is_complete(),
    })
}

/// A payload as the journal and the matchers show it (JSON text): the
/// payload's JSON when it parses as JSON, else `{"$base64": ...}`. Python
/// asks here instead of repeating the rule.
#[pyfunction]
pub fn payload_view(payload: &[u8]) -> String {
    view::payload_json(payload).to_string()
}

#[pymethods]
impl NativeMock {
    #[new]
    #[pyo3(signature = (*, strict=false, listen=None, max_events_per_batch=None, max_page_size=None, default_page_size=None))]
    fn new(
        py: Python<'_>,
        strict: bool,
        listen: Option<&str>,
        max_events_per_batch: Option<usize>,
        max_page_size: Option<u32>,
        default_page_size: Option<u32>,
    ) -> PyResult<Self> {
        let defaults = Limits::default();
        let limits = Limits {
            max_events_per_batch: max_events_per_batch.unwrap_or(defaults.max_events_per_batch),
            max_page_size: max_page_size.unwrap_or(defaults.max_page_size),
            default_page_size: default_page_size.unwrap_or(defaults.default_page_size),
            ..defaults
        };
        limits.validate().map_err(PyValueError::new_err)?;
        let listen: std::net::SocketAddr =
            listen.unwrap_or("127.0.0.1:0").parse().map_err(|e| {
                PyValueError::new_err(format!("listen: {listen:?} is not an ip:port address: {e}"))
            })?;
        let mock = block_on(py, async move {
            MockEventStore::builder()
                .listen(listen)
                .strict(strict)
                .limits(limits)
                // Python verifies explicitly (verify(), the pytest fixture).
                .verify_on_drop(false)
                .try_start()
                .await
                .map_err(|e| NativeError::connection(e.to_string()))
        })?;
        Ok(Self {
            endpoint: mock.address().to_string(),
            mock: Mutex::new(Some(mock)),
        })
    }

    /// `127.0.0.1:<port>`.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Mounts a JSON expectation; returns its id.
    fn mount(&self, spec: &str) -> PyResult<u64> {
        self.with(|m| m.mount_json(spec))?
            .map(|id| id.0)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The journal: each call as its JSON, the append's events and the
    /// events delivered (native events, so Python shows every event as a
    /// `RecordedEvent`).
    fn journal(&self) -> PyResult<Vec<(String, Vec<RawEvent>, Vec<RawEvent>)>> {
        let calls = self.with(MockEventStore::received_calls)?;
        Ok(calls
            .into_iter()
            .map(|c| {
                let json = call_json(&c).to_string();
                let events = match c.request {
                    CallRequest::Append(r) => r.events.into_iter().map(RawEvent::new).collect(),
                    _ => Vec::new(),
                };
                let delivered = c.delivered.into_iter().map(RawEvent::new).collect();
                (json, events, delivered)
            })
            .collect())
    }

    /// `None` when every expectation is met, else the report.
    fn verify(&self) -> PyResult<Option<String>> {
        self.with(|m| m.verify().err().map(|e| e.report))
    }

    #[pyo3(signature = (*, journal=true, expectations=true, data=true))]
    fn reset(&self, journal: bool, expectations: bool, data: bool) -> PyResult<()> {
        self.with(|m| {
            if journal {
                m.reset_journal();
            }
            if expectations {
                m.reset_expectations();
            }
            if data {
                m.reset_data();
            }
        })
    }

    fn set_strict(&self, strict: bool) -> PyResult<()> {
        self.with(|m| m.set_strict(strict))
    }

    /// Preloads a stream; returns `(last_global_nonce, last_aggregate_nonce)`.
    fn seed(
        &self,
        py: Python<'_>,
        tenant_id: String,
        aggregate_id: String,
        aggregate_type: String,
        events: Vec<Bound<'_, PyDict>>,
    ) -> PyResult<(u64, u64)> {
        let events = events
            .iter()
            .enumerate()
            .map(|(i, e)| event_from_dict(e, &format!("events[{i}]")))
            .collect::<NativeResult<Vec<_>>>()?;
        let engine = self.with(MockEventStore::engine)?;
        block_on(py, async move {
            let response = eventstore_mock::seed_stream(
                &engine,
                &tenant_id,
                &aggregate_id,
                &aggregate_type,
                events,
            )
            .await
            .map_err(|s| NativeError::from_status(&s, None))?;
            Ok((response.last_global_nonce, response.last_aggregate_nonce))
        })
    }

    /// Every event of a stream, straight from the engine.
    fn read_all(
        &self,
        py: Python<'_>,
        tenant_id: String,
        aggregate_id: String,
    ) -> PyResult<Vec<RawEvent>> {
        let engine = self.with(MockEventStore::engine)?;
        block_on(py, async move {
            let events = eventstore_mock::read_all(&engine, &tenant_id, &aggregate_id)
                .await
                .map_err(|s| NativeError::from_status(&s, None))?;
            Ok(events.into_iter().map(RawEvent::new).collect())
        })
    }

    /// Stops the mock's servers; open subscriptions end.
    fn close(&self, py: Python<'_>) {
        let mock = self.mock.lock().take();
        // Dropping the mock stops its servers; do it on the runtime's terms.
        py.detach(move || drop(mock));
    }

    #[getter]
    fn closed(&self) -> bool {
        self.mock.lock().is_none()
    }
}

//! `NativeMock`: the Rust `MockEventStore`, in this process, for
//! `eventstore.testing.MockEventStore`. Expectations arrive as JSON (the
//! mock's own JSON expectation format, typed on the Python side in
//! `eventstore/testing/_spec.py`); the journal leaves as the mock's wire
//! model (`eventstore_mock::wire::call_json`) with its events as native
//! events.

use crate::{
    convert::{RawEvent, event_from_dict},
    errors::{NativeError, NativeResult},
    runtime::{block_on, block_on_command, handle},
};
use eventstore_engine::Limits;
use eventstore_mock::{Backend, CallRequest, MockEventStore, StartError, wire};
use parking_lot::Mutex;
use pyo3::{
    exceptions::{PyRuntimeError, PyValueError},
    prelude::*,
    types::PyDict,
};

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

    /// The mock's service without a transport (`Direct`), for a client
    /// in this process.
    pub(crate) fn direct(&self) -> PyResult<eventstore_mock::Direct> {
        self.with(MockEventStore::direct)
    }
}

/// One journal call for Python: its JSON (`wire::call_json`), the events of
/// an append and the events a subscription delivered.
type JournalEntry = (String, Vec<RawEvent>, Vec<RawEvent>);

/// `eventstore-mock record` from Python (`python -m
/// eventstore.testing.record`): the same parser, messages and exit status
/// as the binary's subcommand. `argv[0]` names the program.
#[pyfunction]
pub fn record_main(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    block_on_command(py, eventstore_mock::record::main_from(argv))
}

/// `eventstore-mock` from Python (the wheel's `eventstore-mock` command,
/// `python -m eventstore.testing.mock_server`): the Rust command line
/// itself (`eventstore_mock::cli::main_from`), so it has the binary's
/// flags, readiness line, logs and exit status. It serves until SIGTERM or
/// SIGINT, which the Rust command handles itself (`mock_server.py` gives
/// SIGINT back its default disposition for it). `argv[0]` names the program.
#[pyfunction]
pub fn mock_main(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    block_on_command(py, eventstore_mock::cli::main_from(argv))
}

/// A payload as the journal and the matchers show it (JSON text): the
/// payload's JSON when it parses as JSON, else `{"$base64": ...}`. Python
/// asks here instead of repeating the rule.
#[pyfunction]
pub fn payload_view(payload: &[u8]) -> String {
    wire::payload_json(payload).to_string()
}

/// A backend name from Python, refused with a `ValueError` naming it.
fn parse_backend(name: &str) -> PyResult<Backend> {
    name.parse()
        .map_err(|e: eventstore_mock::UnknownBackend| PyValueError::new_err(e.to_string()))
}

#[pymethods]
impl NativeMock {
    #[new]
    // The keyword-only arguments of `MockEventStore(...)`, one by one.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, strict=false, listen=None, max_events_per_batch=None, max_page_size=None, default_page_size=None, legacy_server=false, backend="memory", username=None, password=None, token=None, journal_credentials=false))]
    fn new(
        py: Python<'_>,
        strict: bool,
        listen: Option<&str>,
        max_events_per_batch: Option<usize>,
        max_page_size: Option<u32>,
        default_page_size: Option<u32>,
        legacy_server: bool,
        backend: &str,
        username: Option<String>,
        password: Option<String>,
        token: Option<String>,
        journal_credentials: bool,
    ) -> PyResult<Self> {
        let backend = parse_backend(backend)?;
        let defaults = Limits::default();
        let limits = Limits {
            max_events_per_batch: max_events_per_batch.unwrap_or(defaults.max_events_per_batch),
            max_page_size: max_page_size.unwrap_or(defaults.max_page_size),
            default_page_size: default_page_size.unwrap_or(defaults.default_page_size),
            ..defaults
        };
        limits
            .validate()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let listen: std::net::SocketAddr =
            listen.unwrap_or("127.0.0.1:0").parse().map_err(|e| {
                PyValueError::new_err(format!("listen: {listen:?} is not an ip:port address: {e}"))
            })?;
        let credentials = match (username, password) {
            (Some(username), Some(password)) => Some((username, password)),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "credentials: give both username and password",
                ));
            }
        };
        let mut builder = MockEventStore::builder()
            .listen(listen)
            .strict(strict)
            .limits(limits)
            .legacy_server(legacy_server)
            .backend(backend)
            .redact_journal_credentials(!journal_credentials)
            // Python verifies explicitly (verify(), the pytest fixture).
            .verify_on_drop(false);
        if let Some((username, password)) = &credentials {
            builder = builder.credentials(username, password);
        }
        if let Some(token) = &token {
            builder = builder.bearer_token(token);
        }
        // Started on this thread: binding the listener is all it does now;
        // the servers start when a client first needs them.
        let mock = builder.start_on(&handle()?).map_err(|e| {
            match e {
                StartError::Limits(_) | StartError::Token(_) => {
                    NativeError::validation(e.to_string())
                }
                _ => NativeError::connection(e.to_string()),
            }
            .into_py(py)
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
    fn journal(&self) -> PyResult<Vec<JournalEntry>> {
        let calls = self.with(MockEventStore::received_calls)?;
        Ok(calls
            .into_iter()
            .map(|c| {
                let json = wire::call_json(&c).to_string();
                let events = match c.request {
                    CallRequest::Append(r) => r.events.into_iter().map(RawEvent::new).collect(),
                    _ => Vec::new(),
                };
                let delivered = c.delivered.into_iter().map(RawEvent::new).collect();
                (json, events, delivered)
            })
            .collect())
    }

    /// How many calls the journal holds.
    fn call_count(&self) -> PyResult<usize> {
        self.with(MockEventStore::received_call_count)
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

    /// Plays a server from before `GetServerInfo` (`UNIMPLEMENTED`) or not.
    fn set_legacy_server(&self, legacy: bool) -> PyResult<()> {
        self.with(|m| m.set_legacy_server(legacy))
    }

    /// What `GetServerInfo` answers as `backend`: "memory", "postgres" or
    /// "unknown".
    fn set_backend(&self, backend: &str) -> PyResult<()> {
        let backend = parse_backend(backend)?;
        self.with(|m| m.set_backend(backend))
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

    /// Preloads a fixture file (`eventstore_mock::seed`); returns the
    /// number of stream entries loaded. Errors name the file, line and field.
    fn load_fixture(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<usize> {
        // Held while loading: a concurrent close() waits for the load.
        let guard = self.mock.lock();
        let mock = guard
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("this MockEventStore is closed"))?;
        block_on(py, async move {
            mock.load_fixture(&path)
                .await
                .map(|loaded| loaded.len())
                .map_err(|e| NativeError::validation(e.to_string()))
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
        // Taken with the GIL released: a load_fixture() holds the lock while
        // it waits (GIL released) and takes the GIL back before letting go.
        let mock = py.detach(|| self.mock.lock().take());
        // Dropping the mock stops its servers; do it on the runtime's terms.
        py.detach(move || drop(mock));
    }

    #[getter]
    fn closed(&self) -> bool {
        self.mock.lock().is_none()
    }
}

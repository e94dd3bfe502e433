//! Values crossing the boundary: events from Python dicts into protobuf,
//! recorded events from protobuf into [`RawEvent`]s that convert a field only
//! when Python reads it.

use crate::errors::{NativeError, NativeResult};
use eventstore_proto::{EventData, EventMetadata};
use pyo3::{
    prelude::*,
    types::{PyBytes, PyDict},
};
use std::collections::BTreeMap;

/// A recorded event, as the store returned it. Getters convert on access.
#[pyclass(frozen, module = "eventstore._native")]
#[derive(Debug, Clone)]
pub struct RawEvent {
    event: EventData,
}

impl RawEvent {
    pub(crate) fn new(event: EventData) -> Self {
        Self { event }
    }

    fn meta(&self) -> &EventMetadata {
        static EMPTY: std::sync::LazyLock<EventMetadata> =
            std::sync::LazyLock::new(EventMetadata::default);
        self.event.meta.as_ref().unwrap_or(&EMPTY)
    }
}

#[pymethods]
impl RawEvent {
    #[getter]
    fn event_id(&self) -> &str {
        &self.meta().event_id
    }
    #[getter]
    fn aggregate_id(&self) -> &str {
        &self.meta().aggregate_id
    }
    #[getter]
    fn aggregate_type(&self) -> &str {
        &self.meta().aggregate_type
    }
    #[getter]
    fn aggregate_nonce(&self) -> u64 {
        self.meta().aggregate_nonce
    }
    #[getter]
    fn event_type(&self) -> &str {
        &self.meta().event_type
    }
    #[getter]
    fn event_version(&self) -> u32 {
        self.meta().event_version
    }
    #[getter]
    fn content_type(&self) -> &str {
        &self.meta().content_type
    }
    #[getter]
    fn content_schema(&self) -> &str {
        &self.meta().content_schema
    }
    #[getter]
    fn correlation_id(&self) -> &str {
        &self.meta().correlation_id
    }
    #[getter]
    fn causation_id(&self) -> &str {
        &self.meta().causation_id
    }
    #[getter]
    fn actor_id(&self) -> &str {
        &self.meta().actor_id
    }
    #[getter]
    fn tenant_id(&self) -> &str {
        &self.meta().tenant_id
    }
    #[getter]
    fn timestamp_unix_ms(&self) -> u64 {
        self.meta().timestamp_unix_ms
    }
    #[getter]
    fn recorded_time_unix_ms(&self) -> u64 {
        self.meta().recorded_time_unix_ms
    }
    #[getter]
    fn payload_sha256<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.meta().payload_sha256)
    }
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (k, v) in &self.meta().headers {
            dict.set_item(k, v)?;
        }
        Ok(dict)
    }
    #[getter]
    fn global_nonce(&self) -> u64 {
        self.meta().global_nonce
    }
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.event.payload)
    }

    fn __repr__(&self) -> String {
        let m = self.meta();
        format!(
            "RawEvent(event_type={:?}, aggregate_id={:?}, aggregate_nonce={}, global_nonce={})",
            m.event_type, m.aggregate_id, m.aggregate_nonce, m.global_nonce
        )
    }
}

fn item<'py, T: for<'a> FromPyObject<'a, 'py>>(
    dict: &Bound<'py, PyDict>,
    key: &str,
    at: &str,
    default: T,
) -> NativeResult<T> {
    match dict.get_item(key) {
        Ok(Some(value)) if !value.is_none() => value.extract::<T>().map_err(|_| {
            let type_name = value
                .get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string());
            NativeError::validation(format!(
                "{at}.{key}: unexpected type {type_name} ({})",
                value
                    .repr()
                    .map_or_else(|_| String::new(), |r| r.to_string())
            ))
        }),
        _ => Ok(default),
    }
}

fn bytes_item(dict: &Bound<'_, PyDict>, key: &str, at: &str) -> NativeResult<Vec<u8>> {
    match dict.get_item(key) {
        Ok(Some(value)) if !value.is_none() => value
            .cast::<PyBytes>()
            .map(|b| b.as_bytes().to_vec())
            .map_err(|_| NativeError::validation(format!("{at}.{key}: expected bytes"))),
        _ => Ok(Vec::new()),
    }
}

/// An event to append, from the dict the Python layer builds:
/// `event_id`, `aggregate_nonce`, `event_type`, `event_version`,
/// `content_type`, `payload` (bytes) and the optional metadata fields.
pub(crate) fn event_from_dict(dict: &Bound<'_, PyDict>, at: &str) -> NativeResult<EventData> {
    let payload = bytes_item(dict, "payload", at)?;
    let headers: BTreeMap<String, String> = item(dict, "headers", at, BTreeMap::new())?;
    Ok(EventData {
        meta: Some(EventMetadata {
            // Clients are told to use UUIDv7: fill one in when none was given.
            event_id: Some(item(dict, "event_id", at, String::new())?)
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            aggregate_id: item(dict, "aggregate_id", at, String::new())?,
            aggregate_type: item(dict, "aggregate_type", at, String::new())?,
            aggregate_nonce: item(dict, "aggregate_nonce", at, 0u64)?,
            event_type: item(dict, "event_type", at, String::new())?,
            event_version: item(dict, "event_version", at, 0u32)?,
            content_type: item(dict, "content_type", at, String::new())?,
            content_schema: item(dict, "content_schema", at, String::new())?,
            correlation_id: item(dict, "correlation_id", at, String::new())?,
            causation_id: item(dict, "causation_id", at, String::new())?,
            actor_id: item(dict, "actor_id", at, String::new())?,
            tenant_id: item(dict, "tenant_id", at, String::new())?,
            timestamp_unix_ms: item(dict, "timestamp_unix_ms", at, 0u64)?,
            recorded_time_unix_ms: 0,
            payload_sha256: bytes_item(dict, "payload_sha256", at)?,
            headers,
            global_nonce: 0,
        }),
        payload,
    })
}

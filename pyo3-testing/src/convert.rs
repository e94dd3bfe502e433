//! Values crossing the boundary: events from Python dicts into protobuf,
//! recorded events from protobuf into [`RawEvent`]s that convert a field only
//! when Python reads it.

use crate::errors::{NativeError, NativeResult};
use eventstore_client::wire;
use eventstore_proto::{EventData, EventMetadata};
use pyo3::{
    prelude::*,
    types::{PyBytes, PyDict, PyString},
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

/// The 17 `EventMetadata` fields, written once for this crate: the
/// [`RawEvent`] getters and [`event_from_dict`] are both generated from it
/// (how each field crosses is its type's [`MetaField`] impl).
macro_rules! with_metadata_fields {
    ($then:ident) => {
        $then! {
            event_id, aggregate_id, aggregate_type, aggregate_nonce, event_type, event_version,
            content_type, content_schema, correlation_id, causation_id, actor_id, tenant_id,
            timestamp_unix_ms, recorded_time_unix_ms, payload_sha256, headers, global_nonce,
        }
    };
}

/// How a metadata field's type crosses the boundary, both ways.
trait MetaField: Sized {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
    /// From the event dict; absent or `None` is the protobuf default.
    fn from_dict(dict: &Bound<'_, PyDict>, key: &str, at: &str) -> NativeResult<Self>;
}

impl MetaField for String {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyString::new(py, self).into_any())
    }
    fn from_dict(dict: &Bound<'_, PyDict>, key: &str, at: &str) -> NativeResult<Self> {
        item(dict, key, at, String::new())
    }
}

impl MetaField for u64 {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.into_pyobject(py)?.into_any())
    }
    fn from_dict(dict: &Bound<'_, PyDict>, key: &str, at: &str) -> NativeResult<Self> {
        item(dict, key, at, 0)
    }
}

impl MetaField for u32 {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.into_pyobject(py)?.into_any())
    }
    fn from_dict(dict: &Bound<'_, PyDict>, key: &str, at: &str) -> NativeResult<Self> {
        item(dict, key, at, 0)
    }
}

impl MetaField for Vec<u8> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyBytes::new(py, self).into_any())
    }
    fn from_dict(dict: &Bound<'_, PyDict>, key: &str, at: &str) -> NativeResult<Self> {
        bytes_item(dict, key, at)
    }
}

impl MetaField for BTreeMap<String, String> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dict = PyDict::new(py);
        for (k, v) in self {
            dict.set_item(k, v)?;
        }
        Ok(dict.into_any())
    }
    fn from_dict(dict: &Bound<'_, PyDict>, key: &str, at: &str) -> NativeResult<Self> {
        item(dict, key, at, BTreeMap::new())
    }
}

/// One getter per metadata field, plus the payload.
macro_rules! raw_event_methods {
    ($($name:ident,)*) => {
        #[pymethods]
        impl RawEvent {
            $(
                #[getter]
                fn $name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    self.meta().$name.to_py(py)
                }
            )*

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
    };
}

with_metadata_fields!(raw_event_methods);

/// The metadata of an event dict, field by field.
macro_rules! metadata_from_dict {
    ($($name:ident,)*) => {
        fn metadata_from_dict(dict: &Bound<'_, PyDict>, at: &str) -> NativeResult<EventMetadata> {
            Ok(EventMetadata {
                $($name: MetaField::from_dict(dict, stringify!($name), at)?,)*
            })
        }
    };
}

with_metadata_fields!(metadata_from_dict);

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

/// A fresh event id by the one id rule (`eventstore_client::wire`: a UUIDv7),
/// for Python, which must know an event's id before sending it (an
/// idempotent retry resends the same ids).
#[pyfunction]
pub fn new_event_id() -> String {
    let mut meta = EventMetadata::default();
    wire::assign_event_id(&mut meta);
    meta.event_id
}

/// An event to append, from the dict the Python layer builds
/// (`eventstore._encoding.WireEvent`): the metadata fields by name (absent
/// or `None`: the protobuf default) and `payload` (bytes). An event without
/// an id gets a UUIDv7, as clients are told to use.
pub(crate) fn event_from_dict(dict: &Bound<'_, PyDict>, at: &str) -> NativeResult<EventData> {
    let payload = bytes_item(dict, "payload", at)?;
    let mut meta = metadata_from_dict(dict, at)?;
    wire::assign_event_id(&mut meta);
    Ok(EventData {
        meta: Some(meta),
        payload,
    })
}

//! `eventstore._native`: the Rust core of the Python SDK.
//!
//! Python users never import this module: `eventstore` wraps it in a typed,
//! idiomatic API. Everything that does I/O lives here, on one tokio runtime
//! ([`runtime`]): the gRPC client ([`client`]), subscriptions with resume
//! ([`subscription`]), the in-process mock ([`mock`]) and the real store in a
//! container ([`container`]).

pub mod client;
pub mod container;
pub mod convert;
pub mod errors;
pub mod mock;
pub mod runtime;
pub mod subscription;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::NativeClient>()?;
    m.add_class::<subscription::NativeSubscription>()?;
    m.add_class::<convert::RawEvent>()?;
    m.add_class::<mock::NativeMock>()?;
    m.add_class::<container::NativeContainer>()?;
    m.add_function(wrap_pyfunction!(runtime::shutdown, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

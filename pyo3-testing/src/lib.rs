//! `eventstore._native`: the Rust core of the Python SDK.
//!
//! Python users never import this module: `eventstore` wraps it in a typed,
//! idiomatic API (`python/eventstore/_native.pyi` is its stub, checked
//! against this crate by `stubtest`). Everything that does I/O lives here,
//! on one tokio runtime.
//!
//! Files, in the order a call flows through them:
//!
//! - [`runtime`]: the tokio runtime and the bridge from a Rust future to an
//!   asyncio awaitable (and the shutdown at interpreter exit).
//! - [`convert`]: values crossing the boundary: Python event dicts into
//!   protobuf, recorded events out as lazy [`convert::RawEvent`]s.
//! - [`connect`]: `NativeConnectOptions`, the connection options from
//!   Python (one signature for the client and the conformance kit), mapped
//!   onto the one connector's (`eventstore_client`), which checks them and
//!   builds the channels.
//! - [`connections`]: the connection pool (channels, auth, timeouts) every
//!   call and subscription of a client goes through.
//! - [`client`]: `NativeClient`, unary calls (append, read a stream, read
//!   all, server info).
//! - [`subscription`]: `NativeSubscription`, a stream that reconnects and
//!   resumes after the last acknowledged event.
//! - [`mock`]: `NativeMock`, the in-process `MockEventStore`; expectations
//!   come in and the journal goes out as JSON in the mock's wire model
//!   (`eventstore_mock::wire`); and the mock's command lines
//!   (`mock_main`, `record_main`, the Rust ones).
//! - [`container`]: `NativeContainer`, the real store in Docker or in process.
//! - [`conformance`]: the conformance kit (`eventstore-conformance check`
//!   and `diff`), the cases of `eventstore_conformance` run from Python,
//!   and its command line (`conformance_main`, the Rust one).
//! - [`errors`]: every failure on its way to a Python exception class.

pub mod client;
pub mod conformance;
pub mod connect;
pub mod connections;
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
    m.add_class::<connect::NativeConnectOptions>()?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<subscription::NativeSubscription>()?;
    m.add_class::<convert::RawEvent>()?;
    m.add_class::<runtime::Ready>()?;
    m.add_class::<mock::NativeMock>()?;
    m.add_class::<container::NativeContainer>()?;
    m.add_class::<conformance::NativeConformanceSession>()?;
    m.add_class::<conformance::NativeConformanceOutcome>()?;
    m.add_class::<conformance::NativeDiffReport>()?;
    m.add_function(wrap_pyfunction!(conformance::conformance_cases, m)?)?;
    m.add_function(wrap_pyfunction!(conformance::conformance_report, m)?)?;
    m.add_function(wrap_pyfunction!(conformance::conformance_diff, m)?)?;
    m.add_function(wrap_pyfunction!(conformance::conformance_main, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(mock::payload_view, m)?)?;
    m.add_function(wrap_pyfunction!(mock::record_main, m)?)?;
    m.add_function(wrap_pyfunction!(mock::mock_main, m)?)?;
    m.add_function(wrap_pyfunction!(convert::new_event_id, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The contract's names, from their one owner (the proto crate), so the
    // Python constants can be checked against them.
    m.add(
        "CAPABILITIES",
        pyo3::types::PyTuple::new(m.py(), eventstore_proto::capabilities::ALL)?,
    )?;
    m.add("API_VERSION", eventstore_proto::API_VERSION)?;
    Ok(())
}

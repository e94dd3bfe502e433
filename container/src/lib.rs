//! `EventStoreContainer`: the real event store for tests, in a local Docker
//! image, or without Docker in process.
//!
//! The files, in the order a start goes through them:
//!
//! - `lib.rs`: this map and the re-exports;
//! - `builder.rs`: [`EventStoreContainerBuilder`] (the settings) and the
//!   start, which picks a backend by [`Mode`] (`mode.rs`);
//! - `handle.rs`: [`EventStoreContainer`], a running store whichever backend
//!   runs it (endpoint, restart, stop, logs), and the sweeps;
//! - `embedded.rs`: the static `eventstore-server` binary this crate
//!   carries, and the files written from it;
//! - `image.rs`: [`EventStoreImage`], its defaults and the local image build
//!   (FROM scratch, from the embedded binary);
//! - `labels.rs`: the labels and session id that mark a container as ours;
//! - `docker.rs`: the Docker backend (create, start, restart, sweep);
//! - `workdir.rs`: the temporary directory of a store outside Docker;
//! - `child_process.rs`: the binary as a child process (`Mode::Process`);
//! - `in_process.rs`: the server in this process (`Mode::InProcess`);
//! - `tls.rs`: [`TlsSettings`], read by every backend and by readiness;
//! - `readiness.rs`: "ready" is gRPC health `SERVING` and `GetServerInfo`
//!   answering our API version (every backend);
//! - `error.rs`: [`ContainerError`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), eventstore_container::ContainerError> {
//! use eventstore_container::EventStoreContainer;
//!
//! let mut store = EventStoreContainer::builder().start().await?;
//! let endpoint = store.endpoint(); // "http://127.0.0.1:<random port>"
//! // ... talk to it with any eventstore.v1 client at store.url() ...
//! store.stop().await?; // or just drop it: the container is removed either way
//! # Ok(()) }
//! ```
//!
//! - **The image** is `eventstore-server:<content hash>`, `FROM scratch` with
//!   only the statically linked server ([`DOCKERFILE`]). This crate carries
//!   that binary (its build script builds it), so when the image is missing
//!   the harness builds it locally: nothing is pulled, there is no step for
//!   the user. [`EventStoreContainerBuilder::image`] points at any other
//!   image that speaks the API.
//! - **Ready** means: the server's readiness line, then
//!   `grpc.health.v1.Health/Check("eventstore.v1.EventStore")` answering
//!   `SERVING` (with retries, over TLS when the store speaks TLS). Every
//!   start error carries the store's logs.
//! - **Nothing leaks**: [`stop`](EventStoreContainer::stop) and `Drop`
//!   remove the container; every container is labelled
//!   (`org.eventstore.testing=eventstore-container`, with session, pid and
//!   host labels), and [`EventStoreContainer::sweep_leftovers`] removes
//!   those whose process is gone.
//! - **Modes** ([`Mode`]): `Auto` (default) uses Docker when an engine
//!   answers, else runs the real server in process (durable, on a temporary
//!   directory) with one warning; `Docker` fails with instructions when no
//!   engine answers; `Process` runs the `eventstore-server` binary
//!   (`$EVENTSTORE_SERVER_BIN`, else the embedded one); `InProcess` forces
//!   the fallback. `EVENTSTORE_CONTAINER_MODE=auto|docker|process|in-process`
//!   sets the mode when the builder does not.
//!
//! On testcontainers: the image is built with testcontainers'
//! `GenericBuildableImage` (BuildKit; the engine's classic builder when
//! BuildKit is not there), [`EventStoreImage`] implements
//! `testcontainers::Image`, and containers are driven through bollard, the
//! engine client testcontainers is built on. Not through testcontainers'
//! `ContainerAsync`, because its `Drop` needs a Tokio runtime on the
//! dropping thread (Python drops objects on any thread), and a failed
//! readiness wait removes the container before its logs can be read.

mod builder;
mod child_process;
mod docker;
mod embedded;
mod error;
mod handle;
mod image;
mod in_process;
mod labels;
mod mode;
mod readiness;
mod tls;
mod workdir;

pub use builder::{DEFAULT_STARTUP_TIMEOUT, EventStoreContainerBuilder};
pub use embedded::{embedded_image_tag, embedded_server_binary};
pub use error::ContainerError;
pub use handle::EventStoreContainer;
pub use image::{
    CONTAINER_PORT, DOCKERFILE, EventStoreImage, IMAGE_NAME, READINESS_LINE, build_context,
};
pub use labels::{
    HOST_LABEL, LABEL_KEY, LABEL_VALUE, PID_LABEL, REUSE_LABEL, SESSION_LABEL, session_id,
};
pub use mode::Mode;
pub use readiness::HEALTH_SERVICE;
#[cfg(feature = "testcontainers")]
pub use testcontainers;
pub use tls::TlsSettings;

/// `EventStoreContainer` moves between threads and is shared (the Python
/// wrapper and the conformance harness rely on it).
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<EventStoreContainer>();
    send_sync::<EventStoreContainerBuilder>();
    send_sync::<ContainerError>();
};

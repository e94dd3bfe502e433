//! The event store's behaviour, written once.
//!
//! Every store this project ships (the mock, the real server, the container
//! image) runs this engine, so they differ in storage and in what they
//! record, never in behaviour. The rules are those of `spec/semantics.md`.
//!
//! Data flows through the modules in this order:
//!
//! - [`validate`]: stateless checks and normalization of a request (the
//!   fields, the limits), run in parallel by every caller;
//! - [`paging`]: the cursor rules shared by ReadStream and ReadAll;
//! - [`store`]: the [`EventStore`] itself, which runs the stateful checks
//!   (idempotency, concurrency, nonces, event ids) and commits in global
//!   order;
//! - [`storage`]: where committed events live, behind the [`Storage`] trait
//!   ([`MemoryStorage`], and [`DurableStorage`] on redb with group commit);
//! - [`subscription`]: history then live delivery pulled from the log;
//! - [`service`]: the tonic adapter that serves `eventstore.v1.EventStore`
//!   and maps [`Error`] to gRPC status codes;
//! - [`auth`]: optional Basic credentials and bearer tokens (one user, or
//!   a users file tying users to tenants), for both processes;
//! - [`assembly`]: what every process serves around its services (the
//!   oversized-request layer, health, reflection, the limit flags, the
//!   SIGTERM listener), shared by `eventstore-server` and `eventstore-mock`;
//! - [`transport`]: the accept loop and HTTP/2 settings both serve with
//!   (bounded streams per connection and send buffer per stream, a
//!   handshake timeout, a backoff when accepts fail); `admission.rs` holds
//!   what clients may hold of a server (connections, idle time, calls in
//!   flight, request bodies' deadline and bytes).

mod admission;
pub mod assembly;
pub mod auth;
pub mod error;
pub mod limits;
pub mod paging;
pub mod service;
pub mod size_limit;
pub mod status;
pub mod storage;
pub mod store;
pub mod subscription;
pub mod transport;
mod undecodable;
pub mod validate;

pub use error::{Error, OpenError};
pub use eventstore_proto::{API_VERSION, SERVER_VERSION, backends, capabilities};
pub use limits::{Limits, LimitsError};
pub use service::EventStoreService;
pub use size_limit::OversizedRequestLayer;
pub use storage::{DurableStorage, MemoryStorage, Storage, StorageError};
pub use store::EventStore;
pub use subscription::{Delivery, Subscription};

/// The generated wire types, re-exported so users of the engine need one import.
pub use eventstore_proto as proto;

//! The stores the suite runs against.
//!
//! - [`InProcess`]: the engine behind its tonic service, called directly
//!   (no socket): the semantics and the status mapping, nothing else.
//! - [`ServerProcess`]: the `eventstore-server` binary, spawned per case on
//!   a free port and spoken to over gRPC.
//! - [`DurableServer`]: the same binary with `--data-dir` on a fresh
//!   temporary directory (the durable backend).
//! - [`MockGrpc`], [`MockInProcess`] and [`MockDirect`]: `MockEventStore`
//!   with no expectations, over TCP, over its in-process channel, and
//!   called directly (no transport: the Python SDK's in-process path).
//! - [`Container`]: `EventStoreContainer`, the server image in Docker,
//!   one container per case.

mod container;
mod durable;
mod in_process;
mod mock;
mod server_process;

pub use container::{Container, limit_env};
pub use durable::DurableServer;
pub use in_process::{InProcess, InProcessStore};
pub use mock::{DirectStore, MockDirect, MockGrpc, MockInProcess};
pub use server_process::{GrpcStore, ServerProcess, Stopper, limit_flags, server_binary};

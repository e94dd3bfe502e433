//! The stores the suite runs against.
//!
//! - [`InProcess`]: the engine behind its tonic service, called directly
//!   (no socket): the semantics and the status mapping, nothing else.
//! - [`ServerProcess`]: the `eventstore-server` binary, spawned per case on
//!   a free port and spoken to over gRPC.

mod in_process;
mod server_process;

pub use in_process::{InProcess, InProcessStore};
pub use server_process::{GrpcStore, ServerProcess, limit_flags, server_binary};

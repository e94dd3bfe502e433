//! Below every user of the `eventstore.v1` wire (the stores, the tools, the
//! SDK): what a client of a store needs, defined once.
//!
//! Files, from the wire up to a connection:
//!
//! - [`wire`]: the wire's constants beside `eventstore_proto`'s (the head
//!   position, the dropped-connection message, the API level, capability
//!   and backend names), gRPC status code names, and the one event-id rule;
//! - [`auth`]: the `authorization` values a client sends (Basic, Bearer)
//!   and the token rule the stores check with too;
//! - [`chain`]: an error with its causes, as one line a person reads;
//! - [`connect`](mod@connect): the one connector: endpoint forms, TLS and mutual TLS,
//!   the server name, credentials, timeouts, each option checked before
//!   any I/O with one set of messages; every client of a store (the SDK,
//!   the recorder, the conformance kit, the container's readiness check,
//!   the server's probe) connects through it;
//! - [`cli`] (feature `cli`): [`ConnectArgs`], those options as the flags
//!   every binary flattens into its command line.
//!
//! Features: `cli` (clap), `webpki-roots` (trust the web's roots for TLS
//! without a CA; without it such an endpoint is refused, naming the CA
//! option).

pub mod auth;
pub mod chain;
#[cfg(feature = "cli")]
pub mod cli;
pub mod connect;
pub mod wire;

pub use chain::{error_chain, join_causes};
#[cfg(feature = "cli")]
pub use cli::ConnectArgs;
pub use connect::{
    ConnectError, ConnectOptions, Connection, Dialer, MAX_TIMEOUT, Opt, Pem, Spelling, connect,
    is_client_deadline, request,
};

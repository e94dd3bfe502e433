//! The real event store process: the engine served over gRPC.
//!
//! - [`config`]: the command line and its environment variables (the limit
//!   flags come from `eventstore_engine::limit_flags!`, shared with the mock);
//!   `Config::from_env_map` reads a given map of those variables through the
//!   same flags (the container harness's in-process store);
//! - [`auth`]: optional username/password (or a users file) on every call
//!   but health;
//! - [`tenants`]: with a users file, each call only on its user's tenants;
//! - [`probe`]: `--probe`, the health check the container image runs;
//! - [`serve`]: binds, serves `eventstore.v1.EventStore` with the standard
//!   health and reflection services (`eventstore_engine::assembly`), and
//!   shuts down gracefully;
//! - [`error`]: [`ServeError`], why the server did not start.
//!
//! The binary (`src/main.rs`) only parses, sets up logging and calls
//! [`serve::run`]; other crates (the container harness's in-process mode)
//! call the same function.

pub mod auth;
pub mod config;
pub mod error;
pub mod probe;
pub mod serve;
pub mod tenants;

pub use config::Config;
pub use error::ServeError;
pub use serve::{RunningServer, run};

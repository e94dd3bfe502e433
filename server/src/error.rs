//! Why the server could not start: [`ServeError`], returned by
//! [`crate::run`]. A variant per cause a caller can act on (the container
//! harness retries [`ServeError::Storage`] with
//! [`StorageError::Locked`] while a
//! previous store on the same data directory is still closing).

use eventstore_engine::{
    LimitsError, OpenError, StorageError, assembly::ReflectionError,
    transport::TransportSettingsError,
};
use std::net::SocketAddr;

/// The server did not start; the message names the flag or the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The limit flags are inconsistent.
    #[error("invalid limits: {0}")]
    Limits(#[from] LimitsError),
    /// The transport flags are unusable (a zero).
    #[error("invalid transport settings: {0}")]
    Transport(#[from] TransportSettingsError),
    /// The data directory could not be opened (locked, corrupt, unreadable).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// `--listen` could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The bound socket has no readable address.
    #[error("cannot read the bound address: {0}")]
    LocalAddr(std::io::Error),
    /// The TLS files are unreadable, hold no PEM block of the right kind, or
    /// the TLS library refused them; the message names the flags and files.
    #[error("{0}")]
    Tls(String),
    /// The --users-file cannot be read or has a bad line.
    #[error("--users-file {0}")]
    Users(#[from] eventstore_engine::auth::UsersFileError),
    /// The --token is not a valid bearer token (the message never quotes it).
    #[error("--token: {0}")]
    Token(#[from] eventstore_engine::auth::TokenError),
    /// The reflection service could not be built.
    #[error(transparent)]
    Reflection(#[from] ReflectionError),
}

impl From<OpenError> for ServeError {
    fn from(error: OpenError) -> Self {
        match error {
            OpenError::Limits(e) => Self::Limits(e),
            OpenError::Storage(e) => Self::Storage(e),
        }
    }
}

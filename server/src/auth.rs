//! Optional username/password authentication: the engine's
//! [`eventstore_engine::auth`], shared with the mock, re-exported where the
//! server's users have always found it.

pub use eventstore_engine::auth::*;

//! proptest strategies for property tests of code that uses the store
//! (feature `proptest`). The project's own property tests draw from these
//! too (`tests/tests/model.rs`), so what users get is what we test with.
//!
//! Files: `requests` (re-exported here: the concrete requests below) and
//! [`plan`] (abstract steps for model-based tests, resolved against a
//! model's state by the test).
//!
//! - [`valid_append`]: a well-formed batch continuing a stream's head;
//! - [`invalid_append`]: a request broken in one way, with the status code
//!   the store must answer (see [`Invalid`]);
//! - [`operations`]: sequences of appends and reads over a few tenants and
//!   streams, for model-based tests.
//!
//! ```ignore
//! proptest! {
//!     #[test]
//!     fn rejects(case in invalid_append()) {
//!         let status = rt.block_on(client.append(case.request)).unwrap_err();
//!         prop_assert_eq!(status.code(), case.kind.code());
//!     }
//! }
//! ```

mod history;
pub mod plan;
mod readable;
mod requests;

pub use history::{EventTypeFor, appends_for, histories};
pub use readable::Append;
pub use requests::*;

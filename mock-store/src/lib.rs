//! `MockEventStore`: a working in-memory event store with a call journal,
//! expectations, fault injection, verification and a control API.
//!
//! By default the mock is the real engine in memory, so appends succeed,
//! reads return what was appended and subscriptions stream, exactly as the
//! real store does. Expectations are layered on top, in the style of the
//! `wiremock` crate:
//!
//! ```no_run
//! use eventstore_mock::{MockEventStore, Mock, Respond, matchers::*};
//! use tonic::Code;
//!
//! # async fn demo() {
//! let mock = MockEventStore::start().await;
//! Mock::given(append())
//!     .and(aggregate_id("order-1"))
//!     .and(event(0).event_type("OrderCreated").payload(serde_json::json!({"amount": 10})))
//!     .expect(1)
//!     .mount(&mock);
//! Mock::given(read_stream())
//!     .respond_with(Respond::status(Code::Unavailable, "try again"))
//!     .on_nth_call(1)
//!     .mount(&mock);
//! let mut client = mock.client(); // in process; or connect to mock.endpoint()
//! // ... exercise the code under test with `client` ...
//! mock.verify().unwrap(); // also checked when `mock` is dropped
//! # }
//! ```
//!
//! Modules, in the order a call flows through them: [`transport`]
//! (connections the mock can cut), `service` (journal, match, answer),
//! [`matchers`] and [`pattern`] (what a call must look like), [`expectation`]
//! (counts and responses), [`journal`] (what happened), [`verify`] (the
//! report), [`control`] (the same over gRPC) and [`spec`] (expectations as JSON).

pub mod control;
pub mod expectation;
pub mod journal;
pub mod matchers;
pub mod pattern;
pub mod seed;
mod server;
mod service;
pub mod spec;
mod state;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod transport;
pub mod verify;
pub mod view;

pub use expectation::{ExpectationId, Mock, Reply, Respond, Sequence, StreamFaults, Times};
pub use journal::{CallRecord, Outcome, StreamEnd};
pub use server::{MockEventStore, MockEventStoreBuilder, read_all, seed_stream};
pub use verify::VerificationError;
pub use view::{CallRequest, Rpc};

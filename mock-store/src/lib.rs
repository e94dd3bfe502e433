//! `MockEventStore`: a working in-memory event store with a call journal,
//! expectations, fault injection, verification and a control API.
//!
//! By default the mock is the real engine in memory, so appends succeed,
//! reads return what was appended and subscriptions stream, exactly as the
//! real store does. Expectations are layered on top, in the style of the
//! `wiremock` crate:
//!
//! ```
//! use eventstore_mock::{MockEventStore, Mock, Respond, matchers::*};
//! use tonic::Code;
//! # use eventstore_proto::{AppendRequest, EventData, EventMetadata, ReadStreamRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mock = MockEventStore::start().await;
//! Mock::given(append())
//!     .and(aggregate_id("order-1"))
//!     .and(event(0).event_type("OrderCreated").payload(serde_json::json!({"amount": 10})))
//!     .mount(&mock); // no count given: exactly one call
//! Mock::given(read_stream())
//!     .respond_with(Respond::status(Code::Unavailable, "try again"))
//!     .on_nth_call(1)
//!     .expect(1..)
//!     .mount(&mock);
//! let mut client = mock.client(); // in process; or connect to mock.endpoint()
//! // The code under test would make these calls with `client`:
//! # let created = AppendRequest {
//! #     tenant_id: "t".into(), aggregate_id: "order-1".into(), aggregate_type: "Order".into(),
//! #     events: vec![EventData {
//! #         meta: Some(EventMetadata {
//! #             event_id: "e1".into(), aggregate_nonce: 1,
//! #             event_type: "OrderCreated".into(), ..Default::default()
//! #         }),
//! #         payload: br#"{"amount": 10}"#.to_vec(),
//! #     }],
//! #     ..Default::default()
//! # };
//! # let read = ReadStreamRequest {
//! #     tenant_id: "t".into(), aggregate_id: "order-1".into(), forward: true, ..Default::default()
//! # };
//! client.append(created).await.unwrap();
//! let first = client.read_stream(read.clone()).await.unwrap_err();
//! assert_eq!(first.code(), Code::Unavailable); // the code under test retries:
//! assert_eq!(client.read_stream(read).await.unwrap().into_inner().events.len(), 1);
//! mock.verify().unwrap(); // also checked when `mock` is dropped
//! # }
//! ```
//!
//! **Counts.** An expectation mounted without [`Mock::expect`] wants
//! exactly one matching call, the same default as the Python layer's
//! `expect_*` and as a JSON expectation without `times`. A stub that may
//! answer any number of calls says `.expect(..)` (JSON: `"at_least": 0`).
//!
//! # Files, in the order a call flows through them
//!
//! - `server` ([`MockEventStore`], [`MockEventStoreBuilder`]): starts the
//!   mock, owns its listeners, and is the API tests use.
//! - [`transport`]: connections the mock can cut (`drop_connection`).
//! - `service`: the `eventstore.v1.EventStore` RPCs, all through one shape:
//!   journal the call, match it, answer from a stub, a fault or the engine,
//!   journal the outcome; `service/rpc.rs` holds what each RPC brings to it,
//!   `service/feed.rs` a subscription's delivery (its faults, its end).
//! - [`wire`]: the wire model every other file shares: RPC names, requests
//!   and events as JSON (one set of defaults), status code names, a journal
//!   call as JSON.
//! - [`matchers`] and [`pattern`]: what a call must look like.
//! - [`expectation`]: counts, responses and faults; `state` holds the
//!   mounted ones, the journal and the engine, and (`state::data`) seeds
//!   and reads the data directly.
//! - [`journal`]: what happened, call by call.
//! - [`verify`]: the report of unmet expectations.
//! - [`connect`](fn@connect): a re-export of the one connector
//!   (`eventstore_client::connect`), which the recorder connects through.
//! - [`control`]: the same API over gRPC for other processes; [`spec`]:
//!   expectations written as JSON; [`seed`]: fixture files to preload;
//!   [`record`]: `eventstore-mock record`, which writes a fixture from a
//!   real store's tenant (replayed by [`MockEventStore::from_fixture`]);
//!   [`cli`]: the `eventstore-mock` command line (the binary's and the
//!   Python wheel's `eventstore-mock`).
//! - `strategies` (feature `proptest`): generators of valid requests and
//!   events for property tests, the interpreter that runs the model test's
//!   plans against any client (`strategies::plan::Interpreter`), and the
//!   state machine that checks a user's consumer under redelivery
//!   (`strategies::consumer`).

pub mod cli;
pub mod control;
mod direct;
pub mod expectation;
pub mod journal;
pub mod matchers;
pub mod pattern;
pub mod record;
pub mod seed;
mod server;
mod service;
pub mod spec;
mod state;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod transport;
pub mod verify;
pub mod wire;

/// The one connector to a user's store, `eventstore_client::connect`
/// (re-exported: the recorder connects through it).
pub use eventstore_client::connect;

pub use direct::{Direct, TONIC_USER_AGENT};
pub use expectation::{ExpectationId, Mock, Reply, Respond, Sequence, StreamFaults, Times};
pub use journal::{CallRecord, Outcome, StreamEnd};
pub use server::{MockEventStore, MockEventStoreBuilder, StartError};
pub use state::data::{read_all, seed_stream};
pub use state::{Backend, UnknownBackend};
pub use verify::VerificationError;
pub use wire::{CallRequest, Rpc};

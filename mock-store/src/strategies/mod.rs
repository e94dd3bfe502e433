//! proptest strategies for property tests of code that uses the store
//! (feature `proptest`). The project's own property tests draw from these
//! too (`tests/tests/model.rs`), so what users get is what we test with.
//!
//! Files: `history` and `requests` (re-exported here); [`plan`] (abstract
//! steps for model-based tests, and `plan/interpreter.rs`, which runs them
//! against any client); [`consumer`] (a state machine that checks your
//! consumer under redelivery, on `proptest-state-machine`).
//!
//! To test your own code (a projection, a handler) on your own events:
//! - [`histories`]: `(aggregate id, event)` sequences of your `Serialize`
//!   event type over a few aggregates, shrinking to fewer events, fewer
//!   aggregates and simpler events;
//! - [`appends_for`]: the valid requests that store a history, the
//!   expected nonces numbered per stream;
//! - [`consumer::check`]: your consumer driven through a subscription that
//!   the mock cuts between a handle and its ack, its state compared with a
//!   single pass over the log (`examples/consumer_state_machine.rs`; a
//!   command-handling service is `examples/order_service.rs`).
//!
//! To test the store (or a client's handling of its answers):
//! - [`valid_append`]: a well-formed batch continuing a stream's head,
//!   printed readably ([`Append`]: payloads as JSON text);
//! - [`invalid_append`]: a request broken in one way, with the status code
//!   the store must answer (see [`Invalid`]);
//! - [`operations`]: sequences of appends and reads over a few tenants and
//!   streams, for model-based tests;
//! - [`plan::op`]: the richer steps the project's model test draws (defects,
//!   resends, subscriptions), run against any `EventStoreClient<Channel>`
//!   by [`plan::Interpreter`].
//!
//! A property runs synchronously (proptest's runner), so it drives the
//! mock through a runtime of its own: `start_on` starts the mock on it and
//! `block_on` runs each call. In a `#[test]`, write the same inside
//! `proptest! { #[test] fn ... }`.
//!
//! ```
//! use eventstore_mock::{MockEventStore, strategies::invalid_append};
//! use proptest::prelude::*;
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let mock = MockEventStore::builder().start_on(rt.handle()).unwrap();
//! proptest!(ProptestConfig::with_cases(32), |(case in invalid_append())| {
//!     let status = rt.block_on(mock.client().append(case.request)).unwrap_err();
//!     prop_assert_eq!(status.code(), case.kind.code());
//! });
//! ```
//!
//! Your own events, applied to the mock and read back into a toy
//! projection (the code under test): what it builds from the store is what
//! it builds from the events themselves, whatever the interleaving of
//! orders.
//!
//! ```
//! use eventstore_mock::{MockEventStore, strategies::{appends_for, histories}};
//! use proptest::prelude::*;
//! use serde::{Deserialize, Serialize};
//! use std::collections::{BTreeMap, BTreeSet};
//!
//! #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
//! enum OrderEvent {
//!     Placed,
//!     ItemAdded { qty: u32 },
//!     Cancelled,
//! }
//!
//! fn order_event() -> impl Strategy<Value = OrderEvent> {
//!     prop_oneof![
//!         Just(OrderEvent::Placed),
//!         (1u32..5).prop_map(|qty| OrderEvent::ItemAdded { qty }),
//!         Just(OrderEvent::Cancelled),
//!     ]
//! }
//!
//! /// The code under test: the item count of each open order.
//! #[derive(Default, Debug, PartialEq)]
//! struct OpenOrders(BTreeMap<String, u32>);
//!
//! impl OpenOrders {
//!     fn apply(&mut self, order: &str, event: &OrderEvent) {
//!         match event {
//!             OrderEvent::Placed => {
//!                 self.0.entry(order.to_owned()).or_insert(0);
//!             }
//!             OrderEvent::ItemAdded { qty } => {
//!                 if let Some(items) = self.0.get_mut(order) {
//!                     *items += qty;
//!                 }
//!             }
//!             OrderEvent::Cancelled => {
//!                 self.0.remove(order);
//!             }
//!         }
//!     }
//! }
//!
//! // The event type from the variant (a plain name works too: "com.shop.OrderEvent").
//! let event_type = |e: &OrderEvent| match e {
//!     OrderEvent::Placed => "com.shop.OrderPlaced".to_string(),
//!     OrderEvent::ItemAdded { .. } => "com.shop.ItemAdded".to_string(),
//!     OrderEvent::Cancelled => "com.shop.OrderCancelled".to_string(),
//! };
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let mock = MockEventStore::builder().start_on(rt.handle()).unwrap();
//! proptest!(ProptestConfig::with_cases(32), |(history in histories(order_event(), 3, 0..30))| {
//!     mock.reset_data(); // the ids agg-0.. repeat from case to case
//!     let requests = appends_for("shop", "Order", event_type, &history).unwrap();
//!     let mut from_history = OpenOrders::default();
//!     for (order, event) in &history {
//!         from_history.apply(order, event);
//!     }
//!
//!     let orders: BTreeSet<&String> = history.iter().map(|(order, _)| order).collect();
//!     let from_store = rt.block_on(async {
//!         let mut client = mock.client();
//!         for request in requests {
//!             client.append(request).await.unwrap();
//!         }
//!         let mut projection = OpenOrders::default();
//!         for order in orders {
//!             for stored in mock.read_all("shop", order).await.unwrap() {
//!                 let event: OrderEvent = serde_json::from_slice(&stored.payload).unwrap();
//!                 projection.apply(order, &event);
//!             }
//!         }
//!         projection
//!     });
//!     prop_assert_eq!(&from_store, &from_history);
//!     prop_assert!(from_store.0.len() <= 3); // at most one entry per aggregate
//! });
//! ```

pub mod consumer;
mod history;
pub mod plan;
mod readable;
mod requests;

pub use history::{EventTypeFor, appends_for, histories};
pub use readable::Append;
pub use requests::*;

//! A consumer checked under at-least-once delivery, with the state machine
//! of `eventstore_mock::strategies::consumer` (feature `proptest`).
//!
//! The consumer is a stock projection: the units on hand per product, from
//! `Received` and `Shipped` events. It is idempotent because it remembers
//! the last aggregate nonce it applied per product, so an event delivered
//! again after the connection was cut between its handle and its ack
//! changes nothing. Delete the `if meta.aggregate_nonce <= *applied`
//! guard and the check fails, printing the shrunk run (an append, its
//! delivery, a cut) and both states.
//!
//! ```text
//! cargo run -p eventstore-mock --features proptest --example consumer_state_machine
//! ```
//!
//! `cargo test` runs this file's test too (`test = true` in Cargo.toml).

use eventstore_mock::strategies::consumer::{self, Consumer};
use eventstore_proto::EventData;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The events: what happened to one product's stock.
#[derive(Serialize, Deserialize, Clone, Debug)]
enum StockEvent {
    Received(u32),
    Shipped(u32),
}

/// The code under test.
#[derive(Default)]
struct StockLevels {
    /// Units on hand per product (aggregate id).
    on_hand: BTreeMap<String, i64>,
    /// The last aggregate nonce applied per product: what makes a
    /// redelivery harmless. (Kept with `on_hand`, in one transaction, in a
    /// real projection.)
    applied: BTreeMap<String, u64>,
}

impl Consumer for StockLevels {
    type Event = StockEvent;
    type State = BTreeMap<String, i64>;

    fn events() -> BoxedStrategy<StockEvent> {
        prop_oneof![
            (1u32..10).prop_map(StockEvent::Received),
            (1u32..10).prop_map(StockEvent::Shipped),
        ]
        .boxed()
    }

    fn event_type(event: &StockEvent) -> String {
        match event {
            StockEvent::Received(_) => "com.shop.StockReceived".into(),
            StockEvent::Shipped(_) => "com.shop.StockShipped".into(),
        }
    }

    fn handle(&mut self, event: &EventData) {
        let Some(meta) = &event.meta else { return };
        let applied = self.applied.entry(meta.aggregate_id.clone()).or_default();
        if meta.aggregate_nonce <= *applied {
            return; // delivered again: already applied
        }
        *applied = meta.aggregate_nonce;
        // An event this projection cannot read is skipped, not a panic.
        let Ok(stock_event) = serde_json::from_slice::<StockEvent>(&event.payload) else {
            return;
        };
        let level = self.on_hand.entry(meta.aggregate_id.clone()).or_default();
        match stock_event {
            StockEvent::Received(units) => *level += i64::from(units),
            StockEvent::Shipped(units) => *level -= i64::from(units),
        }
    }

    fn state(&self) -> Self::State {
        self.on_hand.clone()
    }
}

fn main() {
    match consumer::check::<StockLevels>(ProptestConfig::with_cases(64), 1..30) {
        Ok(()) => println!("StockLevels ends in the same state under redelivery (64 runs)"),
        Err(failure) => {
            eprintln!("{failure}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_levels_survive_redelivery() {
        if let Err(failure) = consumer::check::<StockLevels>(ProptestConfig::with_cases(32), 1..30)
        {
            panic!("{failure}");
        }
    }
}

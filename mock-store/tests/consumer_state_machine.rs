//! `strategies::consumer::check`: it catches a projection that is not
//! idempotent under redelivery, shrinks the failure to the few steps that
//! show it, and passes the same projection made idempotent.

use eventstore_mock::strategies::consumer::{self, Consumer, Transition};
use eventstore_proto::EventData;
use proptest::{
    prelude::*,
    test_runner::{RngSeed, TestError},
};
use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicUsize, Ordering},
};

/// Counts events per aggregate, and counts a redelivered event again: the
/// bug the check is for.
#[derive(Default)]
struct DoubleCounter(BTreeMap<String, u64>);

impl Consumer for DoubleCounter {
    type Event = u8;
    type State = BTreeMap<String, u64>;

    fn events() -> BoxedStrategy<u8> {
        any::<u8>().boxed()
    }

    fn handle(&mut self, event: &EventData) {
        let aggregate = event.meta.as_ref().map_or("", |m| m.aggregate_id.as_str());
        *self.0.entry(aggregate.to_owned()).or_default() += 1;
    }

    fn state(&self) -> Self::State {
        self.0.clone()
    }
}

/// Events [`IdempotentCounter`] was handed again (over all its runs).
static REDELIVERED: AtomicUsize = AtomicUsize::new(0);

/// The same count, skipping an event whose aggregate nonce it has applied.
#[derive(Default)]
struct IdempotentCounter {
    counts: BTreeMap<String, u64>,
    applied: BTreeMap<String, u64>,
}

impl Consumer for IdempotentCounter {
    type Event = u8;
    type State = BTreeMap<String, u64>;

    fn events() -> BoxedStrategy<u8> {
        any::<u8>().boxed()
    }

    fn handle(&mut self, event: &EventData) {
        let Some(meta) = &event.meta else { return };
        let applied = self.applied.entry(meta.aggregate_id.clone()).or_default();
        if meta.aggregate_nonce > *applied {
            *applied = meta.aggregate_nonce;
            *self.counts.entry(meta.aggregate_id.clone()).or_default() += 1;
        } else {
            REDELIVERED.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn state(&self) -> Self::State {
        self.counts.clone()
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn a_counter_that_counts_a_redelivery_twice_fails_with_a_short_run() {
    // A fixed seed: the failure must be found on any seed (its first runs
    // find it), but how far shrinking gets depends on the runs drawn.
    let config = ProptestConfig {
        rng_seed: RngSeed::Fixed(25),
        ..config()
    };
    let Err(TestError::Fail(reason, (_, transitions, _))) =
        consumer::check::<DoubleCounter>(config, 1..30)
    else {
        panic!("the check passed a consumer that counts a redelivered event twice");
    };
    let reason = reason.to_string();
    assert!(
        reason.contains("not that of a fresh consumer fed the log once"),
        "{reason}"
    );
    // The shortest story: an event appended and handled, the connection
    // cut before its ack, then (in the catch-up that ends every run) its
    // redelivery: [Append, Deliver, Cut]. proptest-state-machine deletes
    // each transition once, back to front, so a run may keep one or two
    // more (seen: [Append, Deliver, Cut, Restart, Append]).
    assert!(
        transitions.len() <= 5,
        "shrunk to {} transitions: {transitions:?}",
        transitions.len()
    );
    assert!(
        transitions.iter().any(|t| matches!(t, Transition::Deliver)),
        "{transitions:?}"
    );
    assert!(
        transitions.iter().any(|t| matches!(t, Transition::Cut)),
        "a redelivery needs a cut: {transitions:?}"
    );
}

#[test]
fn the_same_counter_made_idempotent_passes() {
    if let Err(failure) = consumer::check::<IdempotentCounter>(config(), 1..30) {
        panic!("{failure}");
    }
    // Not a vacuous pass: the runs cut subscriptions and redelivered.
    assert!(REDELIVERED.load(Ordering::SeqCst) > 0);
}

//! Histories of the user's own events, and the append requests that store
//! them. [`super::valid_append`] tests the store: it needs a stream's head
//! when the strategy is built, and its events are made up. A user testing
//! their own code (a projection, a handler, a read model) wants their own
//! event type spread over a few aggregates, with the nonces worked out.

use eventstore_proto::{AppendRequest, EventData, EventMetadata};
use proptest::{collection::SizeRange, prelude::*};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Debug;

/// Histories of events drawn from `events`, spread over at most
/// `aggregates` aggregates: `(aggregate id, event)` in append order, with
/// `size` events (a count or a range, as for `proptest::collection::vec`).
///
/// Aggregate ids are `agg-0`, `agg-1`, ...: an id is drawn as its index,
/// which shrinks towards 0, so a failing history shrinks towards fewer
/// events, fewer distinct aggregates and simpler events (each as
/// `events` shrinks it). Turn a history into requests with
/// [`appends_for`].
///
/// The ids repeat from one case to the next: give each case a store of its
/// own (`MockEventStore::reset_data`) or a tenant of its own.
///
/// # Panics
///
/// If `aggregates` is 0: no event would have an aggregate to go to.
///
/// ```
/// use eventstore_mock::strategies::histories;
/// use proptest::prelude::*;
///
/// proptest!(|(history in histories(0u32..10, 3, 1..20))| {
///     prop_assert!(!history.is_empty() && history.len() < 20);
///     for (aggregate_id, _) in &history {
///         prop_assert!(["agg-0", "agg-1", "agg-2"].contains(&aggregate_id.as_str()));
///     }
/// });
/// ```
pub fn histories<T, S>(
    events: S,
    aggregates: usize,
    size: impl Into<SizeRange>,
) -> impl Strategy<Value = Vec<(String, T)>>
where
    S: Strategy<Value = T>,
    T: Serialize + Clone + Debug,
{
    assert!(
        aggregates > 0,
        "histories: `aggregates` must be at least 1 (each event goes to one aggregate)"
    );
    proptest::collection::vec((0..aggregates, events), size).prop_map(|draws| {
        draws
            .into_iter()
            .map(|(index, event)| (aggregate_id(index), event))
            .collect()
    })
}

/// How [`appends_for`] names an event's type: one name for every event
/// (`"com.example.OrderEvent"`, a `&str` or a `String`), or a closure from
/// the event (`|e: &OrderEvent| ...`, for an enum whose variants are the
/// types).
pub trait EventTypeFor<T> {
    /// The `event_type` of `event`.
    fn event_type(&self, event: &T) -> String;
}

impl<T> EventTypeFor<T> for &str {
    fn event_type(&self, _: &T) -> String {
        (*self).to_owned()
    }
}

impl<T> EventTypeFor<T> for String {
    fn event_type(&self, _: &T) -> String {
        self.clone()
    }
}

impl<T, F: Fn(&T) -> String> EventTypeFor<T> for F {
    fn event_type(&self, event: &T) -> String {
        self(event)
    }
}

/// Valid append requests storing `history` (as drawn by [`histories`]) in
/// `tenant`, each aggregate a stream of type `aggregate_type`, in an empty
/// store: one request per event, in the history's order.
///
/// Each request expects its stream's head: 0 for a stream's first event,
/// then the number of its events before this one; so the requests apply
/// one after the other, whatever the interleaving of streams. One request
/// per event (not per run of a stream's events) keeps `requests[i]` the
/// append of `history[i]`. Each event gets:
/// - `event_id`: `{aggregate id}-{nonce}`, deterministic so a shrunk case
///   reproduces, and unique within the tenant as stream ids are;
/// - `event_type`: from `event_type` (a name, or a closure of the event,
///   see [`EventTypeFor`]), `event_version` 1;
/// - the payload: the event as JSON (`serde_json`), `application/json`.
///
/// # Errors
///
/// The first event `serde_json` cannot serialize (a map with non-string
/// keys, a failing `Serialize` impl).
///
/// ```
/// use eventstore_mock::{MockEventStore, strategies::appends_for};
/// use serde::Serialize;
///
/// #[derive(Serialize, Clone, Debug)]
/// enum Counter { Added(u32), Reset }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let history = vec![
///     ("agg-0".to_string(), Counter::Added(2)),
///     ("agg-1".to_string(), Counter::Reset),
///     ("agg-0".to_string(), Counter::Added(3)),
/// ];
/// let kind = |e: &Counter| match e {
///     Counter::Added(_) => "com.example.Added".to_string(),
///     Counter::Reset => "com.example.Reset".to_string(),
/// };
/// let requests = appends_for("t", "Counter", kind, &history).unwrap();
/// assert_eq!(requests[2].expected_aggregate_nonce, 1); // agg-0's second event
///
/// let mock = MockEventStore::start().await;
/// let mut client = mock.client();
/// for request in requests {
///     client.append(request).await.unwrap();
/// }
/// let stored = mock.read_all("t", "agg-0").await.unwrap();
/// assert_eq!(stored[1].payload, br#"{"Added":3}"#);
/// # }
/// ```
pub fn appends_for<T: Serialize>(
    tenant: &str,
    aggregate_type: &str,
    event_type: impl EventTypeFor<T>,
    history: &[(String, T)],
) -> Result<Vec<AppendRequest>, serde_json::Error> {
    let mut heads: HashMap<&str, u64> = HashMap::new();
    history
        .iter()
        .map(|(aggregate_id, event)| {
            let head = heads.entry(aggregate_id.as_str()).or_insert(0);
            let expected = *head;
            *head += 1;
            append_of(
                tenant,
                aggregate_type,
                aggregate_id,
                expected,
                event_type.event_type(event),
                event,
            )
        })
        .collect()
}

/// The append of one `event` to `aggregate_id` whose head is `head`, as
/// [`appends_for`] makes each of its requests (also the consumer state
/// machine's appends, so both store events alike).
pub(crate) fn append_of<T: Serialize>(
    tenant: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    head: u64,
    event_type: String,
    event: &T,
) -> Result<AppendRequest, serde_json::Error> {
    Ok(AppendRequest {
        tenant_id: tenant.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        aggregate_type: aggregate_type.to_owned(),
        expected_aggregate_nonce: head,
        idempotency_key: String::new(),
        events: vec![EventData {
            meta: Some(EventMetadata {
                event_id: format!("{aggregate_id}-{}", head + 1),
                aggregate_nonce: head + 1,
                event_type,
                event_version: 1,
                content_type: "application/json".into(),
                ..EventMetadata::default()
            }),
            payload: serde_json::to_vec(event)?,
        }],
    })
}

/// The id of the aggregate drawn as `index`: `agg-{index}` (the histories'
/// and the consumer check's naming).
pub(crate) fn aggregate_id(index: usize) -> String {
    format!("agg-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockEventStore;
    use proptest::test_runner::{TestError, TestRunner};
    use std::collections::{BTreeMap, BTreeSet};

    #[derive(Serialize, Clone, Debug, PartialEq)]
    enum Event {
        Opened { by: String },
        Added(u8),
        Closed,
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            "[a-z]{0,4}".prop_map(|by| Event::Opened { by }),
            any::<u8>().prop_map(Event::Added),
            Just(Event::Closed),
        ]
    }

    fn distinct(history: &[(String, impl Sized)]) -> BTreeSet<&str> {
        history.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Every drawn history, as requests, is accepted by the engine in
    /// order, and each stream reads back as its events' JSON in order.
    #[test]
    fn appends_for_a_history_are_accepted_and_read_back_in_order() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mock = runtime.block_on(MockEventStore::start());
        let engine = mock.engine();
        let mut runner = TestRunner::default();
        let case = std::cell::Cell::new(0);
        runner
            .run(&histories(event(), 3, 0..25), |history| {
                case.set(case.get() + 1);
                let tenant = format!("t-{}", case.get());
                let kind = |e: &Event| match e {
                    Event::Opened { .. } => "com.example.Opened".to_string(),
                    Event::Added(_) => "com.example.Added".to_string(),
                    Event::Closed => "com.example.Closed".to_string(),
                };
                let requests = appends_for(&tenant, "Thing", kind, &history)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(requests.len(), history.len());
                for request in requests {
                    runtime
                        .block_on(engine.append(request))
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                let mut expected: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
                for (id, event) in &history {
                    let json = serde_json::to_vec(event)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    expected.entry(id).or_default().push(json);
                }
                for (id, payloads) in expected {
                    let stored = runtime
                        .block_on(mock.read_all(&tenant, id))
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let stored: Vec<Vec<u8>> = stored.into_iter().map(|e| e.payload).collect();
                    prop_assert_eq!(stored, payloads);
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_closure_or_a_name_gives_the_event_type_and_nonces_count_per_stream() {
        let history = vec![
            ("a".to_string(), Event::Added(1)),
            ("b".to_string(), Event::Closed),
            ("a".to_string(), Event::Closed),
        ];
        let named = appends_for("t", "Thing", "com.example.Event", &history).unwrap();
        let derived = appends_for("t", "Thing", |e: &Event| format!("{e:?}"), &history).unwrap();
        let meta = |r: &AppendRequest| r.events[0].meta.clone().unwrap();
        assert_eq!(meta(&named[1]).event_type, "com.example.Event");
        assert_eq!(meta(&derived[1]).event_type, "Closed");
        let nonces: Vec<_> = named
            .iter()
            .map(|r| (r.expected_aggregate_nonce, meta(r).aggregate_nonce))
            .collect();
        assert_eq!(nonces, [(0, 1), (0, 1), (1, 2)]);
        assert_eq!(meta(&named[2]).event_id, "a-2");
        assert_eq!(named[0].events[0].payload, br#"{"Added":1}"#);
    }

    /// A map with non-string keys has no JSON form: an error, not a panic.
    #[test]
    fn an_event_json_cannot_hold_is_an_error() {
        let history = vec![("a".to_string(), BTreeMap::from([((1, 2), 3)]))];
        assert!(appends_for("t", "Thing", "T", &history).is_err());
    }

    /// A failure any event triggers shrinks to one event, on the first
    /// aggregate, the simplest one.
    #[test]
    fn histories_shrink_to_one_simple_event_on_the_first_aggregate() {
        let mut runner = TestRunner::default();
        let result = runner.run(&histories(event(), 5, 0..30), |history| {
            prop_assert!(history.is_empty());
            Ok(())
        });
        let Err(TestError::Fail(_, minimal)) = result else {
            panic!("must fail: {result:?}");
        };
        let simplest = Event::Opened { by: String::new() };
        assert_eq!(minimal, [("agg-0".to_string(), simplest)]);
    }

    /// A failure that needs two aggregates shrinks to two events on two
    /// aggregates, the simplest events. (Which two is not fixed: an index
    /// shrinks by bisection, which can stop at `agg-2` when `agg-1` was
    /// never tried.)
    #[test]
    fn histories_shrink_to_fewer_events_and_aggregates() {
        let mut runner = TestRunner::default();
        let result = runner.run(&histories(event(), 5, 0..30), |history| {
            prop_assert!(distinct(&history).len() < 2);
            Ok(())
        });
        let Err(TestError::Fail(_, minimal)) = result else {
            panic!("must fail: {result:?}");
        };
        assert_eq!(minimal.len(), 2, "{minimal:?}");
        assert_eq!(distinct(&minimal).len(), 2, "{minimal:?}");
        for (_, event) in &minimal {
            assert_eq!(event, &Event::Opened { by: String::new() }, "{minimal:?}");
        }
    }

    #[test]
    fn histories_stay_within_the_aggregates_and_the_size() {
        let mut runner = TestRunner::default();
        runner
            .run(&histories(any::<u8>(), 2, 3..=4), |history| {
                prop_assert!((3..=4).contains(&history.len()));
                prop_assert!(
                    distinct(&history)
                        .iter()
                        .all(|id| *id == "agg-0" || *id == "agg-1")
                );
                Ok(())
            })
            .unwrap();
    }

    #[test]
    #[should_panic(expected = "`aggregates` must be at least 1")]
    fn histories_over_no_aggregates_panic() {
        let _ = histories(any::<u8>(), 0, 1..3);
    }
}

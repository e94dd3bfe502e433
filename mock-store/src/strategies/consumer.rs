//! A model-based test of a user's consumer (a projection, a handler)
//! against at-least-once delivery: the Rust twin of the Python layer's
//! `check_redelivery`, as a state machine (`proptest-state-machine`).
//!
//! A subscription delivers every event at least once: when the connection
//! dies between a consumer's `handle` of an event and its `ack` (the
//! checkpoint it resumes from), the event comes again after the consumer
//! resumes. A consumer must end where it would have ended with each event
//! once. [`check`] draws runs of [`Transition`]s (appends of your events,
//! deliveries, acks, cuts, restarts), drives your [`Consumer`] through a
//! real subscription to an in-process [`MockEventStore`], and after every
//! transition where the consumer has handled the whole log compares its
//! [`Consumer::state`] with a fresh consumer's fed the log once (read back
//! with `ReadAll`). A failing run shrinks to a short sequence, such as
//! `[Append, Deliver, Cut]`: "an event handled, the connection cut before
//! its ack, and the state after its redelivery differs".
//!
//! A cut is the mock's own fault, not the test dropping its stream: each
//! subscription is opened with `Respond::pass_through().fail_after(k,
//! UNAVAILABLE, ..)`, `k` the deliveries the run makes on it before its
//! cut, so the consumer sees what a store going away mid-stream looks like
//! (the wire contract's `UNAVAILABLE`), then resumes from its checkpoint.
//!
//! The consumer's state survives cuts and restarts (it lives in your
//! database; only the subscription is lost), so a state built twice from
//! one event is the bug this finds.
//!
//! ```
//! use eventstore_mock::strategies::consumer::{self, Consumer};
//! use eventstore_proto::EventData;
//! use proptest::prelude::*;
//! use std::collections::BTreeMap;
//!
//! /// The code under test: units sold per product, idempotent because it
//! /// remembers the last aggregate nonce it applied per product.
//! #[derive(Default)]
//! struct Sales {
//!     units: BTreeMap<String, u64>,
//!     applied: BTreeMap<String, u64>,
//! }
//!
//! impl Consumer for Sales {
//!     type Event = u8; // units sold, stored as JSON
//!     type State = BTreeMap<String, u64>;
//!
//!     fn events() -> BoxedStrategy<u8> {
//!         (1u8..5).boxed()
//!     }
//!
//!     fn handle(&mut self, event: &EventData) {
//!         let Some(meta) = &event.meta else { return };
//!         let applied = self.applied.entry(meta.aggregate_id.clone()).or_default();
//!         if meta.aggregate_nonce <= *applied {
//!             return; // seen before: a redelivery
//!         }
//!         *applied = meta.aggregate_nonce;
//!         let units: u8 = serde_json::from_slice(&event.payload).unwrap_or_default();
//!         *self.units.entry(meta.aggregate_id.clone()).or_default() += u64::from(units);
//!     }
//!
//!     fn state(&self) -> Self::State {
//!         self.units.clone()
//!     }
//! }
//!
//! if let Err(failure) = consumer::check::<Sales>(ProptestConfig::with_cases(16), 1..20) {
//!     panic!("{failure}");
//! }
//! ```

use super::history::{aggregate_id, append_of};
use crate::{Mock, MockEventStore, Respond, matchers::subscribe};
use eventstore_proto::{
    EventData, ReadAllRequest, SubscribeRequest, SubscribeResponse,
    event_store_client::EventStoreClient,
};
use proptest::{
    collection::SizeRange,
    prelude::*,
    strategy::Union,
    test_runner::{Config, TestCaseError, TestError, TestRunner},
};
use proptest_state_machine::ReferenceStateMachine;
use serde::Serialize;
use std::{
    collections::HashMap,
    fmt::Debug,
    marker::PhantomData,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tonic::{Code, Streaming, transport::Channel};

/// The tenant the runs write to (each case starts from an empty mock).
pub const TENANT: &str = "consumer-check";
/// The type of every stream the runs append to.
pub const AGGREGATE_TYPE: &str = "Aggregate";
/// How long the run waits for one call or one delivery: a hang fails the
/// case, after long enough that a loaded machine does not.
const WAIT: Duration = Duration::from_secs(10);

/// What [`check`] drives: your consumer, and the events it consumes.
///
/// A fresh consumer is `Default::default()`; [`check`] makes one per run,
/// and one more each time it computes the expected state.
pub trait Consumer: Default + 'static {
    /// Your event type: drawn from [`Consumer::events`], stored as its JSON
    /// (`serde_json`), `application/json`.
    type Event: Serialize + Clone + Debug + 'static;
    /// What the consumer has built, compared with `==` (printed on failure).
    type State: PartialEq + Debug;
    /// How many aggregates (`agg-0`, `agg-1`, ...) the events go to.
    const AGGREGATES: usize = 3;

    /// The events to draw, shrinking towards the simplest.
    fn events() -> BoxedStrategy<Self::Event>;

    /// The `event_type` `event` is stored with. By default the event
    /// type's Rust name without its path and generics (`OrderEvent` for
    /// `shop::OrderEvent`): one type for every event; a consumer that
    /// dispatches on the type names each variant here.
    fn event_type(event: &Self::Event) -> String {
        let _ = event;
        let name = std::any::type_name::<Self::Event>();
        let plain = name.split('<').next().unwrap_or(name);
        plain.rsplit("::").next().unwrap_or(plain).to_owned()
    }

    /// Applies one delivered event (as the subscription delivered it:
    /// metadata and payload bytes).
    fn handle(&mut self, event: &EventData);

    /// What the consumer has built so far.
    fn state(&self) -> Self::State;
}

/// One step of a run.
#[derive(Debug, Clone)]
pub enum Transition<E> {
    /// Appends `event` to aggregate `agg-{aggregate}`.
    Append { aggregate: usize, event: E },
    /// The subscription delivers its next event; the consumer handles it.
    Deliver,
    /// The consumer acknowledges the last event it handled: its checkpoint.
    Ack,
    /// The store cuts the subscription (`UNAVAILABLE`) between the handle
    /// of an event and its ack: every event handled since the last ack
    /// will be delivered again. (Only then: a cut with nothing unacked
    /// shows nothing a cut after an ack does not, and a run that needs a
    /// restart only after a cut shrinks to its essence.)
    Cut,
    /// The consumer subscribes again, from after its checkpoint (after a
    /// cut: a consumer restarted while connected shows the same, its
    /// unacked events coming again).
    Restart,
}

/// The reference state: where the log, the consumer and its subscription
/// are. Positions count events of the log (`log[..n]`).
#[derive(Debug, Clone)]
pub struct Model<E> {
    /// Every event appended, `(aggregate id, event)` in the log's order.
    pub log: Vec<(String, E)>,
    /// The events acknowledged: the consumer resumes after `log[checkpoint - 1]`.
    pub checkpoint: usize,
    /// The events the current subscription has delivered, counted from the
    /// log's start (a subscription starts at the checkpoint).
    pub position: usize,
    /// Whether the subscription is up (a cut takes it down, a restart
    /// brings it back).
    pub connected: bool,
}

impl<E> Model<E> {
    /// Whether the current subscription has delivered every event of the
    /// log (after a restart, not until the events after the checkpoint
    /// have come again).
    pub fn caught_up(&self) -> bool {
        self.position == self.log.len()
    }
}

/// The state machine of [`Consumer`] `C` (the generation and shrinking of
/// runs; [`check`] runs them). Usable on its own with
/// `ConsumerMachine::<C>::sequential_strategy(size)`.
#[derive(Debug)]
pub struct ConsumerMachine<C>(PhantomData<C>);

impl<C: Consumer> ReferenceStateMachine for ConsumerMachine<C> {
    type State = Model<C::Event>;
    type Transition = Transition<C::Event>;

    fn init_state() -> BoxedStrategy<Self::State> {
        // The consumer starts subscribed from the start of an empty log.
        Just(Model {
            log: Vec::new(),
            checkpoint: 0,
            position: 0,
            connected: true,
        })
        .boxed()
    }

    fn transitions(state: &Self::State) -> BoxedStrategy<Self::Transition> {
        let append = (0..C::AGGREGATES.max(1), C::events())
            .prop_map(|(aggregate, event)| Transition::Append { aggregate, event })
            .boxed();
        // Only the transitions possible now (the preconditions decide), so
        // none is drawn in vain.
        let others = [
            (4, Transition::Deliver),
            (2, Transition::Ack),
            (1, Transition::Cut),
            (3, Transition::Restart),
        ];
        let mut choices = vec![(3, append)];
        choices.extend(
            others
                .into_iter()
                .filter(|(_, transition)| Self::preconditions(state, transition))
                .map(|(weight, transition)| (weight, Just(transition).boxed())),
        );
        Union::new_weighted(choices).boxed()
    }

    fn preconditions(state: &Self::State, transition: &Self::Transition) -> bool {
        match transition {
            Transition::Append { .. } => true,
            Transition::Deliver => state.connected && state.position < state.log.len(),
            Transition::Ack => state.connected && state.position > state.checkpoint,
            Transition::Cut => state.connected && state.position > state.checkpoint,
            Transition::Restart => !state.connected,
        }
    }

    fn apply(mut state: Self::State, transition: &Self::Transition) -> Self::State {
        match transition {
            Transition::Append { aggregate, event } => {
                state.log.push((aggregate_id(*aggregate), event.clone()));
            }
            Transition::Deliver => state.position += 1,
            Transition::Ack => state.checkpoint = state.position,
            Transition::Cut => state.connected = false,
            Transition::Restart => {
                state.connected = true;
                state.position = state.checkpoint;
            }
        }
        state
    }
}

/// A run as [`check`] draws it: the initial model, the transitions, and
/// the library's counter of the transitions applied (for shrinking).
pub type Run<E> = (Model<E>, Vec<Transition<E>>, Option<Arc<AtomicUsize>>);

/// Runs `config.cases` random runs of `size` transitions against consumer
/// `C` through an in-process [`MockEventStore`] (see the [module
/// docs](self)). Each run ends by catching the consumer up (a restart if
/// it is cut off, then every remaining event), so every run ends with the
/// comparison.
///
/// Call it from a plain `#[test]`, not from async code: it blocks on a
/// runtime of its own. proptest keeps failing runs for replay only when
/// told the test's file (`config.source_file = Some(file!())`).
///
/// # Errors
///
/// proptest's [`TestError`]: `Fail(reason, run)` with the shrunk run
/// (`run.1` is the minimal sequence of transitions) and why it fails; or
/// `Abort` when the mock or its runtime cannot start.
pub fn check<C: Consumer>(
    config: Config,
    size: impl Into<SizeRange>,
) -> Result<(), TestError<Run<C::Event>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestError::Abort(format!("a tokio runtime: {e}").into()))?;
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start_on(runtime.handle())
        .map_err(|e| TestError::Abort(format!("the mock: {e}").into()))?;
    let mut config = config;
    if config.source_file.is_none() {
        // proptest keeps failing cases in a file beside the test's source,
        // which it only knows when told (`source_file: Some(file!())`):
        // without it there is nowhere to keep them, and no warning is due.
        config.failure_persistence = None;
    }
    let strategy = ConsumerMachine::<C>::sequential_strategy(size);
    TestRunner::new(config).run(&strategy, |(initial, transitions, seen)| {
        mock.reset();
        runtime.block_on(drive::<C>(&mock, initial, transitions, seen))
    })
}

/// One run: the transitions applied to the model and to the consumer.
async fn drive<C: Consumer>(
    mock: &MockEventStore,
    mut model: Model<C::Event>,
    transitions: Vec<Transition<C::Event>>,
    seen: Option<Arc<AtomicUsize>>,
) -> Result<(), TestCaseError> {
    let mut run = Driver::<C> {
        mock,
        client: mock.client(),
        consumer: C::default(),
        globals: Vec::new(),
        heads: HashMap::new(),
        subscription: None,
        delivered: 0,
    };
    run.subscribe(&model, cut_after(&transitions)).await;
    for (index, transition) in transitions.iter().enumerate() {
        if let Some(seen) = &seen {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        let context = format!("transition {index} ({transition:?})");
        if !ConsumerMachine::<C>::preconditions(&model, transition) {
            return Err(TestCaseError::fail(format!(
                "{context}: not possible in {model:?} (a run respects the machine's preconditions)"
            )));
        }
        match transition {
            Transition::Append { aggregate, event } => {
                run.append(&aggregate_id(*aggregate), event, &context)
                    .await?;
                model = ConsumerMachine::<C>::apply(model, transition);
            }
            Transition::Deliver => {
                run.deliver(&model, &context).await?;
                model = ConsumerMachine::<C>::apply(model, transition);
            }
            Transition::Ack => model = ConsumerMachine::<C>::apply(model, transition),
            Transition::Cut => {
                run.expect_cut(&context).await?;
                model = ConsumerMachine::<C>::apply(model, transition);
            }
            Transition::Restart => {
                model = ConsumerMachine::<C>::apply(model, transition);
                run.subscribe(&model, cut_after(&transitions[index + 1..]))
                    .await;
            }
        }
        if model.caught_up() {
            run.check_caught_up(&model, &format!("after {context}"))
                .await?;
        }
    }
    // Catch up: every run ends with the comparison.
    if !model.connected {
        model = ConsumerMachine::<C>::apply(model, &Transition::Restart);
        run.subscribe(&model, None).await;
    }
    while !model.caught_up() {
        run.deliver(&model, "catching up after the last transition")
            .await?;
        model = ConsumerMachine::<C>::apply(model, &Transition::Deliver);
    }
    run.check_caught_up(&model, "at the end").await
}

/// The deliveries a subscription opened before `rest` makes before its
/// cut; `None` when it is not cut.
fn cut_after<E>(rest: &[Transition<E>]) -> Option<u64> {
    let mut deliveries = 0;
    for transition in rest {
        match transition {
            Transition::Deliver => deliveries += 1,
            Transition::Cut => return Some(deliveries),
            // A restart needs a cut first: this subscription is not cut.
            Transition::Restart => return None,
            Transition::Append { .. } | Transition::Ack => {}
        }
    }
    None
}

/// The consumer and its subscription.
struct Driver<'a, C> {
    mock: &'a MockEventStore,
    client: EventStoreClient<Channel>,
    consumer: C,
    /// The global nonce of each event of the log.
    globals: Vec<u64>,
    /// The head of each aggregate.
    heads: HashMap<String, u64>,
    /// The current subscription: its responses, or how opening it failed.
    subscription: Option<Result<Streaming<SubscribeResponse>, tonic::Status>>,
    /// Deliveries in this run, redeliveries included.
    delivered: usize,
}

impl<C: Consumer> Driver<'_, C> {
    /// Opens the subscription from after the checkpoint, cut by the mock
    /// after `cut` events when the run cuts it.
    async fn subscribe(&mut self, model: &Model<C::Event>, cut: Option<u64>) {
        let from = match model.checkpoint {
            0 => 0,
            n => self.globals[n - 1] + 1,
        };
        if let Some(after) = cut {
            Mock::given(subscribe())
                .respond_with(Respond::pass_through().fail_after(
                    after,
                    Code::Unavailable,
                    format!(
                        "cut by the consumer check after {after} events; resume from global_nonce {from}"
                    ),
                ))
                .up_to_n_times(1)
                .named("consumer check: the cut")
                .mount(self.mock);
        }
        let request = SubscribeRequest {
            tenant_id: TENANT.to_owned(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: from,
        };
        // A failure to open (or a cut after 0 events, which may come as
        // the call's own status) is kept: the next delivery or cut sees it.
        let opened = match tokio::time::timeout(WAIT, self.client.subscribe(request)).await {
            Ok(opened) => opened.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "the subscription did not open within {WAIT:?}"
            ))),
        };
        self.subscription = Some(opened);
    }

    async fn append(
        &mut self,
        aggregate: &str,
        event: &C::Event,
        context: &str,
    ) -> Result<(), TestCaseError> {
        let head = self.heads.get(aggregate).copied().unwrap_or(0);
        let request = append_of(
            TENANT,
            AGGREGATE_TYPE,
            aggregate,
            head,
            C::event_type(event),
            event,
        )
        .map_err(|e| TestCaseError::fail(format!("{context}: the event as JSON: {e}")))?;
        let response = tokio::time::timeout(WAIT, self.client.append(request))
            .await
            .map_err(|_| TestCaseError::fail(format!("{context}: no answer within {WAIT:?}")))?
            .map_err(|s| TestCaseError::fail(format!("{context}: the append failed: {s:?}")))?
            .into_inner();
        self.heads.insert(aggregate.to_owned(), head + 1);
        self.globals.push(response.last_global_nonce);
        Ok(())
    }

    /// The next response that carries an event, or the stream's end.
    async fn next_event(
        &mut self,
        context: &str,
    ) -> Result<Result<EventData, tonic::Status>, TestCaseError> {
        let stream = match self.subscription.as_mut() {
            Some(Ok(stream)) => stream,
            Some(Err(status)) => return Ok(Err(status.clone())),
            None => return Err(TestCaseError::fail(format!("{context}: no subscription"))),
        };
        loop {
            let next = tokio::time::timeout(WAIT, stream.message())
                .await
                .map_err(|_| {
                    TestCaseError::fail(format!("{context}: nothing came within {WAIT:?}"))
                })?;
            match next {
                Ok(Some(SubscribeResponse { event: Some(event) })) => return Ok(Ok(event)),
                // The caught-up marker, a keepalive.
                Ok(Some(SubscribeResponse { event: None })) => {}
                Ok(None) => {
                    return Ok(Err(tonic::Status::unknown("the subscription ended")));
                }
                Err(status) => return Ok(Err(status)),
            }
        }
    }

    async fn deliver(
        &mut self,
        model: &Model<C::Event>,
        context: &str,
    ) -> Result<(), TestCaseError> {
        let want = self.globals[model.position];
        let event = self.next_event(context).await?.map_err(|status| {
            TestCaseError::fail(format!(
                "{context}: the subscription failed instead of delivering global nonce {want}: {status:?}"
            ))
        })?;
        let got = event.meta.as_ref().map_or(0, |m| m.global_nonce);
        if got != want {
            return Err(TestCaseError::fail(format!(
                "{context}: the subscription delivered global nonce {got}, not {want}"
            )));
        }
        self.delivered += 1;
        self.consumer.handle(&event);
        Ok(())
    }

    async fn expect_cut(&mut self, context: &str) -> Result<(), TestCaseError> {
        match self.next_event(context).await? {
            Err(status) if status.code() == Code::Unavailable => {
                self.subscription = None;
                Ok(())
            }
            other => Err(TestCaseError::fail(format!(
                "{context}: the mock was to cut the subscription (UNAVAILABLE), it gave {other:?}"
            ))),
        }
    }

    /// The consumer's state against a fresh consumer's fed the log once.
    async fn check_caught_up(
        &mut self,
        model: &Model<C::Event>,
        context: &str,
    ) -> Result<(), TestCaseError> {
        let mut fresh = C::default();
        let mut from = 0;
        loop {
            let page = tokio::time::timeout(
                WAIT,
                self.client.read_all(ReadAllRequest {
                    tenant_id: TENANT.to_owned(),
                    from_global_nonce: from,
                    max_count: 0,
                    forward: true,
                }),
            )
            .await
            .map_err(|_| {
                TestCaseError::fail(format!("{context}: ReadAll: no answer within {WAIT:?}"))
            })?
            .map_err(|s| TestCaseError::fail(format!("{context}: ReadAll failed: {s:?}")))?
            .into_inner();
            for event in &page.events {
                fresh.handle(event);
            }
            if page.is_end || page.events.is_empty() {
                break;
            }
            from = page.next_from_global_nonce;
        }
        let (expected, actual) = (fresh.state(), self.consumer.state());
        if expected != actual {
            return Err(TestCaseError::fail(format!(
                "{context}: the consumer has handled all {} events ({} deliveries, so {} again after a cut), \
                 but its state is not that of a fresh consumer fed the log once:\n  expected: {expected:?}\n  actual:   {actual:?}",
                model.log.len(),
                self.delivered,
                self.delivered.saturating_sub(model.log.len()),
            )));
        }
        Ok(())
    }
}

//! Expectations: what calls to look for, how many, and how to answer them.
//!
//! ```
//! # use eventstore_mock::{MockEventStore, Mock, Respond, matchers::*};
//! # use eventstore_proto::{AppendRequest, EventData, EventMetadata};
//! # use tonic::Code;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let mock = MockEventStore::start().await;
//! Mock::given(append())
//!     .and(aggregate_id("order-1"))
//!     .respond_with(Respond::status(Code::Unavailable, "try later"))
//!     .on_nth_call(2)
//!     .expect(1..)
//!     .named("second append fails")
//!     .mount(&mock);
//! # let append = |expected: u64| AppendRequest {
//! #     tenant_id: "t".into(), aggregate_id: "order-1".into(), aggregate_type: "Order".into(),
//! #     expected_aggregate_nonce: expected,
//! #     events: vec![EventData {
//! #         meta: Some(EventMetadata {
//! #             event_id: format!("e{expected}"), aggregate_nonce: expected + 1,
//! #             event_type: "OrderPlaced".into(), ..Default::default()
//! #         }),
//! #         payload: b"{}".to_vec(),
//! #     }],
//! #     ..Default::default()
//! # };
//! # let mut client = mock.client();
//! // The first append goes through to the engine; the second fails.
//! assert!(client.append(append(0)).await.is_ok());
//! assert_eq!(client.append(append(1)).await.unwrap_err().message(), "try later");
//! # mock.verify().unwrap();
//! # }
//! ```
//!
//! Every expectation a call matches counts it. The answer comes from the
//! most recently mounted matching expectation that has a response (and whose
//! `on_nth_call`, if any, is this call); with none, the engine answers, as
//! the real store would.
//!
//! `up_to_n_times(n)` (as in the `wiremock` crate) retires an expectation
//! after n matching calls: later calls no longer match it, so they are not
//! counted and fall through to older expectations or the engine. That is
//! how a test says "fail twice, then work":
//!
//! ```
//! # use eventstore_mock::{MockEventStore, Mock, Respond, matchers::*};
//! # use eventstore_proto::{AppendRequest, EventData, EventMetadata};
//! # use tonic::Code;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let mock = MockEventStore::start().await;
//! Mock::given(append())
//!     .respond_with(Respond::conflict_at_head())
//!     .up_to_n_times(2) // and, without `.expect`, verifies exactly 2 calls
//!     .mount(&mock);
//! # let request = AppendRequest {
//! #     tenant_id: "t".into(), aggregate_id: "order-1".into(), aggregate_type: "Order".into(),
//! #     events: vec![EventData {
//! #         meta: Some(EventMetadata {
//! #             event_id: "e1".into(), aggregate_nonce: 1,
//! #             event_type: "OrderPlaced".into(), ..Default::default()
//! #         }),
//! #         payload: b"{}".to_vec(),
//! #     }],
//! #     ..Default::default()
//! # };
//! # let mut client = mock.client();
//! for _ in 0..2 {
//!     let status = client.append(request.clone()).await.unwrap_err();
//!     assert_eq!(status.code(), Code::Aborted);
//! }
//! assert!(client.append(request).await.is_ok()); // the third call works
//! mock.verify().unwrap();
//! # }
//! ```
//!
//! # Stacked expectations, and how they differ from `wiremock`
//!
//! `wiremock` answers a request with the first mounted mock that matches
//! and still has calls left, and counts it against that mock only. Here
//! **every** matching expectation counts the call, and the **newest**
//! matching one with a response answers it. So two stubs stacked with
//! `up_to_n_times(1)` do not answer in turn: the first call retires both,
//! the second goes to the engine.
//!
//! ```
//! # use eventstore_mock::{MockEventStore, Mock, Respond, matchers::*};
//! # use eventstore_proto::ReadStreamRequest;
//! # use tonic::Code;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mock = MockEventStore::start().await;
//! let read = || ReadStreamRequest { tenant_id: "t".into(), aggregate_id: "s".into(), ..Default::default() };
//! Mock::given(read_stream()) // A
//!     .respond_with(Respond::status(Code::Unavailable, "A"))
//!     .up_to_n_times(1)
//!     .mount(&mock);
//! Mock::given(read_stream()) // B, mounted after A
//!     .respond_with(Respond::status(Code::NotFound, "B"))
//!     .up_to_n_times(1)
//!     .mount(&mock);
//! let mut client = mock.client();
//! // wiremock: A answers the first call and B the second. Here: B (the newest)
//! // answers the first; that call used up A's one call too; the engine answers the second.
//! assert_eq!(client.read_stream(read()).await.unwrap_err().message(), "B");
//! assert!(client.read_stream(read()).await.is_ok());
//! mock.verify().unwrap(); // both had their one call
//! # }
//! ```
//!
//! A scripted sequence (a different answer per call) is one expectation
//! per step, each answering one call with [`Mock::on_nth_call`]; every step
//! counts every call, so each says which call is its own:
//!
//! ```
//! # use eventstore_mock::{MockEventStore, Mock, Respond, matchers::*};
//! # use eventstore_proto::ReadStreamRequest;
//! # use tonic::Code;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mock = MockEventStore::start().await;
//! let read = || ReadStreamRequest { tenant_id: "t".into(), aggregate_id: "s".into(), ..Default::default() };
//! for (n, code) in [(1, Code::Unavailable), (2, Code::ResourceExhausted)] {
//!     Mock::given(read_stream())
//!         .respond_with(Respond::status(code, format!("call {n}")))
//!         .on_nth_call(n)
//!         .expect(n..) // it sees every call; it needs at least its own
//!         .mount(&mock);
//! }
//! let mut client = mock.client();
//! assert_eq!(client.read_stream(read()).await.unwrap_err().code(), Code::Unavailable);
//! assert_eq!(client.read_stream(read()).await.unwrap_err().code(), Code::ResourceExhausted);
//! assert!(client.read_stream(read()).await.is_ok()); // then the engine
//! mock.verify().unwrap();
//! # }
//! ```
//!
//! # What a client sees of `drop_connection` and `drop_after`
//!
//! Neither sends a status: the mock cuts the connection, as a crashed
//! server or a cut cable would, and the client reports its own transport
//! error, not `UNAVAILABLE`: tonic ends the call or the stream with
//! `UNKNOWN` and "h2 protocol error: ..." (a source error says what broke);
//! other gRPC clients word it their own way. A reconnect loop should treat
//! such transport errors as it treats `UNAVAILABLE` (the Python SDK
//! reports both as `ConnectionError`, and its subscriptions reconnect). The journal records the call's outcome as
//! [`crate::Outcome::Dropped`] (a subscription's end as
//! [`crate::StreamEnd::Dropped`]).

use crate::{MockEventStore, matchers::Matcher};
use eventstore_proto::{
    AppendResponse, ConcurrencyErrorDetail, EventData, GetServerInfoResponse, ReadAllResponse,
    ReadStreamResponse,
};
use std::{
    fmt,
    ops::{RangeFrom, RangeInclusive, RangeToInclusive},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tonic::Code;

/// Identifies a mounted expectation (in the journal, the control API, reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExpectationId(pub u64);

impl fmt::Display for ExpectationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How many matching calls an expectation wants.
///
/// The default, for an expectation mounted without [`Mock::expect`] (and a
/// JSON expectation without `times`, `at_least` or `at_most`), is exactly
/// one call, as in the Python layer's `expect_*`: a test that mounts an
/// expectation means the call to happen, once. Stubs answering any number
/// of calls say so: `.expect(..)` (or `"at_least": 0` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// Any number, including none: no count is verified (`.expect(..)`).
    Any,
    /// Exactly n (the default is exactly 1).
    Exactly(u64),
    /// n or more.
    AtLeast(u64),
    /// n or fewer.
    AtMost(u64),
    /// From min to max, both included.
    Between(u64, u64),
}

impl Times {
    /// Whether `count` calls satisfy it.
    pub fn contains(self, count: u64) -> bool {
        match self {
            Times::Any => true,
            Times::Exactly(n) => count == n,
            Times::AtLeast(n) => count >= n,
            Times::AtMost(n) => count <= n,
            Times::Between(lo, hi) => (lo..=hi).contains(&count),
        }
    }
}

impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls = |n: u64| if n == 1 { "call" } else { "calls" };
        match *self {
            Times::Any => f.write_str("any number of calls"),
            Times::Exactly(0) => f.write_str("no call"),
            Times::Exactly(n) => write!(f, "exactly {n} {}", calls(n)),
            Times::AtLeast(n) => write!(f, "at least {n} {}", calls(n)),
            Times::AtMost(n) => write!(f, "at most {n} {}", calls(n)),
            Times::Between(lo, hi) => write!(f, "between {lo} and {hi} calls"),
        }
    }
}

impl Default for Times {
    fn default() -> Self {
        Times::Exactly(1)
    }
}

impl From<std::ops::RangeFull> for Times {
    /// `..`: any number of calls.
    fn from(_: std::ops::RangeFull) -> Self {
        Times::Any
    }
}

impl From<u64> for Times {
    fn from(n: u64) -> Self {
        Times::Exactly(n)
    }
}

impl From<RangeInclusive<u64>> for Times {
    fn from(r: RangeInclusive<u64>) -> Self {
        Times::Between(*r.start(), *r.end())
    }
}

impl From<RangeFrom<u64>> for Times {
    fn from(r: RangeFrom<u64>) -> Self {
        Times::AtLeast(r.start)
    }
}

impl From<RangeToInclusive<u64>> for Times {
    fn from(r: RangeToInclusive<u64>) -> Self {
        Times::AtMost(r.end)
    }
}

/// What the mock answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The engine answers, as the real store would.
    PassThrough,
    /// Fail with this status.
    Status {
        /// gRPC code.
        code: Code,
        /// Message.
        message: String,
        /// `grpc-status-details-bin` content (empty for none).
        details: Vec<u8>,
    },
    /// Fail with `ABORTED` and exactly this detail; empty tenant and
    /// aggregate ids are filled from the request.
    Conflict(ConcurrencyErrorDetail),
    /// Fail with `ABORTED` reporting the stream's real head (its last
    /// aggregate nonce and that event's global nonce; 0 and 0 for a stream
    /// that does not exist), so a client that retries with the reported
    /// head, or re-reads the stream, converges. Empty ids are the request's.
    ConflictAtHead {
        /// The tenant reported (empty: the request's).
        tenant_id: String,
        /// The stream reported (empty: the request's).
        aggregate_id: String,
    },
    /// Answer an `Append` with this response, writing nothing.
    Append(AppendResponse),
    /// Answer a `ReadStream` with this response.
    Read(ReadStreamResponse),
    /// Answer a `ReadAll` with this response.
    ReadAll(ReadAllResponse),
    /// Answer a `GetServerInfo` with this response.
    ServerInfo(GetServerInfoResponse),
    /// Answer a `Subscribe` with these events, then keep the stream open
    /// (with no further event) until the client cancels it.
    Events(Vec<EventData>),
    /// Close the client's connection without answering.
    DropConnection,
}

/// Faults applied to the events a `Subscribe` delivers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamFaults {
    /// Wait this long before each event.
    pub delay_each: Option<Duration>,
    /// After this many events, end the stream with `status`.
    pub fail_after: Option<(u64, Code, String)>,
    /// After this many events, close the connection.
    pub drop_after: Option<u64>,
    /// Once caught up, after every event whose count is a multiple of this,
    /// send an event-less response (a keepalive, as the reference store
    /// sends on a quiet stream). Never before the caught-up marker: a client
    /// takes the first event-less response for it.
    pub keepalive_every: Option<u64>,
    /// Once caught up, send a keepalive whenever no event came for this long.
    pub keepalive_interval: Option<Duration>,
    /// The stored event at this global nonce is undecodable: a subscription
    /// delivers every event before it, then ends with `DATA_LOSS` and the
    /// `esp-undecodable-global-nonce` trailer; a `ReadStream` or `ReadAll`
    /// page that reaches it fails the same way, as the real store does.
    pub data_loss_at: Option<u64>,
}

/// A response: a [`Reply`], an optional delay before it, and for
/// subscriptions, [`StreamFaults`].
#[derive(Debug, Clone, PartialEq)]
pub struct Respond {
    /// What to answer.
    pub reply: Reply,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
    /// Subscription faults.
    pub stream: StreamFaults,
}

impl Respond {
    fn new(reply: Reply) -> Self {
        Self {
            reply,
            delay: None,
            stream: StreamFaults::default(),
        }
    }

    /// Let the engine answer (useful with a delay or stream faults).
    pub fn pass_through() -> Self {
        Self::new(Reply::PassThrough)
    }

    /// Fail with `code` and `message`.
    pub fn status(code: Code, message: impl Into<String>) -> Self {
        Self::new(Reply::Status {
            code,
            message: message.into(),
            details: Vec::new(),
        })
    }

    /// Fail with `code`, `message` and raw `grpc-status-details-bin` bytes.
    pub fn status_with_details(code: Code, message: impl Into<String>, details: Vec<u8>) -> Self {
        Self::new(Reply::Status {
            code,
            message: message.into(),
            details,
        })
    }

    /// A concurrency conflict (`ABORTED` with a `ConcurrencyErrorDetail`)
    /// reporting exactly `actual_last_aggregate_nonce` and
    /// `actual_last_global_nonce`, whatever the stream holds; tenant and
    /// aggregate come from the request. To report the stream's real head
    /// (what a retry needs to converge), use [`Respond::conflict_at_head`].
    pub fn conflict(actual_last_aggregate_nonce: u64, actual_last_global_nonce: u64) -> Self {
        Self::conflict_with(ConcurrencyErrorDetail {
            actual_last_aggregate_nonce,
            actual_last_global_nonce,
            ..ConcurrencyErrorDetail::default()
        })
    }

    /// A concurrency conflict with a detail of your choosing, reported as is.
    pub fn conflict_with(detail: ConcurrencyErrorDetail) -> Self {
        Self::new(Reply::Conflict(detail))
    }

    /// A concurrency conflict reporting the stream's real head and the
    /// global nonce of its last event (0 and 0 for a stream that does not
    /// exist), with a message saying the mock injected it. A client that
    /// retries with the reported head (or re-reads the stream) converges:
    /// "fail twice, then work" takes three calls.
    pub fn conflict_at_head() -> Self {
        Self::new(Reply::ConflictAtHead {
            tenant_id: String::new(),
            aggregate_id: String::new(),
        })
    }

    /// Answer an append with `response` without writing anything.
    pub fn append_response(response: AppendResponse) -> Self {
        Self::new(Reply::Append(response))
    }

    /// Answer a read with `response`.
    pub fn read_response(response: ReadStreamResponse) -> Self {
        Self::new(Reply::Read(response))
    }

    /// Answer a `ReadAll` with `response`.
    pub fn read_all_response(response: ReadAllResponse) -> Self {
        Self::new(Reply::ReadAll(response))
    }

    /// Answer a `GetServerInfo` with `response`.
    pub fn server_info(response: GetServerInfoResponse) -> Self {
        Self::new(Reply::ServerInfo(response))
    }

    /// Answer as a server from before `GetServerInfo`: `UNIMPLEMENTED`
    /// (for all `GetServerInfo` calls, see also
    /// [`crate::MockEventStoreBuilder::legacy_server`]).
    pub fn legacy_server() -> Self {
        let status = crate::wire::rpc::legacy_server_status();
        Self::status(status.code(), status.message())
    }

    /// Answer a subscription with `events`, then stay open.
    pub fn events(events: Vec<EventData>) -> Self {
        Self::new(Reply::Events(events))
    }

    /// Close the connection instead of answering (what the client sees:
    /// see the [module docs](self#what-a-client-sees-of-drop_connection-and-drop_after)).
    pub fn drop_connection() -> Self {
        Self::new(Reply::DropConnection)
    }

    /// Wait `delay` before answering.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Subscriptions: wait `delay` before each event.
    pub fn delay_each(mut self, delay: Duration) -> Self {
        self.stream.delay_each = Some(delay);
        self
    }

    /// Subscriptions: after `events` events, end the stream with `code`.
    pub fn fail_after(mut self, events: u64, code: Code, message: impl Into<String>) -> Self {
        self.stream.fail_after = Some((events, code, message.into()));
        self
    }

    /// Subscriptions: after `events` events, close the connection (no
    /// status is sent: see the
    /// [module docs](self#what-a-client-sees-of-drop_connection-and-drop_after)).
    pub fn drop_after(mut self, events: u64) -> Self {
        self.stream.drop_after = Some(events);
        self
    }

    /// Subscriptions: once caught up, an event-less keepalive after every
    /// `events`-th event (clients must skip it). 0 is ignored.
    pub fn keepalive_every(mut self, events: u64) -> Self {
        self.stream.keepalive_every = (events > 0).then_some(events);
        self
    }

    /// Subscriptions: once caught up, an event-less keepalive whenever no
    /// event came for `interval`.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.stream.keepalive_interval = Some(interval);
        self
    }

    /// The event at `global_nonce` is undecodable. A subscription delivers
    /// every event before it, then ends with `DATA_LOSS` and the
    /// `esp-undecodable-global-nonce: <global_nonce>` trailer; a
    /// `ReadStream` or `ReadAll` page reaching it fails the same way.
    pub fn data_loss_at(mut self, global_nonce: u64) -> Self {
        self.stream.data_loss_at = Some(global_nonce);
        self
    }
}

/// Orders expectations: every call matched by one must come before every
/// call matched by the next one mounted in the same sequence.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
}

static NEXT_SEQUENCE: AtomicU64 = AtomicU64::new(1);

impl Sequence {
    /// A new, empty sequence.
    pub fn new(name: &str) -> Self {
        Self {
            id: NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
        }
    }
}

/// An expectation being built; [`Mock::mount`] puts it on a mock.
#[derive(Debug, Clone)]
pub struct Mock {
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) respond: Option<Respond>,
    pub(crate) times: Times,
    /// Whether `times` was given (`expect`, `never`), rather than the default.
    pub(crate) times_given: bool,
    pub(crate) name: Option<String>,
    pub(crate) nth: Option<u64>,
    /// Matches at most this many calls; later ones go past it.
    pub(crate) up_to: Option<u64>,
    pub(crate) sequence: Option<Sequence>,
    /// Where [`Mock::mount`] was called (`None`: mounted from JSON), for
    /// reports: a failed verification points at the test's own line.
    pub(crate) mounted_at: Option<&'static std::panic::Location<'static>>,
}

impl Mock {
    /// An expectation on calls meeting `matcher`.
    pub fn given(matcher: impl Into<Matcher>) -> Self {
        Self {
            matchers: vec![matcher.into()],
            respond: None,
            times: Times::default(),
            times_given: false,
            name: None,
            nth: None,
            up_to: None,
            sequence: None,
            mounted_at: None,
        }
    }

    /// An expectation on every call (add conditions with [`Mock::and`]).
    pub fn any_call() -> Self {
        Self {
            matchers: Vec::new(),
            ..Self::given(crate::matchers::append())
        }
    }

    /// Adds a condition: the call must meet all of them.
    pub fn and(mut self, matcher: impl Into<Matcher>) -> Self {
        self.matchers.push(matcher.into());
        self
    }

    /// Answers matching calls with `respond` instead of the engine.
    pub fn respond_with(mut self, respond: Respond) -> Self {
        self.respond = Some(respond);
        self
    }

    /// Verifies the number of matching calls: `1`, `1..`, `..=2`, `1..=3`,
    /// or `..` for any number. Without it: exactly one (see [`Times`]).
    pub fn expect(mut self, times: impl Into<Times>) -> Self {
        self.times = times.into();
        self.times_given = true;
        self
    }

    /// Matches (counts and answers) at most the first `n` matching calls;
    /// later calls go past it, to older expectations or the engine, and are
    /// not counted against it. Without [`Mock::expect`], it then verifies
    /// exactly `n` calls. Panics when `n` is 0.
    pub fn up_to_n_times(mut self, n: u64) -> Self {
        assert!(n > 0, "up_to_n_times: n must be at least 1, got 0");
        self.up_to = Some(n);
        if !self.times_given {
            self.times = Times::Exactly(n);
        }
        self
    }

    /// Whether it has matched all the calls `up_to_n_times` allows.
    pub(crate) fn exhausted(&self, hits: u64) -> bool {
        self.up_to.is_some_and(|n| hits >= n)
    }

    /// Verifies that no call matches.
    pub fn never(self) -> Self {
        self.expect(0)
    }

    /// Names the expectation in reports.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Responds only to the `n`th matching call (1-based); the others pass
    /// through (or go to other expectations). Panics when `n` is 0.
    pub fn on_nth_call(mut self, n: u64) -> Self {
        assert!(n > 0, "on_nth_call: calls are counted from 1, got 0");
        self.nth = Some(n);
        self
    }

    /// Puts the expectation in `sequence`, after those mounted before it.
    pub fn in_sequence(mut self, sequence: &Sequence) -> Self {
        self.sequence = Some(sequence.clone());
        self
    }

    /// Mounts the expectation on `mock`.
    ///
    /// Panics when a matcher can never match the RPC the expectation is
    /// for (a field that RPC's request does not have, such as
    /// `aggregate_id_regex` with `subscribe()`), naming both: it would
    /// otherwise silently match nothing.
    #[track_caller]
    pub fn mount(mut self, mock: &MockEventStore) -> ExpectationId {
        if let Some(why) = crate::matchers::never_matching(&self.matchers) {
            panic!("Mock::mount: {why}");
        }
        self.mounted_at = Some(std::panic::Location::caller());
        mock.register(self)
    }

    /// How the expectation reads in reports: its name, or its conditions.
    pub fn describe(&self) -> String {
        let conditions = if self.matchers.is_empty() {
            "any call".to_owned()
        } else {
            self.matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and ")
        };
        match &self.name {
            Some(name) => format!("{name:?} ({conditions})"),
            None => conditions,
        }
    }
}

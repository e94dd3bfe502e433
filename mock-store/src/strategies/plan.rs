//! Plans for model-based tests: what to do next, in terms resolved against
//! what is known when the step runs (`ExpectedChoice::Head` is "the
//! stream's head"), so one plan shrinks into a smaller plan that is still
//! meaningful. `tests/tests/model.rs` and `eventstore-conformance diff`
//! draw their operations from here.
//!
//! - this file: the steps and their strategies. [`op`]: one step of a
//!   sequential run: an append (with per-event and per-request defects), a
//!   resend of an earlier append, a read, a subscription; tenants and
//!   streams are indices into [`names`]. [`concurrent_op`]: one step of one
//!   task of a concurrent run.
//! - `resolve.rs`: [`build_append`] and [`resend`], the concrete request of
//!   an append step given its stream's head.
//! - `interpreter.rs`: [`Interpreter`], which runs steps against any
//!   `EventStoreClient<Channel>`, learning the heads from the answers.
//!
//! Ids and idempotency keys come from small pools so they collide often.

#![allow(missing_docs)] // Variants and fields are named for what the test does with them.

mod interpreter;
mod resolve;

pub use interpreter::{DEFAULT_CALL_TIMEOUT, Interpreter, Outcome, Request};
pub use resolve::{build_append, resend};

use eventstore_proto::AppendRequest;
use proptest::{prelude::*, sample::Index};

/// The names a plan's indices resolve to, for every runner of plans (the
/// model test and `eventstore-conformance diff`), so that a plan means the
/// same requests in both: tenants, the streams of each tenant, the
/// aggregate type of every append, the prefixes subscriptions filter by
/// (all, a prefix of every stream, one stream's id, none) and the content
/// types a resend may switch its first event to.
pub mod names {
    /// What an event without a content type is stored with (the engine's).
    pub use eventstore_engine::validate::DEFAULT_CONTENT_TYPE;

    pub const TENANTS: [&str; 3] = ["t0", "t1", "t2"];
    pub const STREAMS: [&str; 4] = ["s0", "s1", "s2", "s3"];
    pub const AGGREGATE_TYPE: &str = "Order";
    pub const SUBSCRIBE_PREFIXES: &[&str] = &["", "s", "s1", "x"];
    pub const RESEND_CONTENT_TYPES: &[&str] = &["", DEFAULT_CONTENT_TYPE, "text/plain"];

    /// The tenant and stream names an append of `spec` goes to.
    pub fn stream_of(spec: &super::AppendSpec) -> (&'static str, &'static str) {
        (
            TENANTS[spec.tenant % TENANTS.len()],
            STREAMS[spec.stream % STREAMS.len()],
        )
    }
}

#[derive(Debug, Clone, Copy)]
pub enum IdChoice {
    /// A never-used id.
    Fresh,
    /// One of a few shared ids, so they collide.
    Pool(u8),
}

#[derive(Debug, Clone, Copy)]
pub enum ExpectedChoice {
    /// The stream's current head: right.
    Head,
    /// 0: right only for a new stream.
    Zero,
    /// head + delta (saturating at 0).
    Offset(i8),
}

#[derive(Debug, Clone, Copy)]
pub enum Defect {
    None,
    MissingMeta,
    EmptyId,
    ZeroNonce,
    EmptyType,
    WrongAggregateId,
    WrongAggregateType,
    WrongTenant,
    /// Sets the fields the store would fill to the request's values (valid).
    ExplicitRequestFields,
    /// Sends store-assigned fields, which the store overwrites (valid).
    StoreFieldsSet,
}

#[derive(Debug, Clone, Copy)]
pub struct EventSpec {
    pub id: IdChoice,
    /// Added to the right aggregate nonce (0 = right).
    pub nonce_offset: i8,
    pub defect: Defect,
    pub json: bool,
    pub headers: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum RequestDefect {
    None,
    EmptyTenant,
    EmptyAggregateId,
    EmptyAggregateType,
    NoEvents,
}

#[derive(Debug, Clone)]
pub struct AppendSpec {
    pub tenant: usize,
    pub stream: usize,
    pub expected: ExpectedChoice,
    pub key: Option<u8>,
    pub events: Vec<EventSpec>,
    pub defect: RequestDefect,
}

#[derive(Debug, Clone, Copy)]
pub enum ResendChange {
    /// The very same request (a client retry).
    Exact,
    /// The same events with `expected_aggregate_nonce` set to the current head.
    CurrentHead,
    /// The first event's payload changed: a different batch.
    ChangedPayload,
    /// The first event's content type set to this: a different batch or,
    /// when it normalizes to the same, the same one.
    ContentType(&'static str),
    /// Fields the store fills or overwrites now sent explicitly: the same
    /// normalized batch.
    Renormalized,
}

#[derive(Debug, Clone)]
pub enum Op {
    Append(AppendSpec),
    /// Resends an earlier append (a keyed one when there is any).
    Resend {
        pick: Index,
        change: ResendChange,
    },
    Read {
        tenant: Option<usize>,
        stream: Option<usize>,
        from: u64,
        max_count: u32,
        forward: bool,
    },
    Subscribe {
        tenant: Option<usize>,
        prefix: &'static str,
        from: u64,
    },
}

/// The earlier append an [`Op::Resend`] with `pick` sends again, among
/// `sent` (in order): a keyed one when there is any, else any; `None`
/// before the first append.
pub fn resend_original<'a>(pick: &Index, sent: &'a [AppendRequest]) -> Option<&'a AppendRequest> {
    let is_keyed = |r: &&AppendRequest| !r.idempotency_key.is_empty();
    match sent.iter().filter(is_keyed).count() {
        0 => (!sent.is_empty()).then(|| pick.get(sent)),
        keyed => sent.iter().filter(is_keyed).nth(pick.index(keyed)),
    }
}

pub fn id_choice() -> impl Strategy<Value = IdChoice> {
    prop_oneof![
        4 => Just(IdChoice::Fresh),
        1 => (0..4u8).prop_map(IdChoice::Pool),
    ]
}

pub fn event_spec() -> impl Strategy<Value = EventSpec> {
    let defect = prop_oneof![
        100 => Just(Defect::None),
        1 => Just(Defect::MissingMeta),
        1 => Just(Defect::EmptyId),
        1 => Just(Defect::ZeroNonce),
        1 => Just(Defect::EmptyType),
        1 => Just(Defect::WrongAggregateId),
        1 => Just(Defect::WrongAggregateType),
        1 => Just(Defect::WrongTenant),
        4 => Just(Defect::ExplicitRequestFields),
        4 => Just(Defect::StoreFieldsSet),
    ];
    let nonce_offset = prop_oneof![
        40 => Just(0i8),
        1 => Just(-1i8),
        1 => Just(1i8),
        1 => Just(2i8),
    ];
    (
        id_choice(),
        nonce_offset,
        defect,
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(id, nonce_offset, defect, json, headers)| EventSpec {
            id,
            nonce_offset,
            defect,
            json,
            headers,
        })
}

pub fn append_spec(tenants: usize, streams: usize) -> impl Strategy<Value = AppendSpec> {
    let expected = prop_oneof![
        12 => Just(ExpectedChoice::Head),
        1 => Just(ExpectedChoice::Zero),
        2 => prop_oneof![Just(-2i8), Just(-1i8), Just(1i8), Just(3i8)].prop_map(ExpectedChoice::Offset),
    ];
    let defect = prop_oneof![
        40 => Just(RequestDefect::None),
        1 => Just(RequestDefect::EmptyTenant),
        1 => Just(RequestDefect::EmptyAggregateId),
        1 => Just(RequestDefect::EmptyAggregateType),
        1 => Just(RequestDefect::NoEvents),
    ];
    (
        0..tenants.max(1),
        0..streams.max(1),
        expected,
        prop::option::weighted(0.4, 0..3u8),
        prop_oneof![
            5 => prop::collection::vec(event_spec(), 1..=3),
            1 => prop::collection::vec(event_spec(), 4..=5),
        ],
        defect,
    )
        .prop_map(
            |(tenant, stream, expected, key, events, defect)| AppendSpec {
                tenant,
                stream,
                expected,
                key,
                events,
                defect,
            },
        )
}

/// One step of a sequential run over the tenants, streams, prefixes and
/// content types of [`names`].
pub fn op() -> impl Strategy<Value = Op> {
    let (tenants, streams) = (names::TENANTS.len(), names::STREAMS.len());
    let (prefixes, content_types) = (names::SUBSCRIBE_PREFIXES, names::RESEND_CONTENT_TYPES);
    let resend_change = prop_oneof![
        4 => Just(ResendChange::Exact),
        1 => Just(ResendChange::CurrentHead),
        1 => Just(ResendChange::ChangedPayload),
        1 => prop::sample::select(content_types)
            .prop_map(ResendChange::ContentType),
        2 => Just(ResendChange::Renormalized),
    ];
    let read = (
        prop::option::weighted(0.95, 0..tenants.max(1)),
        prop::option::weighted(0.95, 0..streams.max(1)),
        0..=14u64,
        prop_oneof![1 => Just(0u32), 3 => 1..=7u32],
        any::<bool>(),
    )
        .prop_map(|(tenant, stream, from, max_count, forward)| Op::Read {
            tenant,
            stream,
            from,
            max_count,
            forward,
        });
    let subscribe = (
        prop::option::weighted(0.9, 0..tenants.max(1)),
        prop::sample::select(prefixes),
        prop_oneof![2 => Just(0u64), 1 => 1..=40u64],
    )
        .prop_map(|(tenant, prefix, from)| Op::Subscribe {
            tenant,
            prefix,
            from,
        });
    prop_oneof![
        10 => append_spec(tenants, streams).prop_map(Op::Append),
        3 => (any::<Index>(), resend_change).prop_map(|(pick, change)| Op::Resend { pick, change }),
        6 => read,
        1 => subscribe,
    ]
}

#[derive(Debug, Clone)]
pub enum COp {
    /// A well-formed append expecting the head this task last learned of
    /// (plus `stale`, to conflict on purpose).
    Append {
        tenant: usize,
        stream: usize,
        ids: Vec<IdChoice>,
        key: Option<u8>,
        stale: u8,
    },
    /// The task's previous append, sent again unchanged.
    Retry,
    Read {
        tenant: usize,
        stream: usize,
        from: u64,
        max_count: u32,
        forward: bool,
    },
    Yield,
}

pub fn concurrent_op(tenants: usize, streams: usize) -> impl Strategy<Value = COp> {
    let append = (
        0..tenants.max(1),
        0..streams.max(1),
        prop::collection::vec(
            prop_oneof![5 => Just(IdChoice::Fresh), 1 => (0..4u8).prop_map(IdChoice::Pool)],
            1..=3,
        ),
        prop::option::weighted(0.3, 0..2u8),
        prop_oneof![6 => Just(0u8), 1 => 1..=2u8],
    )
        .prop_map(|(tenant, stream, ids, key, stale)| COp::Append {
            tenant,
            stream,
            ids,
            key,
            stale,
        });
    let read = (
        0..tenants.max(1),
        0..streams.max(1),
        0..=8u64,
        0..=4u32,
        any::<bool>(),
    )
        .prop_map(|(tenant, stream, from, max_count, forward)| COp::Read {
            tenant,
            stream,
            from,
            max_count,
            forward,
        });
    prop_oneof![
        8 => append,
        2 => Just(COp::Retry),
        3 => read,
        1 => Just(COp::Yield),
    ]
}

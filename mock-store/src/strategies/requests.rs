//! Concrete requests: valid appends, appends broken in one known way (with
//! the code the store must answer), and operation sequences over small
//! pools of tenants and streams.

use super::readable::{Append, Request};
use eventstore_proto::{AppendRequest, EventData, EventMetadata, ReadStreamRequest};
use proptest::{collection::vec, prelude::*};
use std::collections::BTreeMap;
use tonic::Code;

/// An event type such as `com.example.Thing3`.
pub fn event_type() -> impl Strategy<Value = String> {
    "[A-Z][a-z]{2,8}[0-9]?".prop_map(|name| format!("com.example.{name}"))
}

/// A small JSON object payload, as bytes.
pub fn json_payload() -> impl Strategy<Value = Vec<u8>> {
    (any::<i32>(), "[a-z ]{0,16}", any::<bool>()).prop_map(|(n, s, b)| {
        serde_json::json!({"n": n, "s": s, "b": b})
            .to_string()
            .into_bytes()
    })
}

/// Optional headers: 0 to 2 entries, shrinking to none (a map of fewer
/// entries is simpler), so a minimal failing case carries no headers unless
/// they are part of the failure.
pub fn headers() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("[a-z]{1,6}", "[a-z0-9]{0,8}", 0..3)
}

/// One event's drawn parts: type, payload, headers, version - 1.
fn event_parts() -> impl Strategy<Value = (String, Vec<u8>, BTreeMap<String, String>, u32)> {
    (event_type(), json_payload(), headers(), 0u32..3)
}

/// A valid append of 1 to `max_events` events to `tenant`/`aggregate_id`
/// expecting the head at `head`. Event ids are unique per generated value.
///
/// The events and the id seed are drawn side by side, not one from the
/// other (`prop_flat_map`): a flat map draws the events afresh whenever
/// the count or the seed shrinks, so shrinking kept meeting new random
/// headers and ran out of proptest's budget (4 x cases iterations) before
/// reaching the plain case. Here a failure shrinks to one event, no
/// headers, version 1.
///
/// The value is an [`Append`]: the request, printed with its payloads as
/// JSON text (it derefs to the `AppendRequest`; `.0` takes it out).
pub fn valid_append(
    tenant: &str,
    aggregate_id: &str,
    head: u64,
    max_events: usize,
) -> impl Strategy<Value = Append> {
    let (tenant, aggregate_id) = (tenant.to_owned(), aggregate_id.to_owned());
    (vec(event_parts(), 1..=max_events.max(1)), any::<u64>()).prop_map(move |(parts, seed)| {
        let events = parts
            .into_iter()
            .enumerate()
            .map(|(i, (event_type, payload, headers, version))| EventData {
                meta: Some(EventMetadata {
                    event_id: format!("evt-{seed:016x}-{i}"),
                    aggregate_nonce: head + i as u64 + 1,
                    event_type,
                    event_version: version + 1,
                    content_type: "application/json".into(),
                    headers,
                    ..EventMetadata::default()
                }),
                payload,
            })
            .collect();
        Append(AppendRequest {
            tenant_id: tenant.clone(),
            aggregate_id: aggregate_id.clone(),
            aggregate_type: "Aggregate".into(),
            expected_aggregate_nonce: head,
            idempotency_key: String::new(),
            events,
        })
    })
}

/// The one thing wrong with an invalid append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// `tenant_id` is empty.
    EmptyTenant,
    /// `aggregate_id` is empty.
    EmptyAggregateId,
    /// `aggregate_type` is empty.
    EmptyAggregateType,
    /// `events` is empty.
    NoEvents,
    /// An event has no `meta`.
    MissingMeta,
    /// An event's `event_id` is empty.
    EmptyEventId,
    /// An event's `aggregate_nonce` is 0.
    ZeroNonce,
    /// An event's `event_type` is empty.
    EmptyEventType,
    /// An event names another aggregate than the request.
    OtherAggregate,
    /// An event names another tenant than the request.
    OtherTenant,
    /// An event's nonce is not the next one.
    NonceGap,
    /// Two events share an id.
    DuplicateEventId,
}

impl Invalid {
    /// Every kind.
    pub const ALL: [Invalid; 12] = [
        Invalid::EmptyTenant,
        Invalid::EmptyAggregateId,
        Invalid::EmptyAggregateType,
        Invalid::NoEvents,
        Invalid::MissingMeta,
        Invalid::EmptyEventId,
        Invalid::ZeroNonce,
        Invalid::EmptyEventType,
        Invalid::OtherAggregate,
        Invalid::OtherTenant,
        Invalid::NonceGap,
        Invalid::DuplicateEventId,
    ];

    /// The status code the store answers (`spec/semantics.md`, Append).
    pub fn code(self) -> Code {
        match self {
            Invalid::EmptyTenant => Code::Unauthenticated,
            Invalid::OtherTenant => Code::PermissionDenied,
            Invalid::DuplicateEventId => Code::AlreadyExists,
            _ => Code::InvalidArgument,
        }
    }
}

/// An append to a new stream with exactly one defect. Its `Debug` prints
/// payloads as JSON text, as [`Append`]'s does.
#[derive(Clone)]
pub struct InvalidAppend {
    /// The request.
    pub request: AppendRequest,
    /// What is wrong with it.
    pub kind: Invalid,
}

impl std::fmt::Debug for InvalidAppend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvalidAppend")
            .field("request", &Request(&self.request))
            .field("kind", &self.kind)
            .finish()
    }
}

/// An append to a new stream of tenant `t` broken in one of the [`Invalid`] ways.
pub fn invalid_append() -> impl Strategy<Value = InvalidAppend> {
    (
        proptest::sample::select(Invalid::ALL.to_vec()),
        valid_append("t", "agg", 0, 3),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(kind, Append(mut request), index)| {
            let i = index.index(request.events.len());
            fn meta(r: &mut AppendRequest, i: usize) -> &mut EventMetadata {
                r.events[i].meta.get_or_insert_with(EventMetadata::default)
            }
            match kind {
                Invalid::EmptyTenant => request.tenant_id.clear(),
                Invalid::EmptyAggregateId => request.aggregate_id.clear(),
                Invalid::EmptyAggregateType => request.aggregate_type.clear(),
                Invalid::NoEvents => request.events.clear(),
                Invalid::MissingMeta => request.events[i].meta = None,
                Invalid::EmptyEventId => meta(&mut request, i).event_id.clear(),
                Invalid::ZeroNonce => meta(&mut request, i).aggregate_nonce = 0,
                Invalid::EmptyEventType => meta(&mut request, i).event_type.clear(),
                Invalid::OtherAggregate => {
                    meta(&mut request, i).aggregate_id = "another-aggregate".into()
                }
                Invalid::OtherTenant => meta(&mut request, i).tenant_id = "another-tenant".into(),
                Invalid::NonceGap => meta(&mut request, i).aggregate_nonce += 1,
                Invalid::DuplicateEventId => {
                    let id = format!("dup-{i}");
                    meta(&mut request, i).event_id = id.clone();
                    let extra = EventData {
                        meta: Some(EventMetadata {
                            event_id: id,
                            aggregate_nonce: request.events.len() as u64 + 1,
                            event_type: "com.example.Dup".into(),
                            ..EventMetadata::default()
                        }),
                        payload: Vec::new(),
                    };
                    request.events.push(extra);
                }
            }
            InvalidAppend { request, kind }
        })
}

/// One step of an operation sequence.
#[derive(Debug, Clone)]
pub enum Operation {
    /// Append `count` events to a stream, expecting its head at `expected`
    /// (which may be stale: a conflict is part of the test).
    Append {
        /// Tenant.
        tenant_id: String,
        /// Stream.
        aggregate_id: String,
        /// Expected head.
        expected: u64,
        /// Events to append.
        count: usize,
    },
    /// Read a page.
    Read(ReadStreamRequest),
}

/// Sequences of up to `max_len` operations over `tenants` tenants and
/// `streams` streams per tenant (small pools, so operations collide).
pub fn operations(
    tenants: usize,
    streams: usize,
    max_len: usize,
) -> impl Strategy<Value = Vec<Operation>> {
    let tenant = (0..tenants.max(1)).prop_map(|t| format!("tenant-{t}"));
    let stream = (0..streams.max(1)).prop_map(|s| format!("stream-{s}"));
    let append = (tenant.clone(), stream.clone(), 0u64..6, 1usize..4).prop_map(
        |(tenant_id, aggregate_id, expected, count)| Operation::Append {
            tenant_id,
            aggregate_id,
            expected,
            count,
        },
    );
    let read = (tenant, stream, 0u64..8, 0u32..6, any::<bool>()).prop_map(
        |(tenant_id, aggregate_id, from, max_count, forward)| {
            Operation::Read(ReadStreamRequest {
                tenant_id,
                aggregate_id,
                from_aggregate_nonce: from,
                max_count,
                forward,
            })
        },
    );
    vec(prop_oneof![3 => append, 1 => read], 0..=max_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockEventStore;
    use proptest::test_runner::TestRunner;

    #[test]
    fn valid_appends_are_accepted_and_invalid_ones_get_their_code() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mock = runtime.block_on(MockEventStore::start());
        let engine = mock.engine();
        let mut runner = TestRunner::default();
        runner
            .run(&valid_append("t", "s", 0, 5), |request| {
                let engine = engine.clone();
                let fresh = AppendRequest {
                    aggregate_id: format!(
                        "s-{}",
                        request.events[0].meta.as_ref().map_or("", |m| &m.event_id)
                    ),
                    ..request.0
                };
                runtime
                    .block_on(engine.append(fresh))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                Ok(())
            })
            .unwrap();
        runner
            .run(&invalid_append(), |case| {
                let status = runtime
                    .block_on(engine.append(case.request.clone()))
                    .map(|_| ())
                    .map_err(eventstore_engine::status::to_status)
                    .expect_err("an invalid append must fail");
                prop_assert_eq!(
                    status.code(),
                    case.kind.code(),
                    "{:?}: {}",
                    case.kind,
                    status.message()
                );
                Ok(())
            })
            .unwrap();
    }

    /// A property that fails for every append shrinks to the plainest one:
    /// one event and no headers, within proptest's default shrink budget
    /// (4 x cases iterations). Drawing the events inside a `prop_flat_map`
    /// regenerated them (random headers and all) whenever the count or the
    /// id seed shrank, so the budget ran out with headers left in.
    #[test]
    fn a_failing_append_shrinks_to_one_event_without_headers() {
        use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng};
        // Fixed seeds, so the test says the same thing on every run.
        for seed in 0..8u8 {
            let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
            let mut runner = TestRunner::new_with_rng(Config::default(), rng);
            let result = runner.run(&valid_append("t", "s", 0, 5), |_| {
                Err(TestCaseError::fail("every append fails"))
            });
            let Err(TestError::Fail(_, minimal)) = result else {
                panic!("the property must fail: {result:?}");
            };
            assert_eq!(minimal.events.len(), 1, "seed {seed}: {minimal:?}");
            let meta = minimal.events[0].meta.as_ref().expect("meta");
            assert!(meta.headers.is_empty(), "seed {seed}: {minimal:?}");
            assert_eq!(meta.event_version, 1, "seed {seed}: {minimal:?}");
            // What proptest prints for it: the payload as JSON text, short.
            let printed = format!("{minimal:#?}");
            assert!(printed.contains(r#"payload: {"b":"#), "{printed}");
            assert!(printed.lines().count() <= 20, "{printed}");
        }
    }

    #[test]
    fn operation_sequences_stay_within_their_pools() {
        let mut runner = TestRunner::default();
        runner
            .run(&operations(2, 3, 20), |ops| {
                prop_assert!(ops.len() <= 20);
                for op in ops {
                    let tenant = match &op {
                        Operation::Append { tenant_id, .. } => tenant_id,
                        Operation::Read(r) => &r.tenant_id,
                    };
                    prop_assert!(tenant == "tenant-0" || tenant == "tenant-1");
                }
                Ok(())
            })
            .unwrap();
    }
}

//! Model-based property tests of the engine (`spec/semantics.md`).
//!
//! `sequential_operations_match_the_model` runs random operation sequences
//! (`eventstore_mock::strategies::plan`) through the crate's plan
//! interpreter (`plan::Interpreter`, what users run plans with) against the
//! mock, and against [`Model`], a plain reference implementation of the
//! rules, and compares every response and status. Tenants, streams, event
//! ids and idempotency keys come from small pools, so conflicts of every
//! kind happen often. The model stays here: it is the oracle of the
//! store's rules, which users do not re-check (they compare their code's
//! runs with a plain client's, see `Interpreter`).
//!
//! `concurrent_operations_keep_the_invariants` runs several sequences at
//! once on a multi-thread runtime, against the engine in process. The outcome then depends on the
//! interleaving, so it checks invariants that hold for every interleaving.

use eventstore_conformance::{
    Store, Target,
    targets::{InProcess, InProcessStore},
};
use eventstore_engine::{Limits, status::concurrency_detail};
use eventstore_mock::{
    MockEventStore,
    strategies::plan::{
        COp, IdChoice, Interpreter, Op, Outcome, Request, concurrent_op,
        names::{AGGREGATE_TYPE, DEFAULT_CONTENT_TYPE, STREAMS, TENANTS},
        op,
    },
};
use eventstore_proto::{
    AppendRequest, AppendResponse, ConcurrencyErrorDetail, EventData, EventMetadata,
    ReadAllRequest, ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
    event_store_client::EventStoreClient,
};
use futures::{StreamExt, stream::BoxStream};
use proptest::{prelude::*, test_runner::TestCaseError};
use std::{
    collections::{HashMap, HashSet},
    fmt::Debug,
    future::Future,
    time::Duration,
};
use tonic::{Code, Status, transport::Channel};

/// Bound on every single call to the store: a hang fails the case. Generous,
/// so that a loaded machine does not fail a correct store.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one concurrent task (at most 15 calls).
const TASK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a subscription must stay quiet after its expected events.
const QUIET: Duration = Duration::from_millis(15);

/// Small limits, so that paging and the batch limit are exercised.
fn limits() -> Limits {
    Limits {
        max_events_per_batch: 4,
        default_page_size: 3,
        max_page_size: 5,
        ..Limits::default()
    }
}

type TestResult<T = ()> = Result<T, TestCaseError>;

fn fail<T>(message: impl Into<String>) -> TestResult<T> {
    Err(TestCaseError::fail(message.into()))
}

async fn within<F: Future>(what: impl Fn() -> String, future: F) -> TestResult<F::Output> {
    match tokio::time::timeout(CALL_TIMEOUT, future).await {
        Ok(output) => Ok(output),
        Err(_) => fail(format!("{} did not finish within {CALL_TIMEOUT:?}", what())),
    }
}

fn meta(event: &EventData) -> EventMetadata {
    event.meta.clone().unwrap_or_default()
}

fn global_of(event: &EventData) -> u64 {
    event.meta.as_ref().map_or(0, |m| m.global_nonce)
}

fn nonce_of(event: &EventData) -> u64 {
    event.meta.as_ref().map_or(0, |m| m.aggregate_nonce)
}

fn id_of(event: &EventData) -> &str {
    event.meta.as_ref().map_or("", |m| m.event_id.as_str())
}

/// Checks that the store stamped `recorded_time_unix_ms`, then clears it so
/// the event compares equal to the model's.
fn strip_recorded_time(mut event: EventData, context: &str) -> TestResult<EventData> {
    let Some(meta) = event.meta.as_mut() else {
        return fail(format!("{context}: an event came back without meta"));
    };
    prop_assert!(
        meta.recorded_time_unix_ms > 0,
        "{context}: event {} has no recorded_time_unix_ms",
        meta.event_id
    );
    meta.recorded_time_unix_ms = 0;
    Ok(event)
}

// ---------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------

/// What the model says a request must return.
#[derive(Debug, Clone, PartialEq)]
enum Expected<T> {
    Ok(T),
    Err {
        code: Code,
        /// Substrings the status message must contain.
        mentions: Vec<String>,
        /// For `ABORTED`: the detail the status must carry.
        detail: Option<ConcurrencyErrorDetail>,
    },
}

fn error<T>(code: Code, mentions: &[&str]) -> Expected<T> {
    Expected::Err {
        code,
        mentions: mentions.iter().map(|m| (*m).to_owned()).collect(),
        detail: None,
    }
}

#[derive(Debug)]
struct Model {
    limits: Limits,
    last_global: u64,
    tenants: HashMap<String, TenantModel>,
}

#[derive(Debug, Default)]
struct TenantModel {
    /// Per stream, `events[n - 1]` has aggregate nonce `n`. Events are stored
    /// normalized, with their global nonce and recorded time 0.
    streams: HashMap<String, Vec<EventData>>,
    /// The tenant's events in global order.
    log: Vec<EventData>,
    event_ids: HashSet<String>,
    /// `(aggregate_id, key)` -> (normalized batch, original response).
    idempotency: HashMap<(String, String), (Vec<EventData>, AppendResponse)>,
}

impl Model {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            last_global: 0,
            tenants: HashMap::new(),
        }
    }

    fn stream(&self, tenant: &str, aggregate: &str) -> &[EventData] {
        self.tenants
            .get(tenant)
            .and_then(|t| t.streams.get(aggregate))
            .map_or(&[], Vec::as_slice)
    }

    fn head(&self, tenant: &str, aggregate: &str) -> u64 {
        self.stream(tenant, aggregate).len() as u64
    }

    fn log(&self, tenant: &str) -> &[EventData] {
        self.tenants.get(tenant).map_or(&[], |t| t.log.as_slice())
    }

    /// Append, checks 1 to 8 in the spec's order.
    fn append(&mut self, request: &AppendRequest) -> Expected<AppendResponse> {
        // 1.
        if request.tenant_id.is_empty() {
            return error(Code::Unauthenticated, &["tenant_id is required"]);
        }
        // 2.
        if request.aggregate_id.is_empty() {
            return error(Code::InvalidArgument, &["aggregate_id"]);
        }
        if request.aggregate_type.is_empty() {
            return error(Code::InvalidArgument, &["aggregate_type"]);
        }
        if request.events.is_empty() {
            return error(Code::InvalidArgument, &["events"]);
        }
        // 3.
        let mut batch = Vec::with_capacity(request.events.len());
        for (i, event) in request.events.iter().enumerate() {
            let at = format!("events[{i}]");
            let Some(meta) = &event.meta else {
                return error(Code::InvalidArgument, &[&at, "meta"]);
            };
            if meta.event_id.is_empty() {
                return error(Code::InvalidArgument, &[&at, "event_id"]);
            }
            if meta.aggregate_nonce == 0 {
                return error(Code::InvalidArgument, &[&at, "aggregate_nonce"]);
            }
            if meta.event_type.is_empty() {
                return error(Code::InvalidArgument, &[&at, "event_type"]);
            }
            let mut meta = meta.clone();
            let fields = [
                (
                    &mut meta.aggregate_id,
                    &request.aggregate_id,
                    "aggregate_id",
                    Code::InvalidArgument,
                ),
                (
                    &mut meta.aggregate_type,
                    &request.aggregate_type,
                    "aggregate_type",
                    Code::InvalidArgument,
                ),
                (
                    &mut meta.tenant_id,
                    &request.tenant_id,
                    "tenant_id",
                    Code::PermissionDenied,
                ),
            ];
            for (field, from_request, name, code) in fields {
                if field.is_empty() {
                    field.clone_from(from_request);
                } else if field.as_str() != from_request.as_str() {
                    return error(code, &[&at, name]);
                }
            }
            if meta.content_type.is_empty() {
                meta.content_type = DEFAULT_CONTENT_TYPE.to_owned();
            }
            meta.global_nonce = 0;
            meta.recorded_time_unix_ms = 0;
            batch.push(EventData {
                meta: Some(meta),
                payload: event.payload.clone(),
            });
        }

        let tenant = self.tenants.entry(request.tenant_id.clone()).or_default();
        // 4.
        let key = &request.idempotency_key;
        let idempotency_slot = (request.aggregate_id.clone(), key.clone());
        if !key.is_empty()
            && let Some((original, response)) = tenant.idempotency.get(&idempotency_slot)
        {
            return if *original == batch {
                Expected::Ok(*response)
            } else {
                error(Code::AlreadyExists, &[key])
            };
        }
        // 5.
        let stream = tenant
            .streams
            .get(&request.aggregate_id)
            .map_or(&[][..], Vec::as_slice);
        let head = stream.len() as u64;
        if request.expected_aggregate_nonce != head {
            return Expected::Err {
                code: Code::Aborted,
                mentions: Vec::new(),
                detail: Some(ConcurrencyErrorDetail {
                    tenant_id: request.tenant_id.clone(),
                    aggregate_id: request.aggregate_id.clone(),
                    actual_last_aggregate_nonce: head,
                    actual_last_global_nonce: stream.last().map_or(0, global_of),
                }),
            };
        }
        // 6.
        for (i, event) in batch.iter().enumerate() {
            let want = head + i as u64 + 1;
            let sent = nonce_of(event);
            if sent != want {
                return error(
                    Code::InvalidArgument,
                    &[
                        &format!("events[{i}]"),
                        &sent.to_string(),
                        &want.to_string(),
                    ],
                );
            }
        }
        // 7.
        let mut in_batch = HashSet::new();
        for event in &batch {
            let id = id_of(event);
            if !in_batch.insert(id) || tenant.event_ids.contains(id) {
                return error(Code::AlreadyExists, &[id]);
            }
        }
        // 8.
        if batch.len() > self.limits.max_events_per_batch {
            return error(Code::InvalidArgument, &["max_events_per_batch"]);
        }

        // Commit.
        let stream = tenant
            .streams
            .entry(request.aggregate_id.clone())
            .or_default();
        for event in &batch {
            self.last_global += 1;
            let mut event = event.clone();
            if let Some(meta) = event.meta.as_mut() {
                meta.global_nonce = self.last_global;
            }
            tenant.event_ids.insert(id_of(&event).to_owned());
            stream.push(event.clone());
            tenant.log.push(event);
        }
        let response = AppendResponse {
            last_global_nonce: self.last_global,
            last_aggregate_nonce: stream.len() as u64,
        };
        if !key.is_empty() {
            tenant
                .idempotency
                .insert(idempotency_slot, (batch, response));
        }
        Expected::Ok(response)
    }

    /// ReadStream; events come back normalized, recorded time 0.
    fn read(&self, request: &ReadStreamRequest) -> Expected<ReadStreamResponse> {
        if request.tenant_id.is_empty() {
            return error(Code::Unauthenticated, &["tenant_id is required"]);
        }
        if request.aggregate_id.is_empty() {
            return error(Code::InvalidArgument, &["aggregate_id"]);
        }
        let events = self.stream(&request.tenant_id, &request.aggregate_id);
        let head = events.len() as u64;
        // No count limit: 0 reads to the end, larger values are not capped.
        let page = Limits::read_stream_page_size(request.max_count);
        let from = request.from_aggregate_nonce;
        let at = |nonce: u64| events[(nonce - 1) as usize].clone();
        let (selected, next, is_end): (Vec<EventData>, u64, bool) = if request.forward {
            let first = from.max(1);
            let selected: Vec<u64> = (first..=head).take(page).collect();
            let next = selected.last().map_or(from, |last| last + 1);
            let is_end = selected.last().is_none_or(|&last| last == head);
            (selected.into_iter().map(at).collect(), next, is_end)
        } else {
            // 0 is before every event: an empty final page, cursor 0.
            // Any position at or past the head reads from the head.
            let top = from.min(head);
            let selected: Vec<u64> = (1..=top).rev().take(page).collect();
            // An empty backward page returns cursor 0, whatever its start.
            let next = selected.last().map_or(0, |lowest| lowest - 1);
            let is_end = selected.last().is_none_or(|&lowest| lowest == 1);
            (selected.into_iter().map(at).collect(), next, is_end)
        };
        Expected::Ok(ReadStreamResponse {
            events: selected,
            is_end,
            next_from_aggregate_nonce: next,
        })
    }

    /// ReadAll: the tenant's log in global order, the same cursor rules as
    /// ReadStream over global nonces, pages of `default_page_size` for 0
    /// and at most `max_page_size`.
    fn read_all(&self, request: &ReadAllRequest) -> Expected<ReadAllResponse> {
        if request.tenant_id.is_empty() {
            return error(Code::Unauthenticated, &["tenant_id is required"]);
        }
        let log = self.log(&request.tenant_id);
        let page = self.limits.read_all_page_size(request.max_count);
        let from = request.from_global_nonce;
        let selected: Vec<EventData> = if request.forward {
            log.iter()
                .filter(|e| global_of(e) >= from.max(1))
                .take(page)
                .cloned()
                .collect()
        } else if from == 0 {
            Vec::new()
        } else {
            log.iter()
                .rev()
                .filter(|e| global_of(e) <= from)
                .take(page)
                .cloned()
                .collect()
        };
        let last = selected.last().map(global_of);
        let end = if request.forward {
            log.last()
        } else {
            log.first()
        };
        Expected::Ok(ReadAllResponse {
            is_end: last.is_none() || last == end.map(global_of),
            next_from_global_nonce: match last {
                None if request.forward => from,
                None => 0,
                Some(g) if request.forward => g + 1,
                Some(g) => g - 1,
            },
            events: selected,
        })
    }

    /// What a subscription opened now delivers as history.
    fn subscription(&self, request: &SubscribeRequest) -> Expected<Vec<EventData>> {
        if request.tenant_id.is_empty() {
            return error(Code::Unauthenticated, &["tenant_id is required"]);
        }
        Expected::Ok(
            self.log(&request.tenant_id)
                .iter()
                .filter(|e| {
                    meta(e)
                        .aggregate_id
                        .starts_with(&request.aggregate_id_prefix)
                        && global_of(e) >= request.from_global_nonce
                })
                .cloned()
                .collect(),
        )
    }
}

/// Compares a store outcome with the model's.
fn check_outcome<T: Debug + PartialEq>(
    actual: Result<T, Status>,
    expected: Expected<T>,
    context: &str,
) -> TestResult {
    match (actual, expected) {
        (Ok(actual), Expected::Ok(expected)) => {
            prop_assert_eq!(actual, expected, "{}", context);
        }
        (
            Err(status),
            Expected::Err {
                code,
                mentions,
                detail,
            },
        ) => {
            prop_assert_eq!(
                status.code(),
                code,
                "{}: wrong code, message {:?}",
                context,
                status.message()
            );
            for mention in mentions {
                prop_assert!(
                    status.message().contains(&mention),
                    "{context}: message {:?} does not mention {mention:?}",
                    status.message()
                );
            }
            if let Some(detail) = detail {
                prop_assert_eq!(
                    concurrency_detail(&status),
                    Some(detail),
                    "{}: ConcurrencyErrorDetail",
                    context
                );
            }
        }
        (Ok(actual), Expected::Err { code, mentions, .. }) => {
            return fail(format!(
                "{context}: expected {code:?} (mentioning {mentions:?}), got Ok({actual:?})"
            ));
        }
        (Err(status), Expected::Ok(expected)) => {
            return fail(format!(
                "{context}: expected Ok({expected:?}), got {:?}: {}",
                status.code(),
                status.message()
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Sequential: every response against the model
// ---------------------------------------------------------------------------

fn payload(step: usize, i: usize) -> Vec<u8> {
    format!("{{\"step\":{step},\"i\":{i}}}").into_bytes()
}

/// The events of a successful answer with their recorded times checked and
/// cleared, so they compare equal to the model's.
fn stripped<T>(
    answer: Result<T, Status>,
    events: impl FnOnce(&mut T) -> &mut Vec<EventData>,
    context: &str,
) -> TestResult<Result<T, Status>> {
    let Ok(mut answer) = answer else {
        return Ok(answer);
    };
    let list = events(&mut answer);
    *list = std::mem::take(list)
        .into_iter()
        .map(|e| strip_recorded_time(e, context))
        .collect::<TestResult<_>>()?;
    Ok(Ok(answer))
}

/// A ReadStream answer against the model; the page when it succeeded.
fn check_read(
    actual: Result<ReadStreamResponse, Status>,
    model: &Model,
    request: &ReadStreamRequest,
    context: &str,
) -> TestResult<Option<ReadStreamResponse>> {
    let context = format!("{context}: {request:?}");
    let actual = stripped(actual, |page| &mut page.events, &context)?;
    let page = actual.as_ref().ok().cloned();
    check_outcome(actual, model.read(request), &context)?;
    Ok(page)
}

/// Takes exactly `expected.len()` events from `events`, then checks that no
/// further event arrives for a short while.
async fn expect_delivered(
    events: &mut BoxStream<'static, Result<EventData, Status>>,
    expected: &[EventData],
    context: &str,
) -> TestResult {
    for (n, want) in expected.iter().enumerate() {
        let got = within(
            || format!("{context}: delivery {n} of {}", expected.len()),
            events.next(),
        )
        .await?;
        let got = match got {
            Some(Ok(event)) => strip_recorded_time(event, context)?,
            Some(Err(status)) => {
                return fail(format!("{context}: delivery {n} failed: {status:?}"));
            }
            None => return fail(format!("{context}: ended after {n} events")),
        };
        prop_assert_eq!(&got, want, "{}: delivery {}", context, n);
    }
    if let Ok(extra) = tokio::time::timeout(QUIET, events.next()).await {
        return fail(format!(
            "{context}: delivered more than the {} expected events: {extra:?}",
            expected.len()
        ));
    }
    Ok(())
}

/// A step's outcome, as the interpreter got it from the store, against the
/// model (which the step's appends advance).
fn check_step(model: &mut Model, request: &Request, outcome: Outcome, context: &str) -> TestResult {
    match (request, outcome) {
        (Request::Append(request), Outcome::Append(actual)) => {
            let expected = model.append(request);
            check_outcome(actual, expected, &format!("{context}: {request:?}"))
        }
        (
            Request::Read { stream, all },
            Outcome::Read {
                stream: page,
                all: log_page,
            },
        ) => {
            check_read(page, model, stream, context)?;
            let context = format!("{context}: {all:?}");
            let log_page = stripped(log_page, |page| &mut page.events, &context)?;
            check_outcome(log_page, model.read_all(all), &context)
        }
        (Request::Subscribe(request), Outcome::Subscribe(history)) => {
            let context = format!("{context}: {request:?}");
            let history = stripped(history, |events| events, &context)?;
            check_outcome(history, model.subscription(request), &context)
        }
        (request, outcome) => fail(format!(
            "{context}: the interpreter answered {request:?} with {outcome:?}"
        )),
    }
}

/// Pages through a stream with `max_count` until `is_end`, checking every
/// page against the model; returns the events seen.
async fn page_through(
    client: &mut EventStoreClient<Channel>,
    model: &Model,
    tenant: &str,
    aggregate: &str,
    max_count: u32,
    forward: bool,
) -> TestResult<Vec<EventData>> {
    // Backward paging starts at the head: any position at or past it.
    let mut from = if forward { 0 } else { i64::MAX as u64 };
    let mut seen = Vec::new();
    // Each page holds at least one event, so this bounds a correct store.
    for page_no in 0..=model.head(tenant, aggregate) + 1 {
        let context = format!("final paging {tenant}/{aggregate} forward={forward} page {page_no}");
        let request = ReadStreamRequest {
            tenant_id: tenant.into(),
            aggregate_id: aggregate.into(),
            from_aggregate_nonce: from,
            max_count,
            forward,
        };
        let actual = within(|| context.clone(), client.read_stream(request.clone()))
            .await?
            .map(tonic::Response::into_inner);
        let Some(page) = check_read(actual, model, &request, &context)? else {
            return fail(format!("{context}: read failed"));
        };
        seen.extend(page.events);
        if page.is_end {
            return Ok(seen);
        }
        from = page.next_from_aggregate_nonce;
    }
    fail(format!(
        "paging {tenant}/{aggregate} forward={forward} never reached is_end"
    ))
}

/// Runs `ops` through the crate's plan interpreter (what a user's property
/// test runs them with) against the mock over its in-process channel (the
/// engine behind the mock's gRPC service, as users reach it), every
/// outcome checked against the model.
async fn run_sequential(ops: Vec<Op>, final_page: u32) -> TestResult {
    let mock = MockEventStore::builder().limits(limits()).start().await;
    let mut client = mock.client();
    let mut interpreter = Interpreter::new().with_timeout(CALL_TIMEOUT);
    let mut model = Model::new(limits());
    for (step, op) in ops.iter().enumerate() {
        let context = format!("step {step} ({op:?})");
        let Some(request) = interpreter.resolve(op) else {
            continue;
        };
        // The interpreter resolves against the heads the store reported:
        // on a correct store, the model's.
        if let Request::Append(append) = &request {
            let (tenant, aggregate) = (&append.tenant_id, &append.aggregate_id);
            prop_assert_eq!(
                interpreter.head(tenant, aggregate),
                model.head(tenant, aggregate),
                "{}: the interpreter's head of {}/{}",
                context,
                tenant,
                aggregate
            );
        }
        let outcome = interpreter.send(&mut client, &request).await;
        check_step(&mut model, &request, outcome, &context)?;
    }

    // Every stream, paged fully in both directions.
    for tenant in TENANTS {
        for aggregate in STREAMS {
            let want = model.stream(tenant, aggregate).to_vec();
            let forward =
                page_through(&mut client, &model, tenant, aggregate, final_page, true).await?;
            prop_assert_eq!(&forward, &want, "forward paging {}/{}", tenant, aggregate);
            let mut backward =
                page_through(&mut client, &model, tenant, aggregate, final_page, false).await?;
            backward.reverse();
            prop_assert_eq!(&backward, &want, "backward paging {}/{}", tenant, aggregate);
        }
    }
    // Every tenant's log, by subscription from the beginning.
    for tenant in TENANTS {
        let request = Request::Subscribe(SubscribeRequest {
            tenant_id: tenant.into(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: 0,
        });
        let outcome = interpreter.send(&mut client, &request).await;
        check_step(
            &mut model,
            &request,
            outcome,
            &format!("final subscription of {tenant}"),
        )?;
    }
    prop_assert_eq!(mock.engine().last_global_nonce(), model.last_global);
    Ok(())
}
proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 2_000,
        // A hang fails each shrink step only after CALL_TIMEOUT.
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sequential_operations_match_the_model(
        ops in prop::collection::vec(op(), 1..=40),
        final_page in 0..=6u32,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(run_sequential(ops, final_page))?;
    }
}

// ---------------------------------------------------------------------------
// Concurrent: invariants over any interleaving
// ---------------------------------------------------------------------------

const CONCURRENT_TENANTS: usize = 2;
const CONCURRENT_STREAMS: usize = 3;

#[derive(Debug)]
struct AppendRecord {
    task: usize,
    request: AppendRequest,
    result: Result<AppendResponse, Status>,
}

/// One task's operations; returns every append with its outcome.
async fn run_task(
    store: InProcessStore,
    task: usize,
    ops: Vec<COp>,
) -> Result<Vec<AppendRecord>, TestCaseError> {
    let limits = limits();
    let mut records: Vec<AppendRecord> = Vec::new();
    // The head of each stream as this task last learned it.
    let mut known: HashMap<(usize, usize), u64> = HashMap::new();
    let mut fresh = 0;
    for (step, op) in ops.into_iter().enumerate() {
        let context = format!("task {task} step {step} ({op:?})");
        let request = match op {
            COp::Yield => {
                tokio::task::yield_now().await;
                continue;
            }
            COp::Read {
                tenant,
                stream,
                from,
                max_count,
                forward,
            } => {
                let request = ReadStreamRequest {
                    tenant_id: TENANTS[tenant].into(),
                    aggregate_id: STREAMS[stream].into(),
                    from_aggregate_nonce: from,
                    max_count,
                    forward,
                };
                let page = within(|| context.clone(), store.read_stream(request.clone()))
                    .await?
                    .map_err(|s| TestCaseError::fail(format!("{context}: {s:?}")))?;
                check_page_shape(&request, &page, &limits, &context)?;
                // Any backward page starts at or below the head it saw.
                if !forward && let Some(first) = page.events.first() {
                    let head = known.entry((tenant, stream)).or_default();
                    *head = (*head).max(nonce_of(first));
                }
                continue;
            }
            COp::Retry => match records.last() {
                Some(last) => last.request.clone(),
                None => continue,
            },
            COp::Append {
                tenant,
                stream,
                ids,
                key,
                stale,
            } => {
                let expected = known
                    .get(&(tenant, stream))
                    .copied()
                    .unwrap_or_default()
                    .saturating_sub(u64::from(stale));
                let events = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        let event_id = match id {
                            IdChoice::Fresh => {
                                fresh += 1;
                                format!("w{task}-{fresh}")
                            }
                            IdChoice::Pool(n) => format!("e{n}"),
                        };
                        EventData {
                            meta: Some(EventMetadata {
                                event_id,
                                aggregate_nonce: expected + i as u64 + 1,
                                event_type: "order.Placed".into(),
                                ..EventMetadata::default()
                            }),
                            payload: payload(step, i),
                        }
                    })
                    .collect();
                AppendRequest {
                    tenant_id: TENANTS[tenant].into(),
                    aggregate_id: STREAMS[stream].into(),
                    aggregate_type: AGGREGATE_TYPE.into(),
                    expected_aggregate_nonce: expected,
                    idempotency_key: key.map(|k| format!("k{k}")).unwrap_or_default(),
                    events,
                }
            }
        };
        let result = within(|| context.clone(), store.append(request.clone())).await?;
        let slot = (
            TENANTS
                .iter()
                .position(|t| *t == request.tenant_id)
                .unwrap_or_default(),
            STREAMS
                .iter()
                .position(|s| *s == request.aggregate_id)
                .unwrap_or_default(),
        );
        match &result {
            Ok(response) => {
                known.insert(slot, response.last_aggregate_nonce);
            }
            Err(status) if status.code() == Code::Aborted => {
                if let Some(detail) = concurrency_detail(status) {
                    known.insert(slot, detail.actual_last_aggregate_nonce);
                }
            }
            Err(_) => {}
        }
        records.push(AppendRecord {
            task,
            request,
            result,
        });
    }
    Ok(records)
}

/// What a page must look like whatever ran concurrently with the read.
fn check_page_shape(
    request: &ReadStreamRequest,
    page: &ReadStreamResponse,
    _limits: &Limits,
    context: &str,
) -> TestResult {
    // ReadStream has no count limit; the limits only bound ReadAll pages.
    let page_size = Limits::read_stream_page_size(request.max_count);
    prop_assert!(
        page.events.len() <= page_size,
        "{context}: {} events in a page of {page_size}",
        page.events.len()
    );
    let nonces: Vec<u64> = page.events.iter().map(nonce_of).collect();
    let globals: Vec<u64> = page.events.iter().map(global_of).collect();
    for event in &page.events {
        let m = meta(event);
        prop_assert_eq!(&m.tenant_id, &request.tenant_id, "{}", context);
        prop_assert_eq!(&m.aggregate_id, &request.aggregate_id, "{}", context);
    }
    let from = request.from_aggregate_nonce;
    if request.forward {
        for pair in nonces.windows(2) {
            prop_assert_eq!(pair[1], pair[0] + 1, "{}: nonces {:?}", context, nonces);
        }
        for pair in globals.windows(2) {
            prop_assert!(pair[1] > pair[0], "{context}: globals {globals:?}");
        }
        if let Some(&first) = nonces.first() {
            prop_assert_eq!(first, from.max(1), "{}: first nonce", context);
        }
        let next = nonces.last().map_or(from, |last| last + 1);
        prop_assert_eq!(page.next_from_aggregate_nonce, next, "{}: next", context);
    } else {
        for pair in nonces.windows(2) {
            prop_assert_eq!(pair[1] + 1, pair[0], "{}: nonces {:?}", context, nonces);
        }
        for pair in globals.windows(2) {
            prop_assert!(pair[1] < pair[0], "{context}: globals {globals:?}");
        }
        if from == 0 {
            prop_assert!(
                nonces.is_empty() && page.is_end,
                "{context}: backward from 0 is an empty final page"
            );
        }
        if let Some(&first) = nonces.first() {
            prop_assert!(first <= from, "{context}: first nonce {first}");
        }
        // An empty backward page returns cursor 0, whatever its start.
        let next = nonces.last().map_or(0, |lowest| lowest - 1);
        prop_assert_eq!(page.next_from_aggregate_nonce, next, "{}: next", context);
        if nonces.last() == Some(&1) {
            prop_assert!(page.is_end, "{context}: reached nonce 1 without is_end");
        }
    }
    if !page.is_end {
        prop_assert_eq!(
            page.events.len(),
            page_size,
            "{}: a short page without is_end",
            context
        );
    }
    Ok(())
}

/// Normalized form of a well-formed request's events, as the store keeps them.
fn normalized(request: &AppendRequest) -> Vec<EventData> {
    request
        .events
        .iter()
        .map(|e| {
            let mut m = meta(e);
            m.tenant_id.clone_from(&request.tenant_id);
            m.aggregate_id.clone_from(&request.aggregate_id);
            m.aggregate_type.clone_from(&request.aggregate_type);
            if m.content_type.is_empty() {
                m.content_type = DEFAULT_CONTENT_TYPE.into();
            }
            m.global_nonce = 0;
            m.recorded_time_unix_ms = 0;
            EventData {
                meta: Some(m),
                payload: e.payload.clone(),
            }
        })
        .collect()
}

async fn run_concurrent(tasks: Vec<Vec<COp>>) -> TestResult {
    let limits = limits();
    let store = InProcess::start(limits.clone()).await;

    // Subscriptions open before any append: they see every event live.
    let mut live = Vec::new();
    for tenant in &TENANTS[..CONCURRENT_TENANTS] {
        let events = store
            .subscribe(SubscribeRequest {
                tenant_id: (*tenant).into(),
                aggregate_id_prefix: String::new(),
                from_global_nonce: 0,
            })
            .await
            .map_err(|s| TestCaseError::fail(format!("subscribe {tenant}: {s:?}")))?;
        live.push(events);
    }

    let handles: Vec<_> = tasks
        .into_iter()
        .enumerate()
        .map(|(task, ops)| tokio::spawn(run_task(store.clone(), task, ops)))
        .collect();
    let mut records = Vec::new();
    for handle in handles {
        let Ok(joined) = tokio::time::timeout(TASK_TIMEOUT, handle).await else {
            return fail(format!("a task did not finish within {TASK_TIMEOUT:?}"));
        };
        let task_records =
            joined.map_err(|e| TestCaseError::fail(format!("task failed: {e}")))??;
        records.extend(task_records);
    }

    // Read every stream back.
    let mut streams: HashMap<(String, String), Vec<EventData>> = HashMap::new();
    let mut all_globals = Vec::new();
    for tenant in &TENANTS[..CONCURRENT_TENANTS] {
        let mut ids = HashSet::new();
        for aggregate in &STREAMS[..CONCURRENT_STREAMS] {
            let mut events: Vec<EventData> = Vec::new();
            let mut from = 0;
            loop {
                let request = ReadStreamRequest {
                    tenant_id: (*tenant).into(),
                    aggregate_id: (*aggregate).into(),
                    from_aggregate_nonce: from,
                    max_count: 0,
                    forward: true,
                };
                let context = format!("read back {tenant}/{aggregate} from {from}");
                let page = within(|| context.clone(), store.read_stream(request.clone()))
                    .await?
                    .map_err(|s| TestCaseError::fail(format!("{context}: {s:?}")))?;
                check_page_shape(&request, &page, &limits, &context)?;
                prop_assert!(
                    !page.events.is_empty() || page.is_end,
                    "{context}: empty page without is_end"
                );
                events.extend(page.events);
                if page.is_end {
                    break;
                }
                from = page.next_from_aggregate_nonce;
            }
            let nonces: Vec<u64> = events.iter().map(nonce_of).collect();
            let gap_free: Vec<u64> = (1..=events.len() as u64).collect();
            prop_assert_eq!(
                &nonces,
                &gap_free,
                "{}/{}: aggregate nonces",
                tenant,
                aggregate
            );
            for event in &events {
                prop_assert!(
                    ids.insert(id_of(event).to_owned()),
                    "{tenant}: event id {} stored twice",
                    id_of(event)
                );
                all_globals.push(global_of(event));
            }
            streams.insert(((*tenant).into(), (*aggregate).into()), events);
        }
    }
    all_globals.sort_unstable();
    let dense: Vec<u64> = (1..=all_globals.len() as u64).collect();
    prop_assert_eq!(&all_globals, &dense, "global nonces over all streams");
    prop_assert_eq!(store.engine().last_global_nonce(), dense.len() as u64);

    let stream_of = |request: &AppendRequest| -> &[EventData] {
        streams
            .get(&(request.tenant_id.clone(), request.aggregate_id.clone()))
            .map_or(&[], Vec::as_slice)
    };
    let tenant_has_id = |tenant: &str, id: &str| {
        streams
            .iter()
            .any(|((t, _), events)| t == tenant && events.iter().any(|e| id_of(e) == id))
    };

    // Successes: each batch is stored where its response says; a global
    // nonce is reported by one commit only (replays repeat its response).
    let mut commits: HashMap<u64, &AppendRecord> = HashMap::new();
    for record in &records {
        let request = &record.request;
        let context = format!("task {} append {request:?}", record.task);
        match &record.result {
            Ok(response) => {
                let events = stream_of(request);
                let n = request.events.len() as u64;
                let last = response.last_aggregate_nonce;
                prop_assert!(
                    last >= n && last <= events.len() as u64,
                    "{context}: response {response:?} outside the stream (head {})",
                    events.len()
                );
                let stored = &events[(last - n) as usize..last as usize];
                let stored_globals: Vec<u64> = stored.iter().map(global_of).collect();
                let want_globals: Vec<u64> =
                    (response.last_global_nonce + 1 - n..=response.last_global_nonce).collect();
                prop_assert_eq!(
                    &stored_globals,
                    &want_globals,
                    "{}: global nonces of the batch",
                    context
                );
                let mut stored_plain = Vec::new();
                for event in stored {
                    let mut event = strip_recorded_time(event.clone(), &context)?;
                    if let Some(m) = event.meta.as_mut() {
                        m.global_nonce = 0;
                    }
                    stored_plain.push(event);
                }
                prop_assert_eq!(
                    &stored_plain,
                    &normalized(request),
                    "{}: stored events",
                    context
                );
                match commits.get(&response.last_global_nonce) {
                    None => {
                        commits.insert(response.last_global_nonce, record);
                    }
                    Some(first) => {
                        // Only an idempotent replay may repeat a response.
                        prop_assert!(
                            !request.idempotency_key.is_empty()
                                && first.request.idempotency_key == request.idempotency_key
                                && first.request.tenant_id == request.tenant_id
                                && first.request.aggregate_id == request.aggregate_id
                                && first.result.as_ref().ok() == Some(response),
                            "{context}: last_global_nonce {} also reported to {:?}",
                            response.last_global_nonce,
                            first.request
                        );
                    }
                }
            }
            Err(status) => match status.code() {
                Code::Aborted => {
                    let Some(detail) = concurrency_detail(status) else {
                        return fail(format!("{context}: ABORTED without ConcurrencyErrorDetail"));
                    };
                    prop_assert_eq!(&detail.tenant_id, &request.tenant_id, "{}", context);
                    prop_assert_eq!(&detail.aggregate_id, &request.aggregate_id, "{}", context);
                    prop_assert_ne!(
                        detail.actual_last_aggregate_nonce,
                        request.expected_aggregate_nonce,
                        "{}: ABORTED although the head was the expected one",
                        context
                    );
                    let events = stream_of(request);
                    let actual = detail.actual_last_aggregate_nonce;
                    prop_assert!(
                        actual <= events.len() as u64,
                        "{context}: detail {detail:?} beyond the final head {}",
                        events.len()
                    );
                    let global = match actual {
                        0 => 0,
                        n => global_of(&events[(n - 1) as usize]),
                    };
                    prop_assert_eq!(
                        detail.actual_last_global_nonce,
                        global,
                        "{}: detail {:?}",
                        context,
                        detail
                    );
                }
                Code::AlreadyExists => {
                    let key = &request.idempotency_key;
                    let key_taken = !key.is_empty()
                        && records.iter().any(|other| {
                            other.result.is_ok()
                                && other.request.tenant_id == request.tenant_id
                                && other.request.aggregate_id == request.aggregate_id
                                && other.request.idempotency_key == *key
                                && normalized(&other.request) != normalized(request)
                        });
                    let mut batch_ids = HashSet::new();
                    let id_taken = request.events.iter().any(|e| {
                        !batch_ids.insert(id_of(e)) || tenant_has_id(&request.tenant_id, id_of(e))
                    });
                    prop_assert!(
                        key_taken || id_taken,
                        "{context}: ALREADY_EXISTS ({}) with no key or id taken",
                        status.message()
                    );
                }
                code => {
                    return fail(format!(
                        "{context}: unexpected {code:?}: {}",
                        status.message()
                    ));
                }
            },
        }
    }
    // No phantom writes: every stored event belongs to an acknowledged batch.
    let committed: usize = commits.values().map(|r| r.request.events.len()).sum();
    prop_assert_eq!(
        committed,
        all_globals.len(),
        "events stored vs acknowledged"
    );

    // Retries: a task's retry of its own acknowledged keyed append replays it;
    // of an acknowledged unkeyed one is refused by the concurrency check.
    let mut by_task: HashMap<usize, Vec<&AppendRecord>> = HashMap::new();
    for record in &records {
        by_task.entry(record.task).or_default().push(record);
    }
    for task_records in by_task.values() {
        for pair in task_records.windows(2) {
            let (first, second) = (pair[0], pair[1]);
            if first.request != second.request {
                continue;
            }
            let Ok(original) = &first.result else {
                continue;
            };
            let context = format!("task {} retry of {:?}", first.task, first.request);
            if first.request.idempotency_key.is_empty() {
                prop_assert_eq!(
                    second.result.as_ref().map_err(Status::code).err(),
                    Some(Code::Aborted),
                    "{}",
                    context
                );
            } else {
                prop_assert_eq!(
                    second.result.as_ref().ok(),
                    Some(original),
                    "{}: {:?}",
                    context,
                    second.result
                );
            }
        }
    }

    // The subscriptions opened first delivered every event of their tenant,
    // in global order, history and live with no gap nor duplicate.
    for (tenant, mut events) in TENANTS[..CONCURRENT_TENANTS].iter().zip(live) {
        let mut want: Vec<EventData> = streams
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .flat_map(|(_, events)| events.iter().cloned())
            .collect();
        want.sort_by_key(global_of);
        let want = want
            .into_iter()
            .map(|e| strip_recorded_time(e, tenant))
            .collect::<TestResult<Vec<_>>>()?;
        expect_delivered(
            &mut events,
            &want,
            &format!("live subscription of {tenant}"),
        )
        .await?;
        // And a new subscription gets the same as history.
        let mut history = store
            .subscribe(SubscribeRequest {
                tenant_id: (*tenant).into(),
                aggregate_id_prefix: String::new(),
                from_global_nonce: 0,
            })
            .await
            .map_err(|s| TestCaseError::fail(format!("subscribe {tenant}: {s:?}")))?;
        expect_delivered(
            &mut history,
            &want,
            &format!("late subscription of {tenant}"),
        )
        .await?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 1_000,
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn concurrent_operations_keep_the_invariants(
        tasks in prop::collection::vec(
            prop::collection::vec(concurrent_op(CONCURRENT_TENANTS, CONCURRENT_STREAMS), 1..=15),
            2..=4,
        ),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(run_concurrent(tasks))?;
    }
}

// ---------------------------------------------------------------------------
// The model itself, on hand-written cases (so a broken model cannot hide a
// broken store behind an agreement).
// ---------------------------------------------------------------------------

fn plain_event(id: &str, nonce: u64) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: id.into(),
            aggregate_nonce: nonce,
            event_type: "order.Placed".into(),
            ..EventMetadata::default()
        }),
        payload: b"{}".to_vec(),
    }
}

fn plain_append(expected: u64, key: &str, events: Vec<EventData>) -> AppendRequest {
    AppendRequest {
        tenant_id: "t0".into(),
        aggregate_id: "s0".into(),
        aggregate_type: AGGREGATE_TYPE.into(),
        expected_aggregate_nonce: expected,
        idempotency_key: key.into(),
        events,
    }
}

fn code_of<T>(expected: &Expected<T>) -> Code {
    match expected {
        Expected::Ok(_) => Code::Ok,
        Expected::Err { code, .. } => *code,
    }
}

#[test]
fn model_follows_the_check_order() {
    let mut model = Model::new(limits());
    let first = model.append(&plain_append(0, "k", vec![plain_event("a", 1)]));
    assert_eq!(
        first,
        Expected::Ok(AppendResponse {
            last_global_nonce: 1,
            last_aggregate_nonce: 1
        })
    );
    // 4 before 5: a retry with a stale expected nonce replays.
    assert_eq!(
        model.append(&plain_append(0, "k", vec![plain_event("a", 1)])),
        first
    );
    // A different batch under the key.
    assert_eq!(
        code_of(&model.append(&plain_append(1, "k", vec![plain_event("b", 2)]))),
        Code::AlreadyExists
    );
    // 5 before 6 and 7.
    let conflict = model.append(&plain_append(0, "", vec![plain_event("a", 9)]));
    assert_eq!(code_of(&conflict), Code::Aborted);
    // 6 before 7.
    assert_eq!(
        code_of(&model.append(&plain_append(1, "", vec![plain_event("a", 3)]))),
        Code::InvalidArgument
    );
    assert_eq!(
        code_of(&model.append(&plain_append(1, "", vec![plain_event("a", 2)]))),
        Code::AlreadyExists
    );
    // 7 before 8.
    let mut five: Vec<EventData> = (2..=6).map(|n| plain_event(&format!("x{n}"), n)).collect();
    assert_eq!(
        code_of(&model.append(&plain_append(1, "", five.clone()))),
        Code::InvalidArgument
    );
    five[4] = plain_event("a", 6);
    assert_eq!(
        code_of(&model.append(&plain_append(1, "", five))),
        Code::AlreadyExists
    );
    // 3 before 1? No: 1 first.
    let mut no_tenant = plain_append(1, "", vec![EventData::default()]);
    no_tenant.tenant_id.clear();
    assert_eq!(code_of(&model.append(&no_tenant)), Code::Unauthenticated);
    assert_eq!(model.last_global, 1);
}

#[test]
fn model_pages_both_ways() {
    let mut model = Model::new(limits());
    let events: Vec<EventData> = (1..=4).map(|n| plain_event(&format!("e{n}"), n)).collect();
    assert!(matches!(
        model.append(&plain_append(0, "", events)),
        Expected::Ok(_)
    ));
    let read = |from, max_count, forward| ReadStreamRequest {
        tenant_id: "t0".into(),
        aggregate_id: "s0".into(),
        from_aggregate_nonce: from,
        max_count,
        forward,
    };
    // Backward from 0 is an empty final page; from the head is any
    // position at or past it; max_count 0 is no count limit.
    let Expected::Ok(page) = model.read(&read(0, 0, false)) else {
        panic!("read fails")
    };
    assert!(page.events.is_empty() && page.is_end);
    assert_eq!(page.next_from_aggregate_nonce, 0);
    let Expected::Ok(page) = model.read(&read(i64::MAX as u64, 3, false)) else {
        panic!("read fails")
    };
    let nonces: Vec<u64> = page.events.iter().map(nonce_of).collect();
    assert_eq!(nonces, [4, 3, 2]);
    assert_eq!(page.next_from_aggregate_nonce, 1);
    assert!(!page.is_end);
    let Expected::Ok(page) = model.read(&read(1, 0, false)) else {
        panic!("read fails")
    };
    assert_eq!(page.events.len(), 1);
    assert!(page.is_end);
    let Expected::Ok(page) = model.read(&read(u64::MAX, 0, false)) else {
        panic!("read fails")
    };
    assert_eq!(page.events.len(), 4);
    assert!(page.is_end);
    let Expected::Ok(page) = model.read(&read(2, 9, true)) else {
        panic!("read fails")
    };
    let nonces: Vec<u64> = page.events.iter().map(nonce_of).collect();
    assert_eq!(nonces, [2, 3, 4]);
    assert!(page.is_end);
    assert_eq!(page.next_from_aggregate_nonce, 5);
    let Expected::Ok(page) = model.read(&read(7, 9, true)) else {
        panic!("read fails")
    };
    assert!(page.events.is_empty() && page.is_end);
    assert_eq!(page.next_from_aggregate_nonce, 7);
}

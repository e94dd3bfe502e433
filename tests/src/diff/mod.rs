//! `eventstore-conformance diff`: one random operation sequence sent to two
//! stores, every answer compared.
//!
//! The sequence comes from the mock's operation plans
//! (`eventstore_mock::strategies::plan::op`, the same steps the model test
//! draws), generated from a seeded ChaCha generator, so a seed always
//! gives the same sequence: appends with right and wrong expected nonces
//! and broken events, resends of earlier appends with and without their
//! idempotency key, ReadStream and ReadAll pages in both directions, and
//! subscriptions read up to their caught-up marker. Each step goes to both
//! stores at once; requests are resolved against the heads store A reports.
//!
//! What a store assigns is normalized before comparing: each side uses its
//! own tenants (`{prefix}{run}-a-t0`, ...), reported as `t0`, ...; global
//! nonces become ordinals of the run's commits on that store (1 = the
//! run's first event), and positions sent in requests are translated the
//! other way; a recorded time is only "set" or not. Errors compare by code
//! and `ConcurrencyErrorDetail`; their messages are shown, not compared
//! (stores word them differently). Positions are exact while nobody else
//! writes to either store during the run.

/// The one resolution of append steps, shared with the model test.
pub use eventstore_mock::strategies::plan::{build_append, resend};

use crate::{
    Store,
    endpoint::{ConnectError, ConnectOptions, connect, run_id},
    requests::HEAD,
};
use eventstore_engine::status::concurrency_detail;
use eventstore_mock::strategies::plan::{
    Op,
    names::{STREAMS, TENANTS, stream_of},
    op, resend_original,
};
use eventstore_proto::{
    AppendRequest, EventData, ReadAllRequest, ReadStreamRequest, SubscribeRequest,
    SubscribeResponse,
};
use futures::StreamExt;
use proptest::{
    strategy::{Strategy, ValueTree},
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use serde_json::json;
use std::{collections::HashMap, fmt::Write as _, time::Duration};
use tonic::Status;

/// Longest wait for a subscription's caught-up marker, from its start.
const MARKER_WAIT: Duration = Duration::from_secs(10);
/// Most bytes of a subscription's history (as the report shows it) kept
/// before its caught-up marker: a store that streams without ever sending
/// the marker costs this much, not all it sends.
const MAX_HISTORY_TEXT_BYTES: usize = 32 * 1024 * 1024;
/// Events of a subscription's history a report shows.
const SHOWN_HISTORY_EVENTS: usize = 50;
/// Longest wait for any one call, by default (`diff --request-timeout`).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One answer that differs between the stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// 1-based position of the operation in the sequence.
    pub step: usize,
    /// The request, tenants as placeholders.
    pub operation: String,
    /// Store A's answer, normalized.
    pub a: String,
    /// Store B's answer, normalized.
    pub b: String,
}

impl Difference {
    /// `step N: request`, then `  a: ...` and `  b: ...`.
    pub fn text(&self) -> String {
        format!(
            "step {}: {}\n  a: {}\n  b: {}",
            self.step, self.operation, self.a, self.b
        )
    }
}

/// What a diff run found.
#[derive(Debug, Clone, Default)]
pub struct DiffReport {
    /// Operations sent (to each store).
    pub operations: usize,
    /// Every differing answer, in order.
    pub differences: Vec<Difference>,
}

impl DiffReport {
    /// `N operations, M differences`.
    pub fn summary(&self) -> String {
        format!(
            "{} operations, {} differences",
            self.operations,
            self.differences.len()
        )
    }

    /// True when no answer differed.
    pub fn success(&self) -> bool {
        self.differences.is_empty()
    }

    /// The report for CI.
    pub fn to_json(&self, a: &str, b: &str, seed: u64) -> serde_json::Value {
        json!({
            "a": a,
            "b": b,
            "seed": seed,
            "operations": self.operations,
            "differences": self.differences.iter().map(|d| json!({
                "step": d.step,
                "operation": d.operation,
                "a": d.a,
                "b": d.b,
            })).collect::<Vec<_>>(),
            "summary": self.summary(),
        })
    }
}

/// Why a diff could not run.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A store cannot be reached.
    #[error("store {side}: {source}")]
    Connect {
        /// `a` or `b`.
        side: char,
        /// Why.
        source: ConnectError,
    },
    /// A store refused the first append (used to learn its position).
    #[error("store {side} refused an append to its probe tenant: {status}")]
    Probe {
        /// `a` or `b`.
        side: char,
        /// What it answered.
        status: String,
    },
}

/// A store's global nonces as ordinals of this run's commits.
#[derive(Debug)]
struct Positions {
    /// `known[0]` is the store's last global nonce before the run; then
    /// every global nonce the run committed, ascending.
    known: Vec<u64>,
}

impl Positions {
    fn learn(&mut self, last: u64, count: usize) {
        let first = last.saturating_sub(count as u64).saturating_add(1);
        for global in first..=last {
            if self.known.last().is_none_or(|&k| global > k) {
                self.known.push(global);
            }
        }
    }

    /// A store position as the run's ordinal.
    fn out(&self, global: u64) -> u64 {
        if global == 0 || global >= HEAD {
            return global;
        }
        let index = self.known.partition_point(|&k| k <= global);
        match index.checked_sub(1) {
            None => 0,
            Some(i) => i as u64 + (global - self.known[i]),
        }
    }

    /// A run ordinal as this store's position.
    fn position(&self, ordinal: u64) -> u64 {
        if ordinal == 0 || ordinal >= HEAD {
            return ordinal;
        }
        match self.known.get(ordinal as usize) {
            Some(&global) => global,
            None => {
                let last = self.known.len() as u64 - 1;
                (self.known[last as usize] + (ordinal - last)).min(HEAD)
            }
        }
    }
}

/// One store and this run's view of it.
struct Side<S> {
    store: S,
    /// Tenant names are `{prefix}t0`, ...
    prefix: String,
    positions: Positions,
    /// Longest wait for one call.
    timeout: Duration,
}

impl<S: Store> Side<S> {
    fn tenant(&self, placeholder: &str) -> String {
        if placeholder.is_empty() {
            String::new()
        } else {
            format!("{}{placeholder}", self.prefix)
        }
    }

    fn placeholder(&self, tenant: &str) -> String {
        tenant
            .strip_prefix(&self.prefix)
            .unwrap_or(tenant)
            .to_owned()
    }

    fn event(&self, mut event: EventData) -> String {
        if let Some(meta) = event.meta.as_mut() {
            meta.tenant_id = self.placeholder(&meta.tenant_id);
            meta.global_nonce = self.positions.out(meta.global_nonce);
            meta.recorded_time_unix_ms = u64::from(meta.recorded_time_unix_ms > 0);
        }
        let meta = event.meta.unwrap_or_default();
        format!(
            "{{{}/{}#{} g{} id={} type={} v{} ct={:?} tenant={} recorded={} headers={:?} {}}}",
            meta.aggregate_type,
            meta.aggregate_id,
            meta.aggregate_nonce,
            meta.global_nonce,
            meta.event_id,
            meta.event_type,
            meta.event_version,
            meta.content_type,
            meta.tenant_id,
            meta.recorded_time_unix_ms,
            meta.headers,
            String::from_utf8_lossy(&event.payload),
        )
    }

    /// `(compared, shown)`: the code and detail, and the message too.
    fn status(&self, status: &Status) -> (String, String) {
        let mut key = format!("Err({:?}", status.code());
        if let Some(detail) = concurrency_detail(status) {
            let _ = write!(
                key,
                " {}/{} head {} last_global {}",
                self.placeholder(&detail.tenant_id),
                detail.aggregate_id,
                detail.actual_last_aggregate_nonce,
                self.positions.out(detail.actual_last_global_nonce)
            );
        }
        key.push(')');
        let message = status.message().replace(&self.prefix, "");
        let shown = format!("{key} {message:?}");
        (key, shown)
    }

    async fn append(&mut self, request: &AppendRequest) -> (String, String, Option<u64>) {
        let mut request = request.clone();
        request.tenant_id = self.tenant(&request.tenant_id);
        for event in &mut request.events {
            if let Some(meta) = event.meta.as_mut() {
                meta.tenant_id = self.tenant(&meta.tenant_id);
            }
        }
        let count = request.events.len();
        match within(self.timeout, self.store.append(request)).await {
            Ok(response) => {
                self.positions.learn(response.last_global_nonce, count);
                let text = format!(
                    "Ok(head {}, last_global {})",
                    response.last_aggregate_nonce,
                    self.positions.out(response.last_global_nonce)
                );
                (text.clone(), text, Some(response.last_aggregate_nonce))
            }
            Err(status) => {
                let (key, shown) = self.status(&status);
                (key, shown, None)
            }
        }
    }

    async fn read_stream(&self, request: &ReadStreamRequest) -> (String, String) {
        let mut request = request.clone();
        request.tenant_id = self.tenant(&request.tenant_id);
        match within(self.timeout, self.store.read_stream(request)).await {
            Ok(page) => {
                let events: Vec<String> = page.events.into_iter().map(|e| self.event(e)).collect();
                let text = format!(
                    "Ok(is_end {}, next {}, events [{}])",
                    page.is_end,
                    page.next_from_aggregate_nonce,
                    events.join(", ")
                );
                (text.clone(), text)
            }
            Err(status) => self.status(&status),
        }
    }

    async fn read_all(&self, request: &ReadAllRequest) -> (String, String) {
        let mut request = request.clone();
        request.tenant_id = self.tenant(&request.tenant_id);
        let from_ordinal = request.from_global_nonce;
        let from = self.positions.position(from_ordinal);
        request.from_global_nonce = from;
        match within(self.timeout, self.store.read_all(request)).await {
            Ok(page) => {
                let events: Vec<String> =
                    page.events.iter().cloned().map(|e| self.event(e)).collect();
                // The cursor, relative to what it continues from: the last
                // event returned, else the position sent. (On a store others
                // write to, last + 1 may be another tenant's position.)
                let (anchor, anchor_actual) = match page.events.last() {
                    Some(last) => {
                        let global = last.meta.as_ref().map_or(0, |m| m.global_nonce);
                        (self.positions.out(global), global)
                    }
                    None => (from_ordinal, from),
                };
                // 0 is the terminal cursor (an empty backward page), the
                // same on every store: not relative to anything.
                let next = match page.next_from_global_nonce {
                    0 => 0,
                    next => i128::from(anchor) + i128::from(next) - i128::from(anchor_actual),
                };
                let text = format!(
                    "Ok(is_end {}, next {next}, events [{}])",
                    page.is_end,
                    events.join(", ")
                );
                (text.clone(), text)
            }
            Err(status) => self.status(&status),
        }
    }

    /// The events a subscription delivers before its caught-up marker.
    async fn subscribe(&self, request: &SubscribeRequest) -> (String, String) {
        let mut request = request.clone();
        request.tenant_id = self.tenant(&request.tenant_id);
        request.from_global_nonce = self.positions.position(request.from_global_nonce);
        let mut responses =
            match within(self.timeout, self.store.subscribe_responses(request)).await {
                Ok(responses) => responses,
                Err(status) => return self.status(&status),
            };
        let mut events = Vec::new();
        let mut text_bytes = 0usize;
        let deadline = tokio::time::Instant::now() + MARKER_WAIT;
        let end = loop {
            if text_bytes > MAX_HISTORY_TEXT_BYTES {
                break format!(
                    "no caught-up marker after {} events ({} MiB of history, the most diff keeps)",
                    events.len(),
                    MAX_HISTORY_TEXT_BYTES / (1024 * 1024)
                );
            }
            match tokio::time::timeout_at(deadline, responses.next()).await {
                Err(_) => {
                    break format!("no caught-up marker within {} s", MARKER_WAIT.as_secs());
                }
                Ok(None) => break "ended before its caught-up marker".to_owned(),
                Ok(Some(Err(status))) => break self.status(&status).0,
                Ok(Some(Ok(SubscribeResponse { event: None }))) => break "marker".to_owned(),
                Ok(Some(Ok(SubscribeResponse { event: Some(event) }))) => {
                    let shown = self.event(event);
                    text_bytes += shown.len();
                    events.push(shown);
                }
            }
        };
        let key = format!("history [{}] then {end}", events.join(", "));
        // A report shows the first events; the comparison is over them all.
        let shown = if events.len() > SHOWN_HISTORY_EVENTS {
            format!(
                "history [{}, ... ({} more)] then {end}",
                events[..SHOWN_HISTORY_EVENTS].join(", "),
                events.len() - SHOWN_HISTORY_EVENTS
            )
        } else {
            key.clone()
        };
        (key, shown)
    }
}

/// `future`, or `DEADLINE_EXCEEDED` after `timeout`.
async fn within<T>(
    timeout: Duration,
    future: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!(
                "no answer within {} s (--request-timeout)",
                timeout.as_secs_f64()
            )))
        })
}

/// Learns where `store` is: appends one event to the run's probe tenant.
async fn side<S: Store>(
    store: S,
    run: &str,
    name: char,
    timeout: Duration,
) -> Result<Side<S>, DiffError> {
    let probe = crate::requests::append(&format!("{run}-{name}-probe"), "probe", 0, 1);
    let response = within(timeout, store.append(probe))
        .await
        .map_err(|status| DiffError::Probe {
            side: name,
            status: format!("{:?}: {}", status.code(), status.message()),
        })?;
    Ok(Side {
        store,
        prefix: format!("{run}-{name}-"),
        positions: Positions {
            known: vec![response.last_global_nonce],
        },
        timeout,
    })
}

/// The operation sequence of `seed`: the same for a seed on every run.
pub fn operations(seed: u64, count: usize) -> Vec<Op> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let strategy = op();
    (0..count)
        .filter_map(|_| {
            strategy
                .new_tree(&mut runner)
                .ok()
                .map(|tree| tree.current())
        })
        .collect()
}

/// The placeholder name of tenant `index` (`t0`..; none: empty), which
/// each side maps to its own tenant.
fn placeholder_tenant(index: Option<usize>) -> String {
    index.map_or("", |t| TENANTS[t % TENANTS.len()]).to_owned()
}

/// Sends `request` to both sides at once and learns the stream's new head;
/// each side's `(comparable key, shown text)`.
async fn append_on_both<A: Store, B: Store>(
    a: &mut Side<A>,
    b: &mut Side<B>,
    request: &AppendRequest,
    heads: &mut HashMap<(String, String), u64>,
) -> ((String, String), (String, String)) {
    let ((ka, sa, head), (kb, sb, _)) = futures::join!(a.append(request), b.append(request));
    if let Some(head) = head {
        let known = heads
            .entry((request.tenant_id.clone(), request.aggregate_id.clone()))
            .or_default();
        *known = (*known).max(head);
    }
    ((ka, sa), (kb, sb))
}

/// Sends `count` operations of `seed` to stores `a` and `b` (tenants
/// `{tenant_prefix}{run id}-a-t0`, ...), calling `each` on every difference;
/// each call waits at most [`CALL_TIMEOUT`].
pub async fn run<A: Store, B: Store>(
    a: A,
    b: B,
    count: usize,
    seed: u64,
    tenant_prefix: &str,
    each: impl FnMut(&Difference),
) -> Result<DiffReport, DiffError> {
    run_within(a, b, count, seed, tenant_prefix, CALL_TIMEOUT, each).await
}

/// [`run`], each call waiting at most `timeout` (an answer too late is
/// `DEADLINE_EXCEEDED`, compared as any other).
pub async fn run_within<A: Store, B: Store>(
    a: A,
    b: B,
    count: usize,
    seed: u64,
    tenant_prefix: &str,
    timeout: Duration,
    mut each: impl FnMut(&Difference),
) -> Result<DiffReport, DiffError> {
    let run = format!("{tenant_prefix}{}", run_id());
    let (a, b) = futures::join!(side(a, &run, 'a', timeout), side(b, &run, 'b', timeout));
    let (mut a, mut b) = (a?, b?);
    let mut heads: HashMap<(String, String), u64> = HashMap::new();
    let mut sent: Vec<AppendRequest> = Vec::new();
    let mut fresh = 0;
    let mut report = DiffReport::default();
    for (index, operation) in operations(seed, count).into_iter().enumerate() {
        let step = index + 1;
        report.operations += 1;
        let mut compare =
            |operation: String, (ka, sa): (String, String), (kb, sb): (String, String)| {
                if ka != kb {
                    let difference = Difference {
                        step,
                        operation,
                        a: sa,
                        b: sb,
                    };
                    each(&difference);
                    report.differences.push(difference);
                }
            };
        match operation {
            Op::Append(spec) => {
                let (tenant, stream) = stream_of(&spec);
                let head = heads
                    .get(&(tenant.to_owned(), stream.to_owned()))
                    .copied()
                    .unwrap_or(0);
                let request = build_append(&spec, head, step, &mut fresh);
                sent.push(request.clone());
                let (ra, rb) = append_on_both(&mut a, &mut b, &request, &mut heads).await;
                compare(describe_append(&request), ra, rb);
            }
            Op::Resend { pick, change } => {
                let Some(original) = resend_original(&pick, &sent) else {
                    continue;
                };
                let head = heads
                    .get(&(original.tenant_id.clone(), original.aggregate_id.clone()))
                    .copied()
                    .unwrap_or(0);
                let request = resend(original, change, head);
                let (ra, rb) = append_on_both(&mut a, &mut b, &request, &mut heads).await;
                compare(describe_append(&request), ra, rb);
            }
            Op::Read {
                tenant,
                stream,
                from,
                max_count,
                forward,
            } => {
                let request = ReadStreamRequest {
                    tenant_id: placeholder_tenant(tenant),
                    aggregate_id: stream.map_or("", |s| STREAMS[s % STREAMS.len()]).into(),
                    from_aggregate_nonce: from,
                    max_count,
                    forward,
                };
                let (ra, rb) = futures::join!(a.read_stream(&request), b.read_stream(&request));
                compare(format!("ReadStream {request:?}"), ra, rb);
                let all = ReadAllRequest {
                    tenant_id: request.tenant_id.clone(),
                    from_global_nonce: from,
                    max_count,
                    forward,
                };
                let (ra, rb) = futures::join!(a.read_all(&all), b.read_all(&all));
                compare(format!("ReadAll {all:?}"), ra, rb);
            }
            Op::Subscribe {
                tenant,
                prefix,
                from,
            } => {
                let request = SubscribeRequest {
                    tenant_id: placeholder_tenant(tenant),
                    aggregate_id_prefix: prefix.into(),
                    from_global_nonce: from,
                };
                let (ra, rb) = futures::join!(a.subscribe(&request), b.subscribe(&request));
                compare(format!("Subscribe {request:?}"), ra, rb);
            }
        }
    }
    Ok(report)
}

fn describe_append(request: &AppendRequest) -> String {
    let ids: Vec<String> = request
        .events
        .iter()
        .map(|e| {
            e.meta.as_ref().map_or_else(
                || "<no meta>".to_owned(),
                |m| format!("{}#{}", m.event_id, m.aggregate_nonce),
            )
        })
        .collect();
    format!(
        "Append {}/{} type {:?} expected {} key {:?} events [{}]",
        request.tenant_id,
        request.aggregate_id,
        request.aggregate_type,
        request.expected_aggregate_nonce,
        request.idempotency_key,
        ids.join(", ")
    )
}

/// [`run`] against two endpoints (each call within [`CALL_TIMEOUT`], and
/// within each side's `request_timeout`).
pub async fn run_endpoints(
    a: &ConnectOptions,
    b: &ConnectOptions,
    count: usize,
    seed: u64,
    tenant_prefix: &str,
    each: impl FnMut(&Difference),
) -> Result<DiffReport, DiffError> {
    run_endpoints_within(a, b, count, seed, tenant_prefix, CALL_TIMEOUT, each).await
}

/// [`run_within`] against two endpoints: connecting (with its
/// `GetServerInfo`) takes each side's `connect_timeout` and
/// `request_timeout`, then each call waits at most `timeout` (and its
/// side's `request_timeout`). `diff --request-timeout` sets all three.
pub async fn run_endpoints_within(
    a: &ConnectOptions,
    b: &ConnectOptions,
    count: usize,
    seed: u64,
    tenant_prefix: &str,
    timeout: Duration,
    each: impl FnMut(&Difference),
) -> Result<DiffReport, DiffError> {
    let (store_a, store_b) = futures::join!(connect(a), connect(b));
    let store_a = store_a.map_err(|source| DiffError::Connect { side: 'a', source })?;
    let store_b = store_b.map_err(|source| DiffError::Connect { side: 'b', source })?;
    run_within(store_a, store_b, count, seed, tenant_prefix, timeout, each).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Target,
        targets::{InProcess, MockGrpc},
    };
    use eventstore_engine::Limits;

    #[test]
    fn a_seed_always_gives_the_same_sequence() {
        let first = format!("{:?}", operations(7, 200));
        assert_eq!(first, format!("{:?}", operations(7, 200)));
        assert_ne!(first, format!("{:?}", operations(8, 200)));
    }

    #[test]
    fn positions_are_ordinals_of_the_run() {
        let mut positions = Positions { known: vec![10] };
        positions.learn(12, 2);
        positions.learn(20, 1);
        assert_eq!(
            [10, 11, 12, 13, 20, 21].map(|g| positions.out(g)),
            [0, 1, 2, 3, 3, 4]
        );
        assert_eq!(
            [0, 1, 2, 3, 4, HEAD].map(|o| positions.position(o)),
            [0, 11, 12, 20, 21, HEAD]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_engine_and_the_mock_agree() {
        let a = InProcess::start(Limits::default()).await;
        // Store B has history of its own: positions still line up.
        let b = MockGrpc::start(Limits::default()).await;
        b.append(crate::append("elsewhere", "s", 0, 5))
            .await
            .expect("seed");
        let report = run(a, b, 300, 1, "diff-", |d| panic!("{}", d.text()))
            .await
            .expect("run");
        assert_eq!(report.summary(), "300 operations, 0 differences");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_diffed_with_itself_agrees() {
        // Both sides write to the one store at once: each sees the other's
        // events as gaps in its global positions.
        let store = InProcess::start(Limits::default()).await;
        let report = run(store.clone(), store, 300, 1, "diff-", |d| {
            panic!("{}", d.text())
        })
        .await
        .expect("run");
        assert!(report.success());
    }

    /// Issue 24 bug 5: a store whose subscriptions stream events and never
    /// send the caught-up marker grew diff without bound (3.1 GB in 7 s);
    /// the history kept is bounded and the difference reported.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscription_without_its_marker_is_bounded() {
        #[derive(Clone)]
        struct Endless(crate::targets::InProcessStore);
        impl Store for Endless {
            async fn append(
                &self,
                r: AppendRequest,
            ) -> Result<eventstore_proto::AppendResponse, Status> {
                self.0.append(r).await
            }
            async fn read_stream(
                &self,
                r: ReadStreamRequest,
            ) -> Result<eventstore_proto::ReadStreamResponse, Status> {
                self.0.read_stream(r).await
            }
            async fn read_all(
                &self,
                r: ReadAllRequest,
            ) -> Result<eventstore_proto::ReadAllResponse, Status> {
                self.0.read_all(r).await
            }
            async fn server_info(&self) -> Result<eventstore_proto::GetServerInfoResponse, Status> {
                self.0.server_info().await
            }
            async fn subscribe_responses(
                &self,
                r: SubscribeRequest,
            ) -> Result<crate::Responses, Status> {
                let event = crate::append(&r.tenant_id, "flood", 0, 1).events.remove(0);
                let flood = futures::stream::repeat_with(move || {
                    Ok(SubscribeResponse {
                        event: Some(event.clone()),
                    })
                });
                Ok(Box::pin(flood))
            }
            fn stop(&self) -> bool {
                false
            }
        }
        let a = InProcess::start(Limits::default()).await;
        let b = Endless(InProcess::start(Limits::default()).await);
        let started = std::time::Instant::now();
        let mut subscribe_differences = Vec::new();
        let report = run(a, b, 200, 5, "diff-", |d| {
            if d.operation.starts_with("Subscribe") {
                subscribe_differences.push(d.b.clone());
            }
        })
        .await
        .expect("run");
        assert!(!report.success());
        let first = subscribe_differences
            .first()
            .expect("a Subscribe difference");
        assert!(
            first.contains("no caught-up marker after"),
            "{}",
            &first[first.len().saturating_sub(200)..]
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_that_answers_differently_is_reported() {
        /// The engine, with every ReadAll page claiming to be the last.
        #[derive(Clone)]
        struct Liar(crate::targets::InProcessStore);
        impl Store for Liar {
            async fn append(
                &self,
                r: AppendRequest,
            ) -> Result<eventstore_proto::AppendResponse, Status> {
                self.0.append(r).await
            }
            async fn read_stream(
                &self,
                r: ReadStreamRequest,
            ) -> Result<eventstore_proto::ReadStreamResponse, Status> {
                self.0.read_stream(r).await
            }
            async fn read_all(
                &self,
                r: ReadAllRequest,
            ) -> Result<eventstore_proto::ReadAllResponse, Status> {
                let mut page = self.0.read_all(r).await?;
                page.is_end = true;
                Ok(page)
            }
            async fn server_info(&self) -> Result<eventstore_proto::GetServerInfoResponse, Status> {
                self.0.server_info().await
            }
            async fn subscribe_responses(
                &self,
                r: SubscribeRequest,
            ) -> Result<crate::Responses, Status> {
                self.0.subscribe_responses(r).await
            }
            fn stop(&self) -> bool {
                false
            }
        }
        let a = InProcess::start(Limits::default()).await;
        let b = Liar(InProcess::start(Limits::default()).await);
        let mut seen = 0;
        let report = run(a, b, 300, 3, "diff-", |_| seen += 1)
            .await
            .expect("run");
        assert!(!report.success());
        assert_eq!(seen, report.differences.len());
        let first = &report.differences[0];
        assert!(first.operation.starts_with("ReadAll"), "{}", first.text());
        assert!(
            first.a.contains("is_end false") && first.b.contains("is_end true"),
            "{}",
            first.text()
        );
    }
}

//! [`Interpreter`]: a plan's abstract steps as concrete requests, sent to
//! any `EventStoreClient<Channel>` (the mock's, a server's, a user's store).
//!
//! A step says "append to the head", not "append at nonce 7", so that a
//! shrunk plan still means something; someone has to know the heads. The
//! interpreter learns them from the store's own answers (a successful
//! append's `last_aggregate_nonce`, an `ABORTED`'s detail), which is all a
//! client can know, so it works against any store without a model. The
//! project's model test (`tests/tests/model.rs`) drives the mock through
//! it and checks every [`Outcome`] against its reference model; on a
//! correct store the heads learned are the model's.

use super::{
    Op, build_append,
    names::{STREAMS, TENANTS, stream_of},
    resend, resend_original,
};
use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, ReadAllRequest, ReadAllResponse, ReadStreamRequest,
    ReadStreamResponse, SubscribeRequest, SubscribeResponse, concurrency_detail,
    event_store_client::EventStoreClient,
};
use std::{collections::HashMap, future::Future, time::Duration};
use tokio::time::Instant;
use tonic::{Code, Status, transport::Channel};

/// How long one call may take by default before its outcome is
/// `DEADLINE_EXCEEDED`: generous, so that a loaded machine does not fail a
/// correct store, yet a hang fails the case instead of the whole run.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The concrete request(s) of one plan step.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// [`Op::Append`] or [`Op::Resend`].
    Append(AppendRequest),
    /// [`Op::Read`]: the stream, and the tenant's log with the same
    /// position (read as a global nonce), count and direction, so both
    /// cursors' rules are exercised by one step.
    Read {
        stream: ReadStreamRequest,
        all: ReadAllRequest,
    },
    /// [`Op::Subscribe`]: read up to the caught-up marker.
    Subscribe(SubscribeRequest),
}

/// What the store answered to a [`Request`].
#[derive(Debug)]
pub enum Outcome {
    /// The append's answer.
    Append(Result<AppendResponse, Status>),
    /// Both reads' answers.
    Read {
        stream: Result<ReadStreamResponse, Status>,
        all: Result<ReadAllResponse, Status>,
    },
    /// The events delivered before the caught-up marker (the first
    /// event-less response). The error is the store's when the call or the
    /// stream failed; the interpreter's own `DEADLINE_EXCEEDED` when no
    /// marker came in time, and `UNKNOWN` when the stream ended without
    /// one (a store must not do either).
    Subscribe(Result<Vec<EventData>, Status>),
}

/// Runs plan steps ([`super::op`]) against a client: resolves each into
/// its requests ([`Interpreter::resolve`]) against the heads learned so
/// far, sends them ([`Interpreter::send`]) and learns from the answers.
/// [`Interpreter::run`] does all three.
///
/// One interpreter per plan, over one store whose tenants `t0`..`t2`
/// ([`super::names`]) start empty (a fresh mock, or `reset_data`).
///
/// To test your own client wrapper (retries, a typed API), resolve each
/// step here, send it through your wrapper, and give its answer to
/// [`Interpreter::learn`]; run the same plan through a plain client to a
/// second mock and compare the two runs' outcomes step by step. No model
/// of the store is needed for that, so none is part of this crate: the
/// project's reference model (`tests/tests/model.rs`) checks the store
/// itself.
///
/// ```
/// use eventstore_mock::{MockEventStore, strategies::plan::{Interpreter, Outcome, op}};
/// use proptest::prelude::*;
/// use tonic::Code;
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// proptest!(ProptestConfig::with_cases(16), |(plan in prop::collection::vec(op(), 1..30))| {
///     let mock = MockEventStore::builder().start_on(rt.handle()).unwrap();
///     let mut client = mock.client();
///     let mut interpreter = Interpreter::new();
///     for step in &plan {
///         let Some((request, outcome)) = rt.block_on(interpreter.run(&mut client, step)) else {
///             continue; // a resend before any append
///         };
///         // Whatever a plan does, the store answers every call in time.
///         if let Outcome::Append(Err(status)) = &outcome {
///             prop_assert_ne!(status.code(), Code::DeadlineExceeded, "{:?}", request);
///         }
///     }
///     // The heads learned from the answers are what the streams hold.
///     for (tenant, stream) in [("t0", "s0"), ("t1", "s2")] {
///         let stored = rt.block_on(mock.read_all(tenant, stream)).unwrap();
///         prop_assert_eq!(interpreter.head(tenant, stream), stored.len() as u64);
///     }
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// `(tenant, aggregate)` -> the highest head the store has reported.
    heads: HashMap<(String, String), u64>,
    /// Every append resolved from an [`Op::Append`], in order: what an
    /// [`Op::Resend`] picks from.
    sent: Vec<AppendRequest>,
    /// Numbers never-used event ids.
    fresh: u64,
    /// Steps resolved so far: the next step's index.
    step: usize,
    timeout: Duration,
}

impl Default for Interpreter {
    fn default() -> Self {
        Self::new()
    }
}

impl Interpreter {
    /// An interpreter for a plan that starts on empty tenants; each call
    /// waits at most [`DEFAULT_CALL_TIMEOUT`].
    pub fn new() -> Self {
        Self {
            heads: HashMap::new(),
            sent: Vec::new(),
            fresh: 0,
            step: 0,
            timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Each call waits at most `timeout`, then its outcome is
    /// `DEADLINE_EXCEEDED` (for a subscription: until its caught-up marker).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The head of `tenant`'s stream `aggregate` as the store has reported
    /// it (0 for a stream never appended to).
    pub fn head(&self, tenant: &str, aggregate: &str) -> u64 {
        self.heads
            .get(&(tenant.to_owned(), aggregate.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// The appends resolved so far (not the resends), in order.
    pub fn sent(&self) -> &[AppendRequest] {
        &self.sent
    }

    /// The request(s) of the next step, `op`, against the heads learned so
    /// far; `None` for a resend before any append (nothing to resend).
    /// Each call is one step of the plan: resolve the steps in order.
    pub fn resolve(&mut self, op: &Op) -> Option<Request> {
        let step = self.step;
        self.step += 1;
        let tenant_name = |tenant: Option<usize>| -> String {
            tenant.map_or("", |t| TENANTS[t % TENANTS.len()]).to_owned()
        };
        Some(match op {
            Op::Append(spec) => {
                let (tenant, stream) = stream_of(spec);
                let request = build_append(spec, self.head(tenant, stream), step, &mut self.fresh);
                self.sent.push(request.clone());
                Request::Append(request)
            }
            Op::Resend { pick, change } => {
                let original = resend_original(pick, &self.sent)?;
                let head = self.head(&original.tenant_id, &original.aggregate_id);
                Request::Append(resend(original, *change, head))
            }
            Op::Read {
                tenant,
                stream,
                from,
                max_count,
                forward,
            } => Request::Read {
                stream: ReadStreamRequest {
                    tenant_id: tenant_name(*tenant),
                    aggregate_id: stream.map_or("", |s| STREAMS[s % STREAMS.len()]).to_owned(),
                    from_aggregate_nonce: *from,
                    max_count: *max_count,
                    forward: *forward,
                },
                all: ReadAllRequest {
                    tenant_id: tenant_name(*tenant),
                    from_global_nonce: *from,
                    max_count: *max_count,
                    forward: *forward,
                },
            },
            Op::Subscribe {
                tenant,
                prefix,
                from,
            } => Request::Subscribe(SubscribeRequest {
                tenant_id: tenant_name(*tenant),
                aggregate_id_prefix: (*prefix).to_owned(),
                from_global_nonce: *from,
            }),
        })
    }

    /// Learns the heads `outcome` reports for `request`'s stream: a
    /// successful append's head, an `ABORTED`'s actual head. A head only
    /// grows (an idempotent replay repeats an older answer).
    pub fn learn(&mut self, request: &Request, outcome: &Outcome) {
        let (Request::Append(request), Outcome::Append(answer)) = (request, outcome) else {
            return;
        };
        let reported = match answer {
            Ok(response) => response.last_aggregate_nonce,
            Err(status) if status.code() == Code::Aborted => match concurrency_detail(status) {
                Some(detail)
                    if detail.tenant_id == request.tenant_id
                        && detail.aggregate_id == request.aggregate_id =>
                {
                    detail.actual_last_aggregate_nonce
                }
                _ => return,
            },
            Err(_) => return,
        };
        let head = self
            .heads
            .entry((request.tenant_id.clone(), request.aggregate_id.clone()))
            .or_default();
        *head = (*head).max(reported);
    }

    /// Sends `request` through `client` and learns from the answer.
    pub async fn send(
        &mut self,
        client: &mut EventStoreClient<Channel>,
        request: &Request,
    ) -> Outcome {
        let timeout = self.timeout;
        let outcome = match request {
            Request::Append(append) => Outcome::Append(
                within(timeout, async {
                    client.append(append.clone()).await.map(|r| r.into_inner())
                })
                .await,
            ),
            Request::Read { stream, all } => {
                let stream = within(timeout, async {
                    client
                        .read_stream(stream.clone())
                        .await
                        .map(|r| r.into_inner())
                })
                .await;
                let all = within(timeout, async {
                    client.read_all(all.clone()).await.map(|r| r.into_inner())
                })
                .await;
                Outcome::Read { stream, all }
            }
            Request::Subscribe(subscribe) => {
                Outcome::Subscribe(history(client, subscribe.clone(), timeout).await)
            }
        };
        self.learn(request, &outcome);
        outcome
    }

    /// Resolves `op` ([`Interpreter::resolve`]), sends it
    /// ([`Interpreter::send`]) and returns both; `None` when the step has
    /// nothing to send.
    pub async fn run(
        &mut self,
        client: &mut EventStoreClient<Channel>,
        op: &Op,
    ) -> Option<(Request, Outcome)> {
        let request = self.resolve(op)?;
        let outcome = self.send(client, &request).await;
        Some((request, outcome))
    }
}

/// `call`, or `DEADLINE_EXCEEDED` after `timeout`.
async fn within<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!(
                "no answer within {timeout:?} (the interpreter's timeout)"
            )))
        })
}

/// The events a subscription delivers before its caught-up marker.
async fn history(
    client: &mut EventStoreClient<Channel>,
    request: SubscribeRequest,
    timeout: Duration,
) -> Result<Vec<EventData>, Status> {
    let deadline = Instant::now() + timeout;
    let late = |events: usize| {
        Status::deadline_exceeded(format!(
            "no caught-up marker within {timeout:?} (after {events} events)"
        ))
    };
    let mut responses = tokio::time::timeout_at(deadline, client.subscribe(request))
        .await
        .map_err(|_| late(0))??
        .into_inner();
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, responses.message()).await {
            Err(_) => return Err(late(events.len())),
            Ok(Err(status)) => return Err(status),
            Ok(Ok(None)) => {
                return Err(Status::unknown(format!(
                    "the subscription ended after {} events, before its caught-up marker",
                    events.len()
                )));
            }
            Ok(Ok(Some(SubscribeResponse { event: None }))) => return Ok(events),
            Ok(Ok(Some(SubscribeResponse { event: Some(event) }))) => events.push(event),
        }
    }
}

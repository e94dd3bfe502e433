//! The mock's `eventstore.v1.EventStore`: every call is journaled, matched
//! against the expectations, and answered by the chosen response or by the
//! engine, exactly as the real store would answer it.

use crate::{
    expectation::{Reply, Respond, StreamFaults},
    journal::{Outcome, StreamEnd},
    state::{MockState, Plan, data},
    transport::ConnectionHandle,
    wire::CallRequest,
};
use eventstore_engine::{Delivery, Error as EngineError, status::to_status};
use eventstore_proto::{
    AppendRequest, AppendResponse, ConcurrencyErrorDetail, EventData, GetServerInfoRequest,
    GetServerInfoResponse, ReadAllRequest, ReadAllResponse, ReadStreamRequest, ReadStreamResponse,
    SubscribeRequest, SubscribeResponse, event_store_server::EventStore as EventStoreRpc,
};
use futures::{StreamExt, stream::BoxStream};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tonic::{Request, Response, Status, metadata::KeyAndValueRef};

/// Serves `eventstore.v1.EventStore` for one mock.
#[derive(Debug, Clone)]
pub(crate) struct MockService {
    pub(crate) state: Arc<MockState>,
}

/// How long a subscription waits, before cutting its connection, for the
/// events it already delivered to be written out.
const DROP_GRACE: Duration = Duration::from_millis(50);

/// What to do with a call once the plan is known.
enum Decision {
    Engine,
    Fail(Status),
    Stub(Reply),
    Drop,
}

fn metadata_map(metadata: &tonic::metadata::MetadataMap) -> BTreeMap<String, String> {
    metadata
        .iter()
        .filter_map(|entry| match entry {
            KeyAndValueRef::Ascii(k, v) => v
                .to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned())),
            KeyAndValueRef::Binary(..) => None,
        })
        .collect()
}

fn status_outcome(status: &Status) -> Outcome {
    Outcome::Status {
        code: status.code(),
        message: status.message().to_owned(),
    }
}

impl MockService {
    fn begin<T>(
        &self,
        request: Request<T>,
        wrap: impl FnOnce(T) -> CallRequest,
    ) -> (Plan, CallRequest, Option<ConnectionHandle>) {
        let handle = request.extensions().get::<ConnectionHandle>().cloned();
        let (metadata, _, message) = request.into_parts();
        let call = wrap(message);
        let plan = self.state.plan(call.clone(), metadata_map(&metadata));
        (plan, call, handle)
    }

    /// Applies strict mode, the delay and the chosen reply.
    async fn decide(&self, plan: &Plan, call: &CallRequest) -> (Decision, StreamFaults) {
        if plan.strict_reject {
            let summary = self.state.journal.summary(plan.seq).unwrap_or_default();
            return (
                Decision::Fail(Status::failed_precondition(format!(
                    "strict mock: no expectation matches call {summary}"
                ))),
                StreamFaults::default(),
            );
        }
        let Some(Respond {
            reply,
            delay,
            stream,
        }) = plan.respond.clone()
        else {
            return (Decision::Engine, StreamFaults::default());
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let decision = match reply {
            Reply::PassThrough => Decision::Engine,
            Reply::Status {
                code,
                message,
                details,
            } => Decision::Fail(Status::with_details(code, message, details.into())),
            Reply::Conflict(mut detail) => {
                let (tenant, aggregate) = (call.tenant_id(), call.aggregate_id());
                if detail.tenant_id.is_empty() {
                    tenant.clone_into(&mut detail.tenant_id);
                }
                if detail.aggregate_id.is_empty() {
                    aggregate.clone_into(&mut detail.aggregate_id);
                }
                let unnamed =
                    detail.actual_last_aggregate_nonce == 0 && detail.actual_last_global_nonce == 0;
                if let CallRequest::Append(append) = call
                    && (unnamed
                        || detail.actual_last_aggregate_nonce == append.expected_aggregate_nonce)
                {
                    self.head_other_than_expected(append, &mut detail).await;
                }
                let message = format!(
                    "concurrency conflict injected by the mock: the head of stream \"{}\" is at aggregate nonce {}",
                    detail.aggregate_id, detail.actual_last_aggregate_nonce
                );
                Decision::Fail(to_status(EngineError::Concurrency { message, detail }))
            }
            Reply::DropConnection => Decision::Drop,
            stub => Decision::Stub(stub),
        };
        (decision, stream)
    }

    /// Makes an injected conflict consistent: a conflict means the head is
    /// not where the append expected it. When the reply names no head
    /// (`fail_with=ConcurrencyError`: both nonces 0) or names the expected
    /// one, the error reports the stream's real head if that differs from
    /// the expected one, else one event past it (as if another writer had
    /// just appended one).
    async fn head_other_than_expected(
        &self,
        append: &AppendRequest,
        detail: &mut ConcurrencyErrorDetail,
    ) {
        let engine = self.state.engine();
        let head = data::last_event_meta(&engine, &detail.tenant_id, &detail.aggregate_id)
            .await
            .ok()
            .flatten();
        match head {
            Some(meta) if meta.aggregate_nonce != append.expected_aggregate_nonce => {
                detail.actual_last_aggregate_nonce = meta.aggregate_nonce;
                detail.actual_last_global_nonce = meta.global_nonce;
            }
            _ => {
                detail.actual_last_aggregate_nonce =
                    append.expected_aggregate_nonce.saturating_add(1);
                detail.actual_last_global_nonce = engine.last_global_nonce().saturating_add(1);
            }
        }
    }

    fn mismatched_stub(&self, call: &CallRequest, reply: &Reply) -> Status {
        Status::internal(format!(
            "mock misconfigured: a {} call matched an expectation that answers with {reply:?}",
            call.rpc()
        ))
    }

    fn finish<T>(&self, seq: u64, result: &Result<T, Status>, outcome: impl FnOnce(&T) -> Outcome) {
        let outcome = match result {
            Ok(response) => outcome(response),
            Err(status) => status_outcome(status),
        };
        self.state.journal.finish(seq, outcome);
    }

    fn drop_connection(&self, seq: u64, handle: Option<&ConnectionHandle>) -> Status {
        if let Some(handle) = handle {
            handle.cut();
        }
        self.state.journal.finish(seq, Outcome::Dropped);
        Status::unavailable("connection dropped by the mock")
    }
}

#[tonic::async_trait]
impl EventStoreRpc for MockService {
    async fn append(
        &self,
        request: Request<AppendRequest>,
    ) -> Result<Response<AppendResponse>, Status> {
        let (plan, call, handle) = self.begin(request, CallRequest::Append);
        let (decision, _) = self.decide(&plan, &call).await;
        let CallRequest::Append(message) = call else {
            unreachable!("wrapped as Append")
        };
        let result = match decision {
            Decision::Engine => self.state.engine().append(message).await.map_err(to_status),
            Decision::Fail(status) => Err(status),
            Decision::Stub(Reply::Append(response)) => Ok(response),
            Decision::Stub(other) => {
                Err(self.mismatched_stub(&CallRequest::Append(message), &other))
            }
            Decision::Drop => return Err(self.drop_connection(plan.seq, handle.as_ref())),
        };
        self.finish(plan.seq, &result, |r| Outcome::Appended(*r));
        result.map(Response::new)
    }

    async fn read_stream(
        &self,
        request: Request<ReadStreamRequest>,
    ) -> Result<Response<ReadStreamResponse>, Status> {
        let (plan, call, handle) = self.begin(request, CallRequest::ReadStream);
        let (decision, faults) = self.decide(&plan, &call).await;
        let CallRequest::ReadStream(message) = call else {
            unreachable!("wrapped as ReadStream")
        };
        let result = match decision {
            Decision::Engine => self
                .state
                .engine()
                .read_stream(message)
                .await
                .map_err(to_status),
            Decision::Fail(status) => Err(status),
            Decision::Stub(Reply::Read(response)) => Ok(response),
            Decision::Stub(other) => {
                Err(self.mismatched_stub(&CallRequest::ReadStream(message), &other))
            }
            Decision::Drop => return Err(self.drop_connection(plan.seq, handle.as_ref())),
        };
        let result = result.and_then(|r| reached_data_loss(&faults, &r.events).map(|()| r));
        self.finish(plan.seq, &result, |r| Outcome::Read(r.clone()));
        result.map(Response::new)
    }

    type SubscribeStream = BoxStream<'static, Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (plan, call, handle) = self.begin(request, CallRequest::Subscribe);
        let (decision, faults) = self.decide(&plan, &call).await;
        let CallRequest::Subscribe(message) = call else {
            unreachable!("wrapped as Subscribe")
        };
        let source: BoxStream<'static, Result<SubscribeResponse, Status>> = match decision {
            // The engine's caught-up marker and its failure statuses (with
            // the DATA_LOSS trailer) pass through unchanged.
            Decision::Engine => match self.state.engine().subscribe(message) {
                Ok(subscription) => subscription
                    .map(|item| item.map(Delivery::into_response).map_err(to_status))
                    .boxed(),
                Err(e) => {
                    let status = to_status(e);
                    self.state.journal.finish(plan.seq, status_outcome(&status));
                    return Err(status);
                }
            },
            Decision::Fail(status) => {
                self.state.journal.finish(plan.seq, status_outcome(&status));
                return Err(status);
            }
            // Like the real store, a subscription stays open after the events
            // it has: a client would otherwise take the end for a failure.
            // The stubbed events are the history: the caught-up marker
            // follows them, as it follows the real store's history.
            Decision::Stub(Reply::Events(events)) => futures::stream::iter(
                events
                    .into_iter()
                    .map(|event| Ok(SubscribeResponse { event: Some(event) }))
                    .chain(std::iter::once(Ok(SubscribeResponse { event: None }))),
            )
            .chain(futures::stream::pending())
            .boxed(),
            Decision::Stub(other) => {
                let status = self.mismatched_stub(&CallRequest::Subscribe(message), &other);
                self.state.journal.finish(plan.seq, status_outcome(&status));
                return Err(status);
            }
            Decision::Drop => return Err(self.drop_connection(plan.seq, handle.as_ref())),
        };
        self.state.journal.finish(plan.seq, Outcome::Streaming);
        let feed = Feed {
            source,
            delivered: 0,
            faults,
            state: self.state.clone(),
            seq: plan.seq,
            handle,
            done: false,
            caught_up: false,
            keepalive_due: false,
            _guard: EndGuard {
                state: self.state.clone(),
                seq: plan.seq,
            },
        };
        // Paced like the real server's: a stalled subscription pins little.
        Ok(Response::new(
            eventstore_engine::transport::paced(futures::stream::unfold(feed, Feed::next).boxed())
                .boxed(),
        ))
    }

    async fn read_all(
        &self,
        request: Request<ReadAllRequest>,
    ) -> Result<Response<ReadAllResponse>, Status> {
        let (plan, call, handle) = self.begin(request, CallRequest::ReadAll);
        let (decision, faults) = self.decide(&plan, &call).await;
        let CallRequest::ReadAll(message) = call else {
            unreachable!("wrapped as ReadAll")
        };
        let result = match decision {
            Decision::Engine => self
                .state
                .engine()
                .read_all(message)
                .await
                .map_err(to_status),
            Decision::Fail(status) => Err(status),
            Decision::Stub(Reply::ReadAll(response)) => Ok(response),
            Decision::Stub(other) => {
                Err(self.mismatched_stub(&CallRequest::ReadAll(message), &other))
            }
            Decision::Drop => return Err(self.drop_connection(plan.seq, handle.as_ref())),
        };
        let result = result.and_then(|r| reached_data_loss(&faults, &r.events).map(|()| r));
        self.finish(plan.seq, &result, |r| Outcome::ReadAll(r.clone()));
        result.map(Response::new)
    }

    async fn get_server_info(
        &self,
        request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        let (plan, call, handle) = self.begin(request, CallRequest::GetServerInfo);
        let (decision, _) = self.decide(&plan, &call).await;
        let result = match decision {
            // A legacy mock answers as a server from before GetServerInfo.
            Decision::Engine if self.state.is_legacy_server() => {
                Err(crate::wire::rpc::legacy_server_status())
            }
            Decision::Engine => Ok(self.state.server_info()),
            Decision::Fail(status) => Err(status),
            Decision::Stub(Reply::ServerInfo(response)) => Ok(response),
            Decision::Stub(other) => Err(self.mismatched_stub(&call, &other)),
            Decision::Drop => return Err(self.drop_connection(plan.seq, handle.as_ref())),
        };
        self.finish(plan.seq, &result, |r| Outcome::ServerInfo(r.clone()));
        result.map(Response::new)
    }
}

/// `data_loss_at` on a read: a page that reaches the undecodable position
/// fails as the real store's does, `DATA_LOSS` with the trailer, instead of
/// returning the events around it.
fn reached_data_loss(faults: &StreamFaults, events: &[EventData]) -> Result<(), Status> {
    match faults.data_loss_at {
        Some(global_nonce)
            if events.iter().any(|e| {
                e.meta
                    .as_ref()
                    .is_some_and(|m| m.global_nonce >= global_nonce)
            }) =>
        {
            Err(to_status(EngineError::DataLoss { global_nonce }))
        }
        _ => Ok(()),
    }
}

/// A subscription on its way out: journals each event, applies the faults.
/// An event-less response (the caught-up marker) is not an event: it passes
/// through without counting for the faults or reaching the journal.
struct Feed {
    source: BoxStream<'static, Result<SubscribeResponse, Status>>,
    delivered: u64,
    faults: StreamFaults,
    state: Arc<MockState>,
    seq: u64,
    handle: Option<ConnectionHandle>,
    done: bool,
    /// The caught-up marker has passed. Keepalives come only after it: a
    /// client takes the first event-less response for "caught up", so a
    /// keepalive inside the history would tell it so too early.
    caught_up: bool,
    /// `keepalive_every`: the next response is a keepalive.
    keepalive_due: bool,
    _guard: EndGuard,
}

impl Feed {
    async fn next(mut self) -> Option<(Result<SubscribeResponse, Status>, Self)> {
        if self.done {
            return None;
        }
        if let Some((after, code, message)) = &self.faults.fail_after
            && self.delivered >= *after
        {
            let status = Status::new(*code, message.clone());
            return Some((
                Err(self.end(
                    StreamEnd::Status {
                        code: *code,
                        message: message.clone(),
                    },
                    status,
                )),
                self,
            ));
        }
        if self
            .faults
            .drop_after
            .is_some_and(|after| self.delivered >= after)
        {
            // The events delivered so far (and the response headers) are
            // still in the transport's buffers: let them reach the client,
            // or it would see fewer than `drop_after` events.
            tokio::time::sleep(DROP_GRACE).await;
            if let Some(handle) = &self.handle {
                handle.cut();
            }
            let status = Status::unavailable("connection dropped by the mock");
            return Some((Err(self.end(StreamEnd::Dropped, status)), self));
        }
        if self.keepalive_due {
            self.keepalive_due = false;
            return Some((Ok(SubscribeResponse { event: None }), self));
        }
        let next = match self.faults.keepalive_interval.filter(|_| self.caught_up) {
            Some(interval) => match tokio::time::timeout(interval, self.source.next()).await {
                Ok(next) => next,
                // Quiet for `interval`: a keepalive (`next()` is cancel-safe).
                Err(_) => return Some((Ok(SubscribeResponse { event: None }), self)),
            },
            None => self.source.next().await,
        };
        match next {
            Some(Ok(SubscribeResponse { event: Some(event) }))
                if self.faults.data_loss_at.is_some_and(|at| {
                    event.meta.as_ref().is_some_and(|m| m.global_nonce >= at)
                }) =>
            {
                let global_nonce = self.faults.data_loss_at.unwrap_or_default();
                // The engine's own status: same message, same trailer.
                let status = to_status(EngineError::DataLoss { global_nonce });
                let end = StreamEnd::Status {
                    code: status.code(),
                    message: status.message().to_owned(),
                };
                Some((Err(self.end(end, status)), self))
            }
            Some(Ok(SubscribeResponse { event: None })) => {
                self.caught_up = true;
                Some((Ok(SubscribeResponse { event: None }), self))
            }
            Some(Ok(SubscribeResponse { event: Some(event) })) => {
                // From the moment the event is there: a live event is
                // delayed too, not only the history.
                if let Some(delay) = self.faults.delay_each {
                    tokio::time::sleep(delay).await;
                }
                self.delivered += 1;
                self.state.journal.delivered(self.seq, &event);
                self.keepalive_due = self.caught_up
                    && self
                        .faults
                        .keepalive_every
                        .is_some_and(|every| self.delivered.is_multiple_of(every));
                Some((Ok(SubscribeResponse { event: Some(event) }), self))
            }
            Some(Err(status)) => {
                let end = StreamEnd::Status {
                    code: status.code(),
                    message: status.message().to_owned(),
                };
                Some((Err(self.end(end, status)), self))
            }
            None => {
                self.state
                    .journal
                    .stream_ended(self.seq, StreamEnd::Completed);
                None
            }
        }
    }

    fn end(&mut self, end: StreamEnd, status: Status) -> Status {
        self.done = true;
        self.state.journal.stream_ended(self.seq, end);
        status
    }
}

/// Records "cancelled by the client" when a subscription is dropped before
/// it ended any other way.
struct EndGuard {
    state: Arc<MockState>,
    seq: u64,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.state
            .journal
            .stream_ended(self.seq, StreamEnd::Cancelled);
    }
}

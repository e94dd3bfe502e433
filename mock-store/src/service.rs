//! The mock's `eventstore.v1.EventStore`: every call is journaled, matched
//! against the expectations, and answered by the chosen response or by the
//! engine, exactly as the real store would answer it.
//!
//! Every RPC goes through one shape, [`MockService::serve`]: begin (journal
//! the call and match it), decide (strict mode, delay, the chosen reply),
//! answer (the engine, a stub, a failure or a dropped connection), finish
//! (journal the outcome). What differs per RPC is in `rpc.rs` ([`MockRpc`]);
//! a subscription's delivery, once accepted, in `feed.rs`.

mod feed;
pub(crate) mod rpc;

use crate::{
    expectation::{Reply, Respond, StreamFaults},
    journal::Outcome,
    state::{MockState, Plan, data},
    transport::ConnectionHandle,
    wire::{CallRequest, Rpc},
};
use eventstore_client::wire::CONNECTION_DROPPED;
use eventstore_engine::{Error as EngineError, status::to_status};
use eventstore_proto::{
    AppendRequest, AppendResponse, ConcurrencyErrorDetail, GetServerInfoRequest,
    GetServerInfoResponse, ReadAllRequest, ReadAllResponse, ReadStreamRequest, ReadStreamResponse,
    SubscribeRequest, event_store_server::EventStore as EventStoreRpc,
};
use feed::{Feed, Responses};
pub(crate) use rpc::MockRpc;
use std::{collections::BTreeMap, sync::Arc};
use tonic::{Request, Response, Status, metadata::KeyAndValueRef};

/// Serves `eventstore.v1.EventStore` for one mock.
#[derive(Debug, Clone)]
pub(crate) struct MockService {
    pub(crate) state: Arc<MockState>,
}

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

/// The answer to a call that matched an expectation whose reply is meant
/// for another RPC.
fn mismatched_stub(rpc: Rpc, reply: &Reply) -> Status {
    Status::internal(format!(
        "mock misconfigured: a {rpc} call matched an expectation that answers with {reply:?}"
    ))
}

fn status_outcome(status: &Status) -> Outcome {
    Outcome::Status {
        code: status.code(),
        message: status.message().to_owned(),
    }
}

/// A call [`MockService::serve`] answered, and what a subscription's
/// delivery still needs of it.
pub(crate) struct Served<A> {
    pub(crate) answer: A,
    /// Its journal sequence number.
    seq: u64,
    faults: StreamFaults,
    handle: Option<ConnectionHandle>,
}

impl<A> Served<A> {
    fn into_response(self) -> Response<A> {
        Response::new(self.answer)
    }
}

/// Fills a conflict detail's empty tenant and stream ids from the call.
fn fill_stream(detail: &mut ConcurrencyErrorDetail, call: &CallRequest) {
    if detail.tenant_id.is_empty() {
        call.tenant_id().clone_into(&mut detail.tenant_id);
    }
    if detail.aggregate_id.is_empty() {
        call.aggregate_id().clone_into(&mut detail.aggregate_id);
    }
}

impl MockService {
    /// One call of any RPC, from its arrival to its journaled outcome
    /// (`Streaming`, for an accepted subscription).
    pub(crate) async fn serve<R: MockRpc>(
        &self,
        request: Request<R>,
    ) -> Result<Served<R::Answer>, Status> {
        let (plan, call, handle) = self.begin(request);
        let (decision, faults) = self.decide(&plan, &call).await;
        let rpc = call.rpc();
        let Some(message) = R::from_call(call) else {
            unreachable!("begin wrapped a {rpc} request")
        };
        let result = match decision {
            Decision::Engine => R::engine(&self.state, message).await,
            Decision::Fail(status) => Err(status),
            Decision::Stub(reply) => R::stub(reply).map_err(|other| mismatched_stub(rpc, &other)),
            Decision::Drop => return Err(self.drop_connection(plan.seq, handle.as_ref())),
        };
        let result = result.and_then(|answer| R::faulted(&answer, &faults).map(|()| answer));
        let outcome = match &result {
            Ok(answer) => R::outcome(answer),
            Err(status) => status_outcome(status),
        };
        self.state.journal.finish(plan.seq, outcome);
        result.map(|answer| Served {
            answer,
            seq: plan.seq,
            faults,
            handle,
        })
    }

    /// Journals the call and matches it against the expectations.
    fn begin<R: MockRpc>(
        &self,
        request: Request<R>,
    ) -> (Plan, CallRequest, Option<ConnectionHandle>) {
        let handle = request.extensions().get::<ConnectionHandle>().cloned();
        let (metadata, _, message) = request.into_parts();
        let call = message.into_call();
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
                fill_stream(&mut detail, call);
                let message = format!(
                    "concurrency conflict injected by the mock: the head of stream \"{}\" is at aggregate nonce {}",
                    detail.aggregate_id, detail.actual_last_aggregate_nonce
                );
                Decision::Fail(to_status(EngineError::Concurrency { message, detail }))
            }
            Reply::ConflictAtHead {
                tenant_id,
                aggregate_id,
            } => {
                let mut detail = ConcurrencyErrorDetail {
                    tenant_id,
                    aggregate_id,
                    ..ConcurrencyErrorDetail::default()
                };
                fill_stream(&mut detail, call);
                let engine = self.state.engine();
                if let Ok(Some(head)) =
                    data::last_event_meta(&engine, &detail.tenant_id, &detail.aggregate_id).await
                {
                    detail.actual_last_aggregate_nonce = head.aggregate_nonce;
                    detail.actual_last_global_nonce = head.global_nonce;
                }
                let message = format!(
                    "concurrency conflict injected by the mock: the head of stream \"{}\" is at aggregate nonce {} (its real head)",
                    detail.aggregate_id, detail.actual_last_aggregate_nonce
                );
                Decision::Fail(to_status(EngineError::Concurrency { message, detail }))
            }
            Reply::DropConnection => Decision::Drop,
            stub => Decision::Stub(stub),
        };
        (decision, stream)
    }

    fn drop_connection(&self, seq: u64, handle: Option<&ConnectionHandle>) -> Status {
        if let Some(handle) = handle {
            handle.cut();
        }
        self.state.journal.finish(seq, Outcome::Dropped);
        Status::unavailable(CONNECTION_DROPPED)
    }
}

#[tonic::async_trait]
impl EventStoreRpc for MockService {
    async fn append(
        &self,
        request: Request<AppendRequest>,
    ) -> Result<Response<AppendResponse>, Status> {
        self.serve(request).await.map(Served::into_response)
    }

    async fn read_stream(
        &self,
        request: Request<ReadStreamRequest>,
    ) -> Result<Response<ReadStreamResponse>, Status> {
        self.serve(request).await.map(Served::into_response)
    }

    type SubscribeStream = Responses;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let served = self.serve(request).await?;
        let feed = Feed::new(
            served.answer,
            served.faults,
            self.state.clone(),
            served.seq,
            served.handle,
        );
        Ok(Response::new(feed.into_responses()))
    }

    async fn read_all(
        &self,
        request: Request<ReadAllRequest>,
    ) -> Result<Response<ReadAllResponse>, Status> {
        self.serve(request).await.map(Served::into_response)
    }

    async fn get_server_info(
        &self,
        request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        self.serve(request).await.map(Served::into_response)
    }
}

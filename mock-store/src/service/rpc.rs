//! What each RPC of the mock brings to the one shape of a call (journal,
//! decide, answer, journal the outcome; in `service.rs`): its request and
//! answer types, the engine's answer, the stubbed reply that answers it, the
//! faults that fail an answer, and what the journal keeps of a success.

use super::feed::Responses;
use crate::{
    expectation::{Reply, StreamFaults},
    journal::Outcome,
    state::MockState,
    wire::CallRequest,
};
use eventstore_engine::{Delivery, Error as EngineError, status::to_status};
use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, GetServerInfoRequest, GetServerInfoResponse,
    ReadAllRequest, ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
    SubscribeResponse,
};
use futures::StreamExt;
use tonic::Status;

/// One RPC of `eventstore.v1.EventStore`, as the mock answers it.
pub(crate) trait MockRpc: Sized + Send + 'static {
    /// What a call gets: a response, or a subscription's responses.
    type Answer: Send;

    /// The request as the journal and the matchers see it.
    fn into_call(self) -> CallRequest;

    /// The request back from [`MockRpc::into_call`]'s wrapping (`None` for
    /// another RPC's).
    fn from_call(call: CallRequest) -> Option<Self>;

    /// What the engine answers, as the real store would.
    fn engine(
        state: &MockState,
        request: Self,
    ) -> impl Future<Output = Result<Self::Answer, Status>> + Send;

    /// The answer a stubbed reply gives; a reply meant for another RPC
    /// comes back (the expectation is misconfigured).
    fn stub(reply: Reply) -> Result<Self::Answer, Reply>;

    /// Fails an answer that the expectation's faults reach before it
    /// leaves. Only reads have such faults (`data_loss_at`); a
    /// subscription's apply as it streams.
    fn faulted(_answer: &Self::Answer, _faults: &StreamFaults) -> Result<(), Status> {
        Ok(())
    }

    /// What the journal records of a call that succeeded.
    fn outcome(answer: &Self::Answer) -> Outcome;
}

/// The variants that belong to one RPC: of [`CallRequest`] (its request
/// wrapped for the journal, and back) and of [`Reply`] (the stub that
/// answers it, when the reply holds the answer itself). The same lines for
/// every RPC but those names.
macro_rules! variants {
    (call: $call:ident) => {
        fn into_call(self) -> CallRequest {
            CallRequest::$call(self)
        }

        fn from_call(call: CallRequest) -> Option<Self> {
            match call {
                CallRequest::$call(request) => Some(request),
                _ => None,
            }
        }
    };
    (call: $call:ident, reply: $reply:ident) => {
        variants!(call: $call);

        fn stub(reply: Reply) -> Result<Self::Answer, Reply> {
            match reply {
                Reply::$reply(answer) => Ok(answer),
                other => Err(other),
            }
        }
    };
}

impl MockRpc for AppendRequest {
    type Answer = AppendResponse;

    variants!(call: Append, reply: Append);

    async fn engine(state: &MockState, request: Self) -> Result<AppendResponse, Status> {
        state.engine().append(request).await.map_err(to_status)
    }

    fn outcome(answer: &AppendResponse) -> Outcome {
        Outcome::Appended(*answer)
    }
}

impl MockRpc for ReadStreamRequest {
    type Answer = ReadStreamResponse;

    variants!(call: ReadStream, reply: Read);

    async fn engine(state: &MockState, request: Self) -> Result<ReadStreamResponse, Status> {
        state.engine().read_stream(request).await.map_err(to_status)
    }

    fn faulted(answer: &ReadStreamResponse, faults: &StreamFaults) -> Result<(), Status> {
        reached_data_loss(faults, &answer.events)
    }

    fn outcome(answer: &ReadStreamResponse) -> Outcome {
        Outcome::Read(answer.clone())
    }
}

impl MockRpc for ReadAllRequest {
    type Answer = ReadAllResponse;

    variants!(call: ReadAll, reply: ReadAll);

    async fn engine(state: &MockState, request: Self) -> Result<ReadAllResponse, Status> {
        state.engine().read_all(request).await.map_err(to_status)
    }

    fn faulted(answer: &ReadAllResponse, faults: &StreamFaults) -> Result<(), Status> {
        reached_data_loss(faults, &answer.events)
    }

    fn outcome(answer: &ReadAllResponse) -> Outcome {
        Outcome::ReadAll(answer.clone())
    }
}

impl MockRpc for GetServerInfoRequest {
    type Answer = GetServerInfoResponse;

    variants!(call: GetServerInfo, reply: ServerInfo);

    /// Not the engine's: the mock's own server info, or, for a legacy
    /// mock, what a server from before GetServerInfo answers.
    async fn engine(state: &MockState, _request: Self) -> Result<GetServerInfoResponse, Status> {
        if state.is_legacy_server() {
            Err(crate::wire::rpc::legacy_server_status())
        } else {
            Ok(state.server_info())
        }
    }

    fn outcome(answer: &GetServerInfoResponse) -> Outcome {
        Outcome::ServerInfo(answer.clone())
    }
}

impl MockRpc for SubscribeRequest {
    type Answer = Responses;

    variants!(call: Subscribe);

    /// The engine's caught-up marker and its failure statuses (with the
    /// DATA_LOSS trailer) pass through unchanged.
    async fn engine(state: &MockState, request: Self) -> Result<Responses, Status> {
        let subscription = state.engine().subscribe(request).map_err(to_status)?;
        Ok(subscription
            .map(|item| item.map(Delivery::into_response).map_err(to_status))
            .boxed())
    }

    /// Like the real store, a subscription stays open after the events it
    /// has: a client would otherwise take the end for a failure. The
    /// stubbed events are the history: the caught-up marker follows them,
    /// as it follows the real store's history.
    fn stub(reply: Reply) -> Result<Responses, Reply> {
        let events = match reply {
            Reply::Events(events) => events,
            other => return Err(other),
        };
        Ok(futures::stream::iter(
            events
                .into_iter()
                .map(|event| Ok(SubscribeResponse { event: Some(event) }))
                .chain(std::iter::once(Ok(SubscribeResponse { event: None }))),
        )
        .chain(futures::stream::pending())
        .boxed())
    }

    fn outcome(_answer: &Responses) -> Outcome {
        Outcome::Streaming
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

//! A subscription on its way out of the mock: each event journaled, the
//! stream faults of its expectation applied (`delay_each`, `fail_after`,
//! `drop_after`, `data_loss_at`, keepalives), the caught-up marker and
//! each keepalive journaled as they are sent, its end recorded however it
//! comes.

use crate::{
    expectation::StreamFaults, journal::StreamEnd, state::MockState, transport::ConnectionHandle,
};
use eventstore_client::wire::CONNECTION_DROPPED;
use eventstore_engine::{Error as EngineError, status::to_status};
use eventstore_proto::SubscribeResponse;
use futures::{StreamExt, stream::BoxStream};
use std::{sync::Arc, time::Duration};
use tonic::Status;

/// How long a subscription waits, before cutting its connection, for the
/// events it already delivered to be written out.
const DROP_GRACE: Duration = Duration::from_millis(50);

/// What a subscription delivers: responses, or the status that ends it.
pub(crate) type Responses = BoxStream<'static, Result<SubscribeResponse, Status>>;

/// A subscription on its way out: journals each event, applies the faults.
/// An event-less response (the caught-up marker) is not an event: it passes
/// through without counting for the faults or reaching the journal's
/// `delivered`; the journal records that it was sent
/// (`caught_up_marker_sent`), and counts keepalives (`keepalives_sent`).
pub(crate) struct Feed {
    source: Responses,
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
    /// The feed of the subscription journaled as call `seq`, from `source`
    /// (the engine's subscription or a stub's events).
    pub(crate) fn new(
        source: Responses,
        faults: StreamFaults,
        state: Arc<MockState>,
        seq: u64,
        handle: Option<ConnectionHandle>,
    ) -> Self {
        Self {
            source,
            delivered: 0,
            faults,
            state: state.clone(),
            seq,
            handle,
            done: false,
            caught_up: false,
            keepalive_due: false,
            _guard: EndGuard { state, seq },
        }
    }

    /// The responses the client gets, paced like the real server's: a
    /// stalled subscription pins little.
    pub(crate) fn into_responses(self) -> Responses {
        eventstore_engine::transport::paced(futures::stream::unfold(self, Self::next).boxed())
            .boxed()
    }

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
            let status = Status::unavailable(CONNECTION_DROPPED);
            return Some((Err(self.end(StreamEnd::Dropped, status)), self));
        }
        if self.keepalive_due {
            self.keepalive_due = false;
            return Some(self.keepalive());
        }
        let next = match self.faults.keepalive_interval.filter(|_| self.caught_up) {
            Some(interval) => match tokio::time::timeout(interval, self.source.next()).await {
                Ok(next) => next,
                // Quiet for `interval`: a keepalive (`next()` is cancel-safe).
                Err(_) => return Some(self.keepalive()),
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
            // The first event-less response is the marker; a client takes
            // any later one (a stub's) for a keepalive, and so does the journal.
            Some(Ok(SubscribeResponse { event: None })) if self.caught_up => Some(self.keepalive()),
            Some(Ok(SubscribeResponse { event: None })) => {
                self.caught_up = true;
                self.state.journal.caught_up_marker_sent(self.seq);
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

    /// A keepalive, journaled.
    fn keepalive(self) -> (Result<SubscribeResponse, Status>, Self) {
        self.state.journal.keepalive_sent(self.seq);
        (Ok(SubscribeResponse { event: None }), self)
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

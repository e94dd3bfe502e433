//! Subscription delivery: history, then live, from one cursor.
//!
//! A subscription never holds a copy of the events it has not delivered
//! beyond one small page. It keeps a cursor (the next global nonce) and
//! pulls pages from the log; when it reaches the visible head it waits for
//! the watermark to move. History and live events come from the same
//! log by the same cursor, so there is no gap and no duplicate at the
//! boundary, a slow consumer is simply further behind in the log (never
//! skipped), and a consumer that stops reading costs one page of memory.

use crate::{
    Error,
    storage::{RecordedEvent, Storage},
};
use eventstore_proto::SubscribeRequest;
use futures::{Stream, stream::BoxStream};
use std::{
    collections::VecDeque,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Most events pulled from the log at once.
const PAGE_EVENTS: usize = 512;
/// Most log entries looked at per pull when a prefix filters them out.
const PAGE_SCAN: usize = 8_192;

/// An open subscription: a stream of events in global order. It ends with
/// `Err(Unavailable)` when the store shuts down; drop it to cancel.
pub struct Subscription {
    events: BoxStream<'static, Result<RecordedEvent, Error>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

struct Cursor {
    storage: Arc<dyn Storage>,
    visible: watch::Receiver<u64>,
    shutdown: CancellationToken,
    tenant_id: String,
    prefix: String,
    next: u64,
    page: VecDeque<RecordedEvent>,
    ended: bool,
}

impl Subscription {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        visible: watch::Receiver<u64>,
        shutdown: CancellationToken,
        request: SubscribeRequest,
    ) -> Self {
        let cursor = Cursor {
            storage,
            visible,
            shutdown,
            tenant_id: request.tenant_id,
            prefix: request.aggregate_id_prefix,
            next: request.from_global_nonce.max(1),
            page: VecDeque::new(),
            ended: false,
        };
        let events = futures::stream::unfold(cursor, |mut cursor| async move {
            if cursor.ended {
                return None;
            }
            let item = cursor.next_event().await;
            cursor.ended = item.is_err();
            Some((item, cursor))
        });
        Self {
            events: Box::pin(events),
        }
    }
}

impl Cursor {
    async fn next_event(&mut self) -> Result<RecordedEvent, Error> {
        loop {
            if self.shutdown.is_cancelled() {
                return Err(Error::shutting_down());
            }
            if let Some(event) = self.page.pop_front() {
                return Ok(event);
            }
            let upto = *self.visible.borrow_and_update();
            if self.next <= upto {
                let slice = self
                    .storage
                    .read_log(
                        &self.tenant_id,
                        &self.prefix,
                        self.next,
                        upto,
                        PAGE_EVENTS,
                        PAGE_SCAN,
                    )
                    .map_err(Error::Storage)?;
                self.next = slice.next_global_nonce;
                self.page.extend(slice.events);
                continue;
            }
            tokio::select! {
                changed = self.visible.changed() => {
                    if changed.is_err() {
                        return Err(Error::shutting_down());
                    }
                }
                () = self.shutdown.cancelled() => return Err(Error::shutting_down()),
            }
        }
    }
}

impl Stream for Subscription {
    type Item = Result<RecordedEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

//! Subscription delivery: history, then live, from one cursor.
//!
//! A subscription never holds a copy of the events it has not delivered
//! beyond one small page. It keeps a cursor (the next global nonce) and
//! pulls pages from the log; when it reaches the visible head it waits for
//! the watermark to move. History and live events come from the same
//! log by the same cursor, so there is no gap and no duplicate at the
//! boundary, a slow consumer is simply further behind in the log (never
//! skipped), and a consumer that stops reading costs one page of memory.
//!
//! The watermark at the start of the subscription is its history: until
//! every matching event up to it is delivered the cursor reads no further,
//! then it yields [`Delivery::CaughtUp`] once, then live events.
//!
//! Failures are never hidden: a shutdown or a failed read ends the stream
//! with `UNAVAILABLE` naming the next undelivered position (`resume from
//! global_nonce N`); an undecodable event ends it with `DATA_LOSS` after
//! every event before it.

use crate::{
    Error,
    storage::{LogRange, RecordedEvent, Storage},
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
/// Most encoded bytes pulled from the log at once (at least one event):
/// what a consumer that stops reading keeps resident, per subscription.
const PAGE_BYTES: usize = 16 * 1024;
/// Most log entries looked at per pull when a prefix filters them out.
const PAGE_SCAN: usize = 8_192;

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The next matching event, in global order.
    Event(RecordedEvent),
    /// Every matching event committed when the subscription started has
    /// been delivered; sent exactly once, before any live event (on the wire:
    /// a `SubscribeResponse` without `event`).
    CaughtUp,
}

impl Delivery {
    /// The wire form: an event, or a response without one for the marker.
    pub fn into_response(self) -> eventstore_proto::SubscribeResponse {
        eventstore_proto::SubscribeResponse {
            event: match self {
                Self::Event(event) => Some(Arc::unwrap_or_clone(event)),
                Self::CaughtUp => None,
            },
        }
    }
}

/// An open subscription: events in global order with one
/// [`Delivery::CaughtUp`] after the history. It ends with
/// `Err(Unavailable)` (resume from global_nonce N) when the store shuts down
/// or a read fails, with `Err(DataLoss)` at an undecodable event; drop it to
/// cancel.
pub struct Subscription {
    events: BoxStream<'static, Result<Delivery, Error>>,
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
    /// The watermark when the subscription started, until the marker is sent.
    history_upto: Option<u64>,
    /// An undecodable event after the events in `page`.
    undecodable: Option<u64>,
    /// Where a client resumes: last delivered + 1, or the requested start.
    resume_from: u64,
    ended: bool,
}

impl Subscription {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        visible: watch::Receiver<u64>,
        shutdown: CancellationToken,
        request: SubscribeRequest,
    ) -> Self {
        let history_upto = *visible.borrow();
        let cursor = Cursor {
            storage,
            visible,
            shutdown,
            tenant_id: request.tenant_id,
            prefix: request.aggregate_id_prefix,
            next: request.from_global_nonce.max(1),
            page: VecDeque::new(),
            history_upto: Some(history_upto),
            undecodable: None,
            resume_from: request.from_global_nonce,
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
    async fn next_event(&mut self) -> Result<Delivery, Error> {
        loop {
            if self.shutdown.is_cancelled() {
                return Err(self.ended_by("the event store is shutting down"));
            }
            if let Some(event) = self.page.pop_front() {
                if let Some(meta) = &event.meta {
                    self.resume_from = meta.global_nonce.saturating_add(1);
                }
                return Ok(Delivery::Event(event));
            }
            if let Some(global_nonce) = self.undecodable {
                return Err(Error::DataLoss { global_nonce });
            }
            if let Some(history) = self.history_upto
                && self.next > history
            {
                self.history_upto = None;
                return Ok(Delivery::CaughtUp);
            }
            let visible = *self.visible.borrow_and_update();
            // The history ends at the start's watermark: no live event
            // before the marker.
            let upto = self.history_upto.map_or(visible, |h| h.min(visible));
            if self.next <= upto {
                let slice = self
                    .storage
                    .read_log(LogRange {
                        tenant_id: &self.tenant_id,
                        prefix: &self.prefix,
                        from: self.next,
                        upto,
                        max_events: PAGE_EVENTS,
                        max_scan: PAGE_SCAN,
                        max_bytes: PAGE_BYTES,
                    })
                    .map_err(|e| self.ended_by(&format!("reading the log failed ({e})")))?;
                self.next = slice.next_global_nonce;
                self.undecodable = slice.undecodable;
                self.page.extend(slice.events);
                continue;
            }
            tokio::select! {
                changed = self.visible.changed() => {
                    if changed.is_err() {
                        return Err(self.ended_by("the event store is shutting down"));
                    }
                }
                () = self.shutdown.cancelled() => {
                    return Err(self.ended_by("the event store is shutting down"));
                }
            }
        }
    }

    fn ended_by(&self, reason: &str) -> Error {
        Error::subscription_ended(reason, self.resume_from)
    }
}

impl Stream for Subscription {
    type Item = Result<Delivery, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    //! The failure contract for a read that fails under a subscription.

    use super::*;
    use crate::{
        EventStore, Limits,
        status::to_status,
        storage::{
            CommitBatch, Durability, IdempotencyRecord, LogSlice, MemoryStorage, Page, PageRequest,
            StorageError, StreamHead, StreamRange,
        },
    };
    use eventstore_proto::{AppendRequest, EventData, EventMetadata};
    use futures::StreamExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Memory storage whose log reads fail once `fail` is set.
    #[derive(Debug, Default)]
    struct FailingReads {
        inner: MemoryStorage,
        fail: Arc<AtomicBool>,
    }

    impl Storage for FailingReads {
        fn last_global_nonce(&self) -> u64 {
            self.inner.last_global_nonce()
        }
        fn last_recorded_time_ms(&self) -> u64 {
            self.inner.last_recorded_time_ms()
        }
        fn stream_head(&self, t: &str, a: &str) -> Result<Option<StreamHead>, StorageError> {
            self.inner.stream_head(t, a)
        }
        fn idempotency(
            &self,
            t: &str,
            a: &str,
            k: &str,
        ) -> Result<Option<IdempotencyRecord>, StorageError> {
            self.inner.idempotency(t, a, k)
        }
        fn event_id_exists(&self, t: &str, id: &str) -> Result<bool, StorageError> {
            self.inner.event_id_exists(t, id)
        }
        fn commit(&self, batch: CommitBatch) -> Result<Durability, StorageError> {
            self.inner.commit(batch)
        }
        fn read_stream(&self, range: StreamRange<'_>) -> Result<Page, StorageError> {
            self.inner.read_stream(range)
        }
        fn read_all(&self, t: &str, page: PageRequest) -> Result<Page, StorageError> {
            self.inner.read_all(t, page)
        }
        fn read_log(&self, range: LogRange<'_>) -> Result<LogSlice, StorageError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(StorageError::Io {
                    path: "events.redb".into(),
                    action: "read the log",
                    reason: "disk on fire".into(),
                });
            }
            self.inner.read_log(range)
        }
        fn backend_name(&self) -> &'static str {
            "failing"
        }
    }

    fn append(head: u64, count: u64) -> AppendRequest {
        AppendRequest {
            tenant_id: "t".into(),
            aggregate_id: "a".into(),
            aggregate_type: "A".into(),
            expected_aggregate_nonce: head,
            idempotency_key: String::new(),
            events: (head + 1..=head + count)
                .map(|n| EventData {
                    meta: Some(EventMetadata {
                        event_id: format!("e-{n}"),
                        aggregate_nonce: n,
                        event_type: "test.Event".into(),
                        ..EventMetadata::default()
                    }),
                    payload: Vec::new(),
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_failed_read_ends_the_subscription_with_unavailable_and_the_resume_position() {
        let fail = Arc::new(AtomicBool::new(false));
        let storage = FailingReads {
            inner: MemoryStorage::new(),
            fail: fail.clone(),
        };
        let store = EventStore::new(storage, Limits::default()).expect("valid limits");
        store.append(append(0, 3)).await.expect("append");
        let mut sub = store
            .subscribe(SubscribeRequest {
                tenant_id: "t".into(),
                aggregate_id_prefix: String::new(),
                from_global_nonce: 2,
            })
            .expect("subscribe");
        for want in [Some(2), Some(3), None] {
            let got = match sub.next().await {
                Some(Ok(Delivery::Event(e))) => e.meta.as_ref().map(|m| m.global_nonce),
                Some(Ok(Delivery::CaughtUp)) => None,
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(got, want);
        }
        fail.store(true, Ordering::SeqCst);
        store.append(append(3, 1)).await.expect("append");
        let end = match sub.next().await {
            Some(Err(e)) => to_status(e),
            other => panic!("expected the failure, got {other:?}"),
        };
        assert_eq!(end.code(), tonic::Code::Unavailable);
        assert!(
            end.message().contains("resume from global_nonce 4"),
            "{end:?}"
        );
        assert!(end.message().contains("disk on fire"), "{end:?}");
        assert!(sub.next().await.is_none());
    }
}

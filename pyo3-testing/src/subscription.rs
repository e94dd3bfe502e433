//! `NativeSubscription`: a subscription that survives transient failures.
//!
//! A task on the runtime reads the gRPC stream into a bounded buffer (so a
//! slow Python consumer slows the server down instead of growing memory).
//! Python takes events out in batches (`next_batch`), one await per batch
//! rather than per event. On a transient failure (connection lost, server
//! restarting) the task reconnects with exponential backoff and resumes
//! after the last acknowledged global nonce: delivery is at-least-once, so
//! events delivered but not acknowledged before the failure come again.
//!
//! The reconnect waits until the consumer has taken every event the lost
//! stream delivered (it asks for the next batch past them), so the resume
//! position is its last `ack` after it saw them all: a consumer that
//! processes, then acks each event gets again exactly the event it had
//! processed but not acknowledged (a crash between processing and
//! checkpointing), not the whole buffer. The first reconnect after a stream
//! that delivered events is immediate; later ones back off.
//!
//! Event-less `SubscribeResponse`s are never events: the first one of each
//! stream is the caught-up marker, later ones are keepalives (skipped, and
//! counted: `keepalives_received`, as they arrive, whether or not Python
//! iterates). The marker travels through the buffer in order, as `True`, and a reconnect
//! as `False`, so Python's `Subscription.caught_up` turns true exactly when
//! its consumer has been handed every event of the history, and drops when
//! a new stream starts (it is caught up again once that stream says so).
//! `DATA_LOSS` (an event the store cannot decode) is fatal: no reconnect.

use crate::{
    connections::Connections,
    convert::RawEvent,
    errors::{Kind, NativeError},
    runtime::{InFlight, future_into_py, handle, shutdown_token},
};
use eventstore_proto::{EventData, SubscribeRequest};
use parking_lot::Mutex;
use pyo3::prelude::*;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the feeder puts in the buffer, in stream order.
// Events are nearly every item: boxing them would cost an allocation each
// to shrink the rare markers.
#[allow(clippy::large_enum_variant)]
enum Item {
    Event(EventData),
    /// The stream's caught-up marker (its first event-less response).
    CaughtUp,
    /// A new stream starts after a failure: not caught up any more.
    Reconnected,
    /// The stream ended with a transient failure after the items before
    /// this one: the feeder reconnects once the consumer has taken them all
    /// and asks for more (then its last ack is where to resume).
    Lost(oneshot::Sender<()>),
    /// The subscription ends with this error.
    Failed(NativeError),
}

/// One entry of a batch as Python sees it: an event, or a change of the
/// caught-up state (`True`: caught up; `False`: a reconnect, not any more).
#[derive(IntoPyObject)]
#[allow(clippy::large_enum_variant)] // as `Item`
enum BatchItem {
    Event(RawEvent),
    CaughtUp(bool),
}

/// An open subscription.
#[pyclass(module = "eventstore._native")]
#[derive(Debug)]
pub struct NativeSubscription {
    events: Arc<tokio::sync::Mutex<mpsc::Receiver<Item>>>,
    /// An error met while filling a batch, returned by the next call.
    pending: Arc<Mutex<Option<NativeError>>>,
    /// A lost stream met while filling a batch: the next call (the consumer
    /// has taken the batch) lets the feeder reconnect.
    resume: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    acked: Arc<AtomicU64>,
    reconnects: Arc<AtomicU64>,
    keepalives: Arc<AtomicU64>,
    cancel: CancellationToken,
}

impl NativeSubscription {
    pub(crate) fn start(
        connections: Arc<Connections>,
        request: SubscribeRequest,
        max_reconnect_attempts: u32,
        buffer: usize,
    ) -> PyResult<Self> {
        let (tx, rx) = mpsc::channel(buffer);
        let acked = Arc::new(AtomicU64::new(0));
        let reconnects = Arc::new(AtomicU64::new(0));
        let keepalives = Arc::new(AtomicU64::new(0));
        let cancel = connections.closed.child_token();
        let feeder = Feeder {
            connections,
            request,
            max_reconnect_attempts,
            acked: acked.clone(),
            reconnects: reconnects.clone(),
            keepalives: keepalives.clone(),
            cancel: cancel.clone(),
            tx,
        };
        handle()?.spawn(feeder.run());
        Ok(Self {
            events: Arc::new(tokio::sync::Mutex::new(rx)),
            pending: Arc::new(Mutex::new(None)),
            resume: Arc::new(Mutex::new(None)),
            acked,
            reconnects,
            keepalives,
            cancel,
        })
    }
}

#[pymethods]
impl NativeSubscription {
    /// Resolves to the next entries (1 to `max`: events, and `True` / `False`
    /// where the subscription became caught up / reconnected), waiting for
    /// at least one; to `[]` when the subscription has ended; raises on a
    /// fatal error.
    fn next_batch<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let events = self.events.clone();
        let pending = self.pending.clone();
        let resume = self.resume.clone();
        future_into_py(py, async move {
            // The consumer is past the last batch: a lost stream may resume.
            if let Some(taken) = resume.lock().take() {
                let _ = taken.send(());
            }
            if let Some(error) = pending.lock().take() {
                return Err(error);
            }
            let mut rx = events.lock().await;
            let mut batch = Vec::new();
            let mut next = rx.recv().await;
            while let Some(item) = next {
                let entry = match item {
                    Item::Event(event) => BatchItem::Event(RawEvent::new(event)),
                    Item::CaughtUp => BatchItem::CaughtUp(true),
                    Item::Reconnected => BatchItem::CaughtUp(false),
                    Item::Lost(taken) if batch.is_empty() => {
                        // Nothing of the lost stream is left to hand out.
                        let _ = taken.send(());
                        next = rx.recv().await;
                        continue;
                    }
                    Item::Lost(taken) => {
                        *resume.lock() = Some(taken);
                        break;
                    }
                    Item::Failed(error) if batch.is_empty() => return Err(error),
                    Item::Failed(error) => {
                        *pending.lock() = Some(error);
                        break;
                    }
                };
                batch.push(entry);
                if batch.len() >= max.max(1) {
                    break;
                }
                next = rx.try_recv().ok();
            }
            Ok(batch)
        })
    }

    /// Marks everything up to `global_nonce` as processed: a reconnect
    /// resumes after the highest acknowledged nonce.
    fn ack(&self, global_nonce: u64) {
        self.acked.fetch_max(global_nonce, Ordering::SeqCst);
    }

    /// The highest acknowledged global nonce (0: none).
    #[getter]
    fn acknowledged(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// How many times the subscription has reconnected.
    #[getter]
    fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::SeqCst)
    }

    /// Keepalives received (event-less responses after a stream's
    /// caught-up marker), over every stream of the subscription.
    #[getter]
    fn keepalives_received(&self) -> u64 {
        self.keepalives.load(Ordering::SeqCst)
    }

    /// Ends the subscription; pending `next_batch` calls resolve to `[]`.
    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for NativeSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct Feeder {
    connections: Arc<Connections>,
    request: SubscribeRequest,
    max_reconnect_attempts: u32,
    acked: Arc<AtomicU64>,
    reconnects: Arc<AtomicU64>,
    keepalives: Arc<AtomicU64>,
    cancel: CancellationToken,
    tx: mpsc::Sender<Item>,
}

enum Ended {
    /// Stop quietly: cancelled, or nobody listens any more.
    Quiet,
    /// Try again: the connection or the server went away.
    Transient(NativeError),
    /// Give up with this error.
    Fatal(NativeError),
}

impl Feeder {
    async fn run(self) {
        let _in_flight = InFlight::enter();
        let mut failures = 0u32;
        loop {
            let mut progressed = false;
            let ended = tokio::select! {
                ended = self.stream_once(&mut failures, &mut progressed) => ended,
                () = self.cancel.cancelled() => return,
                () = shutdown_token().cancelled() => return,
            };
            let error = match ended {
                Ended::Quiet => return,
                Ended::Fatal(error) => {
                    let _ = self.tx.send(Item::Failed(error)).await;
                    return;
                }
                // A closed mock does not come back: no reconnect.
                Ended::Transient(_) if self.connections.mock_is_stopped() => {
                    let error = NativeError::mock_stopped(&self.connections.endpoint);
                    let _ = self.tx.send(Item::Failed(error)).await;
                    return;
                }
                Ended::Transient(error) => error,
            };
            failures += 1;
            if failures > self.max_reconnect_attempts {
                let message = format!(
                    "subscription lost: {} reconnect attempts failed; last error: {}",
                    self.max_reconnect_attempts, error.message
                );
                let _ = self
                    .tx
                    .send(Item::Failed(NativeError { message, ..error }))
                    .await;
                return;
            }
            // Resume only once the consumer has taken what the lost stream
            // delivered: its last ack then counts what it processed of it.
            let (lost, taken) = oneshot::channel();
            if self.tx.send(Item::Lost(lost)).await.is_err() {
                return;
            }
            tokio::select! {
                taken = taken => if taken.is_err() { return; },
                () = self.cancel.cancelled() => return,
                () = shutdown_token().cancelled() => return,
            }
            let backoff = if progressed && failures == 1 {
                // A stream that delivered events and then broke (a cut
                // connection, a store handing over): try again at once.
                Duration::ZERO
            } else {
                FIRST_BACKOFF
                    .saturating_mul(1 << (failures - 1).min(10))
                    .min(MAX_BACKOFF)
            };
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.cancel.cancelled() => return,
                () = shutdown_token().cancelled() => return,
            }
            self.reconnects.fetch_add(1, Ordering::SeqCst);
            // Caught up again only when the new stream says so.
            if self.tx.send(Item::Reconnected).await.is_err() {
                return;
            }
        }
    }

    /// One connection's worth of events.
    /// `progressed` turns true when it delivers an event.
    async fn stream_once(&self, failures: &mut u32, progressed: &mut bool) -> Ended {
        let acked = self.acked.load(Ordering::SeqCst);
        let from = if acked > 0 {
            (acked + 1).max(self.request.from_global_nonce)
        } else {
            self.request.from_global_nonce
        };
        let request = SubscribeRequest {
            from_global_nonce: from,
            ..self.request.clone()
        };
        // Through the pool's resend: a subscribe queued on a connection
        // that was closing (the last stream's cut) never left the client,
        // and goes again at once, not as a failed reconnect.
        let opened = self.connections.over_channel(|mut client| {
            let request = self.connections.request(request.clone(), false);
            async move { client.subscribe(request).await }
        });
        let opened = match self.connections.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, opened).await {
                Ok(result) => result,
                Err(_) => {
                    return Ended::Transient(NativeError::new(
                        Kind::Timeout,
                        format!("subscribe timed out after {:.3} s", limit.as_secs_f64()),
                    ));
                }
            },
            None => opened.await,
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(status) => return classify(self.connections.failure(&status, None)),
        };
        let mut marked = false;
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    *failures = 0;
                    let item = match message.event {
                        Some(event) => {
                            *progressed = true;
                            Item::Event(event)
                        }
                        // The first event-less response: caught up.
                        None if !marked => {
                            marked = true;
                            Item::CaughtUp
                        }
                        // Later ones: keepalives.
                        None => {
                            self.keepalives.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                    };
                    if self.tx.send(item).await.is_err() {
                        return Ended::Quiet;
                    }
                }
                // The server ended the stream (it is shutting down): reconnect.
                Ok(None) => {
                    return Ended::Transient(NativeError::connection(
                        "the server ended the subscription",
                    ));
                }
                Err(status) => return classify(self.connections.failure(&status, None)),
            }
        }
    }
}

fn classify(error: NativeError) -> Ended {
    if error.is_transient() {
        Ended::Transient(error)
    } else {
        Ended::Fatal(error)
    }
}

//! `NativeSubscription`: a subscription that survives transient failures.
//!
//! A task on the runtime reads the gRPC stream into a bounded buffer (so a
//! slow Python consumer slows the server down instead of growing memory).
//! Python takes events out in batches (`next_batch`), one await per batch
//! rather than per event. On a transient failure (connection lost, server
//! restarting) the task reconnects with exponential backoff and resumes
//! after the last acknowledged global nonce: delivery is at-least-once, so
//! events delivered but not acknowledged before the failure come again.

use crate::{
    connections::Connections,
    convert::RawEvent,
    errors::{Kind, NativeError, NativeResult},
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
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

type Item = NativeResult<EventData>;

/// An open subscription.
#[pyclass(module = "eventstore._native")]
#[derive(Debug)]
pub struct NativeSubscription {
    events: Arc<tokio::sync::Mutex<mpsc::Receiver<Item>>>,
    /// An error met while filling a batch, returned by the next call.
    pending: Arc<Mutex<Option<NativeError>>>,
    acked: Arc<AtomicU64>,
    reconnects: Arc<AtomicU64>,
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
        let cancel = connections.closed.child_token();
        let feeder = Feeder {
            connections,
            request,
            max_reconnect_attempts,
            acked: acked.clone(),
            reconnects: reconnects.clone(),
            cancel: cancel.clone(),
            tx,
        };
        handle()?.spawn(feeder.run());
        Ok(Self {
            events: Arc::new(tokio::sync::Mutex::new(rx)),
            pending: Arc::new(Mutex::new(None)),
            acked,
            reconnects,
            cancel,
        })
    }
}

#[pymethods]
impl NativeSubscription {
    /// Resolves to the next events (1 to `max`), waiting for at least one;
    /// to `[]` when the subscription has ended; raises on a fatal error.
    fn next_batch<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let events = self.events.clone();
        let pending = self.pending.clone();
        future_into_py(py, async move {
            if let Some(error) = pending.lock().take() {
                return Err(error);
            }
            let mut rx = events.lock().await;
            let first = match rx.recv().await {
                None => return Ok(Vec::new()),
                Some(item) => item?,
            };
            let mut batch = vec![RawEvent::new(first)];
            while batch.len() < max.max(1) {
                match rx.try_recv() {
                    Ok(Ok(event)) => batch.push(RawEvent::new(event)),
                    Ok(Err(error)) => {
                        *pending.lock() = Some(error);
                        break;
                    }
                    Err(_) => break,
                }
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
            let ended = tokio::select! {
                ended = self.stream_once(&mut failures) => ended,
                () = self.cancel.cancelled() => return,
                () = shutdown_token().cancelled() => return,
            };
            let error = match ended {
                Ended::Quiet => return,
                Ended::Fatal(error) => {
                    let _ = self.tx.send(Err(error)).await;
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
                let _ = self.tx.send(Err(NativeError { message, ..error })).await;
                return;
            }
            let backoff = FIRST_BACKOFF
                .saturating_mul(1 << (failures - 1).min(10))
                .min(MAX_BACKOFF);
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.cancel.cancelled() => return,
                () = shutdown_token().cancelled() => return,
            }
            self.reconnects.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// One connection's worth of events.
    async fn stream_once(&self, failures: &mut u32) -> Ended {
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
        let mut client = self.connections.client();
        let opened = client.subscribe(self.connections.request(request, false));
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
            Ok(response) => response.into_inner(),
            Err(status) => return classify(&status),
        };
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    *failures = 0;
                    let Some(event) = message.event else { continue };
                    if self.tx.send(Ok(event)).await.is_err() {
                        return Ended::Quiet;
                    }
                }
                // The server ended the stream (it is shutting down): reconnect.
                Ok(None) => {
                    return Ended::Transient(NativeError::connection(
                        "the server ended the subscription",
                    ));
                }
                Err(status) => return classify(&status),
            }
        }
    }
}

fn classify(status: &tonic::Status) -> Ended {
    let error = NativeError::from_status(status, None);
    if error.is_transient() {
        Ended::Transient(error)
    } else {
        Ended::Fatal(error)
    }
}

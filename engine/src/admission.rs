//! What clients may hold of a server, whatever they send: the bounds
//! [`crate::transport::serve`] keeps on connections, calls and request
//! bodies, so the server's memory stays bounded (issue 24).
//!
//! - **Connections** ([`Admission::register`]): at most `max_connections`.
//!   At the cap, the connection idle the longest (no call in flight) is
//!   closed to make room, so idle connections (a client that sent only the
//!   preface, half a frame, or nothing more) cannot lock legitimate clients
//!   out; with none idle, the new connection is closed at once. Out of file
//!   descriptors, the accept loop asks for the same eviction.
//! - **Idle connections** ([`ConnectionState::idle_or_evicted`]): a
//!   connection with no call in flight for `idle_timeout` is closed with
//!   GOAWAY (a client reconnects on its next call).
//! - **Calls** ([`ConnectionState::begin_call`]): at most `max_open_calls`
//!   in flight on the whole server, each with its response's send buffer;
//!   beyond, a call is refused with `RESOURCE_EXHAUSTED`.
//! - **Request bodies** ([`BudgetedBody`]): a request's body must be complete
//!   within `request_body_timeout` (else `DEADLINE_EXCEEDED`), and the bytes
//!   of unfinished bodies are counted per connection (at most a quarter of
//!   the server's budget) and on the server (`max_buffered_request_bytes`);
//!   a frame past either budget fails its call with `RESOURCE_EXHAUSTED`.

use crate::transport::TransportSettings;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    sync::Notify,
    time::{Instant, Sleep},
};

/// Connections being closed for eviction that may still count beyond
/// `max_connections` (each closes within [`CLOSE_GRACE`]).
const MAX_PENDING_EVICTIONS: usize = 64;

/// How long an idle or evicted connection has to take its GOAWAY and close
/// before it is dropped (it has no call in flight).
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The bounds of one server, shared by its accept loop and its connections.
#[derive(Debug)]
pub(crate) struct Admission {
    settings: TransportSettings,
    open_calls: AtomicUsize,
    buffered_bytes: AtomicUsize,
    connections: Mutex<HashMap<u64, Arc<ConnectionState>>>,
    next_id: AtomicU64,
}

/// One connection's share: its calls in flight, since when it is idle, its
/// unfinished request bytes, and whether it was asked to close.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    id: u64,
    active: AtomicUsize,
    idle_since: Mutex<Instant>,
    buffered_bytes: AtomicUsize,
    evicted: AtomicBool,
    changed: Notify,
}

/// A registered connection; dropping it unregisters it.
#[derive(Debug)]
pub(crate) struct Registration {
    admission: Arc<Admission>,
    pub(crate) state: Arc<ConnectionState>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.admission.connections.lock().remove(&self.state.id);
    }
}

impl Admission {
    pub(crate) fn new(settings: TransportSettings) -> Arc<Self> {
        Arc::new(Self {
            settings,
            open_calls: AtomicUsize::new(0),
            buffered_bytes: AtomicUsize::new(0),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    pub(crate) fn settings(&self) -> &TransportSettings {
        &self.settings
    }

    /// Admits a new connection, evicting the longest-idle one at the cap;
    /// `None` when the server is full of busy connections (close it).
    pub(crate) fn register(self: &Arc<Self>) -> Option<Registration> {
        let mut connections = self.connections.lock();
        let evicting = connections
            .values()
            .filter(|c| c.evicted.load(Ordering::Relaxed))
            .count();
        let full = connections.len() - evicting >= self.settings.max_connections;
        if full && (evicting >= MAX_PENDING_EVICTIONS || !evict_longest_idle(&connections)) {
            tracing::debug!(
                connections = connections.len(),
                "at max_connections with no idle connection: closed a new one"
            );
            return None;
        }
        let state = Arc::new(ConnectionState {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            active: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            buffered_bytes: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            changed: Notify::new(),
        });
        connections.insert(state.id, Arc::clone(&state));
        Some(Registration {
            admission: Arc::clone(self),
            state,
        })
    }

    /// Out of file descriptors: closes the longest-idle connection, if
    /// any, so a later accept can succeed.
    pub(crate) fn evict_one_idle(&self) -> bool {
        evict_longest_idle(&self.connections.lock())
    }

    /// Connections registered now (those being closed included).
    #[cfg(test)]
    pub(crate) fn connection_count(&self) -> usize {
        self.connections.lock().len()
    }

    /// Bytes of unfinished request bodies on the whole server.
    #[cfg(test)]
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buffered_bytes.load(Ordering::Relaxed)
    }
}

/// Marks the connection idle the longest as evicted; false if none is idle.
fn evict_longest_idle(connections: &HashMap<u64, Arc<ConnectionState>>) -> bool {
    let victim = connections
        .values()
        .filter(|c| c.active.load(Ordering::Relaxed) == 0 && !c.evicted.load(Ordering::Relaxed))
        .min_by_key(|c| *c.idle_since.lock());
    match victim {
        Some(victim) => {
            victim.evicted.store(true, Ordering::Relaxed);
            victim.changed.notify_one();
            true
        }
        None => false,
    }
}

impl ConnectionState {
    /// Counts a call in; `Err(RESOURCE_EXHAUSTED)` when the server already
    /// has `max_open_calls` in flight.
    pub(crate) fn begin_call(
        self: &Arc<Self>,
        admission: &Arc<Admission>,
    ) -> Result<CallGuard, tonic::Status> {
        let max = admission.settings.max_open_calls;
        let open = admission.open_calls.fetch_add(1, Ordering::AcqRel);
        if open >= max {
            admission.open_calls.fetch_sub(1, Ordering::AcqRel);
            return Err(tonic::Status::resource_exhausted(format!(
                "the server has {max} calls in flight (max_open_calls); retry later"
            )));
        }
        if self.active.fetch_add(1, Ordering::AcqRel) == 0 {
            self.changed.notify_one();
        }
        Ok(CallGuard {
            connection: Arc::clone(self),
            admission: Arc::clone(admission),
        })
    }

    /// Resolves when this connection has had no call in flight for
    /// `timeout`, or when it was evicted to make room for another.
    pub(crate) async fn idle_or_evicted(&self, timeout: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.evicted.load(Ordering::Relaxed) {
                return;
            }
            if self.active.load(Ordering::Acquire) > 0 {
                changed.await;
                continue;
            }
            let since = *self.idle_since.lock();
            tokio::select! {
                () = tokio::time::sleep_until(since + timeout) => {
                    if self.active.load(Ordering::Acquire) == 0 && *self.idle_since.lock() == since {
                        return;
                    }
                }
                () = &mut changed => {}
            }
        }
    }
}

/// A call in flight; dropping it (when its response ends) counts it out.
#[derive(Debug)]
pub(crate) struct CallGuard {
    connection: Arc<ConnectionState>,
    admission: Arc<Admission>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.admission.open_calls.fetch_sub(1, Ordering::AcqRel);
        if self.connection.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.connection.idle_since.lock() = Instant::now();
            self.connection.changed.notify_one();
        }
    }
}

/// A response body that holds its call's [`CallGuard`] until it ends.
#[derive(Debug)]
pub(crate) struct GuardedBody<B> {
    inner: B,
    guard: Option<CallGuard>,
}

impl<B> GuardedBody<B> {
    pub(crate) fn new(inner: B, guard: Option<CallGuard>) -> Self {
        Self { inner, guard }
    }
}

impl<B: Body + Unpin> Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body with a deadline and a byte budget (see the module docs).
pub(crate) struct BudgetedBody<B> {
    inner: B,
    connection: Arc<ConnectionState>,
    admission: Arc<Admission>,
    /// Bytes of this body counted against both budgets.
    counted: usize,
    started: Instant,
    /// Armed at the first wait for more of the body (most bodies arrive
    /// whole with their headers and never need a timer).
    deadline: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl<B> BudgetedBody<B> {
    pub(crate) fn new(
        inner: B,
        connection: Arc<ConnectionState>,
        admission: Arc<Admission>,
    ) -> Self {
        Self {
            inner,
            connection,
            admission,
            counted: 0,
            started: Instant::now(),
            deadline: None,
            done: false,
        }
    }

    fn reserve(&mut self, bytes: usize) -> Result<(), tonic::Status> {
        let settings = &self.admission.settings;
        let server_max = settings.max_buffered_request_bytes;
        let connection_max = settings.connection_request_bytes();
        let on_connection = self
            .connection
            .buffered_bytes
            .fetch_add(bytes, Ordering::AcqRel)
            + bytes;
        let on_server = self
            .admission
            .buffered_bytes
            .fetch_add(bytes, Ordering::AcqRel)
            + bytes;
        self.counted += bytes;
        if on_connection > connection_max {
            return Err(tonic::Status::resource_exhausted(format!(
                "this connection has {on_connection} bytes of unfinished requests, more than its share of {connection_max} (a quarter of max_buffered_request_bytes): finish or cancel requests in flight"
            )));
        }
        if on_server > server_max {
            return Err(tonic::Status::resource_exhausted(format!(
                "the server holds {on_server} bytes of unfinished requests, more than max_buffered_request_bytes ({server_max}); retry later"
            )));
        }
        Ok(())
    }

    /// Gives this body's bytes back to both budgets (once).
    fn release(&mut self) {
        if self.counted > 0 {
            self.connection
                .buffered_bytes
                .fetch_sub(self.counted, Ordering::AcqRel);
            self.admission
                .buffered_bytes
                .fetch_sub(self.counted, Ordering::AcqRel);
            self.counted = 0;
        }
    }

    fn fail(&mut self, status: tonic::Status) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        self.release();
        self.done = true;
        Poll::Ready(Some(Err(status)))
    }
}

impl<B> Drop for BudgetedBody<B> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<B> Body for BudgetedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(status) = self.reserve(data.len())
                {
                    return self.fail(status);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let status = tonic::Status::from_error(e.into());
                self.fail(status)
            }
            Poll::Ready(None) => {
                self.release();
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let timeout = self.admission.settings.request_body_timeout;
                let at = self.started + timeout;
                let deadline = self
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if deadline.as_mut().poll(cx).is_ready() {
                    let status = tonic::Status::deadline_exceeded(format!(
                        "the request body did not arrive within {} s (request_body_timeout): the client stopped sending",
                        timeout.as_secs_f64()
                    ));
                    return self.fail(status);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures::StreamExt;
    use http_body_util::{BodyExt, StreamBody};

    fn settings() -> TransportSettings {
        TransportSettings {
            max_connections: 2,
            max_open_calls: 3,
            max_buffered_request_bytes: 400,
            request_body_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            ..TransportSettings::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_idle_connection_is_evicted() {
        let admission = Admission::new(settings());
        let first = admission.register().unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = admission.register().unwrap();
        let _busy = second.state.begin_call(&admission).unwrap();
        // At the cap: the idle first one is asked to close.
        let third = admission.register().unwrap();
        tokio::time::timeout(
            Duration::from_millis(1),
            first.state.idle_or_evicted(Duration::from_secs(600)),
        )
        .await
        .expect("the idle connection was evicted");
        // The evicted one still counts until it closes; the busy one and the
        // new one stay. With no idle connection left, a new one is refused.
        let _call = third.state.begin_call(&admission).unwrap();
        assert!(admission.register().is_none());
        drop(first);
        assert_eq!(admission.connection_count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_server_cap_are_refused() {
        let admission = Admission::new(settings());
        let connection = admission.register().unwrap();
        let calls: Vec<_> = (0..3)
            .map(|_| connection.state.begin_call(&admission).unwrap())
            .collect();
        let refused = connection.state.begin_call(&admission).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("max_open_calls"), "{refused:?}");
        drop(calls);
        connection.state.begin_call(&admission).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_idle_for_the_timeout_is_closed_and_a_call_resets_the_clock() {
        let admission = Admission::new(settings());
        let connection = admission.register().unwrap();
        let call = connection.state.begin_call(&admission).unwrap();
        let idle = connection.state.idle_or_evicted(Duration::from_secs(10));
        tokio::pin!(idle);
        assert!(
            tokio::time::timeout(Duration::from_secs(30), idle.as_mut())
                .await
                .is_err(),
            "busy is not idle"
        );
        drop(call);
        tokio::time::timeout(Duration::from_secs(11), idle)
            .await
            .expect("idle after 10 s");
    }

    fn body_of(
        chunks: Vec<&'static [u8]>,
        then_stall: bool,
    ) -> impl Body<Data = Bytes, Error = std::io::Error> + Unpin {
        let frames = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Frame::data(Bytes::from_static(c)))),
        );
        let stall =
            futures::stream::iter(then_stall.then_some(())).then(|()| futures::future::pending());
        StreamBody::new(frames.chain(stall))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_over_the_budget_fails_and_gives_its_bytes_back() {
        let admission = Admission::new(settings());
        let connection = admission.register().unwrap();
        // The connection's share is 100 bytes (a quarter of 400).
        let mut body = BudgetedBody::new(
            body_of(vec![&[0; 60], &[0; 60]], false),
            Arc::clone(&connection.state),
            Arc::clone(&admission),
        );
        assert!(body.frame().await.unwrap().is_ok());
        assert_eq!(admission.buffered_bytes(), 60);
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.code(), tonic::Code::ResourceExhausted);
        assert!(
            error.message().contains("max_buffered_request_bytes"),
            "{error:?}"
        );
        assert_eq!(admission.buffered_bytes(), 0);
        drop(body);
        assert_eq!(admission.buffered_bytes(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_at_its_deadline_and_gives_its_bytes_back() {
        let admission = Admission::new(settings());
        let connection = admission.register().unwrap();
        let mut body = BudgetedBody::new(
            body_of(vec![&[0; 10]], true),
            Arc::clone(&connection.state),
            Arc::clone(&admission),
        );
        assert!(body.frame().await.unwrap().is_ok());
        let started = Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.code(), tonic::Code::DeadlineExceeded);
        assert!(
            error.message().contains("request_body_timeout"),
            "{error:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(admission.buffered_bytes(), 0);
        assert!(body.frame().await.is_none());
    }
}

//! Serving connections: the accept loop and the HTTP/2 settings every
//! eventstore process uses, written once for `eventstore-server` and
//! `eventstore-mock`.
//!
//! tonic's own `serve` cannot bound what a stalled stream costs: it does not
//! expose HTTP/2's per-stream send buffer (hyper's default is 400 KB, and a
//! client that grants a large window and never reads pins it, plus the
//! encoder's chunks, for every open stream), it sets no limit on concurrent
//! streams, it retries a failed `accept` (out of file descriptors) in a busy
//! loop without a log line, and it keeps a connection that never sends the
//! HTTP/2 preface open forever. [`serve`] does the same job with those four
//! bounded by [`TransportSettings`]:
//!
//! - `max_concurrent_streams`: advertised in HTTP/2 SETTINGS; a well-behaved
//!   client queues further calls, a client that opens more anyway gets them
//!   refused (`REFUSED_STREAM`), so they cost nothing;
//! - `stream_send_buffer_bytes`: the most response bytes buffered for one
//!   stream the client is not reading; the response stream is not polled
//!   further until the client reads (its subscription cursor just waits);
//! - `handshake_timeout`: a connection must finish TLS (when configured) and
//!   send the 24-byte HTTP/2 preface within it, else it is closed;
//! - accept errors other than a client's aborted connect (`EMFILE`,
//!   `ENFILE`, `ENOBUFS`...) pause accepting with an exponential backoff
//!   (10 ms to 1 s) and a log line when the pause starts and when it ends;
//!   out of file descriptors, the longest-idle connection is closed;
//! - `max_connections`, `idle_timeout`, `max_open_calls`,
//!   `request_body_timeout` and `max_buffered_request_bytes`: what clients
//!   may hold of the server whatever they send (see `admission.rs`).
//!
//! So the server's memory is bounded (beyond the stored events): about
//! 20 KB per connection (`max_connections`), the unfinished request bytes
//! (`max_buffered_request_bytes`), and per call in flight
//! (`max_open_calls`) its send buffer plus the encoder's ~56 KiB. With the
//! defaults: 1,024 x 20 KB + 256 MiB + 4,096 x ~90 KB, about 0.65 GB.
//!
//! Streaming responses go through [`paced`], which keeps tonic's encoder
//! chunks at ~8 KiB; with the 32 KiB send buffer a stalled subscription
//! costs about 86 KB (hyper's defaults: about 680 KB).
//!
//! The request handlers still see tonic's connect info (`Connected`) in the
//! request extensions, so `Request::remote_addr` and the mock's
//! connection handle work as under tonic's server.

use crate::admission::{Admission, BudgetedBody, CLOSE_GRACE, GuardedBody, Registration};
use futures::{Stream, StreamExt};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::{Pin, pin},
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::watch,
    time::{Instant, Sleep},
};
use tonic::transport::server::Connected;
use tower::ServiceExt;

/// The TLS acceptor [`serve`] takes (re-exported so callers need no direct
/// `tokio-rustls` dependency for the type).
pub use tokio_rustls::TlsAcceptor;

/// The HTTP/2 preface every client sends first (RFC 9113, 3.4).
const PREFACE_BYTES: usize = 24;
/// First pause after a failed accept.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause between accepts while they keep failing.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Encoded bytes a streaming response hands tonic's encoder between two
/// pauses (see [`paced`]).
pub const PACE_BYTES: usize = 8 * 1024;

/// A streaming response that pauses (returns `Pending` once, waking itself)
/// after every [`PACE_BYTES`] of encoded messages.
///
/// tonic's encoder takes messages while the stream is ready, up to 32 KiB
/// per chunk, in a buffer that grows to 64 KiB; for a subscription with
/// history the stream is always ready, so each stalled stream would pin
/// that much besides the HTTP/2 send buffer. A pause makes the encoder
/// hand over what it has, so chunks (and the buffer behind them) stay
/// about 8 KiB and a stalled subscription stays within ~100 KB. The cost
/// is one extra poll per 8 KiB sent.
pub fn paced<S, M>(stream: S) -> Paced<S>
where
    S: Stream<Item = Result<M, tonic::Status>>,
    M: prost::Message,
{
    Paced {
        inner: stream,
        since_pause: 0,
    }
}

/// The stream [`paced`] returns.
#[derive(Debug)]
pub struct Paced<S> {
    inner: S,
    since_pause: usize,
}

impl<S, M> Stream for Paced<S>
where
    S: Stream<Item = Result<M, tonic::Status>> + Unpin,
    M: prost::Message,
{
    type Item = Result<M, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.since_pause >= PACE_BYTES {
            self.since_pause = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let item = ready!(Pin::new(&mut self.inner).poll_next(cx));
        if let Some(Ok(message)) = &item {
            self.since_pause += message.encoded_len();
        }
        Poll::Ready(item)
    }
}

/// How connections are served; see the module docs for why each exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportSettings {
    /// Most streams (calls) open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Most response bytes buffered for one stream the client does not read.
    pub stream_send_buffer_bytes: usize,
    /// Time a new connection has to finish TLS and send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// Most connections open at once; at the cap the longest-idle one is
    /// closed to admit a new one (a new one is closed when none is idle).
    pub max_connections: usize,
    /// A connection with no call in flight for this long is closed (GOAWAY;
    /// clients reconnect on their next call).
    pub idle_timeout: Duration,
    /// Most calls in flight on the whole server; more are refused with
    /// `RESOURCE_EXHAUSTED`.
    pub max_open_calls: usize,
    /// Time a request's body has, from its headers, to arrive complete;
    /// else the call fails with `DEADLINE_EXCEEDED`.
    pub request_body_timeout: Duration,
    /// Most bytes of unfinished request bodies held on the whole server (a
    /// connection may hold a quarter of it); a frame beyond fails its call
    /// with `RESOURCE_EXHAUSTED`.
    pub max_buffered_request_bytes: usize,
}

impl TransportSettings {
    /// Default of [`TransportSettings::max_concurrent_streams`]: what most
    /// gRPC servers advertise; a client (or an SDK's channel) queues more.
    pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
    /// Default of [`TransportSettings::stream_send_buffer_bytes`]: with the
    /// paced encoder (see [`paced`]) a stalled subscription then costs about
    /// 86 KB of resident memory (measured: 100 streams over a 1 KiB-event
    /// tenant); at hyper's default of 400 KB it cost about 680 KB.
    pub const DEFAULT_STREAM_SEND_BUFFER_BYTES: usize = 32 * 1024;
    /// Default of [`TransportSettings::handshake_timeout`], in seconds.
    pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;
    /// Default of [`TransportSettings::max_connections`].
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    /// Default of [`TransportSettings::idle_timeout`], in seconds.
    pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 300;
    /// Default of [`TransportSettings::max_open_calls`].
    pub const DEFAULT_MAX_OPEN_CALLS: usize = 4096;
    /// Default of [`TransportSettings::request_body_timeout`], in seconds.
    pub const DEFAULT_REQUEST_BODY_TIMEOUT_SECS: u64 = 30;
    /// Default of [`TransportSettings::max_buffered_request_bytes`]: 64
    /// requests of the default 4 MiB maximum at once.
    pub const DEFAULT_MAX_BUFFERED_REQUEST_BYTES: usize = 256 * 1024 * 1024;

    /// The bytes of unfinished request bodies one connection may hold: a
    /// quarter of the server's, so no one connection takes it all.
    pub fn connection_request_bytes(&self) -> usize {
        (self.max_buffered_request_bytes / 4).max(1)
    }

    /// Checks that every setting is usable (none is zero).
    pub fn validate(&self) -> Result<(), TransportSettingsError> {
        if self.max_concurrent_streams == 0 {
            return Err(TransportSettingsError::Zero("max_concurrent_streams"));
        }
        if self.stream_send_buffer_bytes == 0 {
            return Err(TransportSettingsError::Zero("stream_send_buffer_bytes"));
        }
        if self.handshake_timeout.is_zero() {
            return Err(TransportSettingsError::Zero("handshake_timeout"));
        }
        for (name, zero) in [
            ("max_connections", self.max_connections == 0),
            ("idle_timeout", self.idle_timeout.is_zero()),
            ("max_open_calls", self.max_open_calls == 0),
            ("request_body_timeout", self.request_body_timeout.is_zero()),
            (
                "max_buffered_request_bytes",
                self.max_buffered_request_bytes == 0,
            ),
        ] {
            if zero {
                return Err(TransportSettingsError::Zero(name));
            }
        }
        Ok(())
    }
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            max_concurrent_streams: Self::DEFAULT_MAX_CONCURRENT_STREAMS,
            stream_send_buffer_bytes: Self::DEFAULT_STREAM_SEND_BUFFER_BYTES,
            handshake_timeout: Duration::from_secs(Self::DEFAULT_HANDSHAKE_TIMEOUT_SECS),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            idle_timeout: Duration::from_secs(Self::DEFAULT_IDLE_TIMEOUT_SECS),
            max_open_calls: Self::DEFAULT_MAX_OPEN_CALLS,
            request_body_timeout: Duration::from_secs(Self::DEFAULT_REQUEST_BODY_TIMEOUT_SECS),
            max_buffered_request_bytes: Self::DEFAULT_MAX_BUFFERED_REQUEST_BYTES,
        }
    }
}

/// A [`TransportSettings`] value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportSettingsError {
    /// The named setting is 0 (it would refuse every call or connection).
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
}

/// Defines a clap `Args` struct with the transport flags
/// (`--max-concurrent-streams`, `--stream-send-buffer-bytes`,
/// `--handshake-timeout-secs`, `--max-connections`, `--idle-timeout-secs`,
/// `--max-open-calls`, `--request-body-timeout-secs`,
/// `--max-buffered-request-bytes`), each with the env var `<prefix>MAX_CONCURRENT_STREAMS`
/// etc., and a `settings()` that checks them; like
/// [`limit_flags!`](crate::limit_flags), so both binaries share names,
/// defaults and help. The calling crate depends on `clap` with the `derive`
/// and `env` features.
#[macro_export]
macro_rules! transport_flags {
    ($(#[$meta:meta])* $vis:vis struct $name:ident, env_prefix = $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
        $vis struct $name {
            /// Most calls open at once on one connection (HTTP/2
            /// SETTINGS_MAX_CONCURRENT_STREAMS); clients queue further calls,
            /// streams opened beyond it are refused.
            #[arg(long, env = concat!($prefix, "MAX_CONCURRENT_STREAMS"), default_value_t = $crate::transport::TransportSettings::DEFAULT_MAX_CONCURRENT_STREAMS)]
            pub max_concurrent_streams: u32,

            /// Most response bytes buffered per stream for a client that does
            /// not read (a stalled subscription); the stream waits beyond it.
            #[arg(long, env = concat!($prefix, "STREAM_SEND_BUFFER_BYTES"), default_value_t = $crate::transport::TransportSettings::DEFAULT_STREAM_SEND_BUFFER_BYTES)]
            pub stream_send_buffer_bytes: usize,

            /// Seconds a new connection has to finish TLS and send the HTTP/2
            /// preface before it is closed.
            #[arg(long, env = concat!($prefix, "HANDSHAKE_TIMEOUT_SECS"), default_value_t = $crate::transport::TransportSettings::DEFAULT_HANDSHAKE_TIMEOUT_SECS)]
            pub handshake_timeout_secs: u64,

            /// Most connections open at once; at the cap the connection idle
            /// the longest is closed to admit a new one (a new one is closed
            /// when none is idle).
            #[arg(long, env = concat!($prefix, "MAX_CONNECTIONS"), default_value_t = $crate::transport::TransportSettings::DEFAULT_MAX_CONNECTIONS)]
            pub max_connections: usize,

            /// Seconds a connection with no call in flight stays open
            /// (then GOAWAY; clients reconnect on their next call).
            #[arg(long, env = concat!($prefix, "IDLE_TIMEOUT_SECS"), default_value_t = $crate::transport::TransportSettings::DEFAULT_IDLE_TIMEOUT_SECS)]
            pub idle_timeout_secs: u64,

            /// Most calls in flight on the whole server; more get
            /// RESOURCE_EXHAUSTED.
            #[arg(long, env = concat!($prefix, "MAX_OPEN_CALLS"), default_value_t = $crate::transport::TransportSettings::DEFAULT_MAX_OPEN_CALLS)]
            pub max_open_calls: usize,

            /// Seconds a request's body has to arrive complete after its
            /// headers; else DEADLINE_EXCEEDED.
            #[arg(long, env = concat!($prefix, "REQUEST_BODY_TIMEOUT_SECS"), default_value_t = $crate::transport::TransportSettings::DEFAULT_REQUEST_BODY_TIMEOUT_SECS)]
            pub request_body_timeout_secs: u64,

            /// Most bytes of unfinished request bodies held on the server
            /// (one connection may hold a quarter); beyond, RESOURCE_EXHAUSTED.
            #[arg(long, env = concat!($prefix, "MAX_BUFFERED_REQUEST_BYTES"), default_value_t = $crate::transport::TransportSettings::DEFAULT_MAX_BUFFERED_REQUEST_BYTES)]
            pub max_buffered_request_bytes: usize,
        }

        impl $name {
            /// The transport settings these flags set, checked.
            pub fn settings(
                &self,
            ) -> Result<$crate::transport::TransportSettings, $crate::transport::TransportSettingsError> {
                let settings = $crate::transport::TransportSettings {
                    max_concurrent_streams: self.max_concurrent_streams,
                    stream_send_buffer_bytes: self.stream_send_buffer_bytes,
                    handshake_timeout: ::std::time::Duration::from_secs(self.handshake_timeout_secs),
                    max_connections: self.max_connections,
                    idle_timeout: ::std::time::Duration::from_secs(self.idle_timeout_secs),
                    max_open_calls: self.max_open_calls,
                    request_body_timeout: ::std::time::Duration::from_secs(self.request_body_timeout_secs),
                    max_buffered_request_bytes: self.max_buffered_request_bytes,
                };
                settings.validate()?;
                Ok(settings)
            }
        }

        impl From<&$crate::transport::TransportSettings> for $name {
            fn from(settings: &$crate::transport::TransportSettings) -> Self {
                Self {
                    max_concurrent_streams: settings.max_concurrent_streams,
                    stream_send_buffer_bytes: settings.stream_send_buffer_bytes,
                    handshake_timeout_secs: settings.handshake_timeout.as_secs().max(1),
                    max_connections: settings.max_connections,
                    idle_timeout_secs: settings.idle_timeout.as_secs().max(1),
                    max_open_calls: settings.max_open_calls,
                    request_body_timeout_secs: settings.request_body_timeout.as_secs().max(1),
                    max_buffered_request_bytes: settings.max_buffered_request_bytes,
                }
            }
        }
    };
}

/// The service [`serve`] runs for a set of tonic services: `routes` behind
/// the oversized-request check (`RESOURCE_EXHAUSTED` naming
/// `max_request_bytes`, not tonic's generic error).
pub fn limited_routes(
    routes: tonic::service::Routes,
    limits: &crate::Limits,
) -> crate::size_limit::OversizedRequest<tonic::service::Routes> {
    use tower::Layer as _;
    crate::OversizedRequestLayer::new(limits.max_request_bytes).layer(routes.prepare())
}

/// Serves `service` on every connection `incoming` yields until `shutdown`
/// resolves; then stops accepting (dropping `incoming`, which closes a
/// listener), asks every connection to finish gracefully (HTTP/2 GOAWAY:
/// calls in flight complete) and returns when all are closed.
///
/// With `tls`, each connection first completes a TLS handshake (in its own
/// task: a slow client never blocks the accept loop).
pub async fn serve<I, IO, S>(
    incoming: I,
    service: S,
    settings: TransportSettings,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) where
    I: Stream<Item = io::Result<IO>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(settings.max_concurrent_streams)
        .max_send_buf_size(settings.stream_send_buffer_bytes);
    let admission = Admission::new(settings.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    {
        // Scoped so `incoming` (the listener) is closed as soon as we stop
        // accepting: new clients are refused rather than left hanging.
        let mut incoming = pin!(incoming);
        let mut pause = AcceptPause::default();
        loop {
            let next = tokio::select! {
                () = &mut shutdown => break,
                next = incoming.next() => next,
            };
            let io = match next {
                None => break,
                Some(Ok(io)) => {
                    pause.accepted();
                    io
                }
                Some(Err(e)) if is_aborted_connect(&e) => {
                    tracing::debug!("a client aborted its connection before accept: {e}");
                    continue;
                }
                Some(Err(e)) => {
                    if is_out_of_descriptors(&e) && admission.evict_one_idle() {
                        tracing::warn!(
                            "out of file descriptors: closing the connection idle the longest"
                        );
                    }
                    let wait = pause.failed(&e);
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            let Some(registration) = admission.register() else {
                // At max_connections with every connection busy.
                drop(io);
                continue;
            };
            let connection = Connection {
                http2: http2.clone(),
                service: service.clone(),
                tls: tls.clone(),
                deadline: Instant::now() + settings.handshake_timeout,
                stop: stop_rx.clone(),
                admission: Arc::clone(&admission),
                registration,
            };
            tokio::spawn(connection.serve(io));
        }
    }
    // Every connection task holds a receiver: ask them to finish, then wait
    // until the last one has dropped it.
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
}

/// A client gave up between its connect and our accept: nothing to pause for.
fn is_aborted_connect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Out of file descriptors (`EMFILE` for the process, `ENFILE` for the
/// system), the usual reason accepts keep failing.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    // The Linux and BSD numbers of EMFILE and ENFILE.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// The backoff of a run of failed accepts: each failure doubles the pause
/// (10 ms .. 1 s) instead of retrying at once, which would spin a core as
/// long as the condition lasts.
#[derive(Debug, Default)]
struct AcceptPause {
    failures: u64,
    next: Option<Duration>,
}

impl AcceptPause {
    /// Records a failure; returns how long to wait before the next accept.
    fn failed(&mut self, e: &io::Error) -> Duration {
        self.failures += 1;
        let wait = self.next.unwrap_or(ACCEPT_BACKOFF_MIN);
        self.next = Some((wait * 2).min(ACCEPT_BACKOFF_MAX));
        if self.failures == 1 {
            let hint = if is_out_of_descriptors(e) {
                " (out of file descriptors: raise `ulimit -n` or close idle connections)"
            } else {
                ""
            };
            tracing::warn!(
                "cannot accept a connection: {e}{hint}; pausing accepts, retrying with backoff up to {ACCEPT_BACKOFF_MAX:?}"
            );
        }
        wait
    }

    /// An accept succeeded: ends a run of failures (with a log line).
    fn accepted(&mut self) {
        if self.failures > 0 {
            tracing::warn!(
                failed_accepts = self.failures,
                "accepting connections again"
            );
        }
        *self = Self::default();
    }
}

/// One accepted connection and what it needs to be served.
struct Connection<S> {
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    service: S,
    tls: Option<TlsAcceptor>,
    deadline: Instant,
    stop: watch::Receiver<bool>,
    admission: Arc<Admission>,
    /// Held for the connection's life: unregisters it when dropped.
    registration: Registration,
}

impl<S> Connection<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    async fn serve<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    {
        let info = io.connect_info();
        match self.tls.clone() {
            None => self.serve_http2(io, info).await,
            Some(acceptor) => {
                match tokio::time::timeout_at(self.deadline, acceptor.accept(io)).await {
                    Ok(Ok(io)) => self.serve_http2(io, info).await,
                    Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                    Err(_) => {
                        tracing::debug!("closed a connection that did not finish TLS in time")
                    }
                }
            }
        }
    }

    async fn serve_http2<T, C>(self, io: T, info: C)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        C: Clone + Send + Sync + 'static,
    {
        let Self {
            http2,
            service,
            deadline,
            mut stop,
            admission,
            registration,
            ..
        } = self;
        let state = Arc::clone(&registration.state);
        let idle_timeout = admission.settings().idle_timeout;
        let handler = hyper::service::service_fn(move |mut request: http::Request<_>| {
            let call = state.begin_call(&admission);
            let service = service.clone();
            let body_budget = (Arc::clone(&state), Arc::clone(&admission));
            request.extensions_mut().insert(info.clone());
            async move {
                let guard = match call {
                    Ok(guard) => guard,
                    Err(status) => {
                        let response = status.into_http::<tonic::body::Body>();
                        return Ok(response.map(|body| GuardedBody::new(body, None)));
                    }
                };
                let (connection, admission) = body_budget;
                let request = request.map(|body| {
                    tonic::body::Body::new(BudgetedBody::new(body, connection, admission))
                });
                let response = service.oneshot(request).await?;
                Ok::<_, Infallible>(response.map(|body| GuardedBody::new(body, Some(guard))))
            }
        });
        let io = TokioIo::new(PrefaceDeadline::new(io, deadline));
        let mut connection = pin!(http2.serve_connection(io, handler));
        // Borrows `stop`: the receiver lives until the connection is closed,
        // which is what `serve` waits for at shutdown.
        let stopping = async {
            // The guard `wait_for` returns is not `Send`: drop it at once.
            let _ = stop.wait_for(|stop| *stop).await.is_ok();
        };
        let idle = registration.state.idle_or_evicted(idle_timeout);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            () = idle => {
                // No call in flight: GOAWAY, and a bounded wait for a peer
                // that does not read it.
                connection.as_mut().graceful_shutdown();
                if let Ok(Err(e)) = tokio::time::timeout(CLOSE_GRACE, connection).await {
                    tracing::debug!("idle connection ended: {e}");
                }
                return;
            }
            () = stopping => {}
        }
        connection.as_mut().graceful_shutdown();
        if let Err(e) = connection.await {
            tracing::debug!("connection ended during shutdown: {e}");
        }
        drop(stop);
    }
}

/// A connection's I/O that fails its reads once `deadline` passes before
/// the client has sent the HTTP/2 preface; afterwards it is transparent.
/// Failing the read makes hyper close the connection, so an idle
/// pre-handshake connection does not hold a file descriptor forever.
struct PrefaceDeadline<IO> {
    io: IO,
    /// Preface bytes not yet received.
    missing: usize,
    /// `None` once the preface is in.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<IO> PrefaceDeadline<IO> {
    fn new(io: IO, deadline: Instant) -> Self {
        Self {
            io,
            missing: PREFACE_BYTES,
            deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for PrefaceDeadline<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no HTTP/2 preface within the handshake timeout",
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        let read = buf.filled().len() - before;
        if self.deadline.is_some() {
            self.missing = self.missing.saturating_sub(read);
            if self.missing == 0 {
                self.deadline = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for PrefaceDeadline<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_the_preface_times_out() {
        let (client, server) = tokio::io::duplex(64);
        let mut guarded = PrefaceDeadline::new(server, Instant::now() + Duration::from_secs(2));
        let mut buf = [0u8; 64];
        let error = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_with_the_preface() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut guarded = PrefaceDeadline::new(server, Instant::now() + Duration::from_secs(2));
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; PREFACE_BYTES];
        guarded.read_exact(&mut buf).await.unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        client.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        guarded.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"x");
    }

    #[test]
    fn accept_failures_back_off_to_a_second() {
        let mut pause = AcceptPause::default();
        let emfile = io::Error::from_raw_os_error(24);
        let waits: Vec<_> = (0..10).map(|_| pause.failed(&emfile)).collect();
        assert_eq!(waits[0], ACCEPT_BACKOFF_MIN);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(waits[9], ACCEPT_BACKOFF_MAX);
        pause.accepted();
        assert_eq!(pause.failed(&emfile), ACCEPT_BACKOFF_MIN);
    }

    #[test]
    fn zero_settings_are_refused_by_name() {
        let settings = TransportSettings {
            max_concurrent_streams: 0,
            ..TransportSettings::default()
        };
        assert_eq!(
            settings.validate().unwrap_err().to_string(),
            "max_concurrent_streams must be greater than 0"
        );
    }
}

//! `Connections`: the pool every call and subscription of one client uses.
//!
//! Plain Rust, no Python: a small set of HTTP/2 channels used round-robin
//! (or, for an in-process mock, its [`Direct`] service and its channel for
//! subscriptions), the basic-auth header, the request timeout and the
//! client's close token.
//! It sits below both pyclasses that use it (`client.rs` builds it,
//! `subscription.rs` reconnects through it), so neither imports the other.

use crate::errors::{Kind, NativeError, NativeResult, code_name, is_client_deadline};
use eventstore_mock::Direct;
use eventstore_proto::event_store_client::EventStoreClient;
use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};
use tokio_util::sync::CancellationToken;
use tonic::{metadata::AsciiMetadataValue, transport::Channel};

/// Largest message the client accepts or sends (the server enforces its own).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// What every call needs; shared with subscriptions.
#[derive(Debug)]
pub(crate) struct Connections {
    /// Empty for an in-process mock: see `direct`.
    channels: Vec<Channel>,
    /// An in-process mock's service: unary calls go to it without HTTP/2,
    /// subscriptions through its channel.
    direct: Option<Direct>,
    next: AtomicUsize,
    auth: Option<AsciiMetadataValue>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) closed: CancellationToken,
    /// Where the channels go, for errors (`http://host:port`, or the
    /// in-process mock).
    pub(crate) endpoint: String,
}

impl Connections {
    /// A pool over `channels` (at least one: the caller checks
    /// `max_connections`), or over an in-process mock's `direct` service.
    pub(crate) fn new(
        channels: Vec<Channel>,
        direct: Option<Direct>,
        auth: Option<AsciiMetadataValue>,
        request_timeout: Option<Duration>,
        endpoint: String,
    ) -> Self {
        Self {
            endpoint,
            channels,
            direct,
            next: AtomicUsize::new(0),
            auth,
            request_timeout,
            closed: CancellationToken::new(),
        }
    }

    pub(crate) fn client(&self) -> EventStoreClient<Channel> {
        let channel = match &self.direct {
            Some(direct) => direct.channel(),
            None => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
                self.channels[i].clone()
            }
        };
        EventStoreClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub(crate) fn request<T>(&self, message: T, with_timeout: bool) -> tonic::Request<T> {
        let deadline = self.request_timeout.filter(|_| with_timeout);
        eventstore_client::request(message, self.auth.as_ref(), deadline)
    }

    /// The in-process mock's service, for a client of one.
    pub(crate) fn direct(&self) -> Option<&Direct> {
        self.direct.as_ref()
    }

    /// The status of a request over the client's encoding limit (tonic's
    /// words), refused here before either route sends it: over a channel,
    /// tonic's own refusal reaches the caller as a reset stream that reads
    /// like a broken connection.
    pub(crate) fn over_limit(message: &impl prost::Message) -> Option<tonic::Status> {
        let len = message.encoded_len();
        (len > MAX_MESSAGE_BYTES).then(|| {
            tonic::Status::out_of_range(format!(
                "Error, encoded message length too large: found {len} bytes, the limit is: {MAX_MESSAGE_BYTES} bytes"
            ))
        })
    }

    /// Whether this client's in-process mock has been closed (its servers
    /// are stopping or stopped): every failure from then on has that one
    /// cause, whichever way the stopping servers ended the call.
    pub(crate) fn mock_is_stopped(&self) -> bool {
        self.direct.as_ref().is_some_and(Direct::is_stopped)
    }

    /// The error of a call or stream that failed with `status`: once the
    /// in-process mock is closed, that one cause, whichever way its stopping
    /// servers ended the call; else the status, naming the endpoint when the
    /// store could not be reached. `expected` is the nonce an append expected.
    pub(crate) fn failure(&self, status: &tonic::Status, expected: Option<u64>) -> NativeError {
        if self.mock_is_stopped() {
            return NativeError::mock_stopped(&self.endpoint);
        }
        if let Some(limit) = self.request_timeout
            && is_client_deadline(status)
        {
            return timed_out(limit);
        }
        NativeError::from_status(status, expected).at(&self.endpoint, status)
    }

    /// A unary call over the pool's channels: `send` makes it on a client
    /// of the pool; it runs again, once, if the request never left this
    /// process ([`never_sent`]): a connection that had just closed (a
    /// server's restart) fails the next request queued on it before the
    /// channel notices, and that request is safe to send on a new one.
    pub(crate) async fn over_channel<T, F, Fut>(&self, mut send: F) -> Result<T, tonic::Status>
    where
        F: FnMut(EventStoreClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match send(self.client()).await {
            Err(status) if never_sent(&status) => send(self.client()).await,
            result => result,
        }
        .map(tonic::Response::into_inner)
    }

    /// Runs a unary call, however it is made, within the request timeout
    /// and until the client closes; its failure as the client reports it.
    pub(crate) async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, tonic::Status>>,
        expected: Option<u64>,
    ) -> NativeResult<T> {
        if self.closed.is_cancelled() {
            return Err(NativeError::connection("the client is closed"));
        }
        // The deadline is enforced twice (grpc-timeout, sent to the server, and
        // a local timer): whichever fires first, the same TimeoutError
        // (`failure` maps the server's side).
        let timed = async {
            match self.request_timeout {
                Some(limit) => tokio::time::timeout(limit, call)
                    .await
                    .map_err(|_| timed_out(limit)),
                None => Ok(call.await),
            }
        };
        tokio::select! {
            biased;
            result = timed => match result? {
                Ok(response) => Ok(response),
                Err(status) => Err(self.failure(&status, expected)),
            },
            () = self.closed.cancelled() => Err(NativeError::connection("the client is closed")),
        }
    }
}

/// Whether `status` is hyper's "canceled": the request was queued on a
/// connection that closed before sending it, so the store never saw it
/// (hyper hands such requests back unsent). Any other failure may have
/// reached the store and is the caller's to judge.
fn never_sent(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// A call that got no answer within the client's `request_timeout`.
fn timed_out(limit: Duration) -> NativeError {
    NativeError {
        code: Some(code_name(tonic::Code::DeadlineExceeded)),
        ..NativeError::new(
            Kind::Timeout,
            format!(
                "request timed out after {:.3} s (request_timeout)",
                limit.as_secs_f64()
            ),
        )
    }
}

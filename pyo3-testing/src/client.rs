//! `NativeClient`: the gRPC client behind `eventstore.EventStoreClient`.
//!
//! All I/O is here, on the shared runtime: a small pool of HTTP/2
//! connections (round-robin) with the request timeout. The options (the
//! endpoint's forms, TLS and mutual TLS, credentials) are checked and
//! turned into channels by the one connector (`eventstore_client`, through
//! [`NativeConnectOptions`]), so a mistake gets the same message here as
//! from the conformance kit and the recorder. Python only builds requests
//! and reads results.

use crate::{
    connect::NativeConnectOptions,
    connections::Connections,
    convert::{RawEvent, event_from_dict},
    errors::{NativeError, NativeResult},
    mock::NativeMock,
    runtime::{future_into_py, handle, ready_or_spawn},
    subscription::NativeSubscription,
};
use eventstore_mock::Direct;
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
    event_store_client::EventStoreClient,
};
use pyo3::{exceptions::PyValueError, prelude::*, types::PyDict};
use std::sync::Arc;
use tonic::{Request, Response, Status, transport::Channel};

/// One unary RPC as both routes make it: on an in-process mock's service
/// ([`Direct`], no transport) and on a client of the pool's channels.
trait Unary: prost::Message + Clone + Send + 'static {
    type Answer: Send + 'static;
    fn direct(
        direct: &Direct,
        request: Request<Self>,
    ) -> impl Future<Output = Result<Self::Answer, Status>> + Send + 'static;
    fn channel(
        client: EventStoreClient<Channel>,
        request: Request<Self>,
    ) -> impl Future<Output = Result<Response<Self::Answer>, Status>> + Send;
}

/// The four unary RPCs; `$rpc` names both [`Direct`]'s method and the
/// generated client's.
macro_rules! unary_rpc {
    ($($request:ty => $answer:ty, $rpc:ident;)*) => {$(
        impl Unary for $request {
            type Answer = $answer;
            fn direct(
                direct: &Direct,
                request: Request<Self>,
            ) -> impl Future<Output = Result<Self::Answer, Status>> + Send + 'static {
                direct.$rpc(request)
            }
            fn channel(
                mut client: EventStoreClient<Channel>,
                request: Request<Self>,
            ) -> impl Future<Output = Result<Response<Self::Answer>, Status>> + Send {
                async move { client.$rpc(request).await }
            }
        }
    )*};
}

unary_rpc! {
    AppendRequest => AppendResponse, append;
    ReadStreamRequest => ReadStreamResponse, read_stream;
    ReadAllRequest => ReadAllResponse, read_all;
    GetServerInfoRequest => GetServerInfoResponse, get_server_info;
}

/// Sends `request` and resolves to `settle` of its answer (which may turn
/// a status into a value), within the request timeout. To an in-process
/// mock the call is made on this thread and, when its answer needs no
/// waiting, returns a finished awaitable; over the network it runs on the
/// runtime. `expected` is the nonce an append expected (for its conflict).
fn unary<'py, R, O>(
    py: Python<'py>,
    inner: &Arc<Connections>,
    request: R,
    expected: Option<u64>,
    settle: fn(Result<R::Answer, Status>) -> Result<O, Status>,
) -> PyResult<Bound<'py, PyAny>>
where
    R: Unary,
    O: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let inner = inner.clone();
    let refused = Connections::over_limit(&request);
    if let Some(direct) = inner.direct() {
        let call = match refused {
            Some(status) => Err(status),
            None => Ok(R::direct(direct, inner.request(request, true))),
        };
        return ready_or_spawn(py, async move {
            inner.bounded(async { settle(call?.await) }, expected).await
        });
    }
    future_into_py(py, async move {
        let call = async {
            if let Some(status) = refused {
                return Err(status);
            }
            inner
                .over_channel(|client| R::channel(client, inner.request(request.clone(), true)))
                .await
        };
        inner.bounded(async { settle(call.await) }, expected).await
    })
}

/// A page's events as the native events Python reads.
fn raw_events(events: Vec<eventstore_proto::EventData>) -> Vec<RawEvent> {
    events.into_iter().map(RawEvent::new).collect()
}

/// The native client.
#[pyclass(module = "eventstore._native")]
#[derive(Debug)]
pub struct NativeClient {
    inner: Arc<Connections>,
}

#[pymethods]
impl NativeClient {
    /// A client of the store `options` name (of `mock`, in process, when
    /// given: then only the credentials of `options` are used).
    #[new]
    #[pyo3(signature = (options, *, max_connections=1, mock=None))]
    fn new(
        options: PyRef<'_, NativeConnectOptions>,
        max_connections: usize,
        mock: Option<PyRef<'_, NativeMock>>,
    ) -> PyResult<Self> {
        let options = &options.options;
        if max_connections == 0 {
            return Err(PyValueError::new_err(
                "max_connections must be at least 1, got 0",
            ));
        }
        let (channels, direct, authorization, target) = if let Some(mock) = mock {
            (
                Vec::new(),
                Some(mock.direct()?),
                options.authorization().map_err(NativeError::connect)?,
                "the in-process MockEventStore".to_owned(),
            )
        } else {
            let runtime = handle()?;
            let _entered = runtime.enter();
            let dialer = options.dialer().map_err(NativeError::connect)?;
            (
                (0..max_connections)
                    .map(|_| dialer.connect_lazy())
                    .collect(),
                None,
                dialer.authorization.clone(),
                dialer.url.clone(),
            )
        };
        Ok(Self {
            inner: Arc::new(Connections::new(
                channels,
                direct,
                authorization,
                options.request_timeout,
                target,
            )),
        })
    }

    /// Appends; resolves to `(last_global_nonce, last_aggregate_nonce)`.
    #[allow(clippy::too_many_arguments)]
    fn append<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        aggregate_id: String,
        aggregate_type: String,
        expected_aggregate_nonce: u64,
        idempotency_key: String,
        events: Vec<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let events = events
            .iter()
            .enumerate()
            .map(|(i, e)| event_from_dict(e, &format!("events[{i}]")))
            .collect::<NativeResult<Vec<_>>>()?;
        let request = AppendRequest {
            tenant_id,
            aggregate_id,
            aggregate_type,
            expected_aggregate_nonce,
            idempotency_key,
            events,
        };
        unary(
            py,
            &self.inner,
            request,
            Some(expected_aggregate_nonce),
            |answer| answer.map(|r| (r.last_global_nonce, r.last_aggregate_nonce)),
        )
    }

    /// Reads a page; resolves to `(events, is_end, next_from_aggregate_nonce)`.
    fn read_stream<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        aggregate_id: String,
        from_aggregate_nonce: u64,
        max_count: u32,
        forward: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = ReadStreamRequest {
            tenant_id,
            aggregate_id,
            from_aggregate_nonce,
            max_count,
            forward,
        };
        unary(py, &self.inner, request, None, |answer| {
            answer.map(|page| {
                (
                    raw_events(page.events),
                    page.is_end,
                    page.next_from_aggregate_nonce,
                )
            })
        })
    }

    /// Reads a page of the tenant's global log; resolves to
    /// `(events, is_end, next_from_global_nonce)`.
    fn read_all<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        from_global_nonce: u64,
        max_count: u32,
        forward: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = ReadAllRequest {
            tenant_id,
            from_global_nonce,
            max_count,
            forward,
        };
        unary(py, &self.inner, request, None, |answer| {
            answer.map(|page| {
                (
                    raw_events(page.events),
                    page.is_end,
                    page.next_from_global_nonce,
                )
            })
        })
    }

    /// Asks the server what it is; resolves to `(server_version,
    /// api_version, backend, capabilities)`, or to `None` when the server
    /// answers `UNIMPLEMENTED` (it predates `GetServerInfo`: a legacy
    /// server). Decided here, on the status code itself, so a legacy server
    /// is never confused with another failure.
    fn server_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        unary(
            py,
            &self.inner,
            GetServerInfoRequest {},
            None,
            |answer| match answer {
                Ok(i) => Ok(Some((
                    i.server_version,
                    i.api_version,
                    i.backend,
                    i.capabilities,
                ))),
                Err(status) if status.code() == tonic::Code::Unimplemented => Ok(None),
                Err(status) => Err(status),
            },
        )
    }

    /// Opens a subscription (see `NativeSubscription`).
    #[pyo3(signature = (tenant_id, aggregate_id_prefix, from_global_nonce, max_reconnect_attempts=10, buffer=4096))]
    fn subscribe(
        &self,
        tenant_id: String,
        aggregate_id_prefix: String,
        from_global_nonce: u64,
        max_reconnect_attempts: u32,
        buffer: usize,
    ) -> PyResult<NativeSubscription> {
        NativeSubscription::start(
            self.inner.clone(),
            SubscribeRequest {
                tenant_id,
                aggregate_id_prefix,
                from_global_nonce,
            },
            max_reconnect_attempts,
            buffer.max(1),
        )
    }

    /// Closes the client: calls in flight and open subscriptions end.
    fn close(&self) {
        self.inner.closed.cancel();
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }
}

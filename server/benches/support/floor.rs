//! The floor: a do-nothing `eventstore.v1.EventStore` service, what any
//! store on tonic costs at least. Every unary call answers its default
//! response at once; `Subscribe` answers a stream that has already ended.
//!
//! The bench runs it as a process of its own, like the real server, by
//! starting its own executable with `BENCH_FLOOR_SERVE` set (see
//! [`serve_if_asked`]), so the same CPU meter reads it. Two ways to serve it:
//!
//! - [`FloorKind::Tonic`]: tonic's own `Server` (what a plain tonic store
//!   would use);
//! - [`FloorKind::Transport`]: `eventstore_engine::transport::serve` with the
//!   same routes wrapping as the real server (the oversized-request layer),
//!   so the gap between the two floors is what our transport costs and the
//!   gap from this floor to the server is what the store's own code costs.

use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest, SubscribeResponse,
    event_store_server::{EventStore, EventStoreServer},
};
use futures::StreamExt;
use std::io::Write;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// The environment variable that turns the bench executable into a floor
/// server (`tonic` or `transport`).
pub const SERVE_VAR: &str = "BENCH_FLOOR_SERVE";

/// How the floor service is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorKind {
    /// `tonic::transport::Server`.
    Tonic,
    /// `eventstore_engine::transport::serve`, as the real server.
    Transport,
}

impl FloorKind {
    /// The value of [`SERVE_VAR`] that selects this kind.
    pub fn var_value(self) -> &'static str {
        match self {
            Self::Tonic => "tonic",
            Self::Transport => "transport",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Self::Tonic, Self::Transport]
            .into_iter()
            .find(|k| k.var_value() == value)
    }
}

/// Answers every call with its default response and does nothing else.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floor;

#[tonic::async_trait]
impl EventStore for Floor {
    async fn append(&self, _: Request<AppendRequest>) -> Result<Response<AppendResponse>, Status> {
        Ok(Response::new(AppendResponse::default()))
    }

    async fn read_stream(
        &self,
        _: Request<ReadStreamRequest>,
    ) -> Result<Response<ReadStreamResponse>, Status> {
        Ok(Response::new(ReadStreamResponse::default()))
    }

    type SubscribeStream = futures::stream::Empty<Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        _: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Ok(Response::new(futures::stream::empty()))
    }

    async fn read_all(
        &self,
        _: Request<ReadAllRequest>,
    ) -> Result<Response<ReadAllResponse>, Status> {
        Ok(Response::new(ReadAllResponse::default()))
    }

    async fn get_server_info(
        &self,
        _: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        Ok(Response::new(GetServerInfoResponse::default()))
    }
}

/// When [`SERVE_VAR`] is set, serves the floor on `127.0.0.1:0` (printing
/// the server's readiness line) until the process is killed or gets SIGTERM
/// (then it exits normally, so that a profiler running it writes its
/// counts), and never returns; otherwise returns at once.
pub fn serve_if_asked() -> Result<(), super::BoxError> {
    let Ok(value) = std::env::var(SERVE_VAR) else {
        return Ok(());
    };
    let kind = FloorKind::parse(&value)
        .ok_or_else(|| format!("{SERVE_VAR}={value:?}: expected tonic or transport"))?;
    // The real server's runtime: `#[tokio::main]`, one worker per CPU.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(kind))?;
    std::process::exit(0);
}

async fn serve(kind: FloorKind) -> Result<(), super::BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "eventstore-server listening on {addr}")?;
    stdout.flush()?;
    drop(stdout);
    // TCP_NODELAY on every accepted connection, as the real server sets it
    // (tonic's own `tcp_nodelay` applies only to the listener it binds).
    let incoming = TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            let _ = stream.set_nodelay(true);
        })
    });
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let terminated = async move {
        terminate.recv().await;
    };
    match kind {
        FloorKind::Tonic => {
            tonic::transport::Server::builder()
                .add_service(EventStoreServer::new(Floor))
                .serve_with_incoming_shutdown(incoming, terminated)
                .await?;
        }
        FloorKind::Transport => {
            use eventstore_engine::transport;
            let routes = tonic::service::Routes::new(EventStoreServer::new(Floor));
            transport::serve(
                incoming,
                transport::limited_routes(routes, &eventstore_engine::Limits::default()),
                transport::TransportSettings::default(),
                None,
                terminated,
            )
            .await;
        }
    }
    Ok(())
}

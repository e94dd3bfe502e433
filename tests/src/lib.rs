//! The conformance suite of `spec/semantics.md` and the kit that runs it
//! against any store.
//!
//! - [`cases`]: every case, each an `async fn(Ctx)`, and the registry
//!   ([`cases::all`]) with the rule each checks;
//! - [`Store`], [`Target`] and [`targets`]: the stores this project ships,
//!   started fresh per case by `cargo test` (`tests/conformance/main.rs`);
//! - [`endpoint`] and [`shared`]: a user's store at `HOST:PORT` (connected
//!   through the one connector, `eventstore_client::connect`), where each
//!   case gets a fresh tenant that looks like an empty store;
//! - [`runner`]: runs cases one by one, catching each failure (a refusal
//!   of the credentials told apart from a broken rule), and reports
//!   (`eventstore-conformance check`);
//! - [`diff`]: one random operation sequence against two stores, answers
//!   compared (`eventstore-conformance diff`);
//! - [`cli`]: the `eventstore-conformance` command line ([`cli::main_from`]),
//!   run by the binary and by the Python wheel's command alike; its
//!   connection flags are the shared `eventstore_client::ConnectArgs`.

pub mod cases;
pub mod cli;
mod context;
pub mod diff;
pub mod endpoint;
pub mod requests;
pub mod runner;
pub mod shared;
pub mod targets;

pub use context::{ANY_BACKEND, AnyStore, Ctx, Provider, Refused, Skip};

use eventstore_engine::Limits;
use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest, SubscribeResponse,
};
use futures::{StreamExt, stream::BoxStream};
use std::future::Future;
use tonic::Status;

pub use requests::*;

/// The responses of a subscription as they come off the wire, markers
/// (responses without `event`) included.
pub type Responses = BoxStream<'static, Result<SubscribeResponse, Status>>;

/// A running store as the suite sees it: the RPCs, with errors as gRPC
/// statuses. Clones talk to the same store, so cases can append from many
/// tasks at once.
pub trait Store: Clone + Send + Sync + 'static {
    /// `EventStore.Append`.
    fn append(
        &self,
        request: AppendRequest,
    ) -> impl Future<Output = Result<AppendResponse, Status>> + Send;
    /// `EventStore.ReadStream`.
    fn read_stream(
        &self,
        request: ReadStreamRequest,
    ) -> impl Future<Output = Result<ReadStreamResponse, Status>> + Send;
    /// `EventStore.ReadAll`.
    fn read_all(
        &self,
        request: ReadAllRequest,
    ) -> impl Future<Output = Result<ReadAllResponse, Status>> + Send;
    /// `EventStore.GetServerInfo`.
    fn server_info(&self) -> impl Future<Output = Result<GetServerInfoResponse, Status>> + Send;
    /// `EventStore.Subscribe`: every response, the event-less markers included.
    fn subscribe_responses(
        &self,
        request: SubscribeRequest,
    ) -> impl Future<Output = Result<Responses, Status>> + Send;
    /// `EventStore.Subscribe` as a client that skips event-less responses
    /// sees it: the stream of delivered events.
    fn subscribe(
        &self,
        request: SubscribeRequest,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<EventData, Status>>, Status>> + Send
    {
        async move {
            let responses = self.subscribe_responses(request).await?;
            Ok(responses
                .filter_map(|item| async move {
                    match item {
                        Ok(SubscribeResponse { event: Some(event) }) => Some(Ok(event)),
                        Ok(SubscribeResponse { event: None }) => None,
                        Err(status) => Some(Err(status)),
                    }
                })
                .boxed())
        }
    }
    /// Shuts the store down the way its operator would (SIGTERM to a
    /// process, `shutdown()` on an engine); false when this target cannot.
    fn stop(&self) -> bool;
}

/// A kind of store the suite runs against. Each case starts its own store,
/// so cases never share state (and may check global nonces exactly).
pub trait Target: Send + Sync + 'static {
    /// The running store; dropping it stops the store.
    type Store: Store;
    /// Starts a fresh, empty store with `limits`.
    fn start(limits: Limits) -> impl Future<Output = Self::Store> + Send;
    /// The `GetServerInfoResponse.backend` values this target may answer.
    const BACKENDS: &'static [&'static str];
}

//! The conformance suite's harness: one [`Store`] interface over every
//! store this project ships, and small builders for requests.
//!
//! The cases live in `tests/` and are generic over [`Target`]; adding a
//! store to the suite means adding a target in [`targets`] and one line in
//! each test file's target list.

pub mod requests;
pub mod targets;

use eventstore_engine::Limits;
use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, ReadStreamRequest, ReadStreamResponse,
    SubscribeRequest,
};
use futures::stream::BoxStream;
use std::future::Future;
use tonic::Status;

pub use requests::*;

/// A running store as the suite sees it: the three RPCs, with errors as
/// gRPC statuses. Clones talk to the same store, so cases can append from
/// many tasks at once.
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
    /// `EventStore.Subscribe`: the stream of delivered events.
    fn subscribe(
        &self,
        request: SubscribeRequest,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<EventData, Status>>, Status>> + Send;
}

/// A kind of store the suite runs against. Each case starts its own store,
/// so cases never share state (and may check global nonces exactly).
pub trait Target: Send + Sync + 'static {
    /// The running store; dropping it stops the store.
    type Store: Store;
    /// Starts a fresh, empty store with `limits`.
    fn start(limits: Limits) -> impl Future<Output = Self::Store> + Send;
}

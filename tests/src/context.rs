//! What a case runs with: a [`Ctx`] that starts stores, whatever they are.
//!
//! The same case runs under `cargo test` (a fresh store per start, from a
//! [`Target`]) and from the `eventstore-conformance` command (a fresh tenant
//! of one shared store per start, see [`crate::shared`]). Cases only see
//! [`AnyStore`], a type-erased [`Store`], so one compiled case serves both.

use crate::{Responses, Store, Target};
use eventstore_engine::Limits;
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoResponse, ReadAllRequest, ReadAllResponse,
    ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
};
use futures::future::BoxFuture;
use std::{fmt, future::Future, sync::Arc};
use tonic::Status;

/// Why a case cannot run against this store (a custom limit, a store the
/// kit cannot stop). Raised with [`Ctx::skip`] as a panic payload, so a case
/// needs no error plumbing; the runner reports it as "skipped".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip(pub String);

/// Why a case could not run: the store refused the kit's credentials
/// (`PERMISSION_DENIED` or `UNAUTHENTICATED`) where it needed to write, so
/// the case says nothing about the store's rules. Raised by a provider as a
/// panic payload, like [`Skip`]; the runner reports it as "refused".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// [`Store`] in a form that can be boxed (its methods return boxed futures).
trait DynStore: Send + Sync {
    fn append(&self, request: AppendRequest) -> BoxFuture<'static, Result<AppendResponse, Status>>;
    fn read_stream(
        &self,
        request: ReadStreamRequest,
    ) -> BoxFuture<'static, Result<ReadStreamResponse, Status>>;
    fn read_all(
        &self,
        request: ReadAllRequest,
    ) -> BoxFuture<'static, Result<ReadAllResponse, Status>>;
    fn server_info(&self) -> BoxFuture<'static, Result<GetServerInfoResponse, Status>>;
    fn subscribe_responses(
        &self,
        request: SubscribeRequest,
    ) -> BoxFuture<'static, Result<Responses, Status>>;
    fn stop(&self) -> bool;
}

impl<S: Store> DynStore for S {
    fn append(&self, request: AppendRequest) -> BoxFuture<'static, Result<AppendResponse, Status>> {
        let store = self.clone();
        Box::pin(async move { Store::append(&store, request).await })
    }
    fn read_stream(
        &self,
        request: ReadStreamRequest,
    ) -> BoxFuture<'static, Result<ReadStreamResponse, Status>> {
        let store = self.clone();
        Box::pin(async move { Store::read_stream(&store, request).await })
    }
    fn read_all(
        &self,
        request: ReadAllRequest,
    ) -> BoxFuture<'static, Result<ReadAllResponse, Status>> {
        let store = self.clone();
        Box::pin(async move { Store::read_all(&store, request).await })
    }
    fn server_info(&self) -> BoxFuture<'static, Result<GetServerInfoResponse, Status>> {
        let store = self.clone();
        Box::pin(async move { Store::server_info(&store).await })
    }
    fn subscribe_responses(
        &self,
        request: SubscribeRequest,
    ) -> BoxFuture<'static, Result<Responses, Status>> {
        let store = self.clone();
        Box::pin(async move { Store::subscribe_responses(&store, request).await })
    }
    fn stop(&self) -> bool {
        Store::stop(self)
    }
}

/// Any [`Store`], behind one type: what cases talk to.
#[derive(Clone)]
pub struct AnyStore(Arc<dyn DynStore>);

impl AnyStore {
    /// Erases the type of `store`.
    pub fn new<S: Store>(store: S) -> Self {
        Self(Arc::new(store))
    }
}

impl fmt::Debug for AnyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyStore").finish_non_exhaustive()
    }
}

impl Store for AnyStore {
    fn append(
        &self,
        request: AppendRequest,
    ) -> impl Future<Output = Result<AppendResponse, Status>> + Send {
        self.0.append(request)
    }
    fn read_stream(
        &self,
        request: ReadStreamRequest,
    ) -> impl Future<Output = Result<ReadStreamResponse, Status>> + Send {
        self.0.read_stream(request)
    }
    fn read_all(
        &self,
        request: ReadAllRequest,
    ) -> impl Future<Output = Result<ReadAllResponse, Status>> + Send {
        self.0.read_all(request)
    }
    fn server_info(&self) -> impl Future<Output = Result<GetServerInfoResponse, Status>> + Send {
        self.0.server_info()
    }
    fn subscribe_responses(
        &self,
        request: SubscribeRequest,
    ) -> impl Future<Output = Result<Responses, Status>> + Send {
        self.0.subscribe_responses(request)
    }
    fn stop(&self) -> bool {
        self.0.stop()
    }
}

/// Where a case's stores come from.
pub trait Provider: Send + Sync + 'static {
    /// A store that looks fresh and empty to the case, with `limits`; a
    /// [`Skip`] when this provider cannot give those limits.
    fn start(&self, limits: Limits) -> BoxFuture<'static, Result<AnyStore, Skip>>;
    /// The `GetServerInfoResponse.backend` values the store may answer.
    fn backends(&self) -> &'static [&'static str];
    /// Whether the store is this project's build, so its
    /// `server_version` and capability list are known exactly.
    fn is_our_build(&self) -> bool;
}

/// Every backend name `spec/semantics.md` allows: the reference's.
pub const ANY_BACKEND: &[&str] = &eventstore_proto::backends::ALL;

/// A fresh store of target `T` per start: how `cargo test` runs the cases.
struct FreshStores<T>(std::marker::PhantomData<fn() -> T>);

impl<T: Target> Provider for FreshStores<T> {
    fn start(&self, limits: Limits) -> BoxFuture<'static, Result<AnyStore, Skip>> {
        Box::pin(async move { Ok(AnyStore::new(T::start(limits).await)) })
    }
    fn backends(&self) -> &'static [&'static str] {
        T::BACKENDS
    }
    fn is_our_build(&self) -> bool {
        true
    }
}

/// A case's handle on its stores. Cheap to clone.
#[derive(Clone)]
pub struct Ctx(Arc<dyn Provider>);

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx").finish_non_exhaustive()
    }
}

impl Ctx {
    /// Stores from `provider`.
    pub fn new(provider: impl Provider) -> Self {
        Self(Arc::new(provider))
    }

    /// A fresh store of target `T` per start.
    pub fn fresh<T: Target>() -> Self {
        Self::new(FreshStores::<T>(std::marker::PhantomData))
    }

    /// A store that looks fresh and empty, with `limits`; skips the case
    /// (see [`Skip`]) when the provider cannot give those limits.
    pub async fn start(&self, limits: Limits) -> AnyStore {
        match self.0.start(limits).await {
            Ok(store) => store,
            Err(skip) => std::panic::panic_any(skip),
        }
    }

    /// The `GetServerInfoResponse.backend` values the store may answer.
    pub fn backends(&self) -> &'static [&'static str] {
        self.0.backends()
    }

    /// Whether the store is this project's build (exact version and
    /// capability list), rather than any store speaking the API.
    pub fn is_our_build(&self) -> bool {
        self.0.is_our_build()
    }

    /// Ends the case as skipped, saying what it needs.
    pub fn skip(&self, needs: impl Into<String>) -> ! {
        std::panic::panic_any(Skip(needs.into()))
    }
}

//! A user's store at `HOST:PORT`: connecting (through the one connector,
//! [`eventstore_client::connect`](fn@eventstore_client::connect), then a `GetServerInfo` check), and
//! [`SharedEndpoint`], the [`Provider`] that gives each case a
//! fresh tenant of it (see [`crate::shared`]).

use crate::{
    ANY_BACKEND, AnyStore, Provider, Refused, Skip, Store, append,
    runner::is_refusal,
    shared::{SharedView, Writes},
    targets::GrpcStore,
};
use eventstore_client::Opt;
pub use eventstore_client::{ConnectError, ConnectOptions};
use eventstore_engine::Limits;
use futures::future::BoxFuture;
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use tonic::Code;

/// Connects to the store `options` name ([`eventstore_client::connect`](fn@eventstore_client::connect),
/// the recorder's and the SDK's rules) and checks that it answers
/// (`GetServerInfo`, within the request timeout; a store predating it
/// answers `UNIMPLEMENTED`, fine). Every call of the store returned is
/// within the request timeout ([`GrpcStore::with_request_timeout`]).
pub async fn connect(options: &ConnectOptions) -> Result<GrpcStore, ConnectError> {
    let connection = eventstore_client::connect(options).await?;
    let store = GrpcStore::with_channel(connection.channel.clone(), &connection.endpoint)
        .with_authorization(connection.authorization.clone())
        .with_request_timeout(connection.request_timeout);
    let refused = |reason: String| ConnectError::Refused {
        endpoint: connection.endpoint.clone(),
        reason,
    };
    match store.server_info().await {
        Ok(_) => Ok(store),
        Err(status) if status.code() == Code::Unimplemented => Ok(store),
        // No answer in time (the kit's deadline, or the store's own).
        Err(status) if status.code() == Code::DeadlineExceeded => Err(ConnectError::Unreachable {
            endpoint: connection.endpoint.clone(),
            reason: format!("GetServerInfo: {}", status.message()),
        }),
        Err(status) if status.code() == Code::Unauthenticated => Err(refused(format!(
            "it refused the credentials ({}); pass {} or {}",
            status.message(),
            Opt::Credentials.name(options.spelling),
            Opt::Token.name(options.spelling),
        ))),
        Err(status) => Err(refused(format!(
            "GetServerInfo failed with {:?}: {}",
            status.code(),
            status.message()
        ))),
    }
}

/// A unique run id: a few random hex digits, so two runs never share tenants.
pub fn run_id() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[id.len() - 8..].to_owned()
}

/// One store shared by every case: each start is a fresh tenant
/// (`{tenant_prefix}{run}-{n}-`) with its global nonces rebased on the
/// store's last global nonce, learned by appending one event to the
/// run's probe tenant. Only the default limits are available: a case
/// that needs others is skipped. A probe append refused for the
/// credentials ends the case as [`Refused`]. Every successful append (the
/// probes and the cases') is counted in [`Self::writes`].
#[derive(Debug, Clone)]
pub struct SharedEndpoint {
    store: GrpcStore,
    run: String,
    next: Arc<AtomicU64>,
    writes: Arc<Writes>,
}

impl SharedEndpoint {
    /// Cases' tenants on `store` start with `tenant_prefix`.
    pub fn new(store: GrpcStore, tenant_prefix: &str) -> Self {
        Self {
            store,
            run: format!("{tenant_prefix}{}", run_id()),
            next: Arc::new(AtomicU64::new(1)),
            writes: Arc::default(),
        }
    }

    /// The tenant prefix of this run (`{tenant_prefix}{run id}`).
    pub fn run(&self) -> &str {
        &self.run
    }

    /// What this run wrote so far.
    pub fn writes(&self) -> &Writes {
        &self.writes
    }
}

/// The fields of `limits` that differ from the defaults, `name value, ...`.
fn differing_limits(limits: &Limits) -> String {
    // `Limits` holds numbers only: its Debug form is `Limits { a: 1, b: 2 }`.
    let fields = |l: &Limits| -> Vec<String> {
        format!("{l:?}")
            .trim_start_matches("Limits {")
            .trim_end_matches('}')
            .split(',')
            .map(|f| f.trim().replace(": ", " "))
            .collect()
    };
    let default = fields(&Limits::default());
    fields(limits)
        .into_iter()
        .filter(|f| !default.contains(f))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Provider for SharedEndpoint {
    fn start(&self, limits: Limits) -> BoxFuture<'static, Result<AnyStore, Skip>> {
        let this = self.clone();
        Box::pin(async move {
            if limits != Limits::default() {
                return Err(Skip(format!(
                    "needs a store started with limits {}",
                    differing_limits(&limits)
                )));
            }
            let n = this.next.fetch_add(1, Ordering::Relaxed);
            let tenant = format!("{}-probe", this.run);
            let probe = match this
                .store
                .append(append(&tenant, &format!("case-{n}"), 0, 1))
                .await
            {
                Ok(probe) => probe,
                Err(status) if is_refusal(&status) => std::panic::panic_any(Refused(format!(
                    "the store at {} refused the append to tenant {tenant:?} that starts the \
                     case (it learns the store's last global nonce): {}: {}",
                    this.store.addr,
                    eventstore_client::wire::code_name(status.code()),
                    status.message()
                ))),
                Err(status) => panic!(
                    "cannot append to the store at {} (to learn its last global nonce): {:?}: {}",
                    this.store.addr,
                    status.code(),
                    status.message()
                ),
            };
            this.writes.add(&tenant, 1);
            let view = SharedView::new(
                this.store.clone(),
                format!("{}-{n}-", this.run),
                probe.last_global_nonce,
            )
            .counting(this.writes.clone());
            Ok(AnyStore::new(view))
        })
    }

    fn backends(&self) -> &'static [&'static str] {
        ANY_BACKEND
    }

    fn is_our_build(&self) -> bool {
        false
    }
}

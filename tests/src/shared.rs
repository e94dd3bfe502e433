//! A shared store seen as a fresh one: [`SharedView`].
//!
//! Against a user's endpoint the kit cannot start an empty store per case.
//! Each case instead gets its own tenants (`prefix` + the case's tenant
//! name) and its global nonces rebased on the store's last global nonce
//! when the case started (`base`): position `n` for the case is `base + n`
//! on the store. Requests are translated on the way in, answers on the way
//! out (events, responses, the `ConcurrencyErrorDetail` of an `ABORTED`
//! status, tenant names in status messages), so the cases stay the exact
//! ones `cargo test` runs against fresh stores, exact nonces included.
//!
//! This holds while nobody else appends to the store during the case:
//! another writer's events would show as gaps in the case's global log.
//!
//! A view also keeps account, for `check`'s report: the events its
//! successful appends wrote and the tenants they went to ([`Writes`], when
//! given one), and the first call the store refused for the credentials
//! (`PERMISSION_DENIED`, `UNAUTHENTICATED`) in the log of the case that
//! made the view ([`Refusals`], see [`crate::runner`]).

use crate::{
    Responses, Store,
    requests::HEAD,
    runner::{Refusals, is_refusal},
};
use eventstore_engine::{Error, status::concurrency_detail, status::to_status};
use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest, SubscribeResponse,
    conflict,
};
use futures::StreamExt;
use std::{
    collections::BTreeSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use tonic::{Code, Status};

/// What a run wrote to a shared store: the events of its successful
/// appends and the distinct tenants they went to (real names).
#[derive(Debug, Default)]
pub struct Writes {
    events: AtomicU64,
    tenants: Mutex<BTreeSet<String>>,
}

impl Writes {
    /// Counts a successful append of `events` events to `tenant`.
    pub fn add(&self, tenant: &str, events: usize) {
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        if let Ok(mut tenants) = self.tenants.lock()
            && !tenants.contains(tenant)
        {
            tenants.insert(tenant.to_owned());
        }
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Distinct tenants written to so far.
    pub fn tenants(&self) -> usize {
        self.tenants.lock().map_or(0, |tenants| tenants.len())
    }
}

/// Tenants `prefix` + name, global nonces offset by `base`, on `store`.
#[derive(Debug, Clone)]
pub struct SharedView<S> {
    store: S,
    names: Arc<Names>,
    /// Where successful appends are counted.
    writes: Option<Arc<Writes>>,
    /// The refusal log of the case that made the view.
    refusals: Option<Refusals>,
}

#[derive(Debug)]
struct Names {
    prefix: String,
    base: u64,
}

impl Names {
    fn tenant_in(&self, tenant: &str) -> String {
        if tenant.is_empty() {
            String::new()
        } else {
            format!("{}{tenant}", self.prefix)
        }
    }

    fn tenant_out(&self, tenant: &str) -> String {
        tenant
            .strip_prefix(&self.prefix)
            .unwrap_or(tenant)
            .to_owned()
    }

    /// A position the case sends: 0 stays "before everything", positions
    /// past any real one (the [`HEAD`] sentinel and above) stay as sent.
    fn position_in(&self, position: u64) -> u64 {
        if position == 0 || position >= HEAD {
            position
        } else {
            position.saturating_add(self.base).min(HEAD)
        }
    }

    fn position_out(&self, position: u64) -> u64 {
        if position >= HEAD {
            position
        } else {
            position.saturating_sub(self.base)
        }
    }

    fn event_in(&self, event: &mut EventData) {
        if let Some(meta) = event.meta.as_mut()
            && !meta.tenant_id.is_empty()
        {
            meta.tenant_id = self.tenant_in(&meta.tenant_id);
        }
    }

    fn event_out(&self, mut event: EventData) -> EventData {
        if let Some(meta) = event.meta.as_mut() {
            meta.tenant_id = self.tenant_out(&meta.tenant_id);
            meta.global_nonce = self.position_out(meta.global_nonce);
        }
        event
    }

    fn status_out(&self, status: Status) -> Status {
        let message = status.message().replace(&self.prefix, "");
        if status.code() == Code::Aborted
            && let Some(mut detail) = concurrency_detail(&status)
        {
            detail.tenant_id = self.tenant_out(&detail.tenant_id);
            detail.actual_last_global_nonce = self.position_out(detail.actual_last_global_nonce);
            // Passed on in the form the store sent, so the case that checks
            // the reference's bytes sees a store that sends an envelope.
            if conflict::is_bare_any(status.details()) {
                return to_status(Error::Concurrency { message, detail });
            }
            let details = conflict::concurrency_detail_envelope_bytes(&message, &detail);
            return Status::with_details(Code::Aborted, message, details.into());
        }
        if message == status.message() {
            status
        } else {
            Status::with_details_and_metadata(
                status.code(),
                message,
                status.details().to_vec().into(),
                status.metadata().clone(),
            )
        }
    }
}

impl<S: Store> SharedView<S> {
    /// `store` seen through tenants `prefix` + name, positions past `base`.
    /// Made inside a case run by [`crate::runner::run_case`], the view
    /// notes its refused calls in that case's log (from any task).
    pub fn new(store: S, prefix: impl Into<String>, base: u64) -> Self {
        Self {
            store,
            names: Arc::new(Names {
                prefix: prefix.into(),
                base,
            }),
            writes: None,
            refusals: Refusals::current(),
        }
    }

    /// The same view, counting its successful appends in `writes`.
    #[must_use]
    pub fn counting(mut self, writes: Arc<Writes>) -> Self {
        self.writes = Some(writes);
        self
    }

    /// `status`, answered to `call`, as the case sees it; noted first if it
    /// refuses the credentials.
    fn failed(&self, call: &str, status: Status) -> Status {
        note_refusal(self.refusals.as_ref(), call, &status);
        self.names.status_out(status)
    }
}

/// Notes `status` in `refusals` when it refuses the credentials.
fn note_refusal(refusals: Option<&Refusals>, call: &str, status: &Status) {
    if let Some(refusals) = refusals
        && is_refusal(status)
    {
        refusals.note(format!(
            "{call} got {}: {}",
            eventstore_client::wire::code_name(status.code()),
            status.message()
        ));
    }
}

impl<S: Store> Store for SharedView<S> {
    async fn append(&self, mut request: AppendRequest) -> Result<AppendResponse, Status> {
        let names = &self.names;
        request.tenant_id = names.tenant_in(&request.tenant_id);
        request.events.iter_mut().for_each(|e| names.event_in(e));
        let (tenant, events) = (request.tenant_id.clone(), request.events.len());
        match self.store.append(request).await {
            Ok(response) => {
                if let Some(writes) = &self.writes {
                    writes.add(&tenant, events);
                }
                Ok(AppendResponse {
                    last_global_nonce: names.position_out(response.last_global_nonce),
                    last_aggregate_nonce: response.last_aggregate_nonce,
                })
            }
            Err(status) => Err(self.failed(&format!("Append to tenant {tenant:?}"), status)),
        }
    }

    async fn read_stream(
        &self,
        mut request: ReadStreamRequest,
    ) -> Result<ReadStreamResponse, Status> {
        let names = &self.names;
        request.tenant_id = names.tenant_in(&request.tenant_id);
        let call = format!("ReadStream of tenant {:?}", request.tenant_id);
        match self.store.read_stream(request).await {
            Ok(mut page) => {
                page.events = page
                    .events
                    .into_iter()
                    .map(|e| names.event_out(e))
                    .collect();
                Ok(page)
            }
            Err(status) => Err(self.failed(&call, status)),
        }
    }

    async fn read_all(&self, mut request: ReadAllRequest) -> Result<ReadAllResponse, Status> {
        let names = &self.names;
        request.tenant_id = names.tenant_in(&request.tenant_id);
        request.from_global_nonce = names.position_in(request.from_global_nonce);
        let call = format!("ReadAll of tenant {:?}", request.tenant_id);
        match self.store.read_all(request).await {
            Ok(mut page) => {
                page.events = page
                    .events
                    .into_iter()
                    .map(|e| names.event_out(e))
                    .collect();
                page.next_from_global_nonce = names.position_out(page.next_from_global_nonce);
                Ok(page)
            }
            Err(status) => Err(self.failed(&call, status)),
        }
    }

    async fn server_info(&self) -> Result<GetServerInfoResponse, Status> {
        self.store
            .server_info()
            .await
            .inspect_err(|status| note_refusal(self.refusals.as_ref(), "GetServerInfo", status))
    }

    async fn subscribe_responses(
        &self,
        mut request: SubscribeRequest,
    ) -> Result<Responses, Status> {
        let names = self.names.clone();
        request.tenant_id = names.tenant_in(&request.tenant_id);
        request.from_global_nonce = names.position_in(request.from_global_nonce);
        let call = format!("Subscribe to tenant {:?}", request.tenant_id);
        match self.store.subscribe_responses(request).await {
            Ok(responses) => {
                let refusals = self.refusals.clone();
                Ok(responses
                    .map(move |item| match item {
                        Ok(SubscribeResponse { event }) => Ok(SubscribeResponse {
                            event: event.map(|e| names.event_out(e)),
                        }),
                        Err(status) => {
                            note_refusal(refusals.as_ref(), &call, &status);
                            Err(names.status_out(status))
                        }
                    })
                    .boxed())
            }
            Err(status) => Err(self.failed(&call, status)),
        }
    }

    fn stop(&self) -> bool {
        // Stopping a shared store would stop it for everyone.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Target, append, read_all,
        targets::{InProcess, InProcessStore},
    };
    use eventstore_engine::Limits;

    async fn shared() -> (InProcessStore, SharedView<InProcessStore>) {
        let store = InProcess::start(Limits::default()).await;
        store
            .append(append("someone-else", "s", 0, 3))
            .await
            .expect("seed");
        let view = SharedView::new(store.clone(), "case-1-", 3);
        (store, view)
    }

    #[tokio::test]
    async fn positions_and_tenants_look_fresh() {
        let (store, view) = shared().await;
        let response = view.append(append("t1", "s", 0, 2)).await.expect("append");
        assert_eq!(response.last_global_nonce, 2);
        let page = view
            .read_all(read_all("t1", 2, 0, true))
            .await
            .expect("read_all");
        let meta = page.events[0].meta.clone().unwrap_or_default();
        assert_eq!((meta.global_nonce, meta.tenant_id.as_str()), (2, "t1"));
        assert_eq!(page.next_from_global_nonce, 3);
        let back = view
            .read_all(read_all("t1", HEAD, 0, false))
            .await
            .expect("read_all");
        assert_eq!(back.next_from_global_nonce, 0);
        // On the store itself, the tenant is prefixed and nonces are real.
        let real = store
            .read_all(read_all("case-1-t1", 0, 0, true))
            .await
            .expect("read_all");
        let globals: Vec<u64> = real
            .events
            .iter()
            .map(|e| e.meta.as_ref().map_or(0, |m| m.global_nonce))
            .collect();
        assert_eq!(globals, [4, 5]);
    }

    #[tokio::test]
    async fn successful_appends_are_counted() {
        let (_, view) = shared().await;
        let writes = Arc::new(Writes::default());
        let view = view.counting(writes.clone());
        view.append(append("t1", "s", 0, 2)).await.expect("append");
        view.append(append("t2", "s", 0, 1)).await.expect("append");
        view.append(append("t1", "s", 2, 1)).await.expect("append");
        view.append(append("t1", "s", 0, 1))
            .await
            .expect_err("stale: not written");
        assert_eq!((writes.events(), writes.tenants()), (4, 2));
    }

    #[tokio::test]
    async fn concurrency_details_and_messages_are_translated() {
        let (_, view) = shared().await;
        view.append(append("t1", "s", 0, 2)).await.expect("append");
        let status = view
            .append(append("t1", "s", 1, 1))
            .await
            .expect_err("stale");
        let detail = concurrency_detail(&status).expect("detail");
        assert_eq!(detail.tenant_id, "t1");
        assert_eq!(detail.actual_last_global_nonce, 2);
        assert!(
            !status.message().contains("case-1-"),
            "{}",
            status.message()
        );
        let mut mismatch = append("t1", "s", 2, 1);
        if let Some(meta) = mismatch.events[0].meta.as_mut() {
            meta.tenant_id = "t2".into();
        }
        let status = view.append(mismatch).await.expect_err("mismatch");
        assert_eq!(status.code(), Code::PermissionDenied);
        assert!(
            !status.message().contains("case-1-"),
            "{}",
            status.message()
        );
    }
}

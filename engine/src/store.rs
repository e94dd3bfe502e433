//! [`EventStore`]: the semantics of `spec/semantics.md` over a [`Storage`].
//!
//! An append is checked in two phases. The stateless checks run in the
//! caller's task, in parallel with every other request. The stateful checks
//! (idempotency, concurrency, nonces, event ids) and the numbering run under
//! one short commit lock, because global nonces must be gap-free and follow
//! commit order across all streams; the lock covers hash lookups and the
//! hand-off to storage, never I/O waits. Durability is awaited after the
//! lock is released, and only then is the batch published to readers.
//!
//! Publication is cancel-safe: once a batch is handed to storage, a task of
//! its own (not the request) waits for its durability and publishes it, so
//! a request dropped by its deadline or its client changes nothing about
//! whether the batch becomes visible. A commit that fails poisons the
//! store: it refuses every later append (but a keyed retry of a batch
//! acknowledged before, which gets its response) with one message naming
//! the cause and asking for a restart; reads go on. Batches numbered after the failed one fail with
//! it (the durable writer commits in order), so nothing past the last
//! durable batch is ever published, and a restart rebuilds the state from
//! exactly what was acknowledged.

use crate::{
    Error, Limits, OpenError, paging,
    storage::{
        CommitBatch, Durability, IdempotencyRecord, MemoryStorage, Page, PageRequest,
        RecordedEvent, Storage, StorageError, StreamRange,
    },
    subscription::Subscription,
    validate::{self, PreparedAppend, quote},
};
use eventstore_proto::{
    API_VERSION, AppendRequest, AppendResponse, ConcurrencyErrorDetail, GetServerInfoResponse,
    ReadAllRequest, ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
    backends, capabilities,
};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

/// The event store engine. Cheap to clone: clones share one store.
#[derive(Debug, Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: Arc<dyn Storage>,
    limits: Limits,
    /// Held while checking and numbering a batch.
    commit: Mutex<CommitClock>,
    /// The highest global nonce visible to readers; subscriptions wait on it.
    visible: watch::Sender<u64>,
    /// The commit failure that poisoned the store, if one did: appends are
    /// refused from then on, and waits for a batch that will never be
    /// published end with it instead of hanging.
    failed: watch::Sender<Option<StorageError>>,
    shutdown: CancellationToken,
}

/// Keeps `recorded_time_unix_ms` non-decreasing along the global log even
/// if the wall clock steps back.
#[derive(Debug, Default)]
struct CommitClock {
    last_recorded_ms: u64,
}

enum Outcome {
    Committed(AppendResponse, Durability),
    Replayed(AppendResponse),
}

impl EventStore {
    /// A store on `storage` with `limits`; fails when the limits are inconsistent.
    pub fn new(storage: impl Storage, limits: Limits) -> Result<Self, OpenError> {
        limits.validate()?;
        let visible = watch::Sender::new(storage.last_global_nonce());
        // A reopened store goes on from its last recorded time, so the
        // recorded times stay non-decreasing across a restart too.
        let clock = CommitClock {
            last_recorded_ms: storage.last_recorded_time_ms(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                storage: Arc::new(storage),
                limits,
                commit: Mutex::new(clock),
                visible,
                failed: watch::Sender::new(None),
                shutdown: CancellationToken::new(),
            }),
        })
    }

    /// An empty in-memory store with the default limits.
    pub fn in_memory() -> Self {
        Self::in_memory_with_limits(Limits::default())
            .unwrap_or_else(|_| unreachable!("default limits are valid"))
    }

    /// An empty in-memory store with `limits`.
    pub fn in_memory_with_limits(limits: Limits) -> Result<Self, OpenError> {
        Self::new(MemoryStorage::new(), limits)
    }

    /// A durable store in `dir` (created if missing) with `limits`: see
    /// [`crate::DurableStorage`].
    pub fn durable(dir: &std::path::Path, limits: Limits) -> Result<Self, OpenError> {
        let storage = crate::DurableStorage::open(dir)?;
        Self::new(storage, limits)
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The highest global nonce visible to readers (0 when empty).
    pub fn last_global_nonce(&self) -> u64 {
        *self.inner.visible.borrow()
    }

    /// Ends every subscription with `UNAVAILABLE` and refuses new requests.
    /// Appends already past their checks still complete.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Whether [`EventStore::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Appends a batch to one stream, atomically (`spec/semantics.md`, Append).
    pub async fn append(&self, request: AppendRequest) -> Result<AppendResponse, Error> {
        self.refuse_after_shutdown()?;
        let prepared = validate::prepare_append(request, &self.inner.limits)?;
        let outcome = match self.check_and_commit(prepared, None) {
            Ok(outcome) => outcome,
            Err(Error::Concurrency { message, detail }) => {
                // The head may belong to a batch still waiting for its
                // commit: answer ABORTED only once that batch is published
                // (then reads show it), or the commit's failure instead.
                self.wait_visible(detail.actual_last_global_nonce).await?;
                return Err(Error::Concurrency { message, detail });
            }
            Err(e) => return Err(e),
        };
        self.finish(outcome).await
    }

    /// Imports a batch recorded by another store, keeping the positions it
    /// was recorded at: each event's `aggregate_nonce` (head + 1, + 2 ...),
    /// `global_nonce` (strictly increasing, above every nonce committed so
    /// far, gaps allowed: the other tenants of the source store wrote
    /// there) and `recorded_time_unix_ms` (0 takes the commit clock's
    /// time). Everything else is checked as for [`EventStore::append`]
    /// (`expected_aggregate_nonce` included, so a stream is imported in
    /// order). This is how a recorded fixture is replayed with the same
    /// nonces the source store answered; imports must come in global order.
    pub async fn import(&self, request: AppendRequest) -> Result<AppendResponse, Error> {
        self.refuse_after_shutdown()?;
        let kept: Vec<(u64, u64)> = request
            .events
            .iter()
            .map(|e| {
                e.meta
                    .as_ref()
                    .map_or((0, 0), |m| (m.global_nonce, m.recorded_time_unix_ms))
            })
            .collect();
        let prepared = validate::prepare_append(request, &self.inner.limits)?;
        let outcome = self.check_and_commit(prepared, Some(kept.as_slice()))?;
        self.finish(outcome).await
    }

    /// Publishes a committed batch once it is durable (or returns the
    /// original response of a replayed one once that is visible).
    async fn finish(&self, outcome: Outcome) -> Result<AppendResponse, Error> {
        match outcome {
            Outcome::Replayed(response) => {
                // The original append may still be waiting for its fsync:
                // a retry must not report success before the original could.
                self.wait_visible(response.last_global_nonce).await?;
                Ok(response)
            }
            Outcome::Committed(response, Durability::Done) => {
                self.publish(response.last_global_nonce);
                Ok(response)
            }
            Outcome::Committed(response, Durability::Pending(done)) => {
                // No await between the hand-off to storage and this spawn, so
                // no cancellation can fall between them; from here on the
                // batch's fate is the task's, and a dropped caller only stops
                // waiting for it (dropping a JoinHandle does not cancel).
                let store = self.clone();
                let global_nonce = response.last_global_nonce;
                tokio::spawn(async move { store.finish_commit(done, global_nonce).await })
                    .await
                    .map_err(|_| Error::Storage(StorageError::WriterStopped))??;
                Ok(response)
            }
        }
    }

    /// Waits for a pending batch's durability, then publishes it, or poisons
    /// the store with the failure. Runs in a task of its own.
    async fn finish_commit(
        &self,
        done: oneshot::Receiver<Result<(), StorageError>>,
        global_nonce: u64,
    ) -> Result<(), Error> {
        let result = done.await.unwrap_or(Err(StorageError::WriterStopped));
        match result {
            Ok(()) => {
                self.publish(global_nonce);
                Ok(())
            }
            Err(e) => {
                self.poison(&e);
                Err(Error::Storage(e))
            }
        }
    }

    /// Refuses every later append because of `cause`, a failed commit.
    fn poison(&self, cause: &StorageError) {
        self.inner.failed.send_if_modified(|failed| {
            if failed.is_some() {
                return false;
            }
            tracing::error!("a commit failed, the store refuses writes until restarted: {cause}");
            *failed = Some(cause.clone());
            true
        });
    }

    /// The error of an append after the store was poisoned by `cause`.
    fn poisoned(cause: &StorageError) -> Error {
        match cause {
            // The durable backend poisons itself too: do not wrap twice.
            StorageError::Poisoned { .. } => Error::Storage(cause.clone()),
            _ => Error::Storage(StorageError::Poisoned {
                cause: Box::new(cause.clone()),
            }),
        }
    }

    /// Reads one page of a stream (`spec/semantics.md`, ReadStream): no
    /// count limit when `max_count` is 0, no cap otherwise, the byte limit
    /// ends a page early.
    pub async fn read_stream(
        &self,
        request: ReadStreamRequest,
    ) -> Result<ReadStreamResponse, Error> {
        self.refuse_after_shutdown()?;
        validate::check_read(&request, &self.inner.limits)?;
        let from = request.from_aggregate_nonce;
        let page = self.read_page(
            from,
            request.forward,
            Limits::read_stream_page_size(request.max_count),
            |storage, page| {
                storage.read_stream(StreamRange {
                    tenant_id: &request.tenant_id,
                    aggregate_id: &request.aggregate_id,
                    page,
                })
            },
        )?;
        let last = page
            .events
            .last()
            .and_then(|e| e.meta.as_ref())
            .map(|m| m.aggregate_nonce);
        Ok(ReadStreamResponse {
            next_from_aggregate_nonce: paging::next_cursor(from, request.forward, last),
            is_end: !page.more,
            // The page's events are built for this read: moved, not copied.
            events: page.events.into_iter().map(Arc::unwrap_or_clone).collect(),
        })
    }

    /// Reads one page of a tenant's log in global order (`spec/semantics.md`,
    /// ReadAll): only that tenant's events, nothing above the visible
    /// watermark, so a nonce below the cursor never appears later.
    pub async fn read_all(&self, request: ReadAllRequest) -> Result<ReadAllResponse, Error> {
        self.refuse_after_shutdown()?;
        validate::check_read_all(&request, &self.inner.limits)?;
        let from = request.from_global_nonce;
        let page = self.read_page(
            from,
            request.forward,
            self.inner.limits.read_all_page_size(request.max_count),
            |storage, page| storage.read_all(&request.tenant_id, page),
        )?;
        let last = page
            .events
            .last()
            .and_then(|e| e.meta.as_ref())
            .map(|m| m.global_nonce);
        Ok(ReadAllResponse {
            next_from_global_nonce: paging::next_cursor(from, request.forward, last),
            is_end: !page.more,
            // The page's events are built for this read: moved, not copied.
            events: page.events.into_iter().map(Arc::unwrap_or_clone).collect(),
        })
    }

    /// What `GetServerInfo` answers: the reference API level as
    /// `server_version`, and the storage's name as `backend` where the
    /// reference has a name for it, else `"unknown"` with the name in the
    /// version's build metadata ([`backends::server_info_names`]).
    pub fn server_info(&self) -> GetServerInfoResponse {
        let (backend, server_version) =
            backends::server_info_names(self.inner.storage.backend_name());
        GetServerInfoResponse {
            server_version,
            api_version: API_VERSION.to_owned(),
            backend: backend.to_owned(),
            capabilities: capabilities::ALL.iter().map(|&c| c.to_owned()).collect(),
        }
    }

    /// The cursor rules and limits around one storage page read, shared by
    /// ReadStream and ReadAll.
    fn read_page(
        &self,
        from: u64,
        forward: bool,
        max_count: usize,
        read: impl FnOnce(&dyn Storage, PageRequest) -> Result<Page, crate::storage::StorageError>,
    ) -> Result<Page, Error> {
        let Some(from) = paging::start(from, forward) else {
            return Ok(Page::default());
        };
        let page = read(
            &*self.inner.storage,
            PageRequest {
                from,
                forward,
                max_count,
                // Room for the response's own fields around the events.
                max_bytes: self.inner.limits.max_response_bytes.saturating_sub(32),
                visible_upto: self.last_global_nonce(),
            },
        )
        .map_err(Error::Storage)?;
        match page.undecodable {
            Some(global_nonce) => Err(Error::DataLoss { global_nonce }),
            None => Ok(page),
        }
    }

    /// Subscribes to a tenant's log (`spec/semantics.md`, Subscribe): the
    /// history from `from_global_nonce`, then live events, until dropped or
    /// until the store shuts down.
    pub fn subscribe(&self, request: SubscribeRequest) -> Result<Subscription, Error> {
        self.refuse_after_shutdown()?;
        validate::check_subscribe(&request, &self.inner.limits)?;
        Ok(Subscription::new(
            self.inner.storage.clone(),
            self.inner.visible.subscribe(),
            self.inner.shutdown.clone(),
            request,
        ))
    }

    fn refuse_after_shutdown(&self) -> Result<(), Error> {
        if self.inner.shutdown.is_cancelled() {
            return Err(Error::shutting_down());
        }
        Ok(())
    }

    /// Checks 4 to 8 and the commit, under the commit lock. `kept` holds
    /// the `(global_nonce, recorded_time_unix_ms)` of each event of an
    /// import ([`EventStore::import`]); `None` numbers the batch.
    fn check_and_commit(
        &self,
        prepared: PreparedAppend,
        kept: Option<&[(u64, u64)]>,
    ) -> Result<Outcome, Error> {
        let storage = &*self.inner.storage;
        let storage_err = Error::Storage;
        let mut clock = self.inner.commit.lock();
        let PreparedAppend {
            tenant_id,
            aggregate_id,
            expected_aggregate_nonce,
            idempotency_key,
            events,
            fingerprint,
            limit_error,
        } = prepared;

        // 4. Idempotency, before concurrency, so that a retry succeeds.
        if let Some(key) = &idempotency_key
            && let Some(record) = storage
                .idempotency(&tenant_id, &aggregate_id, key)
                .map_err(storage_err)?
        {
            if record.fingerprint == fingerprint {
                return Ok(Outcome::Replayed(record.response));
            }
            return Err(Error::AlreadyExists(format!(
                "idempotency_key {} was already used on stream {} for a different batch",
                quote(key),
                quote(&aggregate_id)
            )));
        }

        // After a failed commit the index may hold batches that will never
        // be published (heads, event ids): nothing is checked against it or
        // numbered after it. Checked under the lock, after idempotency, so
        // that a retry of an acknowledged batch still gets its response (and
        // a retry of the failed one gets this error from `wait_visible`).
        if let Some(cause) = &*self.inner.failed.borrow() {
            return Err(Self::poisoned(cause));
        }

        // 5. Optimistic concurrency.
        let head = storage
            .stream_head(&tenant_id, &aggregate_id)
            .map_err(storage_err)?
            .unwrap_or_default();
        let actual = head.last_aggregate_nonce;
        if expected_aggregate_nonce != actual {
            let stream = quote(&aggregate_id);
            let message = match (expected_aggregate_nonce, actual) {
                (0, _) => format!(
                    "expected_aggregate_nonce is 0 (stream must not exist) but stream {stream} exists with head at aggregate nonce {actual}"
                ),
                (_, 0) => format!(
                    "expected_aggregate_nonce is {expected_aggregate_nonce} but stream {stream} does not exist (head 0)"
                ),
                _ => format!(
                    "expected_aggregate_nonce is {expected_aggregate_nonce} but the head of stream {stream} is at aggregate nonce {actual}"
                ),
            };
            return Err(Error::Concurrency {
                message,
                detail: ConcurrencyErrorDetail {
                    tenant_id,
                    aggregate_id,
                    actual_last_aggregate_nonce: actual,
                    actual_last_global_nonce: head.last_global_nonce,
                },
            });
        }

        // 6. Consecutive nonces after the head.
        for (i, event) in events.iter().enumerate() {
            let sent = event.meta.as_ref().map_or(0, |m| m.aggregate_nonce);
            let expected = actual + i as u64 + 1;
            if sent != expected {
                return Err(Error::InvalidArgument(format!(
                    "events[{i}].meta.aggregate_nonce is {sent}, expected {expected} (stream head {actual} + {})",
                    i + 1
                )));
            }
        }

        // 7. Event ids unique in the tenant and in the batch.
        // (A batch of one cannot repeat an id: no map to build.)
        let many = events.len() > 1;
        let mut seen: HashMap<&str, usize> =
            HashMap::with_capacity(if many { events.len() } else { 0 });
        for (i, event) in events.iter().enumerate() {
            let id = event.meta.as_ref().map_or("", |m| m.event_id.as_str());
            if many && let Some(first) = seen.insert(id, i) {
                return Err(Error::AlreadyExists(format!(
                    "events[{i}].meta.event_id {} appears twice in the batch (also events[{first}])",
                    quote(id)
                )));
            }
            if storage
                .event_id_exists(&tenant_id, id)
                .map_err(storage_err)?
            {
                return Err(Error::AlreadyExists(format!(
                    "events[{i}].meta.event_id {} already exists in tenant {}",
                    quote(id),
                    quote(&tenant_id)
                )));
            }
        }
        drop(seen);

        // 8. Limits, reported in the spec's order.
        if let Some(error) = limit_error {
            return Err(error);
        }

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        clock.last_recorded_ms = clock.last_recorded_ms.max(now);
        let recorded = clock.last_recorded_ms;
        let first_global = storage.last_global_nonce() + 1;
        let count = events.len() as u64;
        if let Some(kept) = kept {
            let mut floor = first_global;
            for (i, &(global, _)) in kept.iter().enumerate() {
                if global < floor {
                    return Err(Error::InvalidArgument(format!(
                        "events[{i}].meta.global_nonce is {global}, expected at least {floor} (imports come in global order, above the store's last global nonce {})",
                        first_global - 1
                    )));
                }
                floor = global + 1;
            }
            let latest = kept.iter().map(|&(_, time)| time).max().unwrap_or(0);
            clock.last_recorded_ms = clock.last_recorded_ms.max(latest);
        }
        // Event i's (global nonce, recorded time): the next ones of the log
        // and the clock for an append (no allocation on this path); the kept
        // ones, a missing time read as now, for an import.
        let position = |i: usize| {
            let next = (first_global + i as u64, recorded);
            kept.and_then(|kept| kept.get(i))
                .map_or(next, |&(global, time)| {
                    (global, if time == 0 { recorded } else { time })
                })
        };
        let last_global = position(events.len().saturating_sub(1)).0;
        let recorded_events: Vec<RecordedEvent> = events
            .into_iter()
            .enumerate()
            .map(|(i, mut event)| {
                let (global, time) = position(i);
                if let Some(meta) = event.meta.as_mut() {
                    meta.global_nonce = global;
                    meta.recorded_time_unix_ms = time;
                }
                Arc::new(event)
            })
            .collect();
        let response = AppendResponse {
            last_global_nonce: last_global,
            last_aggregate_nonce: actual + count,
        };
        let durability = storage
            .commit(CommitBatch {
                tenant_id,
                aggregate_id,
                events: recorded_events,
                idempotency: idempotency_key.map(|key| {
                    (
                        key,
                        IdempotencyRecord {
                            fingerprint,
                            response,
                        },
                    )
                }),
            })
            .map_err(storage_err)?;
        Ok(Outcome::Committed(response, durability))
    }

    /// Raises the visible watermark; commits may finish out of order, the
    /// watermark only moves up.
    fn publish(&self, global_nonce: u64) {
        self.inner.visible.send_if_modified(|visible| {
            let raise = global_nonce > *visible;
            if raise {
                *visible = global_nonce;
            }
            raise
        });
    }

    /// Waits until `global_nonce` is visible; ends with the commit failure
    /// that means it never will be, or with the shutdown.
    async fn wait_visible(&self, global_nonce: u64) -> Result<(), Error> {
        let mut visible = self.inner.visible.subscribe();
        let mut failed = self.inner.failed.subscribe();
        tokio::select! {
            biased;
            seen = visible.wait_for(|v| *v >= global_nonce) => {
                seen.map(|_| ()).map_err(|_| Error::shutting_down())
            }
            cause = failed.wait_for(Option::is_some) => match cause {
                Ok(cause) => Err(cause.as_ref().map_or_else(Error::shutting_down, Self::poisoned)),
                Err(_) => Err(Error::shutting_down()),
            },
            () = self.inner.shutdown.cancelled() => Err(Error::shutting_down()),
        }
    }
}

#[cfg(test)]
#[path = "store_commit_tests.rs"]
mod commit_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use eventstore_proto::{EventData, EventMetadata};

    fn event(nonce: u64) -> EventData {
        EventData {
            meta: Some(EventMetadata {
                event_id: format!("e-{nonce}"),
                aggregate_nonce: nonce,
                event_type: "test.Event".into(),
                ..EventMetadata::default()
            }),
            payload: Vec::new(),
        }
    }

    /// A store reopened on a log recorded by a clock ahead of this one (a
    /// clock stepped back across a restart) keeps recorded times
    /// non-decreasing along the global log.
    #[tokio::test]
    async fn recorded_time_never_decreases_across_a_reopen() {
        let ahead = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            + 86_400_000;
        let storage = MemoryStorage::new();
        let mut first = event(1);
        if let Some(meta) = first.meta.as_mut() {
            meta.tenant_id = "t".into();
            meta.aggregate_id = "a".into();
            meta.global_nonce = 1;
            meta.recorded_time_unix_ms = ahead;
        }
        storage
            .commit(CommitBatch {
                tenant_id: "t".into(),
                aggregate_id: "a".into(),
                events: vec![Arc::new(first)],
                idempotency: None,
            })
            .expect("seed the log");
        let store = EventStore::new(storage, Limits::default()).expect("valid limits");
        let response = store
            .append(AppendRequest {
                tenant_id: "t".into(),
                aggregate_id: "a".into(),
                aggregate_type: "A".into(),
                expected_aggregate_nonce: 1,
                idempotency_key: String::new(),
                events: vec![event(2)],
            })
            .await
            .expect("append after the reopen");
        assert_eq!(response.last_global_nonce, 2);
        let page = store
            .read_stream(ReadStreamRequest {
                tenant_id: "t".into(),
                aggregate_id: "a".into(),
                from_aggregate_nonce: 2,
                max_count: 1,
                forward: true,
            })
            .await
            .expect("read");
        let recorded = page.events[0]
            .meta
            .as_ref()
            .map(|m| m.recorded_time_unix_ms);
        assert_eq!(recorded, Some(ahead));
    }

    fn recorded(nonce: u64, global: u64, time: u64) -> EventData {
        let mut e = event(nonce);
        if let Some(meta) = e.meta.as_mut() {
            meta.global_nonce = global;
            meta.recorded_time_unix_ms = time;
        }
        e
    }

    fn import_request(expected: u64, events: Vec<EventData>) -> AppendRequest {
        AppendRequest {
            tenant_id: "t".into(),
            aggregate_id: "a".into(),
            aggregate_type: "A".into(),
            expected_aggregate_nonce: expected,
            idempotency_key: String::new(),
            events,
        }
    }

    /// An import keeps the recorded global nonces (with the gaps other
    /// tenants left) and times; appends go on after the last one.
    #[tokio::test]
    async fn import_keeps_recorded_positions() {
        let store = EventStore::in_memory();
        let response = store
            .import(import_request(
                0,
                vec![recorded(1, 4, 1_000), recorded(2, 9, 2_000)],
            ))
            .await
            .expect("import");
        assert_eq!(
            (response.last_aggregate_nonce, response.last_global_nonce),
            (2, 9)
        );
        let page = store
            .read_all(ReadAllRequest {
                tenant_id: "t".into(),
                from_global_nonce: 5,
                max_count: 10,
                forward: true,
            })
            .await
            .expect("read all");
        let positions: Vec<(u64, u64)> = page
            .events
            .iter()
            .filter_map(|e| e.meta.as_ref())
            .map(|m| (m.global_nonce, m.recorded_time_unix_ms))
            .collect();
        assert_eq!(positions, [(9, 2_000)]);
        assert_eq!(page.next_from_global_nonce, 10);

        let appended = store
            .append(import_request(2, vec![event(3)]))
            .await
            .expect("append after the import");
        assert_eq!(appended.last_global_nonce, 10);

        // Below the last global nonce: refused, naming the event and field.
        let err = store
            .import(import_request(3, vec![recorded(4, 10, 0)]))
            .await
            .expect_err("a global nonce already passed");
        assert!(
            err.to_string()
                .contains("events[0].meta.global_nonce is 10, expected at least 11"),
            "{err}"
        );
        // Out of order inside a batch, too.
        let err = store
            .import(import_request(
                3,
                vec![recorded(4, 20, 0), recorded(5, 20, 0)],
            ))
            .await
            .expect_err("a repeated global nonce");
        assert!(
            err.to_string()
                .contains("events[1].meta.global_nonce is 20"),
            "{err}"
        );
        // Aggregate nonces are checked as for an append.
        let err = store
            .import(import_request(3, vec![recorded(5, 30, 0)]))
            .await
            .expect_err("a gap in aggregate nonces");
        assert!(
            err.to_string()
                .contains("events[0].meta.aggregate_nonce is 5"),
            "{err}"
        );
    }
}

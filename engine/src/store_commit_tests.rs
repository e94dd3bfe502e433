//! The commit path under cancellation and under a failed commit, with a
//! deterministic writer: a backend whose durability each test resolves by
//! hand, at the moment it chooses, so every await point of an append can be
//! cut (issue 14, items 1 and 2).

use super::*;
use crate::{
    Delivery,
    storage::{LogRange, LogSlice, StreamHead},
};
use eventstore_proto::{EventData, EventMetadata};
use std::{future::Future, path::PathBuf, time::Duration};

/// Where a pending commit's outcome is sent.
type Done = oneshot::Sender<Result<(), StorageError>>;

/// A backend like the durable one (the index moves at hand-off, durability
/// comes later) whose durability the test decides.
#[derive(Debug, Clone, Default)]
struct GatedStorage {
    index: Arc<MemoryStorage>,
    pending: Arc<Mutex<Vec<Done>>>,
}

impl GatedStorage {
    /// Resolves the oldest pending commit with `result`.
    fn resolve(&self, result: Result<(), StorageError>) {
        let mut pending = self.pending.lock();
        assert!(!pending.is_empty(), "no commit is pending");
        let done = pending.remove(0);
        let _ = done.send(result);
    }

    fn pending(&self) -> usize {
        self.pending.lock().len()
    }
}

impl Storage for GatedStorage {
    fn last_global_nonce(&self) -> u64 {
        self.index.last_global_nonce()
    }
    fn last_recorded_time_ms(&self) -> u64 {
        self.index.last_recorded_time_ms()
    }
    fn stream_head(&self, t: &str, a: &str) -> Result<Option<StreamHead>, StorageError> {
        self.index.stream_head(t, a)
    }
    fn idempotency(
        &self,
        t: &str,
        a: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StorageError> {
        self.index.idempotency(t, a, key)
    }
    fn event_id_exists(&self, t: &str, id: &str) -> Result<bool, StorageError> {
        self.index.event_id_exists(t, id)
    }
    fn commit(&self, batch: CommitBatch) -> Result<Durability, StorageError> {
        let (done, durable) = oneshot::channel();
        self.index.commit(batch)?;
        self.pending.lock().push(done);
        Ok(Durability::Pending(durable))
    }
    fn read_stream(&self, range: StreamRange<'_>) -> Result<Page, StorageError> {
        self.index.read_stream(range)
    }
    fn read_all(&self, t: &str, page: PageRequest) -> Result<Page, StorageError> {
        self.index.read_all(t, page)
    }
    fn read_log(&self, range: LogRange<'_>) -> Result<LogSlice, StorageError> {
        self.index.read_log(range)
    }
    fn backend_name(&self) -> &'static str {
        "gated"
    }
}

fn gated_store() -> (EventStore, GatedStorage) {
    let storage = GatedStorage::default();
    let store = EventStore::new(storage.clone(), Limits::default()).expect("valid limits");
    (store, storage)
}

fn append_request(stream: &str, expected: u64, key: &str, ids: &[&str]) -> AppendRequest {
    AppendRequest {
        tenant_id: "t".into(),
        aggregate_id: stream.into(),
        aggregate_type: "A".into(),
        expected_aggregate_nonce: expected,
        idempotency_key: key.into(),
        events: ids
            .iter()
            .zip(expected + 1..)
            .map(|(id, nonce)| EventData {
                meta: Some(EventMetadata {
                    event_id: (*id).into(),
                    aggregate_nonce: nonce,
                    event_type: "test.Event".into(),
                    ..EventMetadata::default()
                }),
                payload: vec![1, 2, 3],
            })
            .collect(),
    }
}

async fn events_in(store: &EventStore, stream: &str) -> usize {
    store
        .read_stream(ReadStreamRequest {
            tenant_id: "t".into(),
            aggregate_id: stream.into(),
            from_aggregate_nonce: 0,
            max_count: 0,
            forward: true,
        })
        .await
        .expect("read")
        .events
        .len()
}

/// Polls `future` once, then drops it: a request cut at its first await.
async fn cancel_after_first_poll<F: Future>(future: F) {
    let mut future = std::pin::pin!(future);
    let polled = futures::poll!(future.as_mut());
    assert!(polled.is_pending(), "the append finished without waiting");
}

/// Lets the spawned commit tasks run.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Fails the test instead of hanging when `future` does not finish.
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .expect("the request hung")
}

fn full_disk() -> StorageError {
    StorageError::Full {
        path: PathBuf::from("/data/eventstore.redb"),
        action: "commit to",
    }
}

/// Issue 14 item 1: an append cut while waiting for its commit is published
/// when the commit lands: reads, ReadAll and subscribers see it, a keyed
/// retry gets the original response, a fresh append at the old head gets
/// ABORTED.
#[tokio::test]
async fn an_append_cancelled_while_committing_is_published_when_the_commit_lands() {
    let (store, storage) = gated_store();
    cancel_after_first_poll(store.append(append_request("s", 0, "k", &["e1", "e2"]))).await;
    assert_eq!(storage.pending(), 1, "the batch was handed to the writer");
    assert_eq!(
        events_in(&store, "s").await,
        0,
        "not durable yet, not visible"
    );

    storage.resolve(Ok(()));
    settle().await;
    assert_eq!(store.last_global_nonce(), 2);
    assert_eq!(events_in(&store, "s").await, 2);
    let all = store
        .read_all(ReadAllRequest {
            tenant_id: "t".into(),
            from_global_nonce: 0,
            max_count: 0,
            forward: true,
        })
        .await
        .expect("read all");
    assert_eq!(all.events.len(), 2);

    let retry = within(store.append(append_request("s", 0, "k", &["e1", "e2"])))
        .await
        .expect("a keyed retry returns the original response");
    assert_eq!(retry.last_global_nonce, 2);
    assert_eq!(retry.last_aggregate_nonce, 2);

    let fresh = within(store.append(append_request("s", 0, "", &["x1"]))).await;
    assert!(matches!(fresh, Err(Error::Concurrency { .. })), "{fresh:?}");
}

/// Issue 14 item 1: a subscriber already waiting sees a batch whose append
/// was cancelled.
#[tokio::test]
async fn a_subscriber_sees_a_batch_whose_append_was_cancelled() {
    use futures::StreamExt;
    let (store, storage) = gated_store();
    let mut subscription = store
        .subscribe(SubscribeRequest {
            tenant_id: "t".into(),
            ..SubscribeRequest::default()
        })
        .expect("subscribe");
    cancel_after_first_poll(store.append(append_request("s", 0, "", &["e1"]))).await;
    storage.resolve(Ok(()));
    let mut delivered = Vec::new();
    while delivered.is_empty() {
        let item = within(subscription.next())
            .await
            .expect("the subscription is open")
            .expect("no error");
        if let Delivery::Event(event) = item {
            delivered.push(event);
        }
    }
    assert_eq!(
        delivered[0].meta.as_ref().map(|m| m.event_id.as_str()),
        Some("e1")
    );
}

/// Issue 14 item 1: a request dropped before its first poll did nothing.
#[tokio::test]
async fn an_append_cancelled_before_it_ran_leaves_nothing() {
    let (store, storage) = gated_store();
    drop(store.append(append_request("s", 0, "k", &["e1"])));
    assert_eq!(storage.pending(), 0);
    let append = store.append(append_request("s", 0, "k", &["e1"]));
    let mut append = std::pin::pin!(append);
    assert!(futures::poll!(append.as_mut()).is_pending());
    storage.resolve(Ok(()));
    let response = within(append).await.expect("the append commits");
    assert_eq!(response.last_aggregate_nonce, 1);
}

/// Issue 14 item 1: the second await point, a keyed retry waiting for the
/// original's commit, cut too; then a retry and the original both succeed.
#[tokio::test]
async fn a_keyed_retry_cancelled_while_waiting_changes_nothing() {
    let (store, storage) = gated_store();
    let original = store.append(append_request("s", 0, "k", &["e1"]));
    let mut original = std::pin::pin!(original);
    assert!(futures::poll!(original.as_mut()).is_pending());
    cancel_after_first_poll(store.append(append_request("s", 0, "k", &["e1"]))).await;
    let retry = store.append(append_request("s", 0, "k", &["e1"]));
    let mut retry = std::pin::pin!(retry);
    assert!(futures::poll!(retry.as_mut()).is_pending());
    storage.resolve(Ok(()));
    let retried = within(retry).await.expect("the retry succeeds");
    let first = within(original).await.expect("the original succeeds");
    assert_eq!(retried, first);
}

/// Issue 14 item 1: an append that conflicts with a batch still committing
/// answers ABORTED only once that batch is visible.
#[tokio::test]
async fn aborted_waits_until_the_conflicting_batch_is_visible() {
    let (store, storage) = gated_store();
    cancel_after_first_poll(store.append(append_request("s", 0, "", &["e1"]))).await;
    let conflicting = store.append(append_request("s", 0, "", &["x1"]));
    let mut conflicting = std::pin::pin!(conflicting);
    assert!(
        futures::poll!(conflicting.as_mut()).is_pending(),
        "ABORTED must wait for the batch it names"
    );
    storage.resolve(Ok(()));
    let outcome = within(conflicting).await;
    assert!(matches!(outcome, Err(Error::Concurrency { .. })));
    assert_eq!(events_in(&store, "s").await, 1);
}

/// Issue 14 item 2: a failed commit leaves no trace readers can see, its
/// caller gets the cause, and every later append gets one clear error
/// (restart needed), never ABORTED against a phantom head, never a hang.
#[tokio::test]
async fn a_failed_commit_leaves_no_phantom_head_and_refuses_writes() {
    let (store, storage) = gated_store();
    within(async {
        let first = store.append(append_request("s", 0, "", &["e1"]));
        let mut first = std::pin::pin!(first);
        assert!(futures::poll!(first.as_mut()).is_pending());
        storage.resolve(Ok(()));
        first.await.expect("the first append commits");
    })
    .await;

    let failing = store.append(append_request("s", 1, "k", &["e2"]));
    let mut failing = std::pin::pin!(failing);
    assert!(futures::poll!(failing.as_mut()).is_pending());
    storage.resolve(Err(full_disk()));
    let error = within(failing).await.expect_err("the commit failed");
    assert!(
        error.to_string().contains("no space left on device"),
        "{error}"
    );

    assert_eq!(events_in(&store, "s").await, 1, "no phantom event");
    assert_eq!(store.last_global_nonce(), 1);

    for request in [
        append_request("s", 1, "k", &["e2"]),    // the keyed retry
        append_request("s", 1, "", &["e3"]),     // at the real head
        append_request("s", 2, "", &["e3"]),     // at the phantom head
        append_request("other", 0, "", &["o1"]), // another stream
    ] {
        let error = within(store.append(request))
            .await
            .expect_err("writes are refused");
        let text = error.to_string();
        assert!(
            matches!(error, Error::Storage(StorageError::Poisoned { .. })),
            "{text}"
        );
        assert!(text.contains("no space left on device"), "{text}");
        assert!(text.contains("restart"), "{text}");
    }
    assert_eq!(storage.pending(), 0, "nothing more was handed to storage");
}

/// Issue 14 item 2: after the store is poisoned, a keyed retry of a batch
/// that was acknowledged before still gets its original response.
#[tokio::test]
async fn a_retry_of_an_acknowledged_batch_still_succeeds_after_a_failure() {
    let (store, storage) = gated_store();
    let first = store.append(append_request("s", 0, "k1", &["e1"]));
    let mut first = std::pin::pin!(first);
    assert!(futures::poll!(first.as_mut()).is_pending());
    storage.resolve(Ok(()));
    let acknowledged = within(first).await.expect("committed");
    cancel_after_first_poll(store.append(append_request("s", 1, "k2", &["e2"]))).await;
    storage.resolve(Err(full_disk()));
    settle().await;
    let retry = within(store.append(append_request("s", 0, "k1", &["e1"])))
        .await
        .expect("the acknowledged batch's retry");
    assert_eq!(retry, acknowledged);
    let failed = within(store.append(append_request("s", 1, "k2", &["e2"]))).await;
    assert!(
        matches!(failed, Err(Error::Storage(StorageError::Poisoned { .. }))),
        "{failed:?}"
    );
}

/// Issue 14 item 2: the commit fails after its caller went away; the store
/// is poisoned all the same, and waits on the failed batch end.
#[tokio::test]
async fn a_failed_commit_after_a_cancel_poisons_and_wakes_waiters() {
    let (store, storage) = gated_store();
    cancel_after_first_poll(store.append(append_request("s", 0, "k", &["e1"]))).await;
    let retry = store.append(append_request("s", 0, "k", &["e1"]));
    let mut retry = std::pin::pin!(retry);
    assert!(futures::poll!(retry.as_mut()).is_pending());
    let conflicting = store.append(append_request("s", 0, "", &["x1"]));
    let mut conflicting = std::pin::pin!(conflicting);
    assert!(futures::poll!(conflicting.as_mut()).is_pending());

    storage.resolve(Err(full_disk()));
    for outcome in [within(retry).await, within(conflicting).await] {
        let error = outcome.expect_err("the batch never committed");
        assert!(
            matches!(error, Error::Storage(StorageError::Poisoned { .. })),
            "{error:?}"
        );
    }
    assert_eq!(events_in(&store, "s").await, 0);
}

//! Issue 14 item 1 on the real durable backend: appends cut by a short
//! deadline while their batch is being written are, shortly after, either
//! fully visible or not there at all; a keyed retry then returns the
//! original response at once, and a fresh append at the old head is
//! refused only when reads show the batch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore_engine::{Error, EventStore, Limits, proto};
use proto::{AppendRequest, EventData, EventMetadata, ReadStreamRequest};
use std::time::Duration;

/// A fresh directory under the system temp dir, removed at the end.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!(
            "eventstore-engine-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const EVENTS: u64 = 1_000;

fn batch(stream: &str, key: &str) -> AppendRequest {
    AppendRequest {
        tenant_id: "t".into(),
        aggregate_id: stream.into(),
        aggregate_type: "A".into(),
        expected_aggregate_nonce: 0,
        idempotency_key: key.into(),
        events: (1..=EVENTS)
            .map(|n| EventData {
                meta: Some(EventMetadata {
                    event_id: format!("{stream}-{n}"),
                    aggregate_nonce: n,
                    event_type: "test.Event".into(),
                    ..EventMetadata::default()
                }),
                payload: vec![7; 64],
            })
            .collect(),
    }
}

async fn stream_len(store: &EventStore, stream: &str) -> usize {
    store
        .read_stream(ReadStreamRequest {
            tenant_id: "t".into(),
            aggregate_id: stream.into(),
            from_aggregate_nonce: 0,
            max_count: 0,
            forward: true,
        })
        .await
        .unwrap()
        .events
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_cut_by_a_deadline_are_all_or_nothing_shortly_after() {
    let dir = TempDir::new("cancelled-appends");
    let store = EventStore::durable(&dir.0, Limits::default()).unwrap();
    let mut cut = 0;
    for i in 0..40u64 {
        let stream = format!("s{i}");
        let key = format!("k{i}");
        let deadline = Duration::from_millis(1 + i % 20);
        if tokio::time::timeout(deadline, store.append(batch(&stream, &key)))
            .await
            .is_err()
        {
            cut += 1;
        }
    }
    // No other append follows: a batch must become visible on its own
    // commit, not on a later batch's (before the fix it stayed invisible
    // until an unrelated append raised the watermark).
    let mut committed = 0;
    for i in 0..40u64 {
        let stream = format!("s{i}");
        let before = stream_len(&store, &stream).await;
        assert!(
            before == 0 || before == EVENTS as usize,
            "{stream}: {before} events visible"
        );
        let fresh = tokio::time::timeout(
            Duration::from_secs(60),
            store.append(AppendRequest {
                idempotency_key: String::new(),
                ..batch(&stream, "")
            }),
        )
        .await
        .expect("a fresh append at the old head does not hang");
        match fresh {
            Ok(_) => assert_eq!(before, 0, "{stream}: appended over a visible batch"),
            Err(Error::Concurrency { .. }) => {
                committed += 1;
                // ABORTED only for a batch that really committed: reads show it.
                assert_eq!(
                    stream_len(&store, &stream).await,
                    EVENTS as usize,
                    "{stream}: ABORTED but the batch is not visible"
                );
                let retry = tokio::time::timeout(
                    Duration::from_secs(5),
                    store.append(batch(&stream, &format!("k{i}"))),
                )
                .await
                .expect("a keyed retry does not hang")
                .expect("a keyed retry returns the original response");
                assert_eq!(retry.last_aggregate_nonce, EVENTS);
            }
            Err(e) => panic!("{stream}: {e}"),
        }
    }
    assert!(cut > 0, "no append was cut: the deadlines are too long");
    eprintln!("{cut} of 40 appends cut by their deadline, {committed} committed");
}

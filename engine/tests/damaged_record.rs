//! A damaged record in the durable store: bad bytes written for one event
//! straight into the redb file (through redb, as a bit flip on disk would
//! leave them), then the store reopened on it. The store opens; every read
//! and subscription that reaches the record fails with `DATA_LOSS` naming
//! its global nonce (also in the `esp-undecodable-global-nonce` trailer, as
//! a gRPC client receives it), after every event before it.

use eventstore_engine::storage::DATA_FILE;
use eventstore_engine::{
    Delivery, EventStore, EventStoreService, Limits,
    status::{to_status, undecodable_global_nonce},
};
use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadAllRequest, ReadStreamRequest, SubscribeRequest,
    event_store_client::EventStoreClient,
};
use futures::StreamExt;
use redb::{Database, TableDefinition};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};
use tonic::Code;

/// The durable store's event table, as the file spells it.
const EVENTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("events");

fn append(aggregate_id: &str, head: u64, count: u64) -> AppendRequest {
    AppendRequest {
        tenant_id: "t".into(),
        aggregate_id: aggregate_id.into(),
        aggregate_type: "A".into(),
        expected_aggregate_nonce: head,
        idempotency_key: String::new(),
        events: (head + 1..=head + count)
            .map(|n| EventData {
                meta: Some(EventMetadata {
                    event_id: format!("{aggregate_id}-{n}"),
                    aggregate_nonce: n,
                    event_type: "test.Event".into(),
                    ..EventMetadata::default()
                }),
                payload: vec![1, 2, 3],
            })
            .collect(),
    }
}

/// A fresh directory under the system's temporary directory.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "eventstore-damaged-{name}-{}-{nanos}",
            std::process::id()
        ));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes stream "a" (globals 1, 2, 4, 5, 6) and "b" (global 3), damages
/// global 4 (aggregate nonce 3 of "a"), and reopens the store.
async fn damaged_store(dir: &Path) -> EventStore {
    {
        let store = EventStore::durable(dir, Limits::default()).expect("open");
        store.append(append("a", 0, 2)).await.expect("append a");
        store.append(append("b", 0, 1)).await.expect("append b");
        store.append(append("a", 2, 3)).await.expect("append a");
    }
    // The writer thread lets go of the file once its channel is closed.
    let mut tries = 0;
    let db = loop {
        match Database::open(dir.join(DATA_FILE)) {
            Ok(db) => break db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if tries < 250 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reopen the file: {e}"),
        }
    };
    let txn = db.begin_write().expect("begin");
    txn.open_table(EVENTS)
        .expect("events")
        .insert(4, [0xff_u8, 0xff, 0xff, 0xff].as_slice())
        .expect("damage event 4");
    txn.commit().expect("commit");
    drop(db);
    EventStore::durable(dir, Limits::default()).expect("a damaged store still opens")
}

fn globals(events: &[EventData]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.meta.as_ref().map_or(0, |m| m.global_nonce))
        .collect()
}

fn read(aggregate_id: &str, from: u64) -> ReadStreamRequest {
    ReadStreamRequest {
        tenant_id: "t".into(),
        aggregate_id: aggregate_id.into(),
        from_aggregate_nonce: from,
        max_count: 0,
        forward: true,
    }
}

fn read_all(from: u64, forward: bool) -> ReadAllRequest {
    ReadAllRequest {
        tenant_id: "t".into(),
        from_global_nonce: from,
        max_count: 0,
        forward,
    }
}

fn subscribe(prefix: &str) -> SubscribeRequest {
    SubscribeRequest {
        tenant_id: "t".into(),
        aggregate_id_prefix: prefix.into(),
        from_global_nonce: 0,
    }
}

#[tokio::test]
async fn reads_reaching_a_damaged_record_are_data_loss_after_every_event_before_it() {
    let dir = TempDir::new("engine");
    let store = damaged_store(&dir.0).await;

    // ReadStream: the page stops before the damaged event; the next fails.
    let page = store.read_stream(read("a", 1)).await.expect("before it");
    assert_eq!(globals(&page.events), [1, 2]);
    assert!(!page.is_end, "the damaged event is still ahead");
    let status = to_status(store.read_stream(read("a", 3)).await.expect_err("damaged"));
    assert_eq!(status.code(), Code::DataLoss);
    assert!(status.message().contains("global_nonce 4"), "{status:?}");
    assert_eq!(undecodable_global_nonce(&status), Some(4));
    // Past it, and other streams, read normally: the index knows its stream.
    let page = store.read_stream(read("a", 4)).await.expect("after it");
    assert_eq!(globals(&page.events), [5, 6]);
    let page = store.read_stream(read("b", 1)).await.expect("stream b");
    assert_eq!(globals(&page.events), [3]);

    // ReadAll: the same in the tenant's log.
    let page = store.read_all(read_all(0, true)).await.expect("before it");
    assert_eq!(globals(&page.events), [1, 2, 3]);
    assert_eq!(page.next_from_global_nonce, 4);
    assert!(!page.is_end);
    let status = to_status(
        store
            .read_all(read_all(4, true))
            .await
            .expect_err("damaged"),
    );
    assert_eq!(undecodable_global_nonce(&status), Some(4));
    let page = store
        .read_all(read_all(u64::MAX, false))
        .await
        .expect("back");
    assert_eq!(globals(&page.events), [6, 5]);

    // Subscribe: events 1 to 3, then DATA_LOSS; no marker, nothing past it.
    let mut sub = store.subscribe(subscribe("")).expect("subscribe");
    let mut delivered = Vec::new();
    let end = loop {
        match sub.next().await.expect("the stream ends with an error") {
            Ok(Delivery::Event(e)) => delivered.extend(globals(&[EventData::clone(&e)])),
            Ok(Delivery::CaughtUp) => panic!("caught up past a damaged event"),
            Err(e) => break to_status(e),
        }
    };
    assert_eq!(delivered, [1, 2, 3]);
    assert_eq!(end.code(), Code::DataLoss);
    assert_eq!(undecodable_global_nonce(&end), Some(4));
    assert!(sub.next().await.is_none(), "nothing after the failure");

    // A prefix that excludes the damaged stream never meets it.
    let mut sub = store.subscribe(subscribe("b")).expect("subscribe b");
    assert!(matches!(sub.next().await, Some(Ok(Delivery::Event(_)))));
    assert!(matches!(sub.next().await, Some(Ok(Delivery::CaughtUp))));
}

#[tokio::test]
async fn the_trailer_reaches_a_grpc_client() {
    let dir = TempDir::new("grpc");
    let store = damaged_store(&dir.0).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EventStoreService::new(store).into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut client = EventStoreClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");

    client
        .read_all(read_all(0, true))
        .await
        .expect("a page before the damaged event is no error");
    let status = client
        .read_all(read_all(4, true))
        .await
        .expect_err("ReadAll reaches the damaged event");
    assert_eq!(status.code(), Code::DataLoss);
    assert_eq!(undecodable_global_nonce(&status), Some(4));
    let status = client
        .read_stream(read("a", 3))
        .await
        .expect_err("ReadStream reaches it");
    assert_eq!(undecodable_global_nonce(&status), Some(4));

    let mut stream = client
        .subscribe(subscribe(""))
        .await
        .expect("subscribe")
        .into_inner();
    let mut delivered = Vec::new();
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("within 10 s")
        {
            Ok(Some(response)) => {
                delivered.extend(response.event.map(|e| globals(&[e])[0]));
            }
            Ok(None) => panic!("the subscription ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(delivered, [1, 2, 3]);
    assert_eq!(end.code(), Code::DataLoss);
    assert_eq!(
        end.metadata()
            .get("esp-undecodable-global-nonce")
            .and_then(|v| v.to_str().ok()),
        Some("4")
    );
    server.abort();
}

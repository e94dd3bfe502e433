//! The in-memory backend: what the mock runs on, the real server without
//! `--data-dir`, and the durable backend's read index. Every index is a
//! vector or a hash table, so a page read or the start of a subscription
//! costs a binary search plus the page.
//!
//! Events are kept compact ([`StoredEvent`]), not as the wire's
//! `EventData`: a decoded `EventData` is ~400 bytes of struct (ten
//! `String`s, a map, a `Vec`) plus a heap block per non-empty string, about
//! 3.5x the event's encoded size for a small event. Here what every event of
//! a stream shares (tenant, aggregate id) lives once in the stream, the few
//! distinct (event type, content type, aggregate type) triples are interned,
//! the fields most events leave empty sit behind one optional box, and the
//! tenant's event-id index holds positions in its log instead of copies of
//! the ids. A read rebuilds the `EventData` it returns, which costs what the
//! copy a read made before did.

use super::{
    CommitBatch, Durability, IdempotencyRecord, LogRange, LogSlice, Page, PageRequest,
    RecordedEvent, Storage, StorageError, StreamHead, StreamRange, is_undecodable,
};
use crate::paging::{cut_page, framed_len};
use eventstore_proto::{EventData, EventMetadata};
use hashbrown::HashTable;
use parking_lot::RwLock;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    hash::{BuildHasher, RandomState},
    sync::Arc,
};

/// Events and indexes held in memory, lost when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    last_global_nonce: u64,
    last_recorded_ms: u64,
    tenants: HashMap<String, Tenant>,
    /// Every distinct (event type, content type, aggregate type), once.
    kinds: HashSet<Arc<Kind>>,
}

#[derive(Debug, Default)]
struct Tenant {
    /// The tenant's id, shared by the events it rebuilds.
    id: Arc<str>,
    streams: Vec<Stream>,
    /// Aggregate id -> index in `streams`.
    stream_index: HashMap<Arc<str>, u32>,
    /// The tenant's events in global order: the index of ReadAll and of
    /// subscriptions (a binary search finds any global nonce).
    log: Vec<LogEntry>,
    /// Positions in `log` of every decodable event, keyed by its event id.
    event_ids: HashTable<u32>,
    hasher: RandomState,
}

/// Where a log entry's event is: `streams[stream].events[index]`.
#[derive(Debug, Clone, Copy)]
struct LogEntry {
    stream: u32,
    index: u32,
}

#[derive(Debug)]
struct Stream {
    aggregate_id: Arc<str>,
    /// In commit order (aggregate nonces 1, 2, ...).
    events: Vec<StoredEvent>,
    idempotency: HashMap<String, IdempotencyRecord>,
}

/// What most events of a store share: interned once per store.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Kind {
    event_type: String,
    content_type: String,
    aggregate_type: String,
}

/// One committed event, compact (see the module docs). An undecodable
/// event's entry (see [`super::undecodable_entry`]) has an empty event type.
#[derive(Debug)]
struct StoredEvent {
    global_nonce: u64,
    aggregate_nonce: u64,
    recorded_time_unix_ms: u64,
    timestamp_unix_ms: u64,
    event_version: u32,
    kind: Arc<Kind>,
    event_id: Box<str>,
    payload: Box<[u8]>,
    payload_sha256: Box<[u8]>,
    /// The fields most events leave empty; `None` when all are.
    rare: Option<Box<Rare>>,
}

#[derive(Debug)]
struct Rare {
    content_schema: String,
    correlation_id: String,
    causation_id: String,
    actor_id: String,
    headers: BTreeMap<String, String>,
}

impl StoredEvent {
    /// The `EventData` a reader gets, with the stream's identity.
    fn to_event(&self, tenant_id: &str, aggregate_id: &str) -> RecordedEvent {
        let (content_schema, correlation_id, causation_id, actor_id, headers) = match &self.rare {
            Some(rare) => (
                rare.content_schema.clone(),
                rare.correlation_id.clone(),
                rare.causation_id.clone(),
                rare.actor_id.clone(),
                rare.headers.clone(),
            ),
            None => Default::default(),
        };
        Arc::new(EventData {
            meta: Some(EventMetadata {
                event_id: self.event_id.to_string(),
                aggregate_id: aggregate_id.to_owned(),
                aggregate_type: self.kind.aggregate_type.clone(),
                aggregate_nonce: self.aggregate_nonce,
                event_type: self.kind.event_type.clone(),
                event_version: self.event_version,
                content_type: self.kind.content_type.clone(),
                content_schema,
                correlation_id,
                causation_id,
                actor_id,
                tenant_id: tenant_id.to_owned(),
                timestamp_unix_ms: self.timestamp_unix_ms,
                recorded_time_unix_ms: self.recorded_time_unix_ms,
                payload_sha256: self.payload_sha256.to_vec(),
                headers,
                global_nonce: self.global_nonce,
            }),
            payload: self.payload.to_vec(),
        })
    }

    fn is_undecodable(&self) -> bool {
        self.kind.event_type.is_empty()
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts back an idempotency record read from durable storage.
    pub(crate) fn restore_idempotency(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
        key: &str,
        record: IdempotencyRecord,
    ) {
        let mut state = self.state.write();
        let tenant = state.tenant_mut(tenant_id);
        let stream = tenant.stream_mut(aggregate_id);
        tenant.streams[stream]
            .idempotency
            .insert(key.to_owned(), record);
    }
}

impl State {
    fn tenant_mut(&mut self, tenant_id: &str) -> &mut Tenant {
        self.tenants
            .entry(tenant_id.to_owned())
            .or_insert_with(|| Tenant {
                id: tenant_id.into(),
                ..Tenant::default()
            })
    }

    /// The interned kind of these three strings, moved in when it is new.
    fn intern(
        kinds: &mut HashSet<Arc<Kind>>,
        event_type: String,
        content_type: String,
        aggregate_type: String,
    ) -> Arc<Kind> {
        let kind = Kind {
            event_type,
            content_type,
            aggregate_type,
        };
        if let Some(found) = kinds.get(&kind) {
            return found.clone();
        }
        let kind = Arc::new(kind);
        kinds.insert(kind.clone());
        kind
    }
}

impl Tenant {
    fn stream(&self, aggregate_id: &str) -> Option<&Stream> {
        let &i = self.stream_index.get(aggregate_id)?;
        self.streams.get(i as usize)
    }

    /// The index of stream `aggregate_id`, created empty when missing.
    fn stream_mut(&mut self, aggregate_id: &str) -> usize {
        if let Some(&i) = self.stream_index.get(aggregate_id) {
            return i as usize;
        }
        let i = self.streams.len();
        let id: Arc<str> = aggregate_id.into();
        self.streams.push(Stream {
            aggregate_id: id.clone(),
            events: Vec::new(),
            idempotency: HashMap::new(),
        });
        self.stream_index.insert(id, index_u32(i));
        i
    }

    fn event(&self, entry: LogEntry) -> &StoredEvent {
        &self.streams[entry.stream as usize].events[entry.index as usize]
    }

    fn global(&self, entry: LogEntry) -> u64 {
        self.event(entry).global_nonce
    }

    fn to_event(&self, entry: LogEntry) -> RecordedEvent {
        let stream = &self.streams[entry.stream as usize];
        stream.events[entry.index as usize].to_event(&self.id, &stream.aggregate_id)
    }

    fn has_event_id(&self, event_id: &str) -> bool {
        let hash = self.hasher.hash_one(event_id);
        self.event_ids
            .find(hash, |&at| {
                self.event(self.log[at as usize]).event_id.as_ref() == event_id
            })
            .is_some()
    }
}

/// A position in a vector as the `u32` the indexes keep: a tenant holds
/// fewer than 2^32 events and streams (at ~300 bytes each that would be over
/// a terabyte of memory).
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or_else(|_| panic!("more than 2^32 events or streams in one tenant"))
}

impl Storage for MemoryStorage {
    fn last_global_nonce(&self) -> u64 {
        self.state.read().last_global_nonce
    }

    fn last_recorded_time_ms(&self) -> u64 {
        self.state.read().last_recorded_ms
    }

    fn stream_head(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
    ) -> Result<Option<StreamHead>, StorageError> {
        let state = self.state.read();
        let head = state
            .tenants
            .get(tenant_id)
            .and_then(|t| t.stream(aggregate_id))
            .and_then(|s| s.events.last())
            .map(|last| StreamHead {
                last_aggregate_nonce: last.aggregate_nonce,
                last_global_nonce: last.global_nonce,
            });
        Ok(head)
    }

    fn idempotency(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StorageError> {
        let state = self.state.read();
        Ok(state
            .tenants
            .get(tenant_id)
            .and_then(|t| t.stream(aggregate_id))
            .and_then(|s| s.idempotency.get(key))
            .cloned())
    }

    fn event_id_exists(&self, tenant_id: &str, event_id: &str) -> Result<bool, StorageError> {
        let state = self.state.read();
        Ok(state
            .tenants
            .get(tenant_id)
            .is_some_and(|t| t.has_event_id(event_id)))
    }

    fn commit(&self, batch: CommitBatch) -> Result<Durability, StorageError> {
        let mut guard = self.state.write();
        let state = &mut *guard;
        let CommitBatch {
            tenant_id,
            aggregate_id,
            events,
            idempotency,
        } = batch;
        if events.is_empty() {
            return Ok(Durability::Done);
        }
        let tenant = state
            .tenants
            .entry(tenant_id)
            .or_insert_with_key(|id| Tenant {
                id: id.as_str().into(),
                ..Tenant::default()
            });
        let stream = tenant.stream_mut(&aggregate_id);
        for event in events {
            let undecodable = is_undecodable(&event);
            let EventData { meta, payload } = Arc::unwrap_or_clone(event);
            let meta = meta.unwrap_or_default();
            state.last_global_nonce = meta.global_nonce;
            state.last_recorded_ms = state.last_recorded_ms.max(meta.recorded_time_unix_ms);
            let rare = (!meta.content_schema.is_empty()
                || !meta.correlation_id.is_empty()
                || !meta.causation_id.is_empty()
                || !meta.actor_id.is_empty()
                || !meta.headers.is_empty())
            .then(|| {
                Box::new(Rare {
                    content_schema: meta.content_schema,
                    correlation_id: meta.correlation_id,
                    causation_id: meta.causation_id,
                    actor_id: meta.actor_id,
                    headers: meta.headers,
                })
            });
            let kind = State::intern(
                &mut state.kinds,
                meta.event_type,
                meta.content_type,
                meta.aggregate_type,
            );
            let events = &mut tenant.streams[stream].events;
            let entry = LogEntry {
                stream: index_u32(stream),
                index: index_u32(events.len()),
            };
            let event_id = meta.event_id.into_boxed_str();
            if !undecodable {
                let at = index_u32(tenant.log.len());
                let hash = tenant.hasher.hash_one(&*event_id);
                let (streams, log, hasher) = (&tenant.streams, &tenant.log, &tenant.hasher);
                tenant.event_ids.insert_unique(hash, at, |&other| {
                    let other = log[other as usize];
                    hasher.hash_one(
                        &*streams[other.stream as usize].events[other.index as usize].event_id,
                    )
                });
            }
            tenant.streams[stream].events.push(StoredEvent {
                global_nonce: meta.global_nonce,
                aggregate_nonce: meta.aggregate_nonce,
                recorded_time_unix_ms: meta.recorded_time_unix_ms,
                timestamp_unix_ms: meta.timestamp_unix_ms,
                event_version: meta.event_version,
                kind,
                event_id,
                payload: payload.into_boxed_slice(),
                payload_sha256: meta.payload_sha256.into_boxed_slice(),
                rare,
            });
            tenant.log.push(entry);
        }
        if let Some((key, record)) = idempotency {
            tenant.streams[stream].idempotency.insert(key, record);
        }
        Ok(Durability::Done)
    }

    fn read_stream(&self, range: StreamRange<'_>) -> Result<Page, StorageError> {
        let state = self.state.read();
        let Some((tenant, stream)) = state
            .tenants
            .get(range.tenant_id)
            .and_then(|t| Some((t, t.stream(range.aggregate_id)?)))
        else {
            return Ok(Page::default());
        };
        let visible = stream
            .events
            .partition_point(|e| e.global_nonce <= range.page.visible_upto);
        let events = &stream.events[..visible];
        Ok(cut_page(
            events.len(),
            |i| events[i].aggregate_nonce,
            |i| events[i].to_event(&tenant.id, &stream.aggregate_id),
            &range.page,
        ))
    }

    fn read_all(&self, tenant_id: &str, page: PageRequest) -> Result<Page, StorageError> {
        let state = self.state.read();
        let Some(tenant) = state.tenants.get(tenant_id) else {
            return Ok(Page::default());
        };
        let visible = tenant
            .log
            .partition_point(|&e| tenant.global(e) <= page.visible_upto);
        let log = &tenant.log[..visible];
        Ok(cut_page(
            log.len(),
            |i| tenant.global(log[i]),
            |i| tenant.to_event(log[i]),
            &page,
        ))
    }

    fn read_log(&self, range: LogRange<'_>) -> Result<LogSlice, StorageError> {
        let LogRange {
            tenant_id,
            prefix,
            from,
            upto,
            max_events,
            max_scan,
            max_bytes,
        } = range;
        let mut bytes = 0usize;
        let mut slice = LogSlice {
            events: Vec::new(),
            next_global_nonce: from.max(upto.saturating_add(1)),
            undecodable: None,
        };
        let state = self.state.read();
        let Some(tenant) = state.tenants.get(tenant_id) else {
            return Ok(slice);
        };
        let start = tenant.log.partition_point(|&e| tenant.global(e) < from);
        for (scanned, &entry) in tenant.log[start..].iter().enumerate() {
            let e = tenant.event(entry);
            let g = e.global_nonce;
            if g > upto {
                break;
            }
            if scanned >= max_scan || slice.events.len() >= max_events || bytes >= max_bytes {
                slice.next_global_nonce = g;
                break;
            }
            let stream = &tenant.streams[entry.stream as usize];
            if stream.aggregate_id.starts_with(prefix) {
                if e.is_undecodable() {
                    slice.next_global_nonce = g;
                    slice.undecodable = Some(g);
                    break;
                }
                let event = e.to_event(&tenant.id, &stream.aggregate_id);
                bytes = bytes.saturating_add(framed_len(&event));
                slice.events.push(event);
            }
        }
        Ok(slice)
    }

    fn backend_name(&self) -> &'static str {
        eventstore_proto::backends::MEMORY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tenant: &str, stream: &str, nonce: u64, global: u64, id: &str) -> EventData {
        EventData {
            meta: Some(EventMetadata {
                event_id: id.to_owned(),
                aggregate_id: stream.to_owned(),
                aggregate_type: "Order".to_owned(),
                aggregate_nonce: nonce,
                event_type: "test.Event".to_owned(),
                event_version: 1,
                content_type: "application/json".to_owned(),
                tenant_id: tenant.to_owned(),
                recorded_time_unix_ms: 1_700_000_000_000 + global,
                global_nonce: global,
                ..EventMetadata::default()
            }),
            payload: format!("{{\"n\":{global}}}").into_bytes(),
        }
    }

    fn commit(storage: &MemoryStorage, tenant: &str, stream: &str, events: Vec<EventData>) {
        storage
            .commit(CommitBatch {
                tenant_id: tenant.to_owned(),
                aggregate_id: stream.to_owned(),
                events: events.into_iter().map(Arc::new).collect(),
                idempotency: None,
            })
            .expect("commit");
    }

    fn page(from: u64) -> PageRequest {
        PageRequest {
            from,
            forward: true,
            max_count: 10,
            max_bytes: usize::MAX,
            visible_upto: u64::MAX,
        }
    }

    /// A log read stops at its byte budget (always returning at least one
    /// event) and says where to go on, so a subscription's page of large
    /// events stays small.
    #[test]
    fn a_log_read_stops_at_its_byte_budget() {
        let storage = MemoryStorage::new();
        let events: Vec<EventData> = (1..=4)
            .map(|n| {
                let mut e = event("t", "s", n, n, &format!("e-{n}"));
                e.payload = vec![0; 1000];
                e
            })
            .collect();
        commit(&storage, "t", "s", events);
        let read = |from: u64, max_bytes: usize| {
            storage
                .read_log(LogRange {
                    tenant_id: "t",
                    prefix: "",
                    from,
                    upto: 4,
                    max_events: 10,
                    max_scan: 10,
                    max_bytes,
                })
                .expect("read_log")
        };
        let one = read(1, 1);
        assert_eq!(one.events.len(), 1, "at least one event, even over budget");
        assert_eq!(one.next_global_nonce, 2);
        let two = read(2, 1500);
        assert_eq!(
            two.events.len(),
            2,
            "the event that crosses the budget is the last"
        );
        assert_eq!(two.next_global_nonce, 4);
        assert_eq!(read(1, usize::MAX).events.len(), 4);
    }

    /// Every field of an event comes back from every read exactly as it
    /// was committed, the rarely set ones included.
    #[test]
    fn an_event_reads_back_whole_from_the_compact_form() {
        let storage = MemoryStorage::new();
        let plain = event("t", "order-1", 1, 1, "e-1");
        let mut full = event("t", "order-1", 2, 2, "e-2");
        if let Some(meta) = full.meta.as_mut() {
            meta.content_schema = "schema://order/2".into();
            meta.correlation_id = "corr".into();
            meta.causation_id = "cause".into();
            meta.actor_id = "actor".into();
            meta.timestamp_unix_ms = 1_699_999_999_999;
            meta.payload_sha256 = vec![7; 32];
            meta.headers = [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned()),
            ]
            .into_iter()
            .collect();
            meta.aggregate_type = "OrderV2".into();
            meta.event_version = 3;
        }
        commit(&storage, "t", "order-1", vec![plain.clone(), full.clone()]);
        let expected = vec![Arc::new(plain), Arc::new(full)];

        let stream = storage
            .read_stream(StreamRange {
                tenant_id: "t",
                aggregate_id: "order-1",
                page: page(1),
            })
            .expect("read_stream");
        assert_eq!(stream.events, expected);
        let all = storage.read_all("t", page(1)).expect("read_all");
        assert_eq!(all.events, expected);
        let log = storage
            .read_log(LogRange {
                tenant_id: "t",
                prefix: "order-",
                from: 1,
                upto: 2,
                max_events: 10,
                max_scan: 10,
                max_bytes: usize::MAX,
            })
            .expect("read_log");
        assert_eq!(log.events, expected);
        assert_eq!(
            storage.stream_head("t", "order-1").expect("head"),
            Some(StreamHead {
                last_aggregate_nonce: 2,
                last_global_nonce: 2
            })
        );
    }

    /// The event-id index keeps positions, not ids: every id is still
    /// found after the table has grown many times, in its own tenant only.
    #[test]
    fn event_ids_are_found_in_their_tenant_after_the_index_grows() {
        let storage = MemoryStorage::new();
        let mut global = 0;
        for stream in ["a", "b", "c"] {
            let events = (1..=3_000)
                .map(|nonce| {
                    global += 1;
                    event("t", stream, nonce, global, &format!("{stream}-{nonce}"))
                })
                .collect();
            commit(&storage, "t", stream, events);
        }
        for stream in ["a", "b", "c"] {
            for nonce in [1, 1_500, 3_000] {
                let id = format!("{stream}-{nonce}");
                assert!(storage.event_id_exists("t", &id).expect("lookup"), "{id}");
                assert!(!storage.event_id_exists("other", &id).expect("lookup"));
            }
        }
        assert!(!storage.event_id_exists("t", "a-3001").expect("lookup"));
        assert_eq!(storage.last_global_nonce(), 9_000);
    }
}

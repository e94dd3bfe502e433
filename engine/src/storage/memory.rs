//! The in-memory backend: what the mock runs on, and the real server without
//! `--data-dir`. Every index is a vector or a hash map, so a page read or the
//! start of a subscription costs a binary search plus the page.

use super::{
    CommitBatch, Durability, IdempotencyRecord, LogRange, LogSlice, Page, PageRequest,
    RecordedEvent, Storage, StorageError, StreamHead, StreamRange, is_undecodable,
};
use crate::paging::cut_page;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};

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
}

#[derive(Debug, Default)]
struct Tenant {
    streams: HashMap<String, Stream>,
    /// The tenant's events in global order: the index of ReadAll and of
    /// subscriptions (a binary search finds any global nonce).
    log: Vec<RecordedEvent>,
    event_ids: HashSet<String>,
}

#[derive(Debug, Default)]
struct Stream {
    /// `events[n - 1]` has aggregate nonce `n`.
    events: Vec<RecordedEvent>,
    idempotency: HashMap<String, IdempotencyRecord>,
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
        self.state
            .write()
            .tenants
            .entry(tenant_id.to_owned())
            .or_default()
            .streams
            .entry(aggregate_id.to_owned())
            .or_default()
            .idempotency
            .insert(key.to_owned(), record);
    }
}

fn global(event: &RecordedEvent) -> u64 {
    event.meta.as_ref().map_or(0, |m| m.global_nonce)
}

fn aggregate_id(event: &RecordedEvent) -> &str {
    event.meta.as_ref().map_or("", |m| m.aggregate_id.as_str())
}

fn aggregate_nonce(event: &RecordedEvent) -> u64 {
    event.meta.as_ref().map_or(0, |m| m.aggregate_nonce)
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
            .and_then(|t| t.streams.get(aggregate_id))
            .and_then(|s| s.events.last())
            .map(|last| StreamHead {
                last_aggregate_nonce: last.meta.as_ref().map_or(0, |m| m.aggregate_nonce),
                last_global_nonce: global(last),
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
            .and_then(|t| t.streams.get(aggregate_id))
            .and_then(|s| s.idempotency.get(key))
            .cloned())
    }

    fn event_id_exists(&self, tenant_id: &str, event_id: &str) -> Result<bool, StorageError> {
        let state = self.state.read();
        Ok(state
            .tenants
            .get(tenant_id)
            .is_some_and(|t| t.event_ids.contains(event_id)))
    }

    fn commit(&self, batch: CommitBatch) -> Result<Durability, StorageError> {
        let mut state = self.state.write();
        let Some(last) = batch.events.last() else {
            return Ok(Durability::Done);
        };
        state.last_global_nonce = global(last);
        if let Some(meta) = &last.meta {
            state.last_recorded_ms = state.last_recorded_ms.max(meta.recorded_time_unix_ms);
        }
        let tenant = state.tenants.entry(batch.tenant_id).or_default();
        for event in &batch.events {
            if let Some(meta) = &event.meta
                && !is_undecodable(event)
            {
                tenant.event_ids.insert(meta.event_id.clone());
            }
        }
        tenant.log.extend(batch.events.iter().cloned());
        let stream = tenant.streams.entry(batch.aggregate_id).or_default();
        stream.events.extend(batch.events);
        if let Some((key, record)) = batch.idempotency {
            stream.idempotency.insert(key, record);
        }
        Ok(Durability::Done)
    }

    fn read_stream(&self, range: StreamRange<'_>) -> Result<Page, StorageError> {
        let state = self.state.read();
        let Some(stream) = state
            .tenants
            .get(range.tenant_id)
            .and_then(|t| t.streams.get(range.aggregate_id))
        else {
            return Ok(Page::default());
        };
        let visible = stream
            .events
            .partition_point(|e| global(e) <= range.page.visible_upto);
        Ok(cut_page(
            &stream.events[..visible],
            aggregate_nonce,
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
            .partition_point(|e| global(e) <= page.visible_upto);
        Ok(cut_page(&tenant.log[..visible], global, &page))
    }

    fn read_log(&self, range: LogRange<'_>) -> Result<LogSlice, StorageError> {
        let LogRange {
            tenant_id,
            prefix,
            from,
            upto,
            max_events,
            max_scan,
        } = range;
        let mut slice = LogSlice {
            events: Vec::new(),
            next_global_nonce: from.max(upto.saturating_add(1)),
            undecodable: None,
        };
        let state = self.state.read();
        let Some(tenant) = state.tenants.get(tenant_id) else {
            return Ok(slice);
        };
        let start = tenant.log.partition_point(|e| global(e) < from);
        for (scanned, e) in tenant.log[start..].iter().enumerate() {
            let g = global(e);
            if g > upto {
                break;
            }
            if scanned >= max_scan || slice.events.len() >= max_events {
                slice.next_global_nonce = g;
                break;
            }
            if aggregate_id(e).starts_with(prefix) {
                if is_undecodable(e) {
                    slice.next_global_nonce = g;
                    slice.undecodable = Some(g);
                    break;
                }
                slice.events.push(e.clone());
            }
        }
        Ok(slice)
    }

    fn backend_name(&self) -> &'static str {
        "memory"
    }
}

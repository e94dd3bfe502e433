//! The durable backend: a redb file holding every committed batch, with
//! group commit.
//!
//! Reads are served from a [`MemoryStorage`] index that is rebuilt from the
//! file at open, so the semantics code sees exactly the backend the mock
//! uses. Writes go to one writer thread: it takes every batch waiting in its
//! queue, writes them in one redb transaction and commits with
//! `Durability::Immediate` (fsync), so concurrent appends share an fsync.
//! The engine acknowledges an append only after that commit, and a redb
//! transaction is all-or-nothing, so after a crash every acknowledged batch
//! is there and no batch is ever partly there. Keys are global nonces, so
//! the global order and each stream's order survive restarts.
//!
//! A zero-length data file is refused at open, naming the file and the
//! recovery: redb would take it for a new database, and the store would
//! start empty where it had held events.
//!
//! If a commit fails the store is poisoned: that batch and every later one
//! fail, and the store must be restarted (it then holds exactly what was
//! acknowledged). The whole log is also held in memory as the read index,
//! so the data a store can hold is bounded by memory.
//!
//! Beside each event the file records its owner (tenant, aggregate id,
//! aggregate nonce) in a table of its own. A stored event that cannot be
//! decoded (a damaged record) then still has its place in the index: the
//! store opens, and every read or subscription that reaches it fails with
//! `DATA_LOSS` naming its global nonce, after every event before it. A
//! damaged record without an owner (written before the owner table existed)
//! cannot be placed in any tenant's log: the store refuses to open rather
//! than hide it, naming the global nonce.

use super::{
    CommitBatch, Durability, IdempotencyRecord, LogRange, LogSlice, MemoryStorage, Page,
    PageRequest, Storage, StorageError, StreamHead, StreamRange, is_undecodable, undecodable_entry,
};
use eventstore_proto::{AppendResponse, EventData};
use parking_lot::Mutex;
use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::{
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
};
use tokio::sync::oneshot;

/// Global nonce -> encoded `EventData`.
const EVENTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("events");
/// Global nonce -> (tenant, aggregate id, aggregate nonce) of the event:
/// what places a record in the index even when its bytes are damaged.
const OWNERS: TableDefinition<'_, u64, (&str, &str, u64)> = TableDefinition::new("owners");
/// (tenant, aggregate id, key) -> fingerprint (32 bytes), last global, last aggregate nonce.
const IDEMPOTENCY: TableDefinition<'_, (&str, &str, &str), &[u8]> =
    TableDefinition::new("idempotency");

/// Name of the database file inside the data directory.
pub const DATA_FILE: &str = "eventstore.redb";

/// Most batches written in one transaction.
const MAX_GROUP: usize = 4096;

struct Job {
    tenant_id: String,
    aggregate_id: String,
    /// (global nonce, aggregate nonce, encoded event).
    events: Vec<(u64, u64, Vec<u8>)>,
    idempotency: Option<(String, String, String, Vec<u8>)>,
    done: oneshot::Sender<Result<(), StorageError>>,
}

/// Events in a redb file under a data directory.
#[derive(Debug)]
pub struct DurableStorage {
    index: MemoryStorage,
    writer: Mutex<mpsc::Sender<Job>>,
    poisoned: Arc<Mutex<Option<StorageError>>>,
    path: PathBuf,
}

/// Maps a redb failure while doing `action` on `path` to the variant a
/// caller can act on: the lock, a damaged file and a full disk each have
/// their own, the rest keeps redb's text.
fn backend<E: Into<redb::Error>>(path: &Path, action: &'static str) -> impl Fn(E) -> StorageError {
    move |e| {
        let path = path.to_path_buf();
        match e.into() {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                StorageError::Locked { path }
            }
            redb::Error::Corrupted(what) => StorageError::Corrupt { path, what },
            redb::Error::Io(io) => io_error(path, action, &io),
            other => StorageError::Backend {
                path,
                action,
                reason: other.to_string(),
            },
        }
    }
}

/// An OS error on `path`: a full disk is [`StorageError::Full`], a file at
/// its size limit [`StorageError::TooLarge`].
fn io_error(path: PathBuf, action: &'static str, io: &std::io::Error) -> StorageError {
    if io.kind() == std::io::ErrorKind::StorageFull {
        StorageError::Full { path, action }
    } else if io.kind() == std::io::ErrorKind::FileTooLarge {
        StorageError::TooLarge { path, action }
    } else {
        StorageError::Io {
            path,
            action,
            reason: io.to_string(),
        }
    }
}

impl DurableStorage {
    /// Opens (or creates) the store in `dir`, replaying its log into memory.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error(dir.to_path_buf(), "create the data directory", &e))?;
        let path = dir.join(DATA_FILE);
        refuse_empty_file(&path)?;
        // Every page's checksum is verified at open (the replay below reads
        // the whole log anyway): a damaged file is then an error naming it,
        // where a plain open trusts it and may panic on the first bad page.
        let db = redb::Builder::new()
            .set_check_integrity_on_open(true)
            // Reads are served from the in-memory index, never from redb, so
            // its page cache only helps the writer's few btree pages; at
            // redb's default (1 GiB) the replay at open left the whole file
            // cached, doubling a reopened store's resident memory.
            .set_cache_size(DB_CACHE_BYTES)
            .create(&path)
            .map_err(backend(&path, "open"))?;
        let txn = db.begin_write().map_err(backend(&path, "begin writing"))?;
        txn.open_table(EVENTS)
            .map_err(backend(&path, "open the events table of"))?;
        txn.open_table(IDEMPOTENCY)
            .map_err(backend(&path, "open the idempotency table of"))?;
        txn.open_table(OWNERS)
            .map_err(backend(&path, "open the owners table of"))?;
        txn.commit()
            .map_err(backend(&path, "commit the tables of"))?;

        let index = MemoryStorage::new();
        replay(&db, &index, &path)?;

        let (tx, rx) = mpsc::channel::<Job>();
        let poisoned = Arc::new(Mutex::new(None));
        let writer_poison = poisoned.clone();
        let writer_path = path.clone();
        std::thread::Builder::new()
            .name("eventstore-redb-writer".into())
            .spawn(move || write_loop(db, writer_path, rx, writer_poison))
            .map_err(|e| io_error(path.clone(), "start the writer thread for", &e))?;
        Ok(Self {
            index,
            writer: Mutex::new(tx),
            poisoned,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Refuses a zero-length data file: redb would take it for a new database
/// and the store would start empty where it had held events (see
/// [`StorageError::EmptyFile`]). A missing file is a new store.
fn refuse_empty_file(path: &Path) -> Result<(), StorageError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 => Err(StorageError::EmptyFile {
            path: path.to_path_buf(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path.to_path_buf(), "inspect", &e)),
    }
}

/// redb's page cache (see [`DurableStorage::open`]).
const DB_CACHE_BYTES: usize = 16 * 1024 * 1024;

fn replay(db: &Database, index: &MemoryStorage, path: &Path) -> Result<(), StorageError> {
    let corrupt = |what: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        what,
    };
    let read = db.begin_read().map_err(backend(path, "begin reading"))?;
    let events = read
        .open_table(EVENTS)
        .map_err(backend(path, "open the events table of"))?;
    let owners = read
        .open_table(OWNERS)
        .map_err(backend(path, "open the owners table of"))?;
    let entries = events.iter().map_err(backend(path, "scan the events of"))?;
    for (expected, entry) in (1u64..).zip(entries) {
        let (key, value) = entry.map_err(backend(path, "read an event of"))?;
        let global = key.value();
        if global != expected {
            return Err(corrupt(format!(
                "global nonce {global} follows {}",
                expected - 1
            )));
        }
        let decoded = EventData::decode(value.value())
            .ok()
            .filter(|e| !is_undecodable(e));
        let event = match decoded {
            Some(event) => Arc::new(event),
            None => {
                let owner = owners
                    .get(global)
                    .map_err(backend(path, "read an event's owner of"))?
                    .ok_or_else(|| {
                        corrupt(format!(
                            "event {global} cannot be decoded and has no recorded owner, so no tenant's log can report it"
                        ))
                    })?;
                let (tenant, aggregate, nonce) = owner.value();
                tracing::error!(
                    global_nonce = global,
                    tenant_id = tenant,
                    aggregate_id = aggregate,
                    "{} holds an undecodable event: reads reaching it fail with DATA_LOSS",
                    path.display()
                );
                undecodable_entry(tenant, aggregate, nonce, global)
            }
        };
        let meta = event
            .meta
            .as_ref()
            .ok_or_else(|| corrupt(format!("event {global} has no metadata")))?;
        let (tenant_id, aggregate_id) = (meta.tenant_id.clone(), meta.aggregate_id.clone());
        index.commit(CommitBatch {
            tenant_id,
            aggregate_id,
            events: vec![event],
            idempotency: None,
        })?;
    }
    let keys = read
        .open_table(IDEMPOTENCY)
        .map_err(backend(path, "open the idempotency table of"))?;
    for entry in keys
        .iter()
        .map_err(backend(path, "scan the idempotency keys of"))?
    {
        let (key, value) = entry.map_err(backend(path, "read an idempotency key of"))?;
        let (tenant, aggregate, k) = key.value();
        let record = decode_record(value.value())
            .ok_or_else(|| corrupt(format!("idempotency record {k:?}")))?;
        index.restore_idempotency(tenant, aggregate, k, record);
    }
    Ok(())
}

fn encode_record(record: &IdempotencyRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(&record.fingerprint);
    out.extend_from_slice(&record.response.last_global_nonce.to_le_bytes());
    out.extend_from_slice(&record.response.last_aggregate_nonce.to_le_bytes());
    out
}

fn decode_record(bytes: &[u8]) -> Option<IdempotencyRecord> {
    let fingerprint: [u8; 32] = bytes.get(..32)?.try_into().ok()?;
    let global = u64::from_le_bytes(bytes.get(32..40)?.try_into().ok()?);
    let aggregate = u64::from_le_bytes(bytes.get(40..48)?.try_into().ok()?);
    Some(IdempotencyRecord {
        fingerprint,
        response: AppendResponse {
            last_global_nonce: global,
            last_aggregate_nonce: aggregate,
        },
    })
}

/// The writer thread: one transaction (one fsync) per group of batches.
fn write_loop(
    db: Database,
    path: PathBuf,
    jobs: mpsc::Receiver<Job>,
    poisoned: Arc<Mutex<Option<StorageError>>>,
) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let failed = poisoned.lock().clone();
        let result = match failed {
            Some(e) => Err(e),
            None => write_group(&db, &path, &group),
        };
        if let Err(e) = &result {
            tracing::error!("durable commit failed, refusing further writes: {e}");
            poisoned.lock().get_or_insert_with(|| e.clone());
        }
        for job in group {
            let _ = job.done.send(result.clone());
        }
    }
}

fn write_group(db: &Database, path: &Path, group: &[Job]) -> Result<(), StorageError> {
    let txn = db.begin_write().map_err(backend(path, "begin writing"))?;
    {
        let mut events = txn
            .open_table(EVENTS)
            .map_err(backend(path, "open the events table of"))?;
        let mut keys = txn
            .open_table(IDEMPOTENCY)
            .map_err(backend(path, "open the idempotency table of"))?;
        let mut owners = txn
            .open_table(OWNERS)
            .map_err(backend(path, "open the owners table of"))?;
        for job in group {
            for (global, nonce, bytes) in &job.events {
                events
                    .insert(*global, bytes.as_slice())
                    .map_err(backend(path, "write an event to"))?;
                owners
                    .insert(
                        *global,
                        (job.tenant_id.as_str(), job.aggregate_id.as_str(), *nonce),
                    )
                    .map_err(backend(path, "write an event's owner to"))?;
            }
            if let Some((tenant, aggregate, key, record)) = &job.idempotency {
                keys.insert(
                    (tenant.as_str(), aggregate.as_str(), key.as_str()),
                    record.as_slice(),
                )
                .map_err(backend(path, "write an idempotency key to"))?;
            }
        }
    }
    txn.commit().map_err(backend(path, "commit to"))
}

impl Storage for DurableStorage {
    fn last_global_nonce(&self) -> u64 {
        self.index.last_global_nonce()
    }

    fn last_recorded_time_ms(&self) -> u64 {
        self.index.last_recorded_time_ms()
    }

    fn stream_head(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
    ) -> Result<Option<StreamHead>, StorageError> {
        self.index.stream_head(tenant_id, aggregate_id)
    }

    fn idempotency(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StorageError> {
        self.index.idempotency(tenant_id, aggregate_id, key)
    }

    fn event_id_exists(&self, tenant_id: &str, event_id: &str) -> Result<bool, StorageError> {
        self.index.event_id_exists(tenant_id, event_id)
    }

    fn commit(&self, batch: CommitBatch) -> Result<Durability, StorageError> {
        if let Some(e) = self.poisoned.lock().clone() {
            return Err(StorageError::Poisoned { cause: Box::new(e) });
        }
        let events = batch
            .events
            .iter()
            .map(|e| {
                let (global, nonce) = e
                    .meta
                    .as_ref()
                    .map_or((0, 0), |m| (m.global_nonce, m.aggregate_nonce));
                (global, nonce, e.encode_to_vec())
            })
            .collect();
        let idempotency = batch.idempotency.as_ref().map(|(key, record)| {
            (
                batch.tenant_id.clone(),
                batch.aggregate_id.clone(),
                key.clone(),
                encode_record(record),
            )
        });
        let (done, durable) = oneshot::channel();
        self.writer
            .lock()
            .send(Job {
                tenant_id: batch.tenant_id.clone(),
                aggregate_id: batch.aggregate_id.clone(),
                events,
                idempotency,
                done,
            })
            .map_err(|_| StorageError::WriterStopped)?;
        self.index.commit(batch)?;
        Ok(Durability::Pending(durable))
    }

    fn read_stream(&self, range: StreamRange<'_>) -> Result<Page, StorageError> {
        self.index.read_stream(range)
    }

    fn read_all(&self, tenant_id: &str, page: PageRequest) -> Result<Page, StorageError> {
        self.index.read_all(tenant_id, page)
    }

    fn read_log(&self, range: LogRange<'_>) -> Result<LogSlice, StorageError> {
        self.index.read_log(range)
    }

    fn backend_name(&self) -> &'static str {
        "durable"
    }
}

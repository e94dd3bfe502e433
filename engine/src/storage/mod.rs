//! Where committed events live.
//!
//! The [`Storage`] trait is the line between the store's semantics (in
//! [`crate::store`]) and its persistence. A backend answers questions about
//! the committed state and takes batches that the engine has already
//! checked; it never decides whether an append is allowed. The engine calls
//! [`Storage::commit`] under its commit lock, in global order, and awaits the
//! returned [`Durability`] outside the lock, so a durable backend can group
//! the fsyncs of concurrent appends.

mod durable;
mod memory;

pub use durable::{DATA_FILE, DurableStorage};
pub use memory::MemoryStorage;

use eventstore_proto::{AppendResponse, EventData, EventMetadata};
use std::{path::PathBuf, sync::Arc};
use tokio::sync::oneshot;

/// A committed event, shared between the log, the stream index and readers.
pub type RecordedEvent = Arc<EventData>;

/// The state of a stream that the concurrency check needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamHead {
    /// Nonce of the stream's last event.
    pub last_aggregate_nonce: u64,
    /// Global nonce of the stream's last event.
    pub last_global_nonce: u64,
}

/// What an idempotency key was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Fingerprint of the batch first appended with the key.
    pub fingerprint: [u8; 32],
    /// The response that batch got, returned again to a retry.
    pub response: AppendResponse,
}

/// A batch the engine has checked and numbered, ready to store.
#[derive(Debug, Clone)]
pub struct CommitBatch {
    /// The stream's tenant.
    pub tenant_id: String,
    /// The stream's aggregate id.
    pub aggregate_id: String,
    /// The events, with every store field set.
    pub events: Vec<RecordedEvent>,
    /// The idempotency key and what it maps to, when the append had one.
    pub idempotency: Option<(String, IdempotencyRecord)>,
}

/// One page of a read (ReadStream or ReadAll).
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The events, in read order.
    pub events: Vec<RecordedEvent>,
    /// Whether more events exist in the read direction after this page.
    pub more: bool,
    /// Set when the page is empty because its first event cannot be decoded:
    /// that event's global nonce (the engine answers `DATA_LOSS`).
    pub undecodable: Option<u64>,
}

/// One slice of a tenant's log, for subscriptions.
#[derive(Debug, Clone, Default)]
pub struct LogSlice {
    /// Matching events, ascending by global nonce.
    pub events: Vec<RecordedEvent>,
    /// The global nonce to continue from.
    pub next_global_nonce: u64,
    /// A matching event at `next_global_nonce` that cannot be decoded: the
    /// slice stops before it, the subscription ends with `DATA_LOSS` after
    /// delivering `events`.
    pub undecodable: Option<u64>,
}

/// Where a page starts and how large it may grow; the same for ReadStream
/// (positions are aggregate nonces) and ReadAll (global nonces).
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// First position to return (the highest when backward); resolved by
    /// [`crate::paging::start`], so never 0.
    pub from: u64,
    /// Ascending when true, descending when false.
    pub forward: bool,
    /// Most events to return.
    pub max_count: usize,
    /// Most encoded bytes to return; at least one event is always returned.
    pub max_bytes: usize,
    /// Events above this global nonce are not visible yet.
    pub visible_upto: u64,
}

/// A read of one stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamRange<'a> {
    /// The stream's tenant.
    pub tenant_id: &'a str,
    /// The stream's aggregate id.
    pub aggregate_id: &'a str,
    /// Where the page starts (an aggregate nonce) and its size.
    pub page: PageRequest,
}

/// A read of a tenant's log for a subscription.
#[derive(Debug, Clone, Copy)]
pub struct LogRange<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// Only events whose aggregate id starts with this ("" = all).
    pub prefix: &'a str,
    /// Lowest global nonce to return.
    pub from: u64,
    /// Highest global nonce to return (the visible watermark, or less).
    pub upto: u64,
    /// Most events to return.
    pub max_events: usize,
    /// Most events of the tenant to look at, matching or not.
    pub max_scan: usize,
    /// Most encoded bytes to return; at least one event is always returned.
    /// Readers that hold what they read (a subscription's page waiting for a
    /// slow consumer) bound their memory by bytes, not only by count: a
    /// stored event is rebuilt into a full `EventData` for every reader.
    pub max_bytes: usize,
}

/// Whether a log entry stands for a stored event that could not be decoded.
///
/// The durable backend keeps such an entry in its index (with the tenant,
/// stream, aggregate nonce and global nonce it recorded beside the event) so
/// that every read reaching it fails with `DATA_LOSS`; it is recognized by
/// its empty `event_type`, which no committed event has (Append refuses it).
pub fn is_undecodable(event: &EventData) -> bool {
    event.meta.as_ref().is_none_or(|m| m.event_type.is_empty())
}

/// The index entry for an undecodable event (see [`is_undecodable`]).
pub fn undecodable_entry(
    tenant_id: &str,
    aggregate_id: &str,
    aggregate_nonce: u64,
    global_nonce: u64,
) -> RecordedEvent {
    Arc::new(EventData {
        meta: Some(EventMetadata {
            tenant_id: tenant_id.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            aggregate_nonce,
            global_nonce,
            ..EventMetadata::default()
        }),
        payload: Vec::new(),
    })
}

/// When a commit is durable.
#[derive(Debug)]
pub enum Durability {
    /// Durable already (or the backend keeps nothing across restarts).
    Done,
    /// Durable when the receiver yields `Ok`; an `Err` means it never will be.
    Pending(oneshot::Receiver<Result<(), StorageError>>),
}

/// A backend failure. The engine reports it as `INTERNAL` and acknowledges
/// nothing. Callers that open a store match the variant (a harness retries
/// on [`StorageError::Locked`], an operator reads the path); the reason an
/// OS or redb gave is kept as text because those error types are neither
/// `Clone` nor comparable, and a failed commit's error is handed to every
/// batch waiting on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The operating system refused an operation on `path` (permissions, a
    /// missing mount, an I/O error).
    #[error("cannot {action} {}: {reason}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. "create the data directory".
        action: &'static str,
        /// What the OS said.
        reason: String,
    },
    /// Another store (in this process or another) holds the file's lock;
    /// it is released when that store is dropped or its process exits.
    #[error("cannot open {}: Database already open. Cannot acquire lock.", path.display())]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file's content is damaged or not a log this engine wrote.
    #[error("{} is corrupt: {what}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was found wrong.
        what: String,
    },
    /// The data file exists but holds 0 bytes. A store of ours never has an
    /// empty file (redb writes its header when it creates one), so this is a
    /// store that lost its content (a truncation, a failed copy or restore);
    /// opening it would silently start an empty store where events were.
    #[error(
        "{} is empty (0 bytes), so it is not a store this server can open; it is refused rather than started as an empty store. If it held events, restore the file from a backup; if the store is new and its creation was interrupted, delete the file and start again",
        path.display()
    )]
    EmptyFile {
        /// The database file.
        path: PathBuf,
    },
    /// The disk holding `path` is full.
    #[error("cannot {action} {}: no space left on device", path.display())]
    Full {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
    },
    /// The data file reached the largest size the process may write
    /// (`ulimit -f`, `EFBIG`) or the filesystem allows.
    #[error(
        "cannot {action} {}: the file reached its size limit (the process's file-size limit, `ulimit -f`, or the filesystem's)",
        path.display()
    )]
    TooLarge {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
    },
    /// The storage library failed in a way that is none of the above.
    #[error("cannot {action} {}: {reason}", path.display())]
    Backend {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// What the library said.
        reason: String,
    },
    /// An earlier commit failed, so no later one is accepted: the store
    /// must be restarted, and then holds exactly what was acknowledged.
    #[error("the store refuses writes after a failed commit ({cause}); restart it")]
    Poisoned {
        /// The failure that poisoned the store.
        cause: Box<StorageError>,
    },
    /// The background writer has stopped (or dropped a pending commit), so
    /// the commit's durability is unknown and it is not acknowledged.
    #[error("the writer thread has stopped")]
    WriterStopped,
}

/// A storage backend. Every method is called by the engine; none enforces
/// the semantics.
pub trait Storage: Send + Sync + std::fmt::Debug + 'static {
    /// The last global nonce committed (0 for an empty store).
    fn last_global_nonce(&self) -> u64;
    /// The `recorded_time_unix_ms` of the last event committed (0 for an
    /// empty store): the engine never records an earlier time after it,
    /// even across a restart onto a clock that is behind.
    fn last_recorded_time_ms(&self) -> u64;
    /// The head of a stream, `None` when it has no event.
    fn stream_head(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
    ) -> Result<Option<StreamHead>, StorageError>;
    /// The record of an idempotency key used on a stream.
    fn idempotency(
        &self,
        tenant_id: &str,
        aggregate_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StorageError>;
    /// Whether an event id is used in a tenant.
    fn event_id_exists(&self, tenant_id: &str, event_id: &str) -> Result<bool, StorageError>;
    /// Stores a checked batch whose global nonces follow
    /// [`Storage::last_global_nonce`]. Called under the engine's commit lock.
    fn commit(&self, batch: CommitBatch) -> Result<Durability, StorageError>;
    /// Reads a page of a stream. Cost proportional to the page.
    fn read_stream(&self, range: StreamRange<'_>) -> Result<Page, StorageError>;
    /// Reads a page of a tenant's log (every stream, global order).
    /// Cost proportional to the page, not to the tenant's or the store's log.
    fn read_all(&self, tenant_id: &str, page: PageRequest) -> Result<Page, StorageError>;
    /// Reads a tenant's events with `from <= global_nonce <= upto` whose
    /// aggregate id starts with `prefix`: at most `max_events` and about
    /// `max_bytes` (at least one event), looking at no more than `max_scan`
    /// events of the tenant. Cost proportional to
    /// what it looks at, not to the log before `from`.
    fn read_log(&self, range: LogRange<'_>) -> Result<LogSlice, StorageError>;
    /// The storage's own name (`"memory"`, `"durable"`): the
    /// `GetServerInfoResponse.backend` when the reference has that name,
    /// else named in `server_version` (see `eventstore_proto::backends`).
    fn backend_name(&self) -> &'static str;
}

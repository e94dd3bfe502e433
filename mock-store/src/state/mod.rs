//! The state one mock shares between its gRPC services and its owner:
//! the engine, the journal, the mounted expectations, strict mode. Its data
//! operations (seeding, whole-stream reads) are in `data`, so the mock's
//! API and the control API both call down to them.

pub(crate) mod data;

use crate::{
    StartError,
    expectation::{ExpectationId, Mock, Respond, Sequence},
    journal::Journal,
    matchers::CallView,
    wire::CallRequest,
};
use eventstore_engine::{EventStore, Limits};
use eventstore_proto::{GetServerInfoResponse, backends};

/// What a mock answers as `GetServerInfoResponse.backend`: one of the
/// reference's values (`eventstore_proto::backends`). A mock keeps its
/// events in memory, so [`Backend::Memory`] by default; tell it
/// [`Backend::Postgres`] to answer as the user's production store would.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// `"memory"`, the default.
    #[default]
    Memory,
    /// `"postgres"`, as the reference's Postgres backend answers.
    Postgres,
    /// `"unknown"`.
    Unknown,
}

impl Backend {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => backends::MEMORY,
            Self::Postgres => backends::POSTGRES,
            Self::Unknown => backends::UNKNOWN,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A backend name that is not one of the reference's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("backend {0} is not one of the reference's: \"memory\", \"postgres\", \"unknown\"")]
pub struct UnknownBackend(String);

impl std::str::FromStr for Backend {
    type Err = UnknownBackend;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            backends::MEMORY => Ok(Self::Memory),
            backends::POSTGRES => Ok(Self::Postgres),
            backends::UNKNOWN => Ok(Self::Unknown),
            other => Err(UnknownBackend(eventstore_engine::validate::quote(other))),
        }
    }
}

/// What a mock answers to `GetServerInfo` by default: the engine's version,
/// API version and capabilities, backend `"memory"`.
pub(crate) fn mock_server_info() -> GetServerInfoResponse {
    GetServerInfoResponse {
        server_version: eventstore_engine::SERVER_VERSION.to_owned(),
        api_version: eventstore_engine::API_VERSION.to_owned(),
        backend: Backend::default().as_str().to_owned(),
        capabilities: eventstore_engine::capabilities::ALL
            .iter()
            .map(|&c| c.to_owned())
            .collect(),
    }
}
use parking_lot::{Mutex, RwLock};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// A mounted expectation and how many calls it has matched (for `on_nth_call`).
#[derive(Debug)]
pub(crate) struct Mounted {
    pub(crate) id: ExpectationId,
    pub(crate) mock: Mock,
    pub(crate) hits: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Expectations {
    pub(crate) mounted: Vec<Mounted>,
    next_id: u64,
}

/// How to handle one arriving call.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Journal sequence number of the call.
    pub(crate) seq: u64,
    /// The response an expectation chose; `None` lets the engine answer.
    pub(crate) respond: Option<Respond>,
    /// Strict mode and nothing matched: refuse the call.
    pub(crate) strict_reject: bool,
}

#[derive(Debug)]
pub(crate) struct MockState {
    engine: RwLock<EventStore>,
    limits: Limits,
    pub(crate) journal: Journal,
    pub(crate) expectations: Mutex<Expectations>,
    strict: AtomicBool,
    /// Whether the journal hides credential metadata.
    redact_credentials: AtomicBool,
    /// Answer `GetServerInfo` with `UNIMPLEMENTED`, as a legacy server does.
    legacy_server: AtomicBool,
    /// What `GetServerInfo` answers as `backend`.
    backend: Mutex<Backend>,
    /// Sequences named in JSON expectations.
    sequences: Mutex<HashMap<String, Sequence>>,
}

impl MockState {
    pub(crate) fn new(limits: Limits, strict: bool) -> Result<Self, StartError> {
        let engine = EventStore::in_memory_with_limits(limits.clone())
            .map_err(|e| StartError::Limits(e.to_string()))?;
        Ok(Self {
            engine: RwLock::new(engine),
            limits,
            journal: Journal::default(),
            expectations: Mutex::new(Expectations::default()),
            strict: AtomicBool::new(strict),
            redact_credentials: AtomicBool::new(true),
            legacy_server: AtomicBool::new(false),
            backend: Mutex::new(Backend::default()),
            sequences: Mutex::new(HashMap::new()),
        })
    }

    /// The sequence called `name`, created on first use.
    pub(crate) fn named_sequence(&self, name: &str) -> Sequence {
        self.sequences
            .lock()
            .entry(name.to_owned())
            .or_insert_with(|| Sequence::new(name))
            .clone()
    }

    pub(crate) fn engine(&self) -> EventStore {
        self.engine.read().clone()
    }

    /// Replaces the data with an empty store; open subscriptions on the old
    /// data end with `UNAVAILABLE`.
    pub(crate) fn reset_data(&self) {
        let fresh = EventStore::in_memory_with_limits(self.limits.clone())
            .unwrap_or_else(|_| unreachable!("limits were valid at start"));
        let old = std::mem::replace(&mut *self.engine.write(), fresh);
        old.shutdown();
    }

    pub(crate) fn reset_journal(&self) {
        let mut expectations = self.expectations.lock();
        for m in &mut expectations.mounted {
            m.hits = 0;
        }
        self.journal.clear();
    }

    pub(crate) fn reset_expectations(&self) {
        self.expectations.lock().mounted.clear();
        self.sequences.lock().clear();
    }

    pub(crate) fn set_strict(&self, strict: bool) {
        self.strict.store(strict, Ordering::Relaxed);
    }

    pub(crate) fn set_redact_credentials(&self, redact: bool) {
        self.redact_credentials.store(redact, Ordering::Relaxed);
    }

    pub(crate) fn set_legacy_server(&self, legacy: bool) {
        self.legacy_server.store(legacy, Ordering::Relaxed);
    }

    pub(crate) fn is_legacy_server(&self) -> bool {
        self.legacy_server.load(Ordering::Relaxed)
    }

    pub(crate) fn set_backend(&self, backend: Backend) {
        *self.backend.lock() = backend;
    }

    /// What the mock's `GetServerInfo` answers: the engine's version and
    /// capabilities, with the configured backend.
    pub(crate) fn server_info(&self) -> GetServerInfoResponse {
        GetServerInfoResponse {
            backend: self.backend.lock().as_str().to_owned(),
            ..mock_server_info()
        }
    }

    pub(crate) fn is_strict(&self) -> bool {
        self.strict.load(Ordering::Relaxed)
    }

    pub(crate) fn mount(&self, mock: Mock) -> ExpectationId {
        let mut expectations = self.expectations.lock();
        expectations.next_id += 1;
        let id = ExpectationId(expectations.next_id);
        expectations.mounted.push(Mounted { id, mock, hits: 0 });
        id
    }

    /// Matches an arriving call against the expectations and records it.
    /// The lock makes journal order and `on_nth_call` counting agree.
    pub(crate) fn plan(
        self: &Arc<Self>,
        request: CallRequest,
        metadata: BTreeMap<String, String>,
    ) -> Plan {
        let mut expectations = self.expectations.lock();
        // The JSON view is for matchers; with none mounted, the journal
        // makes it when first read (most calls of a test are never read).
        let json = if expectations.mounted.is_empty() {
            serde_json::Value::Null
        } else {
            request.to_json()
        };
        let view = CallView {
            request: &request,
            json: &json,
            metadata: &metadata,
        };
        let mut matched = Vec::new();
        let mut respond = None;
        // Newest first: a later expectation overrides an earlier one's response.
        for m in expectations.mounted.iter_mut().rev() {
            // Retired by `up_to_n_times`: the call goes past it, uncounted.
            if m.mock.exhausted(m.hits) || !m.mock.matchers.iter().all(|x| x.matches(&view)) {
                continue;
            }
            m.hits += 1;
            matched.push(m.id);
            if respond.is_none()
                && let Some(r) = &m.mock.respond
                && m.mock.nth.is_none_or(|n| n == m.hits)
            {
                respond = Some(r.clone());
            }
        }
        matched.reverse();
        let strict_reject = matched.is_empty() && self.is_strict();
        // Matchers saw the real values; the journal (readable over the
        // control API) keeps no credential.
        let metadata = if self.redact_credentials.load(Ordering::Relaxed) {
            crate::journal::redact_credentials(metadata)
        } else {
            metadata
        };
        let seq = self
            .journal
            .begin(request, json, metadata, matched, strict_reject);
        drop(expectations);
        Plan {
            seq,
            respond,
            strict_reject,
        }
    }
}

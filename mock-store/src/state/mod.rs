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
use eventstore_proto::GetServerInfoResponse;

/// `GetServerInfoResponse.backend` of every mock.
pub const MOCK_BACKEND: &str = "mock";

/// What a mock answers to `GetServerInfo`: the engine's version, API
/// version and capabilities, backend [`MOCK_BACKEND`].
pub(crate) fn mock_server_info() -> GetServerInfoResponse {
    GetServerInfoResponse {
        server_version: eventstore_engine::SERVER_VERSION.to_owned(),
        api_version: eventstore_engine::API_VERSION.to_owned(),
        backend: MOCK_BACKEND.to_owned(),
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

    /// What the mock's `GetServerInfo` answers: the engine's, as backend
    /// [`MOCK_BACKEND`].
    pub(crate) fn server_info(&self) -> GetServerInfoResponse {
        mock_server_info()
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
        let json = request.to_json();
        let mut expectations = self.expectations.lock();
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

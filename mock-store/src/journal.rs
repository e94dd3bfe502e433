//! The call journal: every call, in arrival order, with what it asked, what
//! it got and, for subscriptions, each event delivered, the caught-up
//! marker and keepalives sent, and how it ended.

use crate::{
    expectation::ExpectationId,
    wire::{CallRequest, Rpc, code_name},
};
use eventstore_client::wire::CONNECTION_DROPPED;
use eventstore_engine::validate::{clip, quote};
use eventstore_proto::{
    AppendResponse, EventData, GetServerInfoResponse, ReadAllResponse, ReadStreamResponse,
};
use parking_lot::Mutex;
use serde_json::Value;
use std::{
    borrow::Cow,
    collections::BTreeMap,
    time::{Duration, Instant, SystemTime},
};
use tonic::Code;

/// How a call ended (for a subscription: how it started; see `stream_end`).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `Append` succeeded.
    Appended(AppendResponse),
    /// `ReadStream` succeeded.
    Read(ReadStreamResponse),
    /// `ReadAll` succeeded.
    ReadAll(ReadAllResponse),
    /// `GetServerInfo` succeeded.
    ServerInfo(GetServerInfoResponse),
    /// `Subscribe` was accepted and streams events.
    Streaming,
    /// The call failed with this status.
    Status {
        /// gRPC code.
        code: Code,
        /// Message.
        message: String,
    },
    /// The mock closed the connection.
    Dropped,
}

/// How a subscription stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The client cancelled it (or went away).
    Cancelled,
    /// It ended with this status (a fault, or the store shutting down).
    Status {
        /// gRPC code.
        code: Code,
        /// Message.
        message: String,
    },
    /// A stubbed stream ran out of events and ended OK.
    Completed,
    /// The mock closed the connection.
    Dropped,
}

/// One line for reports and the control API's `Call.stream_end`, e.g.
/// `UNAVAILABLE: boom` (the code's name, as every language spells it).
impl std::fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamEnd::Cancelled => f.write_str("cancelled by the client"),
            StreamEnd::Status { code, message } => write!(f, "{}: {message}", code_name(*code)),
            StreamEnd::Completed => f.write_str("completed"),
            StreamEnd::Dropped => f.write_str(CONNECTION_DROPPED),
        }
    }
}

/// What a redacted metadata value reads as (after the scheme, if any:
/// `Basic [redacted]`).
pub const REDACTED: &str = "[redacted]";

/// Whether a metadata key carries a credential: `authorization`,
/// `proxy-authorization`, `cookie`, or a key naming a token, secret,
/// password, key (API, access, private...), credential, session, JWT,
/// signature or auth (`x-api-key`, `x-auth-token`, `x-access-key`,
/// `x-jwt`, `private-key`...).
pub fn is_credential_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    matches!(key.as_str(), "cookie" | "set-cookie")
        || [
            "auth",
            "token",
            "secret",
            "password",
            "passwd",
            "key",
            "credential",
            "session",
            "jwt",
            "signature",
        ]
        .iter()
        .any(|word| key.contains(word))
}

/// `metadata` with every credential value (see [`is_credential_key`])
/// replaced by [`REDACTED`], keeping an authorization scheme (`Basic`,
/// `Bearer`) so a journal still shows which kind was sent. Under any other
/// key, a value that is itself a credential is redacted too: one that
/// starts with `Basic `/`Bearer `, and the password of a URL's user info
/// (`postgres://app:[redacted]@db/orders`).
pub fn redact_credentials(metadata: BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .into_iter()
        .map(|(key, value)| {
            let scheme = value
                .split_once(' ')
                .map(|(scheme, _)| scheme)
                .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()));
            let value = if is_credential_key(&key) {
                match scheme {
                    Some(scheme) => format!("{scheme} {REDACTED}"),
                    None => REDACTED.to_owned(),
                }
            } else if let Some(scheme) = scheme
                .filter(|s| s.eq_ignore_ascii_case("basic") || s.eq_ignore_ascii_case("bearer"))
            {
                format!("{scheme} {REDACTED}")
            } else {
                redact_url_password(value)
            };
            (key, value)
        })
        .collect()
}

/// `value` with the password of a URL's user info (`scheme://user:pass@`)
/// replaced by [`REDACTED`]; unchanged when it holds none.
fn redact_url_password(value: String) -> String {
    let Some(authority_at) = value.find("://").map(|i| i + 3) else {
        return value;
    };
    let authority_end = value[authority_at..]
        .find(['/', '?', '#'])
        .map_or(value.len(), |i| authority_at + i);
    let authority = &value[authority_at..authority_end];
    let Some(user_end) = authority.rfind('@') else {
        return value;
    };
    let Some(colon) = authority[..user_end].find(':') else {
        return value;
    };
    let (password_start, password_end) = (authority_at + colon + 1, authority_at + user_end);
    format!(
        "{}{REDACTED}{}",
        &value[..password_start],
        &value[password_end..]
    )
}

/// One recorded call.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Position in the journal, from 1.
    pub seq: u64,
    /// The request as received.
    pub request: CallRequest,
    /// Its JSON view, as matchers saw it.
    pub request_json: Value,
    /// gRPC metadata (ASCII entries).
    pub metadata: BTreeMap<String, String>,
    /// When it arrived.
    pub received_at: SystemTime,
    /// Time to the answer (for a subscription: to the stream's end); `None`
    /// while in flight.
    pub latency: Option<Duration>,
    /// The answer; `None` while in flight.
    pub outcome: Option<Outcome>,
    /// Subscribe: events delivered, in order.
    pub delivered: Vec<EventData>,
    /// Subscribe: how the stream ended; `None` while open.
    pub stream_end: Option<StreamEnd>,
    /// Subscribe: whether the caught-up marker (the stream's first
    /// event-less response, after the history) was sent. A stubbed stream
    /// sends one only if its events say so; a legacy server never does.
    pub caught_up_marker_sent: bool,
    /// Subscribe: keepalives sent (event-less responses after the
    /// caught-up marker: `keepalive_every`, `keepalive_interval`).
    pub keepalives_sent: u64,
    /// The expectations the call matched.
    pub matched: Vec<ExpectationId>,
    /// Strict mode refused the call (it matched no expectation).
    pub rejected_by_strict_mode: bool,
    /// The journal dropped this call's payloads (in `request`,
    /// `request_json` and `delivered`) to stay within
    /// [`MAX_JOURNAL_PAYLOAD_BYTES`]; every other field is kept.
    pub payloads_dropped: bool,
    pub(crate) started: Instant,
}

impl CallRecord {
    /// Which RPC.
    pub fn rpc(&self) -> Rpc {
        self.request.rpc()
    }

    /// Makes `request_json` if the journal left it for later (`Null`: no
    /// expectation was mounted, so no matcher needed it when the call
    /// arrived; a request's JSON view is never `null`). Payloads dropped
    /// since read as [`DROPPED_PAYLOAD`], as in a view made at once.
    fn fill_json(&mut self) {
        if !self.request_json.is_null() {
            return;
        }
        self.request_json = self.request.to_json();
        if self.payloads_dropped {
            drop_json_payloads(&mut self.request_json);
        }
    }

    /// Whether the call has finished (subscriptions: the stream has ended).
    pub fn is_complete(&self) -> bool {
        match self.request.rpc() {
            Rpc::Subscribe => {
                self.stream_end.is_some()
                    || matches!(
                        self.outcome,
                        Some(Outcome::Status { .. } | Outcome::Dropped)
                    )
            }
            _ => self.outcome.is_some(),
        }
    }

    /// One line for reports, e.g.
    /// `#3 Append t1/order-1 expected_aggregate_nonce=0, 2 events: OrderCreated, OrderShipped`.
    /// Values the client sent are clipped (a 1 MB id shows its first
    /// characters and its length) and at most [`SUMMARY_EVENT_TYPES`] event
    /// types are listed, so the line stays short whatever was sent: it goes
    /// into reports and the strict mock's status message.
    pub fn summary(&self) -> String {
        let seq = self.seq;
        match &self.request {
            CallRequest::Append(r) => {
                let mut types: Vec<Cow<'_, str>> = r
                    .events
                    .iter()
                    .take(SUMMARY_EVENT_TYPES)
                    .map(|e| {
                        e.meta
                            .as_ref()
                            .map_or(Cow::Borrowed("?"), |m| clip(&m.event_type))
                    })
                    .collect();
                if r.events.len() > SUMMARY_EVENT_TYPES {
                    types.push(Cow::Owned(format!(
                        "... ({} more)",
                        r.events.len() - SUMMARY_EVENT_TYPES
                    )));
                }
                let noun = if r.events.len() == 1 {
                    "event"
                } else {
                    "events"
                };
                format!(
                    "#{seq} Append {}/{} expected_aggregate_nonce={}, {} {noun}: {}",
                    clip(&r.tenant_id),
                    clip(&r.aggregate_id),
                    r.expected_aggregate_nonce,
                    r.events.len(),
                    types.join(", ")
                )
            }
            CallRequest::ReadStream(r) => format!(
                "#{seq} ReadStream {}/{} from_aggregate_nonce={} max_count={} {}",
                clip(&r.tenant_id),
                clip(&r.aggregate_id),
                r.from_aggregate_nonce,
                r.max_count,
                if r.forward { "forward" } else { "backward" }
            ),
            CallRequest::Subscribe(r) => format!(
                "#{seq} Subscribe {} aggregate_id_prefix={} from_global_nonce={}",
                clip(&r.tenant_id),
                quote(&r.aggregate_id_prefix),
                r.from_global_nonce
            ),
            CallRequest::ReadAll(r) => format!(
                "#{seq} ReadAll {} from_global_nonce={} max_count={} {}",
                clip(&r.tenant_id),
                r.from_global_nonce,
                r.max_count,
                if r.forward { "forward" } else { "backward" }
            ),
            CallRequest::GetServerInfo(_) => format!("#{seq} GetServerInfo"),
        }
    }
}

/// The most payload bytes the journal keeps (requests' events and events
/// delivered, counted twice: as received and in the JSON view). Beyond, the
/// oldest calls' payloads are dropped ([`CallRecord::payloads_dropped`]),
/// so a mock that runs long, or is sent huge requests, stays bounded.
pub const MAX_JOURNAL_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;

/// What a dropped payload reads as in a call's JSON view.
pub const DROPPED_PAYLOAD: &str =
    "[payload dropped: the journal keeps at most 256 MiB of payloads]";

/// Event types a call's summary lists before it says how many more.
pub const SUMMARY_EVENT_TYPES: usize = 10;

/// The journal; shared by the service and the mock's owner.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    inner: Mutex<Records>,
}

#[derive(Debug)]
struct Records {
    calls: Vec<CallRecord>,
    /// Numbers keep growing across resets, so a subscription opened before a
    /// reset can never write into a newer call's record.
    last_seq: u64,
    /// Payload bytes held (see [`MAX_JOURNAL_PAYLOAD_BYTES`]).
    payload_bytes: usize,
    /// Calls before this index have had their payloads dropped.
    shed: usize,
    max_payload_bytes: usize,
}

impl Default for Records {
    fn default() -> Self {
        Self {
            calls: Vec::new(),
            last_seq: 0,
            payload_bytes: 0,
            shed: 0,
            max_payload_bytes: MAX_JOURNAL_PAYLOAD_BYTES,
        }
    }
}

/// Payload bytes of a call as the journal holds it: twice the raw bytes
/// (the request, and its JSON view), plus what it delivered.
fn payload_bytes(call: &CallRecord) -> usize {
    let requested: usize = match &call.request {
        CallRequest::Append(r) => r.events.iter().map(|e| e.payload.len()).sum(),
        _ => 0,
    };
    let delivered: usize = call.delivered.iter().map(|e| e.payload.len()).sum();
    2 * requested + delivered
}

/// Replaces the payloads of a request's JSON view by [`DROPPED_PAYLOAD`].
fn drop_json_payloads(json: &mut Value) {
    if let Some(events) = json.get_mut("events").and_then(Value::as_array_mut) {
        for event in events {
            if let Some(payload) = event.get_mut("payload") {
                *payload = Value::String(DROPPED_PAYLOAD.to_owned());
            }
        }
    }
}

impl Records {
    /// Drops the oldest calls' payloads until the journal is within its
    /// budget again (with a quarter to spare, so this runs rarely).
    fn shed_over_budget(&mut self) {
        if self.payload_bytes <= self.max_payload_bytes {
            return;
        }
        let target = self.max_payload_bytes / 4 * 3;
        while self.payload_bytes > target && self.shed < self.calls.len() {
            let call = &mut self.calls[self.shed];
            self.payload_bytes -= payload_bytes(call).min(self.payload_bytes);
            if let CallRequest::Append(r) = &mut call.request {
                for event in &mut r.events {
                    event.payload = Vec::new();
                }
            }
            drop_json_payloads(&mut call.request_json);
            for event in &mut call.delivered {
                event.payload = Vec::new();
            }
            call.payloads_dropped = true;
            self.shed += 1;
        }
    }
}

impl Journal {
    /// Records a call as it arrives; returns its sequence number.
    /// `request_json` is `Null` when no matcher needed it: it is then made
    /// when the journal is first read.
    pub(crate) fn begin(
        &self,
        request: CallRequest,
        request_json: Value,
        metadata: BTreeMap<String, String>,
        matched: Vec<ExpectationId>,
        rejected_by_strict_mode: bool,
    ) -> u64 {
        let mut records = self.inner.lock();
        records.last_seq += 1;
        let seq = records.last_seq;
        let call = CallRecord {
            seq,
            request,
            request_json,
            metadata,
            received_at: SystemTime::now(),
            latency: None,
            outcome: None,
            delivered: Vec::new(),
            stream_end: None,
            caught_up_marker_sent: false,
            keepalives_sent: 0,
            matched,
            rejected_by_strict_mode,
            payloads_dropped: false,
            started: Instant::now(),
        };
        records.payload_bytes += payload_bytes(&call);
        records.calls.push(call);
        records.shed_over_budget();
        seq
    }

    fn update(&self, seq: u64, f: impl FnOnce(&mut CallRecord)) {
        let mut records = self.inner.lock();
        Self::update_in(&mut records, seq, f);
    }

    fn update_in(records: &mut Records, seq: u64, f: impl FnOnce(&mut CallRecord)) {
        // Sequence numbers are dense from the first record after a reset.
        let first = records.calls.first().map_or(seq, |c| c.seq);
        let index = seq.checked_sub(first).and_then(|i| usize::try_from(i).ok());
        if let Some(call) = index.and_then(|i| records.calls.get_mut(i))
            && call.seq == seq
        {
            f(call);
        }
    }

    /// The report line of call `seq`, if it is still in the journal.
    pub(crate) fn summary(&self, seq: u64) -> Option<String> {
        let mut summary = None;
        self.update(seq, |c| summary = Some(c.summary()));
        summary
    }

    /// Records the answer of a call.
    pub(crate) fn finish(&self, seq: u64, outcome: Outcome) {
        self.update(seq, |c| {
            if !matches!(outcome, Outcome::Streaming) {
                c.latency = Some(c.started.elapsed());
            }
            c.outcome = Some(outcome);
        });
    }

    /// Records an event delivered on a subscription (its payload only while
    /// the call's payloads are kept).
    pub(crate) fn delivered(&self, seq: u64, event: &EventData) {
        let mut records = self.inner.lock();
        let mut added = 0;
        Self::update_in(&mut records, seq, |c| {
            let mut event = event.clone();
            if c.payloads_dropped {
                event.payload = Vec::new();
            }
            added = event.payload.len();
            c.delivered.push(event);
        });
        records.payload_bytes += added;
        records.shed_over_budget();
    }

    /// Records that a subscription sent its caught-up marker.
    pub(crate) fn caught_up_marker_sent(&self, seq: u64) {
        self.update(seq, |c| c.caught_up_marker_sent = true);
    }

    /// Records a keepalive sent on a subscription.
    pub(crate) fn keepalive_sent(&self, seq: u64) {
        self.update(seq, |c| c.keepalives_sent += 1);
    }

    /// Records how a subscription ended (the first end recorded wins).
    pub(crate) fn stream_ended(&self, seq: u64, end: StreamEnd) {
        self.update(seq, |c| {
            if c.stream_end.is_none() {
                c.latency = Some(c.started.elapsed());
                c.stream_end = Some(end);
            }
        });
    }

    pub(crate) fn snapshot(&self) -> Vec<CallRecord> {
        let mut records = self.inner.lock();
        for call in &mut records.calls {
            call.fill_json();
        }
        records.calls.clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().calls.len()
    }

    pub(crate) fn clear(&self) {
        let mut records = self.inner.lock();
        records.calls.clear();
        records.payload_bytes = 0;
        records.shed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstore_proto::{AppendRequest, EventMetadata};

    fn append_of(payload_bytes: usize) -> CallRequest {
        CallRequest::Append(AppendRequest {
            tenant_id: "t1".into(),
            aggregate_id: "a".into(),
            events: vec![EventData {
                meta: Some(EventMetadata {
                    event_type: "T".into(),
                    ..EventMetadata::default()
                }),
                payload: vec![b'x'; payload_bytes],
            }],
            ..AppendRequest::default()
        })
    }

    #[test]
    fn the_oldest_payloads_are_dropped_beyond_the_budget() {
        let journal = Journal::default();
        journal.inner.lock().max_payload_bytes = 10_000;
        for _ in 0..10 {
            let request = append_of(1_000);
            let json = request.to_json();
            journal.begin(request, json, BTreeMap::new(), Vec::new(), false);
        }
        // Each call holds 2 x 1,000 bytes. The 6th call passes 10,000: the
        // three oldest are dropped (down to 6,000, within 7,500); the 9th
        // passes it again: three more.
        let calls = journal.snapshot();
        assert_eq!(calls.len(), 10, "every call is kept");
        let dropped: Vec<bool> = calls.iter().map(|c| c.payloads_dropped).collect();
        assert_eq!(dropped, [[true; 6].as_slice(), &[false; 4]].concat());
        let CallRequest::Append(first) = &calls[0].request else {
            unreachable!()
        };
        assert!(first.events[0].payload.is_empty());
        assert_eq!(
            calls[0].request_json["events"][0]["payload"],
            DROPPED_PAYLOAD
        );
        assert_eq!(
            calls[0].request_json["events"][0]["meta"]["event_type"],
            "T"
        );
        assert!(journal.inner.lock().payload_bytes <= 10_000);
        journal.clear();
        assert_eq!(journal.inner.lock().payload_bytes, 0);
    }

    #[test]
    fn a_json_view_left_for_later_reads_as_one_made_at_once() {
        let journal = Journal::default();
        journal.inner.lock().max_payload_bytes = 3_000;
        for _ in 0..3 {
            journal.begin(
                append_of(1_000),
                Value::Null,
                BTreeMap::new(),
                Vec::new(),
                false,
            );
        }
        let calls = journal.snapshot();
        // The first call's payloads were dropped before its view was made.
        assert!(calls[0].payloads_dropped);
        assert_eq!(
            calls[0].request_json["events"][0]["payload"],
            DROPPED_PAYLOAD
        );
        let kept = append_of(1_000);
        assert!(!calls[2].payloads_dropped);
        assert_eq!(calls[2].request_json, kept.to_json());
    }

    #[test]
    fn credential_keys_and_credential_values_are_redacted() {
        let metadata: BTreeMap<String, String> = [
            ("authorization", "Bearer abc"),
            ("x-access-key", "AKIA123"),
            ("x-jwt", "eyJ.x.y"),
            ("private-key", "-----BEGIN"),
            ("x-request-signature", "sig"),
            ("x-forwarded-auth", "Basic dXNlcjpw"),
            ("x-db", "postgres://app:s3cret@db:5432/orders?x=1"),
            ("x-upstream", "Bearer t0ken"),
            ("x-trace", "abc-123"),
            ("x-url", "https://example.org/a:b@c"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let redacted = redact_credentials(metadata);
        let get = |k: &str| redacted[k].as_str();
        assert_eq!(get("authorization"), "Bearer [redacted]");
        assert_eq!(get("x-access-key"), "[redacted]");
        assert_eq!(get("x-jwt"), "[redacted]");
        assert_eq!(get("private-key"), "[redacted]");
        assert_eq!(get("x-request-signature"), "[redacted]");
        assert_eq!(get("x-forwarded-auth"), "Basic [redacted]");
        assert_eq!(get("x-db"), "postgres://app:[redacted]@db:5432/orders?x=1");
        assert_eq!(get("x-upstream"), "Bearer [redacted]");
        assert_eq!(get("x-trace"), "abc-123");
        assert_eq!(get("x-url"), "https://example.org/a:b@c", "no user info");
    }
}

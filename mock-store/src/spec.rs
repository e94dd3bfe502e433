//! Expectations written as JSON: what the control API's `Mount` takes and
//! what the Python layer sends. Every field is optional; an unknown field is
//! an error, so a typo never silently matches everything.
//!
//! ```json
//! {
//!   "rpc": "append",
//!   "request": {"aggregate_id": "order-1", "events": [{"meta": {"event_type": "OrderCreated"}}]},
//!   "fields": {"events[0].payload.amount": 10, "aggregate_id": {"$regex": "^order-"}},
//!   "metadata": {"x-request-id": "abc"},
//!   "times": 1,                      // or "at_least": 1, "at_most": 3
//!   "respond": {"status": {"code": "UNAVAILABLE", "message": "down"}, "delay_ms": 50},
//!   "nth": 2,
//!   "up_to": 2,                      // match only the first 2 calls, later ones go past it
//!   "name": "order created",
//!   "sequence": "checkout"
//! }
//! ```
//!
//! `rpc` is one of `append`, `read_stream`, `subscribe`, `read_all`,
//! `get_server_info` (also `server_info` or the gRPC method name). Without
//! `times`, `at_least` or `at_most` the expectation wants exactly one call,
//! or exactly `up_to` calls when `up_to` is given (see
//! [`Mock::up_to_n_times`]).
//!
//! `respond` holds at most one reply, none meaning the engine answers:
//!
//! - `status`: `{"code": "UNAVAILABLE" | 14, "message": "...", "details_base64": "..."}`;
//! - `conflict`: `{"actual_last_aggregate_nonce": 4, "actual_last_global_nonce": 40}`
//!   reports exactly that; `{}` (no nonce) reports the stream's real head,
//!   so a client that retries with it converges (`tenant_id`,
//!   `aggregate_id` default to the request's);
//! - `append_response`: `{"last_global_nonce", "last_aggregate_nonce"}`;
//! - `read_response`: `{"events": [...], "is_end": true, "next_from_aggregate_nonce": 0}`;
//! - `read_all_response`: `{"events": [...], "is_end": true, "next_from_global_nonce": 0}`;
//! - `server_info_response`: `{"server_version", "api_version", "backend",
//!   "capabilities": [...]}`, an omitted field being the mock's own;
//! - `legacy_server: true`: `UNIMPLEMENTED`, as a server from before `GetServerInfo`;
//! - `events`: a subscription's events, then the stream stays open;
//! - `drop_connection: true`: close the connection.
//!
//! Events are in the view form of [`crate::wire::event`]. Beside the reply:
//! `delay_ms` (before answering), and for subscriptions `delay_each_ms`,
//! `fail_after: {"events": n, "code": ..., "message": ...}`, `drop_after: n`,
//! `keepalive_every: n` (an event-less response after every n events),
//! `keepalive_interval_ms` (one whenever no event came for that long) and
//! `data_loss_at: N` (`DATA_LOSS` with the trailer
//! `esp-undecodable-global-nonce: N` instead of the event at global nonce N
//! or later, after every event before it; also on `read_stream` and
//! `read_all`, whose page fails when it reaches N).

use crate::{
    expectation::{Mock, Reply, Respond, Sequence, Times},
    matchers::Matcher,
    pattern::{FieldPath, Pattern, PatternError},
    wire::{CodeError, EventJsonError, Rpc, code_from_json, events_from_json},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_proto::{
    AppendResponse, ConcurrencyErrorDetail, GetServerInfoResponse, ReadAllResponse,
    ReadStreamResponse,
};
use serde::Deserialize;
use serde_json::Value;
use std::{collections::BTreeMap, time::Duration};
use tonic::Code;

/// An expectation that cannot be built; each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The text is not JSON.
    #[error("invalid expectation: not JSON: {0}")]
    NotJson(String),
    /// A field has a wrong type or is unknown (`field` is its path, `.` the root).
    #[error("invalid expectation: {field}: {message}")]
    Field {
        /// Path of the field, e.g. `respond.delay_ms`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// `rpc` names no RPC.
    #[error(
        "invalid expectation: rpc: unknown RPC {name:?} (known: {})",
        Rpc::known_names()
    )]
    UnknownRpc {
        /// The name given.
        name: String,
    },
    /// A pattern or field path that does not compile.
    #[error("invalid expectation: {field}: {source}")]
    Pattern {
        /// Where, e.g. `fields["aggregate_id"]`.
        field: String,
        /// Why.
        source: PatternError,
    },
    /// A status code that is not one.
    #[error("invalid expectation: {field}: {source}")]
    Code {
        /// Where, e.g. `respond.status.code`.
        field: String,
        /// Why.
        source: CodeError,
    },
    /// An event that cannot be read.
    #[error("invalid expectation: {0}")]
    Event(#[from] EventJsonError),
    /// `times` together with `at_least` or `at_most`.
    #[error("invalid expectation: times cannot be combined with at_least or at_most")]
    TimesWithRange,
    /// `at_least` above `at_most`.
    #[error("invalid expectation: at_least ({at_least}) is more than at_most ({at_most})")]
    EmptyRange {
        /// The lower bound.
        at_least: u64,
        /// The upper bound.
        at_most: u64,
    },
    /// `nth` is 0.
    #[error("invalid expectation: nth: calls are counted from 1, got 0")]
    NthZero,
    /// `up_to` is 0.
    #[error("invalid expectation: up_to: must be at least 1 call, got 0")]
    UpToZero,
    /// A matcher can never match the RPC the expectation is for.
    #[error("invalid expectation: {0}")]
    NeverMatches(String),
    /// `respond` holds more than one reply.
    #[error("invalid expectation: respond: give at most one of {0}")]
    SeveralReplies(&'static str),
}

impl SpecError {
    fn field(field: impl Into<String>, message: impl ToString) -> Self {
        SpecError::Field {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectationSpec {
    rpc: Option<String>,
    request: Option<Value>,
    #[serde(default)]
    fields: BTreeMap<String, Value>,
    #[serde(default)]
    metadata: BTreeMap<String, Value>,
    times: Option<u64>,
    at_least: Option<u64>,
    at_most: Option<u64>,
    respond: Option<RespondSpec>,
    nth: Option<u64>,
    up_to: Option<u64>,
    name: Option<String>,
    sequence: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RespondSpec {
    status: Option<StatusSpec>,
    conflict: Option<ConflictSpec>,
    append_response: Option<AppendResponseSpec>,
    read_response: Option<ReadResponseSpec>,
    read_all_response: Option<ReadAllResponseSpec>,
    server_info_response: Option<ServerInfoSpec>,
    #[serde(default)]
    legacy_server: bool,
    events: Option<Vec<Value>>,
    #[serde(default)]
    drop_connection: bool,
    delay_ms: Option<u64>,
    delay_each_ms: Option<u64>,
    fail_after: Option<FailAfterSpec>,
    drop_after: Option<u64>,
    keepalive_every: Option<u64>,
    keepalive_interval_ms: Option<u64>,
    data_loss_at: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusSpec {
    code: Value,
    #[serde(default)]
    message: String,
    details_base64: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConflictSpec {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    aggregate_id: String,
    /// With neither nonce, the conflict reports the stream's real head.
    actual_last_aggregate_nonce: Option<u64>,
    actual_last_global_nonce: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppendResponseSpec {
    #[serde(default)]
    last_global_nonce: u64,
    #[serde(default)]
    last_aggregate_nonce: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadResponseSpec {
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default = "yes")]
    is_end: bool,
    #[serde(default)]
    next_from_aggregate_nonce: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadAllResponseSpec {
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default = "yes")]
    is_end: bool,
    #[serde(default)]
    next_from_global_nonce: u64,
}

/// A stubbed `GetServerInfo` answer; an omitted field is the mock's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerInfoSpec {
    server_version: Option<String>,
    api_version: Option<String>,
    backend: Option<String>,
    capabilities: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailAfterSpec {
    events: u64,
    code: Value,
    #[serde(default)]
    message: String,
}

/// Parses a JSON expectation. `sequence` resolves a sequence name to the
/// mock's sequence of that name.
pub(crate) fn parse(
    json: &str,
    sequence: impl FnOnce(&str) -> Sequence,
) -> Result<Mock, SpecError> {
    let value: Value = serde_json::from_str(json).map_err(|e| SpecError::NotJson(e.to_string()))?;
    from_value(value, sequence)
}

/// Builds an expectation from its JSON form.
pub(crate) fn from_value(
    value: Value,
    sequence: impl FnOnce(&str) -> Sequence,
) -> Result<Mock, SpecError> {
    let spec: ExpectationSpec = serde_path_to_error::deserialize(value)
        .map_err(|e| SpecError::field(e.path().to_string(), e.inner()))?;
    let mut matchers = Vec::new();
    if let Some(rpc) = &spec.rpc {
        let rpc = Rpc::parse(rpc).ok_or_else(|| SpecError::UnknownRpc { name: rpc.clone() })?;
        matchers.push(Matcher::Rpc(rpc));
    }
    let pattern_error = |field: String| move |source| SpecError::Pattern { field, source };
    if let Some(request) = &spec.request {
        let pattern = Pattern::from_json(request).map_err(pattern_error("request".into()))?;
        matchers.push(Matcher::Field {
            path: None,
            pattern,
        });
    }
    for (path, pattern) in &spec.fields {
        let parsed = FieldPath::parse(path).map_err(pattern_error("fields".into()))?;
        let pattern =
            Pattern::from_json(pattern).map_err(pattern_error(format!("fields[{path:?}]")))?;
        matchers.push(Matcher::Field {
            path: Some(parsed),
            pattern,
        });
    }
    for (key, pattern) in &spec.metadata {
        let pattern =
            Pattern::from_json(pattern).map_err(pattern_error(format!("metadata[{key:?}]")))?;
        matchers.push(Matcher::Metadata {
            key: key.to_ascii_lowercase(),
            pattern,
        });
    }
    let times_given = spec.times.is_some() || spec.at_least.is_some() || spec.at_most.is_some();
    let times = match (spec.times, spec.at_least, spec.at_most) {
        // The crate's default: an expectation without a count wants one
        // call, or its `up_to` calls.
        (None, None, None) => spec.up_to.map_or_else(Times::default, Times::Exactly),
        (Some(n), None, None) => Times::Exactly(n),
        (None, Some(lo), None) => Times::AtLeast(lo),
        (None, None, Some(hi)) => Times::AtMost(hi),
        (None, Some(lo), Some(hi)) if lo <= hi => Times::Between(lo, hi),
        (None, Some(at_least), Some(at_most)) => {
            return Err(SpecError::EmptyRange { at_least, at_most });
        }
        (Some(_), _, _) => return Err(SpecError::TimesWithRange),
    };
    if spec.nth == Some(0) {
        return Err(SpecError::NthZero);
    }
    if spec.up_to == Some(0) {
        return Err(SpecError::UpToZero);
    }
    if let Some(why) = crate::matchers::never_matching(&matchers) {
        return Err(SpecError::NeverMatches(why));
    }
    let respond = spec.respond.map(respond).transpose()?;
    Ok(Mock {
        matchers,
        respond,
        times,
        times_given,
        name: spec.name,
        nth: spec.nth,
        up_to: spec.up_to,
        sequence: spec.sequence.as_deref().map(sequence),
        mounted_at: None,
    })
}

fn status_code(value: &Value, field: &str) -> Result<Code, SpecError> {
    code_from_json(value).map_err(|source| SpecError::Code {
        field: field.to_owned(),
        source,
    })
}

fn respond(spec: RespondSpec) -> Result<Respond, SpecError> {
    let replies = [
        spec.status.is_some(),
        spec.conflict.is_some(),
        spec.append_response.is_some(),
        spec.read_response.is_some(),
        spec.read_all_response.is_some(),
        spec.server_info_response.is_some(),
        spec.legacy_server,
        spec.events.is_some(),
        spec.drop_connection,
    ];
    if replies.iter().filter(|r| **r).count() > 1 {
        return Err(SpecError::SeveralReplies(
            "status, conflict, append_response, read_response, read_all_response, server_info_response, legacy_server, events, drop_connection",
        ));
    }
    let mut respond = if let Some(s) = spec.status {
        let code = status_code(&s.code, "respond.status.code")?;
        let details = match s.details_base64 {
            Some(b) => STANDARD
                .decode(b)
                .map_err(|e| SpecError::field("respond.status.details_base64", e))?,
            None => Vec::new(),
        };
        Respond::status_with_details(code, s.message, details)
    } else if let Some(c) = spec.conflict {
        match (c.actual_last_aggregate_nonce, c.actual_last_global_nonce) {
            (None, None) => Respond {
                reply: Reply::ConflictAtHead {
                    tenant_id: c.tenant_id,
                    aggregate_id: c.aggregate_id,
                },
                ..Respond::conflict_at_head()
            },
            (head, global) => Respond::conflict_with(ConcurrencyErrorDetail {
                tenant_id: c.tenant_id,
                aggregate_id: c.aggregate_id,
                actual_last_aggregate_nonce: head.unwrap_or(0),
                actual_last_global_nonce: global.unwrap_or(0),
            }),
        }
    } else if let Some(a) = spec.append_response {
        Respond::append_response(AppendResponse {
            last_global_nonce: a.last_global_nonce,
            last_aggregate_nonce: a.last_aggregate_nonce,
        })
    } else if let Some(r) = spec.read_response {
        Respond::read_response(ReadStreamResponse {
            events: events_from_json(&r.events, "respond.read_response.events")?,
            is_end: r.is_end,
            next_from_aggregate_nonce: r.next_from_aggregate_nonce,
        })
    } else if let Some(r) = spec.read_all_response {
        Respond::read_all_response(ReadAllResponse {
            events: events_from_json(&r.events, "respond.read_all_response.events")?,
            is_end: r.is_end,
            next_from_global_nonce: r.next_from_global_nonce,
        })
    } else if let Some(i) = spec.server_info_response {
        let own = crate::state::mock_server_info();
        Respond::server_info(GetServerInfoResponse {
            server_version: i.server_version.unwrap_or(own.server_version),
            api_version: i.api_version.unwrap_or(own.api_version),
            backend: i.backend.unwrap_or(own.backend),
            capabilities: i.capabilities.unwrap_or(own.capabilities),
        })
    } else if spec.legacy_server {
        Respond::legacy_server()
    } else if let Some(e) = spec.events {
        Respond::events(events_from_json(&e, "respond.events")?)
    } else if spec.drop_connection {
        Respond::drop_connection()
    } else {
        Respond::pass_through()
    };
    if let Some(ms) = spec.delay_ms {
        respond = respond.with_delay(Duration::from_millis(ms));
    }
    if let Some(ms) = spec.delay_each_ms {
        respond = respond.delay_each(Duration::from_millis(ms));
    }
    if let Some(f) = spec.fail_after {
        let code = status_code(&f.code, "respond.fail_after.code")?;
        respond = respond.fail_after(f.events, code, f.message);
    }
    if let Some(n) = spec.drop_after {
        respond = respond.drop_after(n);
    }
    if let Some(n) = spec.keepalive_every {
        respond = respond.keepalive_every(n);
    }
    if let Some(ms) = spec.keepalive_interval_ms {
        respond = respond.keepalive_interval(Duration::from_millis(ms));
    }
    if let Some(n) = spec.data_loss_at {
        respond = respond.data_loss_at(n);
    }
    Ok(respond)
}

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
//!   "name": "order created",
//!   "sequence": "checkout"
//! }
//! ```
//!
//! `respond` holds one reply (`status`, `conflict`, `append_response`,
//! `read_response`, `events`, `drop_connection`; none = pass through) and
//! any of `delay_ms`, `delay_each_ms`, `fail_after`, `drop_after`.

use crate::{
    expectation::{Mock, Respond, Sequence, Times},
    matchers::Matcher,
    pattern::{FieldPath, Pattern},
    view::Rpc,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_proto::{
    AppendResponse, ConcurrencyErrorDetail, EventData, EventMetadata, ReadStreamResponse,
};
use serde::Deserialize;
use serde_json::Value;
use std::{collections::BTreeMap, time::Duration};
use tonic::Code;

/// An expectation that cannot be built; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid expectation: {0}")]
pub struct SpecError(pub String);

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
    events: Option<Vec<Value>>,
    #[serde(default)]
    drop_connection: bool,
    delay_ms: Option<u64>,
    delay_each_ms: Option<u64>,
    fail_after: Option<FailAfterSpec>,
    drop_after: Option<u64>,
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
    #[serde(default)]
    actual_last_aggregate_nonce: u64,
    #[serde(default)]
    actual_last_global_nonce: u64,
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
    let value: Value =
        serde_json::from_str(json).map_err(|e| SpecError(format!("not JSON: {e}")))?;
    from_value(value, sequence)
}

/// Builds an expectation from its JSON form.
pub(crate) fn from_value(
    value: Value,
    sequence: impl FnOnce(&str) -> Sequence,
) -> Result<Mock, SpecError> {
    let spec: ExpectationSpec = serde_path_to_error::deserialize(value)
        .map_err(|e| SpecError(format!("{}: {}", e.path(), e.inner())))?;
    let mut matchers = Vec::new();
    if let Some(rpc) = &spec.rpc {
        let rpc = Rpc::parse(rpc).ok_or_else(|| {
            SpecError(format!(
                "rpc: unknown RPC {rpc:?} (known: append, read_stream, subscribe)"
            ))
        })?;
        matchers.push(Matcher::Rpc(rpc));
    }
    if let Some(request) = &spec.request {
        let pattern =
            Pattern::from_json(request).map_err(|e| SpecError(format!("request: {e}")))?;
        matchers.push(Matcher::Field {
            path: None,
            pattern,
        });
    }
    for (path, pattern) in &spec.fields {
        let parsed = FieldPath::parse(path).map_err(|e| SpecError(format!("fields: {e}")))?;
        let pattern =
            Pattern::from_json(pattern).map_err(|e| SpecError(format!("fields[{path:?}]: {e}")))?;
        matchers.push(Matcher::Field {
            path: Some(parsed),
            pattern,
        });
    }
    for (key, pattern) in &spec.metadata {
        let pattern = Pattern::from_json(pattern)
            .map_err(|e| SpecError(format!("metadata[{key:?}]: {e}")))?;
        matchers.push(Matcher::Metadata {
            key: key.to_ascii_lowercase(),
            pattern,
        });
    }
    let times = match (spec.times, spec.at_least, spec.at_most) {
        (None, None, None) => Times::Any,
        (Some(n), None, None) => Times::Exactly(n),
        (None, Some(lo), None) => Times::AtLeast(lo),
        (None, None, Some(hi)) => Times::AtMost(hi),
        (None, Some(lo), Some(hi)) if lo <= hi => Times::Between(lo, hi),
        (None, Some(lo), Some(hi)) => {
            return Err(SpecError(format!(
                "at_least ({lo}) is more than at_most ({hi})"
            )));
        }
        (Some(_), _, _) => {
            return Err(SpecError(
                "times cannot be combined with at_least or at_most".into(),
            ));
        }
    };
    if spec.nth == Some(0) {
        return Err(SpecError("nth: calls are counted from 1, got 0".into()));
    }
    let respond = spec.respond.map(respond).transpose()?;
    Ok(Mock {
        matchers,
        respond,
        times,
        name: spec.name,
        nth: spec.nth,
        sequence: spec.sequence.as_deref().map(sequence),
    })
}

fn respond(spec: RespondSpec) -> Result<Respond, SpecError> {
    let replies = [
        spec.status.is_some(),
        spec.conflict.is_some(),
        spec.append_response.is_some(),
        spec.read_response.is_some(),
        spec.events.is_some(),
        spec.drop_connection,
    ];
    if replies.iter().filter(|r| **r).count() > 1 {
        return Err(SpecError(
            "respond: give at most one of status, conflict, append_response, read_response, events, drop_connection".into(),
        ));
    }
    let mut respond = if let Some(s) = spec.status {
        let code = code(&s.code).map_err(|e| SpecError(format!("respond.status.code: {e}")))?;
        let details = match s.details_base64 {
            Some(b) => STANDARD
                .decode(b)
                .map_err(|e| SpecError(format!("respond.status.details_base64: {e}")))?,
            None => Vec::new(),
        };
        Respond::status_with_details(code, s.message, details)
    } else if let Some(c) = spec.conflict {
        Respond::conflict_with(ConcurrencyErrorDetail {
            tenant_id: c.tenant_id,
            aggregate_id: c.aggregate_id,
            actual_last_aggregate_nonce: c.actual_last_aggregate_nonce,
            actual_last_global_nonce: c.actual_last_global_nonce,
        })
    } else if let Some(a) = spec.append_response {
        Respond::append_response(AppendResponse {
            last_global_nonce: a.last_global_nonce,
            last_aggregate_nonce: a.last_aggregate_nonce,
        })
    } else if let Some(r) = spec.read_response {
        Respond::read_response(ReadStreamResponse {
            events: events(&r.events, "respond.read_response.events")?,
            is_end: r.is_end,
            next_from_aggregate_nonce: r.next_from_aggregate_nonce,
        })
    } else if let Some(e) = spec.events {
        Respond::events(events(&e, "respond.events")?)
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
        let code = code(&f.code).map_err(|e| SpecError(format!("respond.fail_after.code: {e}")))?;
        respond = respond.fail_after(f.events, code, f.message);
    }
    if let Some(n) = spec.drop_after {
        respond = respond.drop_after(n);
    }
    Ok(respond)
}

/// A gRPC code from its number or its name (`UNAVAILABLE`, `Unavailable`).
pub fn code(value: &Value) -> Result<Code, String> {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    let number = match value {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => {
            let upper = s.to_ascii_uppercase();
            let snake: String = s
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                    sep.into_iter()
                        .chain(std::iter::once(c.to_ascii_uppercase()))
                })
                .collect();
            NAMES
                .iter()
                .position(|n| *n == upper || *n == snake)
                .and_then(|i| i32::try_from(i).ok())
        }
        _ => None,
    };
    match number {
        Some(n @ 0..=16) => Ok(Code::from_i32(n)),
        _ => Err(format!(
            "{value} is not a gRPC status code (a name like \"UNAVAILABLE\" or a number 0-16)"
        )),
    }
}

/// Events from their JSON view (see [`crate::view::event_json`]); `payload`
/// may be any JSON (encoded as JSON) or `{"$base64": "..."}`.
pub fn events(values: &[Value], at: &str) -> Result<Vec<EventData>, SpecError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| event(v, &format!("{at}[{i}]")))
        .collect()
}

fn event(value: &Value, at: &str) -> Result<EventData, SpecError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct EventSpec {
        #[serde(default)]
        meta: MetaSpec,
        #[serde(default)]
        payload: Value,
    }
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct MetaSpec {
        event_id: String,
        aggregate_id: String,
        aggregate_type: String,
        aggregate_nonce: u64,
        event_type: String,
        event_version: u32,
        content_type: String,
        content_schema: String,
        correlation_id: String,
        causation_id: String,
        actor_id: String,
        tenant_id: String,
        timestamp_unix_ms: u64,
        recorded_time_unix_ms: u64,
        payload_sha256: String,
        headers: BTreeMap<String, String>,
        global_nonce: u64,
    }
    let spec: EventSpec = serde_path_to_error::deserialize(value.clone())
        .map_err(|e| SpecError(format!("{at}.{}: {}", e.path(), e.inner())))?;
    let m = spec.meta;
    let payload_sha256 = (0..m.payload_sha256.len() / 2)
        .map(|i| u8::from_str_radix(m.payload_sha256.get(2 * i..2 * i + 2).unwrap_or(""), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| {
            SpecError(format!(
                "{at}.meta.payload_sha256: not hex: {:?}",
                m.payload_sha256
            ))
        })?;
    Ok(EventData {
        meta: Some(EventMetadata {
            event_id: m.event_id,
            aggregate_id: m.aggregate_id,
            aggregate_type: m.aggregate_type,
            aggregate_nonce: m.aggregate_nonce,
            event_type: m.event_type,
            event_version: m.event_version,
            content_type: m.content_type,
            content_schema: m.content_schema,
            correlation_id: m.correlation_id,
            causation_id: m.causation_id,
            actor_id: m.actor_id,
            tenant_id: m.tenant_id,
            timestamp_unix_ms: m.timestamp_unix_ms,
            recorded_time_unix_ms: m.recorded_time_unix_ms,
            payload_sha256,
            headers: m.headers,
            global_nonce: m.global_nonce,
        }),
        payload: payload_bytes(&spec.payload)
            .map_err(|e| SpecError(format!("{at}.payload: {e}")))?,
    })
}

/// The bytes of a JSON payload: `null` is empty, `{"$base64": ...}` is
/// decoded, anything else is encoded as JSON.
pub fn payload_bytes(payload: &Value) -> Result<Vec<u8>, String> {
    match payload {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) if map.len() == 1 && map.contains_key("$base64") => {
            match &map["$base64"] {
                Value::String(b) => STANDARD.decode(b).map_err(|e| format!("$base64: {e}")),
                other => Err(format!("$base64 must be a string, got {other}")),
            }
        }
        other => serde_json::to_vec(other).map_err(|e| e.to_string()),
    }
}

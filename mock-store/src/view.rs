//! JSON views of calls: what matchers look at and what reports print.
//!
//! A request is shown with its protobuf field names; an event's payload is
//! shown as JSON when it parses as JSON, else as `{"$base64": "..."}`. The
//! same view serves Rust matchers, JSON expectations from other processes
//! and Python dicts, so they all mean the same thing by `events[0].payload`.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, ReadStreamRequest, ReadStreamResponse,
    SubscribeRequest,
};
use serde_json::{Map, Value, json};
use std::fmt;

/// The RPCs of `eventstore.v1.EventStore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rpc {
    /// `Append`.
    Append,
    /// `ReadStream`.
    ReadStream,
    /// `Subscribe`.
    Subscribe,
}

impl Rpc {
    /// The snake_case name used in JSON and in the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            Rpc::Append => "append",
            Rpc::ReadStream => "read_stream",
            Rpc::Subscribe => "subscribe",
        }
    }

    /// Parses a snake_case or gRPC name (`append`, `Append`, `ReadStream`...).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "append" | "Append" => Some(Rpc::Append),
            "read_stream" | "ReadStream" => Some(Rpc::ReadStream),
            "subscribe" | "Subscribe" => Some(Rpc::Subscribe),
            _ => None,
        }
    }
}

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rpc::Append => "Append",
            Rpc::ReadStream => "ReadStream",
            Rpc::Subscribe => "Subscribe",
        })
    }
}

/// A request as received, whichever RPC it was.
#[derive(Debug, Clone, PartialEq)]
pub enum CallRequest {
    /// An `Append`.
    Append(AppendRequest),
    /// A `ReadStream`.
    ReadStream(ReadStreamRequest),
    /// A `Subscribe`.
    Subscribe(SubscribeRequest),
}

impl CallRequest {
    /// Which RPC.
    pub fn rpc(&self) -> Rpc {
        match self {
            CallRequest::Append(_) => Rpc::Append,
            CallRequest::ReadStream(_) => Rpc::ReadStream,
            CallRequest::Subscribe(_) => Rpc::Subscribe,
        }
    }

    /// The JSON view of the request.
    pub fn to_json(&self) -> Value {
        match self {
            CallRequest::Append(r) => append_request_json(r),
            CallRequest::ReadStream(r) => json!({
                "tenant_id": r.tenant_id,
                "aggregate_id": r.aggregate_id,
                "from_aggregate_nonce": r.from_aggregate_nonce,
                "max_count": r.max_count,
                "forward": r.forward,
            }),
            CallRequest::Subscribe(r) => json!({
                "tenant_id": r.tenant_id,
                "aggregate_id_prefix": r.aggregate_id_prefix,
                "from_global_nonce": r.from_global_nonce,
            }),
        }
    }

    /// The request protobuf-encoded, exactly as the wire carried it.
    pub fn encode(&self) -> Vec<u8> {
        use prost::Message;
        match self {
            CallRequest::Append(r) => r.encode_to_vec(),
            CallRequest::ReadStream(r) => r.encode_to_vec(),
            CallRequest::Subscribe(r) => r.encode_to_vec(),
        }
    }
}

/// The JSON view of an append request.
pub fn append_request_json(r: &AppendRequest) -> Value {
    json!({
        "tenant_id": r.tenant_id,
        "aggregate_id": r.aggregate_id,
        "aggregate_type": r.aggregate_type,
        "expected_aggregate_nonce": r.expected_aggregate_nonce,
        "idempotency_key": r.idempotency_key,
        "events": r.events.iter().map(event_json).collect::<Vec<_>>(),
    })
}

/// The JSON view of an append response.
pub fn append_response_json(r: &AppendResponse) -> Value {
    json!({
        "last_global_nonce": r.last_global_nonce,
        "last_aggregate_nonce": r.last_aggregate_nonce,
    })
}

/// The JSON view of a read response.
pub fn read_response_json(r: &ReadStreamResponse) -> Value {
    json!({
        "events": r.events.iter().map(event_json).collect::<Vec<_>>(),
        "is_end": r.is_end,
        "next_from_aggregate_nonce": r.next_from_aggregate_nonce,
    })
}

/// The JSON view of an event: `{"meta": {...}, "payload": ...}`. A missing
/// `meta` shows as `null`.
pub fn event_json(e: &EventData) -> Value {
    let meta = e.meta.as_ref().map_or(Value::Null, |m| {
        json!({
            "event_id": m.event_id,
            "aggregate_id": m.aggregate_id,
            "aggregate_type": m.aggregate_type,
            "aggregate_nonce": m.aggregate_nonce,
            "event_type": m.event_type,
            "event_version": m.event_version,
            "content_type": m.content_type,
            "content_schema": m.content_schema,
            "correlation_id": m.correlation_id,
            "causation_id": m.causation_id,
            "actor_id": m.actor_id,
            "tenant_id": m.tenant_id,
            "timestamp_unix_ms": m.timestamp_unix_ms,
            "recorded_time_unix_ms": m.recorded_time_unix_ms,
            "payload_sha256": hex(&m.payload_sha256),
            "headers": m.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>(),
            "global_nonce": m.global_nonce,
        })
    });
    json!({ "meta": meta, "payload": payload_json(&e.payload) })
}

/// A payload as JSON when it parses as JSON, else `{"$base64": "..."}`.
pub fn payload_json(payload: &[u8]) -> Value {
    if payload.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| json!({ "$base64": STANDARD.encode(payload) }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

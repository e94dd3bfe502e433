//! A journal call as JSON: the one flattening of a [`CallRecord`], used by
//! the control API (`MockControl.Journal`) and the Python extension
//! (`RecordedCall`), so both show a call the same way.
//!
//! ```json
//! {"seq": 3, "rpc": "subscribe", "request": {...}, "metadata": {...},
//!  "status": "UNAVAILABLE", "message": "boom", "response": null,
//!  "received_unix_micros": 1700000000000000, "latency_micros": 1520,
//!  "delivered": [{"meta": {...}, "payload": ...}],
//!  "stream_end": {"reason": "status", "status": "UNAVAILABLE", "message": "boom"},
//!  "caught_up_marker_sent": true, "keepalives_sent": 2,
//!  "matched": [1], "completed": true, "rejected_by_strict_mode": false}
//! ```
//!
//! `status` is the code name of how the call ended (`"OK"`, or `""` while
//! it is in flight); a subscription's status is its stream's end. `response`
//! is the JSON view of the response (`null` for a subscription or a
//! failure). `stream_end` is `null` for unary calls and open streams.
//! `caught_up_marker_sent` (the stream's first event-less response was
//! sent) and `keepalives_sent` (event-less responses after it) are `false`
//! and `0` for unary calls.

use crate::{
    journal::{CallRecord, Outcome, StreamEnd},
    wire::{
        event::event_json,
        rpc::{
            append_response_json, read_all_response_json, read_response_json,
            server_info_response_json,
        },
        status::code_name,
    },
};
use serde::Serialize;
use serde_json::Value;
use std::{collections::BTreeMap, time::UNIX_EPOCH};
use tonic::Code;

/// What the mock says when it closes a connection on purpose (the wire's
/// one spelling, `eventstore_client::wire::CONNECTION_DROPPED`).
pub use eventstore_client::wire::CONNECTION_DROPPED as DROPPED_MESSAGE;

/// How a subscription stream ended, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamEndJson {
    /// `cancelled` (by the client), `status` (a fault or the store ended
    /// it), `completed` (a stub ran out of events), `dropped` (the mock cut
    /// the connection).
    pub reason: &'static str,
    /// The status code name the client saw: `CANCELLED`, the status's,
    /// `OK`, `UNAVAILABLE`.
    pub status: &'static str,
    /// The status message (empty for `completed`).
    pub message: String,
}

impl StreamEndJson {
    /// The JSON shape of `end`.
    pub fn new(end: &StreamEnd) -> Self {
        let (reason, code, message) = match end {
            StreamEnd::Cancelled => ("cancelled", Code::Cancelled, end.to_string()),
            StreamEnd::Status { code, message } => ("status", *code, message.clone()),
            StreamEnd::Completed => ("completed", Code::Ok, String::new()),
            StreamEnd::Dropped => ("dropped", Code::Unavailable, DROPPED_MESSAGE.to_owned()),
        };
        Self {
            reason,
            status: code_name(code),
            message,
        }
    }
}

/// One call, flattened (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallJson {
    /// Position in the journal, from 1.
    pub seq: u64,
    /// The RPC's snake_case name.
    pub rpc: &'static str,
    /// The request's JSON view.
    pub request: Value,
    /// gRPC metadata (ASCII entries).
    pub metadata: BTreeMap<String, String>,
    /// How the call ended; `None` while in flight. Shown as [`CallJson::status`].
    #[serde(skip)]
    pub code: Option<Code>,
    /// The code name of `code` (`""` while in flight).
    pub status: &'static str,
    /// The status message (empty when OK).
    pub message: String,
    /// The response's JSON view; `null` for a failure or a subscription.
    pub response: Value,
    /// Arrival time, microseconds since the Unix epoch.
    pub received_unix_micros: u64,
    /// Time to the answer (subscriptions: to the end); `None` while in flight.
    pub latency_micros: Option<u64>,
    /// Subscribe: the events delivered, in the view form.
    pub delivered: Vec<Value>,
    /// Subscribe: how the stream ended; `None` while open and for unary calls.
    pub stream_end: Option<StreamEndJson>,
    /// Subscribe: whether the caught-up marker was sent.
    pub caught_up_marker_sent: bool,
    /// Subscribe: keepalives sent (event-less responses after the marker).
    pub keepalives_sent: u64,
    /// The ids of the expectations the call matched.
    pub matched: Vec<u64>,
    /// Whether the call has finished.
    pub completed: bool,
    /// Strict mode refused the call.
    pub rejected_by_strict_mode: bool,
}

impl CallJson {
    /// Flattens `c`.
    pub fn new(c: &CallRecord) -> Self {
        let stream_end = c.stream_end.as_ref().map(StreamEndJson::new);
        let (code, message, response) = match &c.outcome {
            None => (None, String::new(), Value::Null),
            Some(Outcome::Appended(r)) => (Some(Code::Ok), String::new(), append_response_json(r)),
            Some(Outcome::Read(r)) => (Some(Code::Ok), String::new(), read_response_json(r)),
            Some(Outcome::ReadAll(r)) => (Some(Code::Ok), String::new(), read_all_response_json(r)),
            Some(Outcome::ServerInfo(r)) => {
                (Some(Code::Ok), String::new(), server_info_response_json(r))
            }
            // An open stream is OK so far; an ended one reports its end.
            Some(Outcome::Streaming) => match &c.stream_end {
                Some(StreamEnd::Status { code, message }) => {
                    (Some(*code), message.clone(), Value::Null)
                }
                Some(StreamEnd::Dropped) => (
                    Some(Code::Unavailable),
                    DROPPED_MESSAGE.to_owned(),
                    Value::Null,
                ),
                _ => (Some(Code::Ok), String::new(), Value::Null),
            },
            Some(Outcome::Status { code, message }) => (Some(*code), message.clone(), Value::Null),
            Some(Outcome::Dropped) => (
                Some(Code::Unavailable),
                DROPPED_MESSAGE.to_owned(),
                Value::Null,
            ),
        };
        Self {
            seq: c.seq,
            rpc: c.rpc().as_str(),
            request: c.request_json.clone(),
            metadata: c.metadata.clone(),
            code,
            status: code.map_or("", code_name),
            message,
            response,
            received_unix_micros: c
                .received_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| micros(d.as_micros())),
            latency_micros: c.latency.map(|d| micros(d.as_micros())),
            delivered: c.delivered.iter().map(event_json).collect(),
            stream_end,
            caught_up_marker_sent: c.caught_up_marker_sent,
            keepalives_sent: c.keepalives_sent,
            matched: c.matched.iter().map(|id| id.0).collect(),
            completed: c.is_complete(),
            rejected_by_strict_mode: c.rejected_by_strict_mode,
        }
    }

    /// As a JSON value.
    pub fn to_value(&self) -> Value {
        // Every field serializes (string keys, plain values).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The JSON of one call (see the module docs).
pub fn call_json(c: &CallRecord) -> Value {
    CallJson::new(c).to_value()
}

fn micros(m: u128) -> u64 {
    u64::try_from(m).unwrap_or(u64::MAX)
}

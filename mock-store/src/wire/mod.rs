//! The mock's wire model: how a call, an event, a payload and a status look
//! outside Rust. Matchers, reports, the JSON spec, fixture files, the
//! control API and the Python extension all go through these files, so a
//! field is spelled, defaulted and named in one place.
//!
//! Files, from the smallest piece to the whole call:
//!
//! - [`status`]: gRPC status codes by name (`"UNAVAILABLE"` <-> [`tonic::Code`]).
//! - [`payload`]: an event payload as JSON (`{"$base64": ...}` when it is not JSON).
//! - [`non_empty`]: strings and lists a JSON form requires to be non-empty.
//! - [`event`]: [`EventMetadata`](eventstore_proto::EventMetadata) <-> JSON, the
//!   one set of defaults for an omitted field, the two front ends (the
//!   journal's *view* form and the *fixture* form), and the UUIDv7 id rule.
//! - [`rpc`]: [`Rpc`] names and [`CallRequest`], the JSON view of requests and responses.
//! - [`call`]: a journal [`CallRecord`](crate::CallRecord) as JSON, its
//!   status and how its stream ended.

pub mod call;
pub mod event;
pub mod non_empty;
pub mod payload;
pub mod rpc;
pub mod status;

pub use call::{CallJson, StreamEndJson, call_json};
pub use event::{
    EventFields, EventJsonError, assign_event_id, event_from_json, event_json, events_from_json,
};
pub use payload::{Payload, PayloadError, payload_bytes, payload_json};
pub use rpc::{
    CallRequest, Rpc, append_request_json, append_response_json, read_all_response_json,
    read_response_json, server_info_response_json,
};
pub use status::{CodeError, code_from_json, code_from_name, code_name};

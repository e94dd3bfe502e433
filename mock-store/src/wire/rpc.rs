//! The RPCs of `eventstore.v1.EventStore` by name, a request whichever RPC
//! it was, and the JSON view of requests and responses: the view matchers
//! look at, reports print, and the control API and Python hand out.
//!
//! A request is shown with its protobuf field names, events in the view form
//! of [`crate::wire::event`].

use crate::wire::event::event_json;
use eventstore_proto::{
    AppendRequest, AppendResponse, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse, ReadStreamRequest, ReadStreamResponse, SubscribeRequest,
};
use serde_json::{Value, json};
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
    /// `ReadAll`.
    ReadAll,
    /// `GetServerInfo`.
    GetServerInfo,
}

impl Rpc {
    /// Every RPC, in the proto's order.
    pub const ALL: [Rpc; 5] = [
        Rpc::Append,
        Rpc::ReadStream,
        Rpc::Subscribe,
        Rpc::ReadAll,
        Rpc::GetServerInfo,
    ];

    /// The snake_case name used in JSON and in the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            Rpc::Append => "append",
            Rpc::ReadStream => "read_stream",
            Rpc::Subscribe => "subscribe",
            Rpc::ReadAll => "read_all",
            Rpc::GetServerInfo => "get_server_info",
        }
    }

    /// The gRPC method name, e.g. `ReadStream`.
    pub fn method(self) -> &'static str {
        match self {
            Rpc::Append => "Append",
            Rpc::ReadStream => "ReadStream",
            Rpc::Subscribe => "Subscribe",
            Rpc::ReadAll => "ReadAll",
            Rpc::GetServerInfo => "GetServerInfo",
        }
    }

    /// Parses a snake_case or gRPC name (`append`, `Append`, `ReadStream`,
    /// `server_info`...).
    pub fn parse(name: &str) -> Option<Self> {
        if name == "server_info" {
            return Some(Rpc::GetServerInfo);
        }
        Self::ALL
            .into_iter()
            .find(|rpc| rpc.as_str() == name || rpc.method() == name)
    }

    /// The known names, for error messages: `append, read_stream, ...`.
    pub fn known_names() -> String {
        Self::ALL
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.method())
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
    /// A `ReadAll`.
    ReadAll(ReadAllRequest),
    /// A `GetServerInfo`.
    GetServerInfo(GetServerInfoRequest),
}

impl CallRequest {
    /// Which RPC.
    pub fn rpc(&self) -> Rpc {
        match self {
            CallRequest::Append(_) => Rpc::Append,
            CallRequest::ReadStream(_) => Rpc::ReadStream,
            CallRequest::Subscribe(_) => Rpc::Subscribe,
            CallRequest::ReadAll(_) => Rpc::ReadAll,
            CallRequest::GetServerInfo(_) => Rpc::GetServerInfo,
        }
    }

    /// The tenant the request is for (empty for `GetServerInfo`).
    pub fn tenant_id(&self) -> &str {
        match self {
            CallRequest::Append(r) => &r.tenant_id,
            CallRequest::ReadStream(r) => &r.tenant_id,
            CallRequest::Subscribe(r) => &r.tenant_id,
            CallRequest::ReadAll(r) => &r.tenant_id,
            CallRequest::GetServerInfo(_) => "",
        }
    }

    /// The aggregate the request is for (empty when it spans aggregates).
    pub fn aggregate_id(&self) -> &str {
        match self {
            CallRequest::Append(r) => &r.aggregate_id,
            CallRequest::ReadStream(r) => &r.aggregate_id,
            _ => "",
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
            CallRequest::ReadAll(r) => json!({
                "tenant_id": r.tenant_id,
                "from_global_nonce": r.from_global_nonce,
                "max_count": r.max_count,
                "forward": r.forward,
            }),
            CallRequest::GetServerInfo(GetServerInfoRequest {}) => json!({}),
        }
    }

    /// The request protobuf-encoded, exactly as the wire carried it.
    pub fn encode(&self) -> Vec<u8> {
        use prost::Message;
        match self {
            CallRequest::Append(r) => r.encode_to_vec(),
            CallRequest::ReadStream(r) => r.encode_to_vec(),
            CallRequest::Subscribe(r) => r.encode_to_vec(),
            CallRequest::ReadAll(r) => r.encode_to_vec(),
            CallRequest::GetServerInfo(r) => r.encode_to_vec(),
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

/// The JSON view of a `ReadStream` response.
pub fn read_response_json(r: &ReadStreamResponse) -> Value {
    json!({
        "events": r.events.iter().map(event_json).collect::<Vec<_>>(),
        "is_end": r.is_end,
        "next_from_aggregate_nonce": r.next_from_aggregate_nonce,
    })
}

/// The JSON view of a `ReadAll` response.
pub fn read_all_response_json(r: &ReadAllResponse) -> Value {
    json!({
        "events": r.events.iter().map(event_json).collect::<Vec<_>>(),
        "is_end": r.is_end,
        "next_from_global_nonce": r.next_from_global_nonce,
    })
}

/// The JSON view of a `GetServerInfo` response.
pub fn server_info_response_json(r: &GetServerInfoResponse) -> Value {
    json!({
        "server_version": r.server_version,
        "api_version": r.api_version,
        "backend": r.backend,
        "capabilities": r.capabilities,
    })
}

/// What a server from before `GetServerInfo` answers: `UNIMPLEMENTED`, as
/// for any method it does not know.
pub(crate) fn legacy_server_status() -> tonic::Status {
    tonic::Status::unimplemented(
        "unknown method GetServerInfo for service eventstore.v1.EventStore (legacy server)",
    )
}

//! The control API (`eventstore.testing.v1.MockControl`): the mock's Rust
//! API for other processes. Each RPC calls the same code as its Rust method.

use crate::{
    journal::CallRecord,
    spec,
    state::{
        MockState,
        data::{read_all, seed_stream},
    },
    verify::verify,
    wire::{CallJson, Rpc},
};
use eventstore_proto::testing::v1::{
    Call, JournalRequest, JournalResponse, MountRequest, MountResponse, ReadAllRequest,
    ReadAllResponse, ResetRequest, ResetResponse, SeedRequest, SeedResponse, SetStrictRequest,
    SetStrictResponse, VerifyRequest, VerifyResponse, mock_control_server::MockControl,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Serves `eventstore.testing.v1.MockControl` for one mock.
#[derive(Debug, Clone)]
pub(crate) struct ControlService {
    pub(crate) state: Arc<MockState>,
}

/// The control API's form of a call: the fields of [`CallJson`], the one
/// flattening the Python extension uses too.
fn call_message(c: &CallRecord) -> Call {
    let json = CallJson::new(c);
    Call {
        seq: json.seq,
        rpc: json.rpc.to_owned(),
        request_json: json.request.to_string(),
        request: c.request.encode(),
        metadata: json.metadata.into_iter().collect(),
        status_code: json.code.map_or(0, |code| code as u32),
        status_message: json.message,
        response_json: if json.response.is_null() {
            String::new()
        } else {
            json.response.to_string()
        },
        received_unix_micros: json.received_unix_micros,
        latency_micros: json.latency_micros.unwrap_or(0),
        delivered: c.delivered.clone(),
        stream_end: c
            .stream_end
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        matched_expectations: json.matched,
        completed: json.completed,
        caught_up_marker_sent: json.caught_up_marker_sent,
        keepalives_sent: json.keepalives_sent,
    }
}

#[tonic::async_trait]
impl MockControl for ControlService {
    async fn mount(
        &self,
        request: Request<MountRequest>,
    ) -> Result<Response<MountResponse>, Status> {
        let json = request.into_inner().expectation_json;
        let mock = spec::parse(&json, |name| self.state.named_sequence(name))
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let id = self.state.mount(mock);
        Ok(Response::new(MountResponse {
            expectation_id: id.0,
        }))
    }

    async fn journal(
        &self,
        request: Request<JournalRequest>,
    ) -> Result<Response<JournalResponse>, Status> {
        let filter = request.into_inner();
        let rpc = match filter.rpc.as_str() {
            "" => None,
            name => Some(Rpc::parse(name).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "rpc: unknown RPC {name:?} (known: {}, or empty for all)",
                    Rpc::known_names()
                ))
            })?),
        };
        let calls = self
            .state
            .journal
            .snapshot()
            .into_iter()
            .filter(|c| rpc.is_none_or(|r| c.rpc() == r))
            .filter(|c| !filter.unmatched_only || c.matched.is_empty())
            .filter(|c| {
                filter.expectation_id == 0
                    || c.matched.iter().any(|id| id.0 == filter.expectation_id)
            })
            .map(|c| call_message(&c))
            .collect();
        Ok(Response::new(JournalResponse { calls }))
    }

    async fn verify(&self, _: Request<VerifyRequest>) -> Result<Response<VerifyResponse>, Status> {
        let result = {
            let expectations = self.state.expectations.lock();
            verify(&expectations.mounted, &self.state.journal.snapshot())
        };
        Ok(Response::new(match result {
            Ok(()) => VerifyResponse {
                ok: true,
                report: String::new(),
            },
            Err(e) => VerifyResponse {
                ok: false,
                report: e.report,
            },
        }))
    }

    async fn reset(
        &self,
        request: Request<ResetRequest>,
    ) -> Result<Response<ResetResponse>, Status> {
        let r = request.into_inner();
        let all = !(r.journal || r.expectations || r.data);
        if all || r.journal {
            self.state.reset_journal();
        }
        if all || r.expectations {
            self.state.reset_expectations();
        }
        if all || r.data {
            self.state.reset_data();
        }
        Ok(Response::new(ResetResponse {}))
    }

    async fn seed(&self, request: Request<SeedRequest>) -> Result<Response<SeedResponse>, Status> {
        let mut results = Vec::new();
        for (i, stream) in request.into_inner().streams.into_iter().enumerate() {
            let result = seed_stream(
                &self.state.engine(),
                &stream.tenant_id,
                &stream.aggregate_id,
                &stream.aggregate_type,
                stream.events,
            )
            .await
            .map_err(|s| Status::new(s.code(), format!("streams[{i}]: {}", s.message())))?;
            results.push(result);
        }
        Ok(Response::new(SeedResponse { results }))
    }

    async fn read_all(
        &self,
        request: Request<ReadAllRequest>,
    ) -> Result<Response<ReadAllResponse>, Status> {
        let r = request.into_inner();
        let events = read_all(&self.state.engine(), &r.tenant_id, &r.aggregate_id).await?;
        Ok(Response::new(ReadAllResponse { events }))
    }

    async fn set_strict(
        &self,
        request: Request<SetStrictRequest>,
    ) -> Result<Response<SetStrictResponse>, Status> {
        self.state.set_strict(request.into_inner().strict);
        Ok(Response::new(SetStrictResponse {}))
    }
}

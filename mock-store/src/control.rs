//! The control API (`eventstore.testing.v1.MockControl`): the mock's Rust
//! API for other processes. Each RPC calls the same code as its Rust method.

use crate::{
    journal::{CallRecord, Outcome, StreamEnd},
    server::{read_all, seed_stream},
    spec,
    state::MockState,
    verify::verify,
    view::{Rpc, append_response_json, read_response_json},
};
use eventstore_proto::testing::v1::{
    Call, JournalRequest, JournalResponse, MountRequest, MountResponse, ReadAllRequest,
    ReadAllResponse, ResetRequest, ResetResponse, SeedRequest, SeedResponse, SetStrictRequest,
    SetStrictResponse, VerifyRequest, VerifyResponse, mock_control_server::MockControl,
};
use std::{sync::Arc, time::UNIX_EPOCH};
use tonic::{Request, Response, Status};

/// Serves `eventstore.testing.v1.MockControl` for one mock.
#[derive(Debug, Clone)]
pub(crate) struct ControlService {
    pub(crate) state: Arc<MockState>,
}

fn call_message(c: CallRecord) -> Call {
    let (status_code, status_message, response_json) = match &c.outcome {
        Some(Outcome::Appended(r)) => (0, String::new(), append_response_json(r).to_string()),
        Some(Outcome::Read(r)) => (0, String::new(), read_response_json(r).to_string()),
        // A subscription that ended with a status (a fault, a shutdown) reports it.
        Some(Outcome::Streaming) => match &c.stream_end {
            Some(StreamEnd::Status { code, message }) => {
                (*code as u32, message.clone(), String::new())
            }
            Some(StreamEnd::Dropped) => (
                tonic::Code::Unavailable as u32,
                "connection dropped by the mock".to_owned(),
                String::new(),
            ),
            _ => (0, String::new(), String::new()),
        },
        None => (0, String::new(), String::new()),
        Some(Outcome::Status { code, message }) => (*code as u32, message.clone(), String::new()),
        Some(Outcome::Dropped) => (
            tonic::Code::Unavailable as u32,
            "connection dropped by the mock".to_owned(),
            String::new(),
        ),
    };
    let completed = c.is_complete();
    Call {
        seq: c.seq,
        rpc: c.rpc().as_str().to_owned(),
        request_json: c.request_json.to_string(),
        request: c.request.encode(),
        metadata: c.metadata.into_iter().collect(),
        status_code,
        status_message,
        response_json,
        received_unix_micros: c
            .received_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        latency_micros: c
            .latency
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        delivered: c.delivered,
        stream_end: c.stream_end.map(|e| e.to_string()).unwrap_or_default(),
        matched_expectations: c.matched.iter().map(|id| id.0).collect(),
        completed,
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
                    "rpc: unknown RPC {name:?} (known: append, read_stream, subscribe, or empty for all)"
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
            .map(call_message)
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
        let engine = self.state.engine();
        let mut results = Vec::new();
        for (i, stream) in request.into_inner().streams.into_iter().enumerate() {
            let result = seed_stream(
                &engine,
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

//! The concrete requests of a plan's append steps, given the head of the
//! stream they go to: one resolution for every runner of plans (the
//! [`super::Interpreter`], `eventstore-conformance diff`), so a plan means
//! the same requests everywhere and a shrunk plan reproduces.

use super::{
    AppendSpec, Defect, ExpectedChoice, IdChoice, RequestDefect, ResendChange,
    names::{AGGREGATE_TYPE, DEFAULT_CONTENT_TYPE, TENANTS, stream_of},
};
use eventstore_proto::{AppendRequest, EventData, EventMetadata};
use std::collections::BTreeMap;

fn payload(step: usize, i: usize) -> Vec<u8> {
    format!("{{\"step\":{step},\"i\":{i}}}").into_bytes()
}

/// The request `spec` describes, to its stream ([`super::names::stream_of`])
/// whose head is `head`; `step` (the step's index in its plan) goes into
/// the payloads, so two appends of one plan differ; `fresh` numbers the
/// never-used event ids (`f1`, `f2`, ...) and is advanced by each.
pub fn build_append(spec: &AppendSpec, head: u64, step: usize, fresh: &mut u64) -> AppendRequest {
    let (tenant, aggregate) = stream_of(spec);
    let expected = match spec.expected {
        ExpectedChoice::Head => head,
        ExpectedChoice::Zero => 0,
        ExpectedChoice::Offset(delta) => head.saturating_add_signed(i64::from(delta)),
    };
    let events = spec
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let event_id = match e.id {
                IdChoice::Fresh => {
                    *fresh += 1;
                    format!("f{fresh}")
                }
                IdChoice::Pool(n) => format!("e{n}"),
            };
            let mut meta = EventMetadata {
                event_id,
                aggregate_nonce: (expected + i as u64 + 1)
                    .saturating_add_signed(i64::from(e.nonce_offset)),
                event_type: "order.Placed".into(),
                event_version: 1,
                content_type: if e.json {
                    "application/json".into()
                } else {
                    String::new()
                },
                ..EventMetadata::default()
            };
            if e.headers {
                meta.headers = BTreeMap::from([
                    ("b".to_owned(), "2".to_owned()),
                    ("a".to_owned(), "1".to_owned()),
                    ("c".to_owned(), "3".to_owned()),
                ]);
            }
            match e.defect {
                Defect::None => {}
                Defect::MissingMeta => {
                    return EventData {
                        meta: None,
                        payload: payload(step, i),
                    };
                }
                Defect::EmptyId => meta.event_id.clear(),
                Defect::ZeroNonce => meta.aggregate_nonce = 0,
                Defect::EmptyType => meta.event_type.clear(),
                Defect::WrongAggregateId => meta.aggregate_id = "other-aggregate".into(),
                Defect::WrongAggregateType => meta.aggregate_type = "Other".into(),
                Defect::WrongTenant => {
                    meta.tenant_id = TENANTS[(spec.tenant + 1) % TENANTS.len()].into();
                }
                Defect::ExplicitRequestFields => {
                    meta.aggregate_id = aggregate.into();
                    meta.aggregate_type = AGGREGATE_TYPE.into();
                    meta.tenant_id = tenant.into();
                }
                Defect::StoreFieldsSet => {
                    meta.global_nonce = 9_999;
                    meta.recorded_time_unix_ms = 1;
                }
            }
            EventData {
                meta: Some(meta),
                payload: payload(step, i),
            }
        })
        .collect();
    let mut request = AppendRequest {
        tenant_id: tenant.into(),
        aggregate_id: aggregate.into(),
        aggregate_type: AGGREGATE_TYPE.into(),
        expected_aggregate_nonce: expected,
        idempotency_key: spec.key.map(|k| format!("k{k}")).unwrap_or_default(),
        events,
    };
    match spec.defect {
        RequestDefect::None => {}
        RequestDefect::EmptyTenant => request.tenant_id.clear(),
        RequestDefect::EmptyAggregateId => request.aggregate_id.clear(),
        RequestDefect::EmptyAggregateType => request.aggregate_type.clear(),
        RequestDefect::NoEvents => request.events.clear(),
    }
    request
}

/// `original` sent again, changed as `change` says; `head` is the
/// stream's current head.
pub fn resend(original: &AppendRequest, change: ResendChange, head: u64) -> AppendRequest {
    let mut request = original.clone();
    match change {
        ResendChange::Exact => {}
        ResendChange::CurrentHead => request.expected_aggregate_nonce = head,
        ResendChange::ChangedPayload => {
            if let Some(first) = request.events.first_mut() {
                first.payload.extend_from_slice(b" ");
            }
        }
        ResendChange::ContentType(content_type) => {
            if let Some(meta) = request.events.first_mut().and_then(|e| e.meta.as_mut()) {
                meta.content_type = content_type.into();
            }
        }
        ResendChange::Renormalized => {
            for event in &mut request.events {
                if let Some(meta) = event.meta.as_mut() {
                    if meta.aggregate_id.is_empty() {
                        meta.aggregate_id.clone_from(&request.aggregate_id);
                    }
                    if meta.content_type.is_empty() {
                        meta.content_type = DEFAULT_CONTENT_TYPE.into();
                    }
                    meta.global_nonce = 123_456;
                    meta.recorded_time_unix_ms = 42;
                }
            }
        }
    }
    request
}

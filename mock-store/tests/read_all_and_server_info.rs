//! ReadAll and GetServerInfo in the mock: journaled, matched, stubbed,
//! faulted and verified like the other RPCs, in Rust and in JSON; and the
//! legacy server mode.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TENANT, append_req, ev};
use eventstore_mock::{
    Backend, Mock, MockEventStore, Outcome, Respond, Rpc, matchers::*, wire::call_json,
};
use eventstore_proto::{
    EventData, EventMetadata, GetServerInfoRequest, GetServerInfoResponse, ReadAllRequest,
    ReadAllResponse,
};
use serde_json::json;
use std::time::{Duration, Instant};
use tonic::Code;

fn read_all_req(from: u64, max_count: u32, forward: bool) -> ReadAllRequest {
    ReadAllRequest {
        tenant_id: TENANT.into(),
        from_global_nonce: from,
        max_count,
        forward,
    }
}

async fn seeded(n: usize) -> MockEventStore {
    let mock = MockEventStore::start().await;
    let events = (1..=n)
        .map(|i| ev(&format!("e{i}"), &format!("E{i}"), json!({"i": i})))
        .collect();
    mock.seed(TENANT, "order-1", "Order", events).await.unwrap();
    mock
}

fn stubbed_event(global_nonce: u64) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: format!("s{global_nonce}"),
            event_type: "Stubbed".into(),
            global_nonce,
            ..EventMetadata::default()
        }),
        payload: b"{}".to_vec(),
    }
}

#[tokio::test]
async fn read_all_passes_through_and_is_journaled() {
    let mock = seeded(3).await;
    let id = Mock::given(read_all())
        .and(from_global_nonce(2))
        .and(max_count(1))
        .and(forward(true))
        .mount(&mock);
    let page = mock
        .client()
        .read_all(read_all_req(2, 1, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.next_from_global_nonce, 3);
    assert!(!page.is_end);

    let calls = mock.calls_to(Rpc::ReadAll);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].matched, [id]);
    assert!(matches!(&calls[0].outcome, Some(Outcome::ReadAll(r)) if r == &page));
    assert_eq!(
        calls[0].summary(),
        "#1 ReadAll t1 from_global_nonce=2 max_count=1 forward"
    );
    let json = call_json(&calls[0]);
    assert_eq!(json["rpc"], "read_all");
    assert_eq!(json["status"], "OK");
    assert_eq!(json["request"]["from_global_nonce"], 2);
    assert_eq!(json["response"]["next_from_global_nonce"], 3);
    assert_eq!(json["response"]["events"][0]["meta"]["event_type"], "E2");
    assert_eq!(json["stream_end"], serde_json::Value::Null);
    mock.verify().unwrap();
}

#[tokio::test]
async fn read_all_stubs_and_faults() {
    let mock = seeded(1).await;
    Mock::given(read_all())
        .and(forward(false))
        .respond_with(Respond::read_all_response(ReadAllResponse {
            events: vec![stubbed_event(42)],
            is_end: true,
            next_from_global_nonce: 0,
        }))
        .mount(&mock);
    Mock::given(read_all())
        .and(from_global_nonce(7))
        .respond_with(Respond::status(Code::Unavailable, "try later"))
        .mount(&mock);
    Mock::given(read_all())
        .and(from_global_nonce(8))
        .respond_with(Respond::pass_through().with_delay(Duration::from_millis(50)))
        .mount(&mock);
    Mock::given(read_all())
        .and(from_global_nonce(9))
        .respond_with(Respond::drop_connection())
        .mount(&mock);
    let mut client = mock.client();

    let page = client
        .read_all(read_all_req(0, 0, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.events, [stubbed_event(42)]);

    let err = client.read_all(read_all_req(7, 0, true)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unavailable, "try later")
    );

    let started = Instant::now();
    client.read_all(read_all_req(8, 0, true)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));

    let err = common::tcp_client(&mock)
        .await
        .read_all(read_all_req(9, 0, true))
        .await
        .unwrap_err();
    // A broken connection, not an answer: tonic reports the I/O error.
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    assert_eq!(
        mock.calls_to(Rpc::ReadAll)
            .last()
            .and_then(|c| c.outcome.clone()),
        Some(Outcome::Dropped)
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn unmet_read_all_expectation_is_reported() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    Mock::given(read_all())
        .and(from_global_nonce(5))
        .named("catch-up from 5")
        .mount(&mock);
    mock.client()
        .read_all(read_all_req(1, 0, true))
        .await
        .unwrap();
    let err = mock.verify().unwrap_err();
    assert!(err.report.contains("\"catch-up from 5\""), "{err}");
    assert!(
        err.report.contains("expected exactly 1 call, received 0"),
        "{err}"
    );
    assert!(err.report.contains("from_global_nonce"), "{err}");
    assert!(err.report.contains("#1 ReadAll t1"), "{err}");
}

#[tokio::test]
async fn server_info_answers_as_a_mock_and_can_be_stubbed() {
    let mock = MockEventStore::start().await;
    let info = mock
        .client()
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    // As the reference's in-memory store answers: its API level with our
    // identity in build metadata, backend "memory", its four capabilities.
    assert_eq!(info.backend, "memory");
    assert_eq!(info.api_version, "eventstore.v1");
    assert_eq!(info.server_version, eventstore_proto::SERVER_VERSION);
    assert!(info.server_version.starts_with("0.17.0+eventstore-sdk."));
    assert_eq!(
        info.capabilities,
        [
            "commit_ordered_global_nonce",
            "subscription_errors_surfaced",
            "undecodable_events_surfaced",
            "literal_subscription_prefix"
        ]
    );
    assert_eq!(info, mock.server_info());

    let stub = GetServerInfoResponse {
        server_version: "0.0.1".into(),
        api_version: "eventstore.v1".into(),
        backend: "unknown".into(),
        capabilities: vec![],
    };
    let id = Mock::given(server_info())
        .respond_with(Respond::server_info(stub.clone()))
        .mount(&mock);
    let got = mock
        .client()
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, stub);
    assert_eq!(mock.calls_matching(id).len(), 1);
    let json = call_json(&mock.calls_to(Rpc::GetServerInfo)[1]);
    assert_eq!(json["rpc"], "get_server_info");
    assert_eq!(json["response"]["backend"], "unknown");
    mock.verify().unwrap();
}

/// A mock can answer as the user's production store would: the builder,
/// the setter at run time, and the standalone binary's `--backend` (in
/// `tests/binary.rs`) take one of the reference's names.
#[tokio::test]
async fn the_backend_can_be_told_to_answer_as_postgres() {
    let mock = MockEventStore::builder()
        .backend(Backend::Postgres)
        .start()
        .await;
    let mut client = mock.client();
    let info = client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.backend, "postgres");
    assert_eq!(info.server_version, eventstore_proto::SERVER_VERSION);
    mock.set_backend(Backend::Unknown);
    let info = client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.backend, "unknown");
    assert_eq!("postgres".parse::<Backend>(), Ok(Backend::Postgres));
    let error = "mock".parse::<Backend>().unwrap_err().to_string();
    assert_eq!(
        error,
        r#"backend "mock" is not one of the reference's: "memory", "postgres", "unknown""#
    );
}

#[tokio::test]
async fn legacy_server_answers_unimplemented() {
    let mock = MockEventStore::builder().legacy_server(true).start().await;
    let mut client = mock.client();
    let err = client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    // The other RPCs work as before.
    client
        .append(append_req("order-1", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap();
    let json = call_json(&mock.calls_to(Rpc::GetServerInfo)[0]);
    assert_eq!(json["status"], "UNIMPLEMENTED");

    mock.set_legacy_server(false);
    client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap();
    // An expectation plays a legacy server too.
    Mock::given(server_info())
        .respond_with(Respond::legacy_server())
        .mount(&mock);
    let err = client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    mock.verify().unwrap();
}

#[tokio::test]
async fn read_all_and_server_info_from_json() {
    let mock = seeded(2).await;
    mock.mount_json(
        r#"{"rpc": "read_all", "fields": {"forward": false},
            "respond": {"read_all_response": {"events": [{"meta": {"event_type": "J", "global_nonce": 9}}],
                                              "next_from_global_nonce": 8, "is_end": false}}}"#,
    )
    .unwrap();
    mock.mount_json(
        r#"{"rpc": "read_all", "fields": {"from_global_nonce": 7},
            "respond": {"status": {"code": "UNAVAILABLE", "message": "later"}}}"#,
    )
    .unwrap();
    mock.mount_json(
        r#"{"rpc": "server_info", "respond": {"server_info_response": {"backend": "postgres"}}}"#,
    )
    .unwrap();
    let mut client = mock.client();
    let page = client
        .read_all(read_all_req(0, 0, false))
        .await
        .unwrap()
        .into_inner();
    let meta = page.events[0].meta.clone().unwrap();
    assert_eq!((meta.event_type.as_str(), meta.global_nonce), ("J", 9));
    assert_eq!(
        meta.event_version, 1,
        "the one default for an omitted version"
    );
    assert_eq!((page.next_from_global_nonce, page.is_end), (8, false));
    let err = client.read_all(read_all_req(7, 0, true)).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::Unavailable, "later"));
    let info = client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.backend, "postgres");
    assert_eq!(info.api_version, "eventstore.v1", "omitted: the mock's own");
    mock.verify().unwrap();

    mock.reset();
    mock.mount_json(r#"{"rpc": "get_server_info", "respond": {"legacy_server": true}}"#)
        .unwrap();
    let err = client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    mock.verify().unwrap();
}

#[tokio::test]
async fn data_loss_at_fails_reads_that_reach_it() {
    let mock = seeded(4).await;
    Mock::given(read_all())
        .respond_with(Respond::pass_through().data_loss_at(3))
        .expect(3)
        .mount(&mock);
    mock.mount_json(r#"{"rpc": "read_stream", "respond": {"data_loss_at": 3}}"#)
        .unwrap();
    let mut client = mock.client();
    // A page before the damaged event reads fine.
    let page = client
        .read_all(read_all_req(1, 2, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.events.len(), 2);
    // One reaching it fails with DATA_LOSS and the trailer, both ways.
    for request in [
        read_all_req(3, 0, true),
        read_all_req((1 << 63) - 1, 0, false),
    ] {
        let err = client.read_all(request).await.unwrap_err();
        assert_eq!(err.code(), Code::DataLoss);
        assert_eq!(
            eventstore_engine::status::undecodable_global_nonce(&err),
            Some(3)
        );
    }
    let err = client
        .read_stream(common::read_req("order-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DataLoss);
    assert_eq!(
        eventstore_engine::status::undecodable_global_nonce(&err),
        Some(3)
    );
    let json = call_json(&mock.calls_to(Rpc::ReadStream)[0]);
    assert_eq!(json["status"], "DATA_LOSS");
    mock.verify().unwrap();
}

//! The mock's credentials option and the journal's redaction (issue 14
//! item 10): with `credentials(user, password)` every service but health
//! (the event store, the control API, reflection) refuses calls without
//! them, over TCP and in process; the journal never hands out a
//! credential header unless asked to.

#![allow(clippy::unwrap_used)]

use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_mock::MockEventStore;
use eventstore_proto::{
    GetServerInfoRequest, ReadStreamRequest,
    event_store_client::EventStoreClient,
    testing::v1::{
        JournalRequest, ResetRequest, SetStrictRequest, mock_control_client::MockControlClient,
    },
};
use std::time::Duration;
use tonic::{
    Code, Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const PATIENCE: Duration = Duration::from_secs(10);

/// Sets (or not) metadata entries on every call.
#[derive(Clone)]
struct Headers(Vec<(&'static str, String)>);

impl Interceptor for Headers {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        for (key, value) in &self.0 {
            request
                .metadata_mut()
                .insert(*key, MetadataValue::try_from(value.as_str()).unwrap());
        }
        Ok(request)
    }
}

fn basic(user_password: &str) -> (&'static str, String) {
    (
        "authorization",
        format!("Basic {}", STANDARD.encode(user_password)),
    )
}

async fn channel(mock: &MockEventStore) -> Channel {
    tokio::time::timeout(
        PATIENCE,
        Channel::from_shared(mock.endpoint()).unwrap().connect(),
    )
    .await
    .unwrap()
    .unwrap()
}

fn read_request() -> ReadStreamRequest {
    ReadStreamRequest {
        tenant_id: "t1".into(),
        aggregate_id: "order-1".into(),
        from_aggregate_nonce: 0,
        max_count: 10,
        forward: true,
    }
}

fn store(
    channel: Channel,
    headers: Headers,
) -> EventStoreClient<InterceptedService<Channel, Headers>> {
    EventStoreClient::with_interceptor(channel, headers)
}

fn control(
    channel: Channel,
    headers: Headers,
) -> MockControlClient<InterceptedService<Channel, Headers>> {
    MockControlClient::with_interceptor(channel, headers)
}

/// Every control and store RPC is refused with UNAUTHENTICATED.
async fn everything_is_refused(channel: Channel, headers: Headers) {
    let mut control = control(channel.clone(), headers.clone());
    let results: Vec<(&str, Result<(), Status>)> = vec![
        (
            "Journal",
            control.journal(JournalRequest::default()).await.map(drop),
        ),
        (
            "Reset",
            control.reset(ResetRequest::default()).await.map(drop),
        ),
        (
            "SetStrict",
            control
                .set_strict(SetStrictRequest { strict: true })
                .await
                .map(drop),
        ),
        (
            "GetServerInfo",
            store(channel, headers)
                .get_server_info(GetServerInfoRequest {})
                .await
                .map(drop),
        ),
    ];
    for (rpc, result) in results {
        let status = result.expect_err(&format!("{rpc} must be refused"));
        assert_eq!(status.code(), Code::Unauthenticated, "{rpc}: {status:?}");
        assert_eq!(status.message(), "missing or invalid credentials");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_cover_the_store_and_the_control_api_but_not_health() {
    let mock = MockEventStore::builder()
        .credentials("tester", "pa55")
        .verify_on_drop(false)
        .start()
        .await;
    let tcp = channel(&mock).await;
    everything_is_refused(tcp.clone(), Headers(vec![])).await;
    everything_is_refused(tcp.clone(), Headers(vec![basic("tester:wrong")])).await;
    // In process too.
    everything_is_refused(mock.channel(), Headers(vec![])).await;

    let good = Headers(vec![basic("tester:pa55")]);
    store(tcp.clone(), good.clone())
        .get_server_info(GetServerInfoRequest {})
        .await
        .expect("the right credentials");
    // The refused SetStrict(true) changed nothing: an unmatched call passes.
    store(tcp.clone(), good.clone())
        .read_stream(read_request())
        .await
        .expect("not strict: the refused SetStrict had no effect");
    control(tcp.clone(), good)
        .journal(JournalRequest::default())
        .await
        .expect("the control API with the right credentials");
    let status = HealthClient::new(tcp)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no credentials")
        .into_inner()
        .status();
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// `bearer_token` guards the same services as `credentials`, over TCP and
/// in process; with both configured, either gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_covers_the_store_and_the_control_api() {
    let mock = MockEventStore::builder()
        .bearer_token("t0k.en-1")
        .verify_on_drop(false)
        .start()
        .await;
    let tcp = channel(&mock).await;
    for headers in [
        vec![],
        vec![bearer("t0k.en-2")],
        vec![bearer("")],
        vec![basic("t0k.en-1:")],
    ] {
        everything_is_refused(tcp.clone(), Headers(headers)).await;
    }
    everything_is_refused(mock.channel(), Headers(vec![])).await;
    for channel in [tcp.clone(), mock.channel()] {
        control(channel, Headers(vec![bearer("t0k.en-1")]))
            .journal(JournalRequest::default())
            .await
            .expect("the token");
    }

    let both = MockEventStore::builder()
        .credentials("tester", "pa55")
        .bearer_token("t0k.en-1")
        .verify_on_drop(false)
        .start()
        .await;
    for header in [basic("tester:pa55"), bearer("t0k.en-1")] {
        store(both.channel(), Headers(vec![header]))
            .get_server_info(GetServerInfoRequest {})
            .await
            .expect("either credential");
    }
    everything_is_refused(both.channel(), Headers(vec![bearer("pa55")])).await;
}

/// A token that breaks RFC 6750's characters stops the mock at start with
/// a message that does not quote it.
#[tokio::test]
async fn a_bad_bearer_token_stops_the_start() {
    let error = MockEventStore::builder()
        .bearer_token("se cret")
        .verify_on_drop(false)
        .try_start()
        .await
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("bearer token: "), "{error}");
    assert!(!error.contains("se cret"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_redacts_credential_headers_by_default() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let sent = Headers(vec![
        basic("alice:s3cret"),
        ("x-api-key", "key-123".into()),
        ("x-auth-token", "tok-456".into()),
        ("x-request-id", "req-1".into()),
    ]);
    store(channel(&mock).await, sent.clone())
        .read_stream(read_request())
        .await
        .unwrap();
    let calls = control(channel(&mock).await, Headers(vec![]))
        .journal(JournalRequest::default())
        .await
        .unwrap()
        .into_inner()
        .calls;
    let metadata = &calls.last().expect("the call is journaled").metadata;
    assert_eq!(metadata["authorization"], "Basic [redacted]");
    assert_eq!(metadata["x-api-key"], "[redacted]");
    assert_eq!(metadata["x-auth-token"], "[redacted]");
    assert_eq!(metadata["x-request-id"], "req-1", "other metadata is kept");
    let text = format!("{calls:?} {:?}", mock.received_calls());
    for secret in [
        STANDARD.encode("alice:s3cret"),
        "key-123".into(),
        "tok-456".into(),
    ] {
        assert!(!text.contains(&secret), "the journal leaks {secret}");
    }

    // Opting out records them as sent.
    let raw = MockEventStore::builder()
        .redact_journal_credentials(false)
        .verify_on_drop(false)
        .start()
        .await;
    store(channel(&raw).await, sent)
        .read_stream(read_request())
        .await
        .unwrap();
    let calls = raw.received_calls();
    assert_eq!(
        calls.last().unwrap().metadata["authorization"],
        format!("Basic {}", STANDARD.encode("alice:s3cret"))
    );
}

//! The control API (`eventstore.testing.v1.MockControl`) over gRPC, as
//! another process sees it: every check here drives the mock only through
//! `MockControl` and the ordinary `eventstore.v1` client, both connected to
//! `mock.endpoint()`.

#![allow(clippy::unwrap_used)]

use eventstore_engine::status::concurrency_detail;
use eventstore_mock::{MockEventStore, seed::parse_fixtures};
use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadStreamRequest, SubscribeRequest,
    SubscribeResponse,
    event_store_client::EventStoreClient,
    testing::v1::{
        Call, JournalRequest, MountRequest, ReadAllRequest, ResetRequest, SeedRequest, SeedStream,
        SetStrictRequest, VerifyRequest, VerifyResponse, mock_control_client::MockControlClient,
    },
};
use futures::StreamExt;
use prost::Message;
use serde_json::{Value, json};
use std::{
    future::Future,
    time::{Duration, Instant},
};
use tonic::{Code, Request, Status, Streaming, transport::Channel};

const TENANT: &str = "t1";
/// Upper bound for anything a test waits for.
const PATIENCE: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A mock and two clients over TCP: the control API and `eventstore.v1`.
struct Harness {
    _mock: MockEventStore,
    control: MockControlClient<Channel>,
    store: EventStoreClient<Channel>,
}

async fn harness() -> Harness {
    // Verification happens through the control API here, never on drop.
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let control = within(
        "the control client",
        MockControlClient::connect(mock.endpoint()),
    )
    .await
    .unwrap();
    let store = within(
        "the store client",
        EventStoreClient::connect(mock.endpoint()),
    )
    .await
    .unwrap();
    Harness {
        _mock: mock,
        control,
        store,
    }
}

impl Harness {
    async fn mount(&mut self, expectation: Value) -> u64 {
        self.try_mount(&expectation.to_string())
            .await
            .unwrap_or_else(|s| panic!("mount {expectation}: {s:?}"))
    }

    async fn try_mount(&mut self, json: &str) -> Result<u64, Status> {
        within(
            "Mount",
            self.control.mount(MountRequest {
                expectation_json: json.to_owned(),
            }),
        )
        .await
        .map(|r| r.into_inner().expectation_id)
    }

    async fn journal(&mut self, filter: JournalRequest) -> Vec<Call> {
        within("Journal", self.control.journal(filter))
            .await
            .unwrap()
            .into_inner()
            .calls
    }

    async fn all_calls(&mut self) -> Vec<Call> {
        self.journal(JournalRequest::default()).await
    }

    async fn verify(&mut self) -> VerifyResponse {
        within("Verify", self.control.verify(VerifyRequest {}))
            .await
            .unwrap()
            .into_inner()
    }

    async fn reset(&mut self, journal: bool, expectations: bool, data: bool) {
        within(
            "Reset",
            self.control.reset(ResetRequest {
                journal,
                expectations,
                data,
            }),
        )
        .await
        .unwrap();
    }

    async fn read_all(&mut self, aggregate: &str) -> Vec<EventData> {
        within(
            "ReadAll",
            self.control.read_all(ReadAllRequest {
                tenant_id: TENANT.into(),
                aggregate_id: aggregate.into(),
            }),
        )
        .await
        .unwrap()
        .into_inner()
        .events
    }

    async fn set_strict(&mut self, strict: bool) {
        within(
            "SetStrict",
            self.control.set_strict(SetStrictRequest { strict }),
        )
        .await
        .unwrap();
    }

    async fn append(&mut self, request: AppendRequest) -> Result<(u64, u64), Status> {
        within("Append", self.store.append(request)).await.map(|r| {
            let r = r.into_inner();
            (r.last_aggregate_nonce, r.last_global_nonce)
        })
    }

    async fn read(&mut self, aggregate: &str) -> Result<Vec<EventData>, Status> {
        within("ReadStream", self.store.read_stream(read_req(aggregate)))
            .await
            .map(|r| r.into_inner().events)
    }

    async fn subscribe(&mut self) -> Streaming<SubscribeResponse> {
        within(
            "Subscribe",
            self.store.subscribe(SubscribeRequest {
                tenant_id: TENANT.into(),
                aggregate_id_prefix: String::new(),
                from_global_nonce: 0,
            }),
        )
        .await
        .unwrap()
        .into_inner()
    }

    /// Polls the journal until `check` accepts it (subscriptions end
    /// asynchronously).
    async fn journal_until(&mut self, what: &str, check: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let calls = self.all_calls().await;
            if check(&calls) {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; journal: {calls:#?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn ev(event_type: &str, payload: Value, nonce: u64) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: event_type.into(),
            event_version: 1,
            aggregate_nonce: nonce,
            content_type: "application/json".into(),
            ..EventMetadata::default()
        }),
        payload: serde_json::to_vec(&payload).unwrap(),
    }
}

fn append_req(aggregate: &str, expected: u64, events: Vec<EventData>) -> AppendRequest {
    AppendRequest {
        tenant_id: TENANT.into(),
        aggregate_id: aggregate.into(),
        aggregate_type: "Order".into(),
        expected_aggregate_nonce: expected,
        idempotency_key: String::new(),
        events,
    }
}

/// A first append of one event to a new stream.
fn create(aggregate: &str, payload: Value) -> AppendRequest {
    append_req(aggregate, 0, vec![ev("OrderCreated", payload, 1)])
}

fn read_req(aggregate: &str) -> ReadStreamRequest {
    ReadStreamRequest {
        tenant_id: TENANT.into(),
        aggregate_id: aggregate.into(),
        from_aggregate_nonce: 0,
        max_count: 0,
        forward: true,
    }
}

fn meta(e: &EventData) -> &EventMetadata {
    e.meta.as_ref().unwrap()
}

fn seqs(calls: &[Call]) -> Vec<u64> {
    calls.iter().map(|c| c.seq).collect()
}

fn seed_stream(aggregate: &str, types: &[&str]) -> SeedStream {
    SeedStream {
        tenant_id: TENANT.into(),
        aggregate_id: aggregate.into(),
        aggregate_type: "Order".into(),
        events: types
            .iter()
            .map(|t| EventData {
                meta: Some(EventMetadata {
                    event_type: (*t).into(),
                    ..EventMetadata::default()
                }),
                payload: br#"{"seeded":true}"#.to_vec(),
            })
            .collect(),
    }
}

/// The next event, skipping event-less responses (the caught-up marker,
/// keepalives) as every client must.
async fn next_event(stream: &mut Streaming<SubscribeResponse>) -> EventData {
    loop {
        let response = within("a subscription event", stream.next())
            .await
            .expect("the stream ended")
            .unwrap();
        // An event-less response is the caught-up marker: clients skip it.
        if let Some(event) = response.event {
            return event;
        }
    }
}

// ---- Mount: expectations count and answer ----

#[tokio::test]
async fn mounted_status_fault_answers_matching_calls_and_counts_them() {
    let mut h = harness().await;
    let id = h
        .mount(json!({
            "rpc": "append",
            "request": {"aggregate_id": "order-1"},
            "respond": {"status": {"code": "UNAVAILABLE", "message": "down for maintenance"}},
            "times": 1,
        }))
        .await;
    assert!(id > 0);

    let err = h.append(create("order-1", json!({}))).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.message(), "down for maintenance");
    // Another stream does not match: the engine answers.
    assert_eq!(
        h.append(create("order-2", json!({}))).await.unwrap(),
        (1, 1)
    );
    assert!(
        h.read("order-1").await.unwrap().is_empty(),
        "the fault wrote nothing"
    );

    let matched = h
        .journal(JournalRequest {
            expectation_id: id,
            ..JournalRequest::default()
        })
        .await;
    assert_eq!(seqs(&matched), [1]);
    let verdict = h.verify().await;
    assert!(verdict.ok, "{}", verdict.report);
    assert!(verdict.report.is_empty());

    // A second matching call breaks `times: 1`.
    h.append(create("order-1", json!({}))).await.unwrap_err();
    let verdict = h.verify().await;
    assert!(!verdict.ok);
    assert!(
        verdict
            .report
            .contains("expected exactly 1 call, received 2"),
        "{}",
        verdict.report
    );
}

#[tokio::test]
async fn mounted_conflict_answers_aborted_with_the_detail() {
    let mut h = harness().await;
    h.mount(json!({
        "rpc": "append",
        "respond": {"conflict": {"actual_last_aggregate_nonce": 3, "actual_last_global_nonce": 7}},
    }))
    .await;
    let err = h.append(create("order-1", json!({}))).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let detail = concurrency_detail(&err).expect("a ConcurrencyErrorDetail");
    assert_eq!(detail.tenant_id, TENANT, "filled from the request");
    assert_eq!(detail.aggregate_id, "order-1", "filled from the request");
    assert_eq!(detail.actual_last_aggregate_nonce, 3);
    assert_eq!(detail.actual_last_global_nonce, 7);

    let calls = h.all_calls().await;
    assert_eq!(calls[0].status_code, Code::Aborted as u32);
    assert!(
        calls[0].status_message.contains("conflict"),
        "{}",
        calls[0].status_message
    );
}

#[tokio::test]
async fn mounted_nth_answers_only_that_call() {
    let mut h = harness().await;
    h.append(create("order-1", json!({}))).await.unwrap();
    h.mount(json!({
        "rpc": "read_stream",
        "respond": {"status": {"code": 14, "message": "second read fails"}},
        "nth": 2,
    }))
    .await;
    assert_eq!(h.read("order-1").await.unwrap().len(), 1);
    let err = h.read("order-1").await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unavailable, "second read fails")
    );
    assert_eq!(h.read("order-1").await.unwrap().len(), 1);

    let codes: Vec<u32> = h
        .journal(JournalRequest {
            rpc: "read_stream".into(),
            ..JournalRequest::default()
        })
        .await
        .iter()
        .map(|c| c.status_code)
        .collect();
    assert_eq!(codes, [0, Code::Unavailable as u32, 0]);
}

#[tokio::test]
async fn mounted_up_to_fails_the_first_calls_then_the_store_answers() {
    let mut h = harness().await;
    h.mount(json!({
        "rpc": "append",
        "respond": {"conflict": {}},
        "up_to": 2,
    }))
    .await;
    for _ in 0..2 {
        let err = h.append(create("order-1", json!({}))).await.unwrap_err();
        assert_eq!(err.code(), Code::Aborted);
    }
    h.append(create("order-1", json!({}))).await.unwrap();
    assert_eq!(h.read("order-1").await.unwrap().len(), 1);
    let verified = h.verify().await;
    assert!(verified.ok, "{}", verified.report);
}

#[tokio::test]
async fn mounted_delay_slows_the_answer() {
    let mut h = harness().await;
    h.append(create("order-1", json!({}))).await.unwrap();
    h.mount(json!({"rpc": "read_stream", "respond": {"delay_ms": 200}}))
        .await;
    let started = Instant::now();
    let events = h.read("order-1").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        events.len(),
        1,
        "a delay alone passes through to the engine"
    );

    let read = h
        .journal(JournalRequest {
            rpc: "ReadStream".into(),
            ..JournalRequest::default()
        })
        .await;
    assert_eq!(read.len(), 1);
    assert!(
        read[0].latency_micros >= 200_000,
        "{}",
        read[0].latency_micros
    );
    assert!(read[0].completed);
}

#[tokio::test]
async fn mounted_fail_after_ends_a_subscription_with_the_status() {
    let mut h = harness().await;
    within(
        "Seed",
        h.control.seed(SeedRequest {
            streams: vec![seed_stream("order-1", &["A", "B", "C"])],
        }),
    )
    .await
    .unwrap();
    let id = h
        .mount(json!({
            "rpc": "subscribe",
            "respond": {"fail_after": {"events": 2, "code": "UNAVAILABLE", "message": "boom"}},
            "times": 1,
        }))
        .await;

    let mut stream = h.subscribe().await;
    assert_eq!(meta(&next_event(&mut stream).await).event_type, "A");
    assert_eq!(meta(&next_event(&mut stream).await).event_type, "B");
    let err = within("the fault", stream.next())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::Unavailable, "boom"));

    let calls = h
        .journal_until("the stream's end", |c| {
            c.first().is_some_and(|c| !c.stream_end.is_empty())
        })
        .await;
    let call = &calls[0];
    assert_eq!(call.rpc, "subscribe");
    assert_eq!(call.matched_expectations, [id]);
    let delivered: Vec<&str> = call
        .delivered
        .iter()
        .map(|e| meta(e).event_type.as_str())
        .collect();
    assert_eq!(delivered, ["A", "B"]);
    assert_eq!(
        call.stream_end, "UNAVAILABLE: boom",
        "the code by name, not Rust Debug"
    );
    assert!(call.completed);
    assert!(h.verify().await.ok);
}

#[tokio::test]
async fn mounted_events_stub_a_subscription() {
    let mut h = harness().await;
    h.mount(json!({
        "rpc": "subscribe",
        "respond": {"events": [
            {"meta": {"event_type": "Stubbed", "global_nonce": 41}, "payload": {"n": 1}},
            {"meta": {"event_type": "Stubbed", "global_nonce": 42}, "payload": {"$base64": "AAE="}},
        ]},
    }))
    .await;
    let mut stream = h.subscribe().await;
    let first = next_event(&mut stream).await;
    assert_eq!(meta(&first).global_nonce, 41);
    assert_eq!(first.payload, br#"{"n":1}"#);
    assert_eq!(next_event(&mut stream).await.payload, [0, 1]);
    let marker = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the caught-up marker within 5 s")
        .expect("the stream is open")
        .expect("a response, not an error");
    assert_eq!(marker.event, None, "the caught-up marker follows the stub");
    // Like the real store, the subscription then stays open with nothing more.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stream.next())
            .await
            .is_err(),
        "a stubbed subscription stays open after its events"
    );
    drop(stream);
    let calls = h
        .journal_until("the stream's end", |c| {
            c.first().is_some_and(|c| c.completed)
        })
        .await;
    assert_eq!(calls[0].stream_end, "cancelled by the client");
    assert_eq!(calls[0].delivered.len(), 2);
}

#[tokio::test]
async fn mount_rejects_invalid_json_and_names_the_field() {
    let mut h = harness().await;
    let cases = [
        ("{not json", "not JSON"),
        (r#"{"rpc": "append", "tmes": 1}"#, "tmes: unknown field"),
        (
            r#"{"respond": {"status": {"code": "UNAVAILABLE", "mesage": "x"}}}"#,
            "respond.status.mesage: unknown field",
        ),
        (r#"{"rpc": "apend"}"#, "rpc: unknown RPC"),
        (
            r#"{"respond": {"status": {"code": "NOT_A_CODE"}}}"#,
            "respond.status.code",
        ),
        (r#"{"times": "once"}"#, "times"),
        (r#"{"nth": 0}"#, "nth"),
        (
            r#"{"fields": {"events[0].payload": {"$regex": "("}}}"#,
            "fields",
        ),
        (r#"{"times": 1, "at_least": 1}"#, "times cannot be combined"),
    ];
    for (json, named) in cases {
        let status = h.try_mount(json).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{json}: {status:?}");
        assert!(
            status.message().contains(named),
            "{json}: the message should name {named:?}: {}",
            status.message()
        );
    }
    // Nothing was mounted: a call matches no expectation.
    h.append(create("order-1", json!({}))).await.unwrap();
    let calls = h.all_calls().await;
    assert!(calls[0].matched_expectations.is_empty());
}

// ---- Journal ----

#[tokio::test]
async fn journal_filters_by_rpc_unmatched_and_expectation() {
    let mut h = harness().await;
    let appends = h.mount(json!({"rpc": "append"})).await;
    let order_1 = h
        .mount(json!({"request": {"aggregate_id": "order-1"}}))
        .await;

    h.append(create("order-1", json!({"amount": 10})))
        .await
        .unwrap(); // #1: both
    h.read("order-1").await.unwrap(); // #2: order_1
    h.read("order-2").await.unwrap(); // #3: none
    h.append(create("order-2", json!({}))).await.unwrap(); // #4: appends

    assert_eq!(seqs(&h.all_calls().await), [1, 2, 3, 4]);
    let by = |rpc: &str| JournalRequest {
        rpc: rpc.into(),
        ..JournalRequest::default()
    };
    assert_eq!(seqs(&h.journal(by("append")).await), [1, 4]);
    assert_eq!(seqs(&h.journal(by("Append")).await), [1, 4]);
    assert_eq!(seqs(&h.journal(by("read_stream")).await), [2, 3]);
    assert!(h.journal(by("subscribe")).await.is_empty());
    let unmatched = h
        .journal(JournalRequest {
            unmatched_only: true,
            ..JournalRequest::default()
        })
        .await;
    assert_eq!(seqs(&unmatched), [3]);
    let of = |id: u64| JournalRequest {
        expectation_id: id,
        ..JournalRequest::default()
    };
    assert_eq!(seqs(&h.journal(of(appends)).await), [1, 4]);
    assert_eq!(seqs(&h.journal(of(order_1)).await), [1, 2]);
    assert!(h.journal(of(999)).await.is_empty());
    // Filters combine.
    let combined = h
        .journal(JournalRequest {
            rpc: "read_stream".into(),
            expectation_id: order_1,
            unmatched_only: false,
        })
        .await;
    assert_eq!(seqs(&combined), [2]);

    let calls = h.all_calls().await;
    assert_eq!(calls[0].matched_expectations, [appends, order_1]);
    assert_eq!(calls[1].matched_expectations, [order_1]);

    let status = within("Journal", h.control.journal(by("delete")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("rpc"), "{}", status.message());
}

#[tokio::test]
async fn journal_records_request_json_bytes_metadata_and_outcome() {
    let mut h = harness().await;
    let request = create("order-1", json!({"amount": 10}));
    let mut with_metadata = Request::new(request.clone());
    with_metadata
        .metadata_mut()
        .insert("x-request-id", "req-42".parse().unwrap());
    let appended = within("Append", h.store.append(with_metadata))
        .await
        .unwrap()
        .into_inner();
    // The stream exists now: expecting it not to is a conflict.
    let conflict = h.append(create("order-1", json!({}))).await.unwrap_err();
    assert_eq!(conflict.code(), Code::Aborted);
    let invalid = h.read("").await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);

    let calls = h.all_calls().await;
    assert_eq!(calls.len(), 3);
    let first = &calls[0];
    assert_eq!(first.seq, 1);
    assert_eq!(first.rpc, "append");
    assert_eq!(
        AppendRequest::decode(first.request.as_slice()).unwrap(),
        request,
        "the request bytes decode to the request sent"
    );
    let request_json: Value = serde_json::from_str(&first.request_json).unwrap();
    assert_eq!(request_json["aggregate_id"], "order-1");
    assert_eq!(request_json["events"][0]["payload"], json!({"amount": 10}));
    assert_eq!(
        request_json["events"][0]["meta"]["event_id"],
        meta(&request.events[0]).event_id.as_str()
    );
    assert_eq!(
        first.metadata.get("x-request-id").map(String::as_str),
        Some("req-42")
    );
    assert_eq!(first.status_code, 0);
    assert!(first.status_message.is_empty());
    let response: Value = serde_json::from_str(&first.response_json).unwrap();
    assert_eq!(
        response,
        json!({
            "last_global_nonce": appended.last_global_nonce,
            "last_aggregate_nonce": appended.last_aggregate_nonce,
        })
    );
    assert!(first.completed);
    assert!(first.received_unix_micros > 0);
    assert!(first.matched_expectations.is_empty());

    assert_eq!(calls[1].status_code, Code::Aborted as u32);
    assert!(calls[1].response_json.is_empty());
    assert!(calls[1].completed);
    assert_eq!(calls[2].rpc, "read_stream");
    assert_eq!(calls[2].status_code, Code::InvalidArgument as u32);
    assert!(!calls[2].status_message.is_empty());
    assert!(calls[1].received_unix_micros <= calls[2].received_unix_micros);
    let read: Value = serde_json::from_str(&calls[2].request_json).unwrap();
    assert_eq!(read["aggregate_id"], "");
    assert_eq!(read["forward"], true);
}

#[tokio::test]
async fn journal_records_a_subscription_delivered_events_and_end() {
    let mut h = harness().await;
    h.append(create("order-1", json!({"n": 1}))).await.unwrap();
    let mut stream = h.subscribe().await;
    assert_eq!(next_event(&mut stream).await.payload, br#"{"n":1}"#);
    // Live: appended after the subscription started.
    h.append(append_req(
        "order-1",
        1,
        vec![ev("OrderShipped", json!({"n": 2}), 2)],
    ))
    .await
    .unwrap();
    assert_eq!(meta(&next_event(&mut stream).await).aggregate_nonce, 2);

    let calls = h
        .journal_until("two deliveries", |c| {
            c.get(1).is_some_and(|c| c.delivered.len() == 2)
        })
        .await;
    let sub = &calls[1];
    assert_eq!(sub.rpc, "subscribe");
    assert!(sub.stream_end.is_empty(), "still open");
    assert!(!sub.completed);
    assert_eq!(sub.status_code, 0);
    let globals: Vec<u64> = sub.delivered.iter().map(|e| meta(e).global_nonce).collect();
    assert_eq!(globals, [1, 2]);
    let request: Value = serde_json::from_str(&sub.request_json).unwrap();
    assert_eq!(
        request,
        json!({"tenant_id": TENANT, "aggregate_id_prefix": "", "from_global_nonce": 0})
    );
    assert_eq!(
        SubscribeRequest::decode(sub.request.as_slice())
            .unwrap()
            .tenant_id,
        TENANT
    );

    drop(stream);
    let calls = h
        .journal_until("the cancellation", |c| {
            c.get(1).is_some_and(|c| c.completed)
        })
        .await;
    assert_eq!(calls[1].stream_end, "cancelled by the client");
    assert!(calls[1].latency_micros > 0);
}

// ---- Verify ----

#[tokio::test]
async fn verify_passes_when_every_expectation_is_met() {
    let mut h = harness().await;
    let empty = h.verify().await;
    assert!(empty.ok && empty.report.is_empty());

    h.mount(json!({
        "rpc": "append",
        "fields": {"events[0].payload.amount": 10, "aggregate_id": {"$regex": "^order-"}},
        "times": 1,
    }))
    .await;
    h.mount(json!({"rpc": "read_stream", "at_most": 1})).await;
    h.append(create("order-1", json!({"amount": 10})))
        .await
        .unwrap();
    let verdict = h.verify().await;
    assert!(verdict.ok, "{}", verdict.report);
}

#[tokio::test]
async fn verify_fails_with_a_report_naming_the_field_diff() {
    let mut h = harness().await;
    h.mount(json!({
        "rpc": "append",
        "fields": {"events[0].payload.amount": 10},
        "times": 1,
        "name": "order of ten",
    }))
    .await;
    h.append(create("order-1", json!({"amount": 12})))
        .await
        .unwrap();
    let verdict = h.verify().await;
    assert!(!verdict.ok);
    let report = &verdict.report;
    assert!(
        report.starts_with("MockEventStore verification failed: 1 problem."),
        "{report}"
    );
    assert!(report.contains("\"order of ten\""), "{report}");
    assert!(
        report.contains("expected exactly 1 call, received 0."),
        "{report}"
    );
    assert!(report.contains("#1 Append t1/order-1"), "{report}");
    assert!(
        report.contains("events[0].payload.amount: expected 10, got 12"),
        "{report}"
    );
}

// ---- Reset ----

/// One expectation (fails every read), one call, one stream.
async fn populated() -> Harness {
    let mut h = harness().await;
    h.append(create("order-1", json!({}))).await.unwrap();
    h.mount(json!({
        "rpc": "read_stream",
        "respond": {"status": {"code": "UNAVAILABLE"}},
        "times": 0,
    }))
    .await;
    h
}

#[tokio::test]
async fn reset_journal_keeps_expectations_and_data() {
    let mut h = populated().await;
    h.reset(true, false, false).await;
    assert!(h.all_calls().await.is_empty());
    assert_eq!(h.read_all("order-1").await.len(), 1, "data kept");
    let err = h.read("order-1").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "expectation kept");
    assert_eq!(seqs(&h.all_calls().await), [2], "numbers keep growing");
}

#[tokio::test]
async fn reset_expectations_keeps_journal_and_data() {
    let mut h = populated().await;
    h.reset(false, true, false).await;
    assert_eq!(h.all_calls().await.len(), 1, "journal kept");
    assert_eq!(
        h.read("order-1").await.unwrap().len(),
        1,
        "no fault any more"
    );
    assert!(h.verify().await.ok, "the unmet `times: 0` went with it");
}

#[tokio::test]
async fn reset_data_keeps_journal_and_expectations() {
    let mut h = populated().await;
    h.reset(false, false, true).await;
    assert!(h.read_all("order-1").await.is_empty(), "data gone");
    assert_eq!(h.all_calls().await.len(), 1, "journal kept");
    assert_eq!(
        h.read("order-1").await.unwrap_err().code(),
        Code::Unavailable
    );
    // The store starts over: a new stream and global nonce 1 again.
    assert_eq!(
        h.append(create("order-1", json!({}))).await.unwrap(),
        (1, 1)
    );
}

#[tokio::test]
async fn reset_with_no_flag_resets_everything() {
    let mut h = populated().await;
    h.reset(false, false, false).await;
    assert!(h.all_calls().await.is_empty());
    assert!(h.read_all("order-1").await.is_empty());
    assert!(
        h.read("order-1").await.unwrap().is_empty(),
        "no fault, no data"
    );
    assert!(h.verify().await.ok);
}

#[tokio::test]
async fn reset_with_every_flag_resets_everything() {
    let mut h = populated().await;
    h.reset(true, true, true).await;
    assert!(h.all_calls().await.is_empty());
    assert!(h.read("order-1").await.unwrap().is_empty());
}

// ---- Seed and ReadAll ----

#[tokio::test]
async fn seed_assigns_nonces_and_read_all_returns_the_streams() {
    let mut h = harness().await;
    h.append(create("order-1", json!({"live": true})))
        .await
        .unwrap(); // global 1

    let fixtures = parse_fixtures(
        r#"{"streams": [{"tenant_id": "t1", "aggregate_id": "cart-1", "aggregate_type": "Cart",
            "events": [{"event_type": "CartOpened", "payload": {"items": 0}, "event_id": "fixed-id"}]}]}"#,
        "inline",
    )
    .unwrap();
    let mut streams = vec![seed_stream("order-1", &["Seeded1", "Seeded2"])];
    streams.extend(fixtures.into_iter().map(SeedStream::from));
    let results = within("Seed", h.control.seed(SeedRequest { streams }))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), 2);
    assert_eq!(
        (
            results[0].last_aggregate_nonce,
            results[0].last_global_nonce
        ),
        (3, 3),
        "seeding appends after the existing head"
    );
    assert_eq!(
        (
            results[1].last_aggregate_nonce,
            results[1].last_global_nonce
        ),
        (1, 4)
    );

    let order = h.read_all("order-1").await;
    let nonces: Vec<(u64, u64)> = order
        .iter()
        .map(|e| (meta(e).aggregate_nonce, meta(e).global_nonce))
        .collect();
    assert_eq!(nonces, [(1, 1), (2, 2), (3, 3)]);
    for e in &order[1..] {
        let m = meta(e);
        assert!(
            uuid::Uuid::parse_str(&m.event_id).is_ok(),
            "a UUID: {}",
            m.event_id
        );
        assert_eq!(
            (m.tenant_id.as_str(), m.aggregate_id.as_str()),
            (TENANT, "order-1")
        );
        assert_eq!(m.aggregate_type, "Order");
        assert!(m.recorded_time_unix_ms > 0);
    }
    let cart = h.read_all("cart-1").await;
    assert_eq!(cart.len(), 1);
    assert_eq!(meta(&cart[0]).event_id, "fixed-id");
    assert_eq!(meta(&cart[0]).content_type, "application/json");
    assert_eq!(cart[0].payload, br#"{"items":0}"#);

    // eventstore.v1 sees the same events; seeding was not journaled.
    assert_eq!(h.read("order-1").await.unwrap(), order);
    assert_eq!(seqs(&h.all_calls().await), [1, 2]);
    assert!(h.read_all("nothing-here").await.is_empty());
}

#[tokio::test]
async fn seed_errors_name_the_stream() {
    let mut h = harness().await;
    let mut nameless = seed_stream("order-2", &["A"]);
    nameless.tenant_id.clear();
    let status = within(
        "Seed",
        h.control.seed(SeedRequest {
            streams: vec![seed_stream("order-1", &["A"]), nameless],
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().starts_with("streams[1]: "),
        "{}",
        status.message()
    );
    assert_eq!(
        h.read_all("order-1").await.len(),
        1,
        "streams before it were seeded"
    );

    let status = within(
        "ReadAll",
        h.control.read_all(ReadAllRequest {
            tenant_id: String::new(),
            aggregate_id: "order-1".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

// ---- SetStrict ----

#[tokio::test]
async fn set_strict_rejects_unmatched_calls_until_turned_off() {
    let mut h = harness().await;
    h.mount(json!({"rpc": "append", "request": {"aggregate_id": "order-1"}}))
        .await;
    h.set_strict(true).await;

    let err = h.append(create("order-2", json!({}))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("strict mock"), "{}", err.message());
    assert!(err.message().contains("order-2"), "{}", err.message());
    assert_eq!(
        h.append(create("order-1", json!({}))).await.unwrap(),
        (1, 1)
    );
    assert!(
        h.read_all("order-2").await.is_empty(),
        "the refused call wrote nothing"
    );

    let verdict = h.verify().await;
    assert!(!verdict.ok);
    assert!(
        verdict
            .report
            .contains("strict mode: 1 call matched no expectation"),
        "{}",
        verdict.report
    );
    let unmatched = h
        .journal(JournalRequest {
            unmatched_only: true,
            ..JournalRequest::default()
        })
        .await;
    assert_eq!(seqs(&unmatched), [1]);
    assert_eq!(unmatched[0].status_code, Code::FailedPrecondition as u32);

    h.set_strict(false).await;
    assert_eq!(
        h.append(create("order-2", json!({}))).await.unwrap(),
        (1, 2)
    );
    // Not strict any more: the new unmatched call is fine, the refused one still counts.
    let verdict = h.verify().await;
    assert!(!verdict.ok);
    assert!(
        verdict
            .report
            .contains("strict mode: 1 call matched no expectation"),
        "{}",
        verdict.report
    );
    assert!(!verdict.report.contains("- #2 "), "{}", verdict.report);
}

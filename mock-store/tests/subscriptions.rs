//! Subscribe: pass through, stubbed streams and streaming faults.

mod common;

use common::{
    TENANT, append_req, ev, eventually, next_item, subscribe_req, take_events, tcp_client, types,
};
use eventstore_mock::{Mock, MockEventStore, Outcome, Respond, Rpc, StreamEnd, matchers::*};
use eventstore_proto::{EventData, event_store_client::EventStoreClient};
use serde_json::json;
use std::time::{Duration, Instant};
use tonic::{Code, transport::Channel};

/// Seeds `t1/order-1` with `n` events `E1`..`En`.
async fn seed(mock: &MockEventStore, n: usize) {
    let events = (1..=n)
        .map(|i| ev(&format!("e{i}"), &format!("E{i}"), json!({"i": i})))
        .collect();
    mock.seed(TENANT, "order-1", "Order", events)
        .await
        .expect("the events are valid");
}

/// The journal's record of the only subscription, once it has ended.
async fn ended_subscription(mock: &MockEventStore) -> eventstore_mock::CallRecord {
    eventually("the subscription's end to be journaled", || {
        mock.calls_to(Rpc::Subscribe)
            .pop()
            .filter(|c| c.stream_end.is_some())
    })
    .await
}

async fn clients(mock: &MockEventStore) -> [EventStoreClient<Channel>; 2] {
    [mock.client(), tcp_client(mock).await]
}

#[tokio::test]
async fn passes_history_then_live_events_through() {
    let mock = MockEventStore::start().await;
    seed(&mock, 2).await;
    for mut client in clients(&mock).await {
        let mut stream = client
            .subscribe(subscribe_req())
            .await
            .unwrap()
            .into_inner();
        let history = take_events(&mut stream, 2).await;
        assert_eq!(types(&history), ["E1", "E2"]);
        let live = mock.read_all(TENANT, "order-1").await.unwrap().len() as u64;
        client
            .append(append_req(
                "order-1",
                live,
                vec![ev(&format!("live-{live}"), "Live", json!({}))],
            ))
            .await
            .unwrap();
        let events = take_events(&mut stream, (live - 1) as usize).await;
        assert_eq!(types(&events).last().map(String::as_str), Some("Live"));
    }
    let subs = mock.calls_to(Rpc::Subscribe);
    assert_eq!(subs.len(), 2);
    assert_eq!(types(&subs[0].delivered), ["E1", "E2", "Live"]);
}

#[tokio::test]
async fn stubbed_events_then_the_stream_stays_open() {
    let mock = MockEventStore::start().await;
    seed(&mock, 3).await;
    let stub = vec![ev("s1", "Stub1", json!({})), ev("s2", "Stub2", json!({}))];
    Mock::given(subscribe())
        .respond_with(Respond::events(stub.clone()))
        .expect(..)
        .mount(&mock);
    for mut client in clients(&mock).await {
        let mut stream = client
            .subscribe(subscribe_req())
            .await
            .unwrap()
            .into_inner();
        let got = take_events(&mut stream, 2).await;
        assert_eq!(got, stub, "the stub replaces the engine's events");
        let marker = common::next_response(&mut stream).await.unwrap().unwrap();
        assert_eq!(marker.event, None, "the caught-up marker follows the stub");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), stream.message())
                .await
                .is_err(),
            "then stays open, like the real store"
        );
    }
    let call = ended_subscription(&mock).await;
    assert_eq!(call.outcome, Some(Outcome::Streaming));
    assert_eq!(call.delivered, stub);
    assert_eq!(call.stream_end, Some(StreamEnd::Cancelled));
}

#[tokio::test]
async fn fail_after_n_events_ends_with_the_status() {
    let mock = MockEventStore::start().await;
    seed(&mock, 5).await;
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().fail_after(2, Code::Unavailable, "leader changed"))
        .expect(..)
        .mount(&mock);
    for mut client in clients(&mock).await {
        let mut stream = client
            .subscribe(subscribe_req())
            .await
            .unwrap()
            .into_inner();
        let got = take_events(&mut stream, 2).await;
        assert_eq!(types(&got), ["E1", "E2"]);
        let status = next_item(&mut stream)
            .await
            .expect("an item after the 2nd event")
            .expect_err("exactly 2 events, then the status");
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "leader changed");
        assert!(next_item(&mut stream).await.is_none());
    }
    let call = ended_subscription(&mock).await;
    assert_eq!(types(&call.delivered), ["E1", "E2"]);
    assert_eq!(
        call.stream_end,
        Some(StreamEnd::Status {
            code: Code::Unavailable,
            message: "leader changed".into()
        })
    );
}

#[tokio::test]
async fn fail_after_zero_and_on_stubbed_streams() {
    let mock = MockEventStore::start().await;
    seed(&mock, 1).await;
    Mock::given(subscribe())
        .and(field("aggregate_id_prefix", "none"))
        .respond_with(Respond::pass_through().fail_after(0, Code::DataLoss, "at once"))
        .mount(&mock);
    Mock::given(subscribe())
        .and(field("aggregate_id_prefix", "stub"))
        .respond_with(
            Respond::events(vec![ev("a", "A", json!({})), ev("b", "B", json!({}))]).fail_after(
                1,
                Code::Internal,
                "after one",
            ),
        )
        .mount(&mock);
    let mut client = mock.client();

    let mut request = subscribe_req();
    request.aggregate_id_prefix = "none".into();
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    let status = next_item(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::DataLoss, "at once")
    );

    let mut request = subscribe_req();
    request.aggregate_id_prefix = "stub".into();
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    assert_eq!(types(&take_events(&mut stream, 1).await), ["A"]);
    let status = next_item(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Internal, "after one")
    );
}

#[tokio::test]
async fn drop_after_n_events_cuts_the_connection() {
    let mock = MockEventStore::start().await;
    seed(&mock, 5).await;
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().drop_after(3))
        .expect(..)
        .mount(&mock);
    for mut client in clients(&mock).await {
        let mut stream = client
            .subscribe(subscribe_req())
            .await
            .unwrap()
            .into_inner();
        let got = take_events(&mut stream, 3).await;
        assert_eq!(types(&got), ["E1", "E2", "E3"]);
        let err = next_item(&mut stream)
            .await
            .expect("an error, not a clean end")
            .expect_err("exactly 3 events, then a transport error");
        assert!(
            std::error::Error::source(&err).is_some(),
            "a transport error, got {err:?}"
        );
        assert_ne!(err.message(), "connection dropped by the mock", "{err:?}");
        // The client reconnects: a later call goes through (the first may
        // still find the dead connection, as with a real crash).
        let mut reconnected = false;
        for _ in 0..50 {
            if client
                .read_stream(common::read_req("order-1"))
                .await
                .is_ok()
            {
                reconnected = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(reconnected, "the client reconnects after the drop");
    }
    let ends: Vec<_> = mock
        .calls_to(Rpc::Subscribe)
        .into_iter()
        .map(|c| (c.delivered.len(), c.stream_end))
        .collect();
    assert_eq!(
        ends,
        [(3, Some(StreamEnd::Dropped)), (3, Some(StreamEnd::Dropped))]
    );
}

#[tokio::test]
async fn drop_after_zero_events_cuts_after_the_headers() {
    let mock = MockEventStore::start().await;
    seed(&mock, 2).await;
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().drop_after(0))
        .mount(&mock);
    let mut stream = mock
        .client()
        .subscribe(subscribe_req())
        .await
        .expect("the stream opens")
        .into_inner();
    let err = next_item(&mut stream).await.unwrap().unwrap_err();
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    let call = ended_subscription(&mock).await;
    assert!(call.delivered.is_empty());
    assert_eq!(call.stream_end, Some(StreamEnd::Dropped));
}

#[tokio::test]
async fn delay_each_spaces_the_events() {
    let mock = MockEventStore::start().await;
    seed(&mock, 3).await;
    let gap = Duration::from_millis(40);
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().delay_each(gap))
        .mount(&mock);
    let started = Instant::now();
    let mut stream = mock
        .client()
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    let mut arrivals = Vec::new();
    for _ in 0..3 {
        take_events(&mut stream, 1).await;
        arrivals.push(started.elapsed());
    }
    assert!(arrivals[0] >= gap, "{arrivals:?}");
    assert!(arrivals[2] >= gap * 3, "{arrivals:?}");
}

#[tokio::test]
async fn delay_each_delays_live_events_too() {
    let mock = MockEventStore::start().await;
    let gap = Duration::from_millis(100);
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().delay_each(gap))
        .mount(&mock);
    let mut client = mock.client();
    let mut stream = client
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    // Longer than the gap: the delay must count from the event, not from
    // when the subscription started waiting for it.
    tokio::time::sleep(gap * 2).await;
    let appended = Instant::now();
    client
        .append(append_req("order-1", 0, vec![ev("e1", "Live", json!({}))]))
        .await
        .unwrap();
    take_events(&mut stream, 1).await;
    assert!(appended.elapsed() >= gap, "{:?}", appended.elapsed());
}

#[tokio::test]
async fn delay_before_the_stream_starts() {
    let mock = MockEventStore::start().await;
    seed(&mock, 1).await;
    let delay = Duration::from_millis(100);
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().with_delay(delay))
        .mount(&mock);
    let started = Instant::now();
    let mut stream = tcp_client(&mock)
        .await
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    take_events(&mut stream, 1).await;
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
}

#[tokio::test]
async fn status_and_drop_instead_of_a_stream() {
    let mock = MockEventStore::start().await;
    Mock::given(subscribe())
        .respond_with(Respond::status(Code::PermissionDenied, "not yours"))
        .on_nth_call(1)
        .expect(..)
        .mount(&mock);
    Mock::given(subscribe())
        .respond_with(Respond::drop_connection())
        .on_nth_call(2)
        .expect(..)
        .mount(&mock);
    let mut client = mock.client();
    let err = client.subscribe(subscribe_req()).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::PermissionDenied, "not yours")
    );
    let err = client.subscribe(subscribe_req()).await.unwrap_err();
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");

    let calls = mock.calls_to(Rpc::Subscribe);
    assert_eq!(
        calls[0].outcome,
        Some(Outcome::Status {
            code: Code::PermissionDenied,
            message: "not yours".into()
        })
    );
    assert_eq!(calls[1].outcome, Some(Outcome::Dropped));
    assert!(calls.iter().all(|c| c.is_complete() && c.latency.is_some()));
}

#[tokio::test]
async fn conflict_on_a_subscription_names_the_tenant() {
    let mock = MockEventStore::start().await;
    Mock::given(subscribe())
        .respond_with(Respond::conflict(1, 2))
        .mount(&mock);
    let err = mock.client().subscribe(subscribe_req()).await.unwrap_err();
    let detail = eventstore_engine::status::concurrency_detail(&err).unwrap();
    assert_eq!(
        (detail.tenant_id.as_str(), detail.aggregate_id.as_str()),
        (TENANT, "")
    );
}

#[tokio::test]
async fn engine_errors_end_the_call_before_streaming() {
    let mock = MockEventStore::start().await;
    let mut request = subscribe_req();
    request.tenant_id = String::new();
    let err = mock.client().subscribe(request).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let call = mock.calls_to(Rpc::Subscribe).remove(0);
    assert!(matches!(
        call.outcome,
        Some(Outcome::Status {
            code: Code::Unauthenticated,
            ..
        })
    ));
}

#[tokio::test]
async fn reset_data_ends_open_subscriptions_with_unavailable() {
    let mock = MockEventStore::start().await;
    seed(&mock, 1).await;
    let mut stream = mock
        .client()
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    take_events(&mut stream, 1).await;
    mock.reset_data();
    let status = next_item(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let call = ended_subscription(&mock).await;
    assert!(matches!(
        call.stream_end,
        Some(StreamEnd::Status {
            code: Code::Unavailable,
            ..
        })
    ));
    let _: Vec<EventData> = call.delivered;
}

/// Event-less responses and events of a stream until `events` events came:
/// `None` for each event-less response, the type of each event.
async fn shape(
    stream: &mut tonic::Streaming<eventstore_proto::SubscribeResponse>,
    events: usize,
) -> Vec<Option<String>> {
    let mut shape = Vec::new();
    while shape.iter().flatten().count() < events {
        let response = common::next_response(stream)
            .await
            .expect("the stream is open")
            .expect("a response, not an error");
        shape.push(response.event.and_then(|e| e.meta).map(|m| m.event_type));
    }
    shape
}

/// Appends live events `E{from}..=E{to}` to the seeded stream.
async fn append_live(mock: &MockEventStore, from: usize, to: usize) {
    let events = (from..=to)
        .map(|i| ev(&format!("e{i}"), &format!("E{i}"), json!({"i": i})))
        .collect();
    mock.seed(TENANT, "order-1", "Order", events)
        .await
        .expect("the events are valid");
}

/// Keepalives come only after the caught-up marker: a client takes the
/// first event-less response for "caught up", so one inside the history
/// would tell it so too early.
#[tokio::test]
async fn keepalive_every_n_events_after_the_marker() {
    let mock = MockEventStore::start().await;
    seed(&mock, 3).await;
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().keepalive_every(2))
        .expect(2)
        .mount(&mock);
    let e = |t: &str| Some(t.to_owned());
    for (round, mut client) in clients(&mock).await.into_iter().enumerate() {
        let mut stream = client
            .subscribe(subscribe_req())
            .await
            .unwrap()
            .into_inner();
        let history = 3 + 2 * round;
        let mut got = shape(&mut stream, history).await;
        let marker = common::next_response(&mut stream).await.unwrap().unwrap();
        got.push(marker.event.and_then(|e| e.meta).map(|m| m.event_type));
        let mut expected: Vec<_> = (1..=history).map(|i| e(&format!("E{i}"))).collect();
        expected.push(None);
        assert_eq!(got, expected, "the history, then the marker, no keepalive");
        let live = history + 1;
        append_live(&mock, live, live + 1).await;
        // Delivered counts every event, history included: the live event
        // `live` is an even one, so the keepalive follows it.
        let got = shape(&mut stream, 2).await;
        let expected = vec![e(&format!("E{live}")), None, e(&format!("E{}", live + 1))];
        assert_eq!(got, expected);
    }
    let calls = mock.calls_to(Rpc::Subscribe);
    assert_eq!(calls[0].delivered.len(), 5, "keepalives are not events");
    // Each stream: its marker, and the one keepalive after its even live event.
    for call in &calls {
        assert!(call.caught_up_marker_sent, "{}", call.summary());
        assert_eq!(call.keepalives_sent, 1, "{}", call.summary());
        let json = eventstore_mock::wire::call_json(call);
        assert_eq!(json["caught_up_marker_sent"], true);
        assert_eq!(json["keepalives_sent"], 1);
    }
}

/// A stubbed subscription's events are its history: the marker follows them.
#[tokio::test]
async fn stubbed_events_are_followed_by_the_marker() {
    let mock = MockEventStore::start().await;
    Mock::given(subscribe())
        .respond_with(Respond::events(vec![
            ev("s1", "S1", json!({})),
            ev("s2", "S2", json!({})),
        ]))
        .mount(&mock);
    let mut stream = mock
        .client()
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    let mut got = shape(&mut stream, 2).await;
    let marker = common::next_response(&mut stream).await.unwrap().unwrap();
    got.push(marker.event.and_then(|e| e.meta).map(|m| m.event_type));
    assert_eq!(got, [Some("S1".to_owned()), Some("S2".to_owned()), None]);
    mock.verify().unwrap();
}

#[tokio::test]
async fn keepalive_interval_on_a_quiet_stream() {
    let mock = MockEventStore::start().await;
    seed(&mock, 1).await;
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().keepalive_interval(Duration::from_millis(20)))
        .mount(&mock);
    let mut stream = mock
        .client()
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(types(&take_events(&mut stream, 1).await), ["E1"]);
    // The caught-up marker, then keepalives while nothing happens.
    let started = Instant::now();
    for _ in 0..4 {
        let response = common::next_response(&mut stream).await.unwrap().unwrap();
        assert_eq!(response.event, None);
    }
    assert!(started.elapsed() >= Duration::from_millis(40));
    // A live event still arrives.
    mock.client()
        .append(append_req(
            "order-1",
            1,
            vec![ev("live", "Live", json!({}))],
        ))
        .await
        .unwrap();
    assert_eq!(types(&take_events(&mut stream, 1).await), ["Live"]);
}

#[tokio::test]
async fn data_loss_at_a_global_position_with_the_trailer() {
    let mock = MockEventStore::start().await;
    seed(&mock, 5).await;
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().data_loss_at(3))
        .expect(2)
        .mount(&mock);
    for mut client in clients(&mock).await {
        let mut stream = client
            .subscribe(subscribe_req())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(types(&take_events(&mut stream, 2).await), ["E1", "E2"]);
        let status = next_item(&mut stream)
            .await
            .expect("an item after the 2nd event")
            .expect_err("every event before 3, then DATA_LOSS");
        assert_eq!(status.code(), Code::DataLoss);
        assert_eq!(
            eventstore_engine::status::undecodable_global_nonce(&status),
            Some(3),
            "{status:?}"
        );
        assert_eq!(
            status
                .metadata()
                .get("esp-undecodable-global-nonce")
                .and_then(|v| v.to_str().ok()),
            Some("3")
        );
        assert!(next_item(&mut stream).await.is_none());
    }
    let call = ended_subscription(&mock).await;
    assert_eq!(types(&call.delivered), ["E1", "E2"]);
    let json = eventstore_mock::wire::call_json(&call);
    assert_eq!(json["status"], "DATA_LOSS");
    assert_eq!(json["stream_end"]["reason"], "status");
    assert_eq!(json["stream_end"]["status"], "DATA_LOSS");
    assert!(
        json["stream_end"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("global_nonce 3")),
        "{json}"
    );
}

#[tokio::test]
async fn subscription_faults_from_json() {
    let mock = MockEventStore::start().await;
    seed(&mock, 2).await;
    mock.mount_json(
        r#"{"rpc": "subscribe", "respond": {"keepalive_every": 1, "data_loss_at": 4}}"#,
    )
    .unwrap();
    let mut stream = mock
        .client()
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    let mut got = shape(&mut stream, 2).await;
    let marker = common::next_response(&mut stream).await.unwrap().unwrap();
    got.push(marker.event.and_then(|e| e.meta).map(|m| m.event_type));
    let e = |t: &str| Some(t.to_owned());
    assert_eq!(
        got,
        [e("E1"), e("E2"), None],
        "no keepalive before the marker"
    );
    append_live(&mock, 3, 4).await;
    assert_eq!(shape(&mut stream, 1).await, [e("E3")]);
    assert_eq!(
        common::next_response(&mut stream)
            .await
            .unwrap()
            .unwrap()
            .event,
        None,
        "the keepalive after E3"
    );
    let status = next_item(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(
        eventstore_engine::status::undecodable_global_nonce(&status),
        Some(4)
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn stream_end_json_names_the_code() {
    let mock = MockEventStore::start().await;
    let stream = mock
        .client()
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    drop(stream);
    let call = ended_subscription(&mock).await;
    let json = eventstore_mock::wire::call_json(&call);
    assert_eq!(
        json["stream_end"],
        json!({"reason": "cancelled", "status": "CANCELLED", "message": "cancelled by the client"})
    );
    assert_eq!(
        json["status"], "OK",
        "an open-then-cancelled stream did not fail"
    );
}

/// The engine's caught-up marker passes through the mock unchanged, once,
/// after the history; it is not an event, so it neither counts for
/// `fail_after` nor reaches the journal.
#[tokio::test]
async fn the_caught_up_marker_passes_through_and_is_not_an_event() {
    let mock = MockEventStore::start().await;
    seed(&mock, 2).await;
    Mock::given(subscribe())
        .respond_with(Respond::pass_through().fail_after(3, Code::Unavailable, "after three"))
        .mount(&mock);
    let mut client = mock.client();
    let mut stream = client
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    let mut raw = Vec::new();
    for _ in 0..3 {
        let response = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("within 5 s")
            .expect("no error yet")
            .expect("still open");
        raw.push(
            response
                .event
                .map(|e| e.meta.unwrap_or_default().event_type),
        );
    }
    assert_eq!(raw, [Some("E1".into()), Some("E2".into()), None]);
    client
        .append(append_req(
            "order-1",
            2,
            vec![ev("live", "Live", json!({}))],
        ))
        .await
        .unwrap();
    let live = take_events(&mut stream, 1).await;
    assert_eq!(
        types(&live),
        ["Live"],
        "the marker did not count as the 3rd event"
    );
    let status = next_item(&mut stream)
        .await
        .expect("the fault")
        .expect_err("then the status");
    assert_eq!(status.message(), "after three");
    let call = ended_subscription(&mock).await;
    assert_eq!(types(&call.delivered), ["E1", "E2", "Live"]);
}

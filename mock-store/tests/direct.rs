//! The direct path (`MockEventStore::direct`): the same answers, errors and
//! journal as a call over the in-process channel, without a transport.
//! (The conformance suite runs every case on it too: `mock_direct`.)

mod common;

use common::{append_req, ev, read_req};
use eventstore_engine::Limits;
use eventstore_mock::{Mock, MockEventStore, Outcome, Respond, TONIC_USER_AGENT, matchers::*};
use serde_json::json;
use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};
use tonic::{Code, Request};

/// Polls `future` once, as the Python SDK does before it hands a call to
/// the runtime.
fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    pin!(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test]
async fn a_call_is_answered_at_its_first_poll() {
    let mock = MockEventStore::start().await;
    let direct = mock.direct();
    let appended = poll_once(direct.append(Request::new(append_req(
        "order-1",
        0,
        vec![ev("e1", "OrderCreated", json!({"n": 1}))],
    ))));
    let Poll::Ready(Ok(appended)) = appended else {
        panic!("not ready at once: {appended:?}")
    };
    assert_eq!(appended.last_aggregate_nonce, 1);
    let Poll::Ready(Ok(page)) = poll_once(direct.read_stream(Request::new(read_req("order-1"))))
    else {
        panic!("the read was not ready at once")
    };
    assert_eq!(page.events.len(), 1);
}

#[tokio::test]
async fn the_journal_reads_as_for_a_call_over_the_channel() {
    let mock = MockEventStore::start().await;
    let mut over_channel = Request::new(read_req("s"));
    over_channel.set_timeout(Duration::from_secs(30));
    mock.client().read_stream(over_channel).await.unwrap();
    let mut direct = Request::new(read_req("s"));
    direct.set_timeout(Duration::from_secs(30));
    mock.direct().read_stream(direct).await.unwrap();
    let calls = mock.received_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].metadata, calls[1].metadata);
    assert_eq!(calls[1].metadata["user-agent"], TONIC_USER_AGENT);
    assert_eq!(calls[0].request, calls[1].request);
    assert_eq!(calls[0].outcome, calls[1].outcome);
}

#[tokio::test]
async fn stubs_faults_and_drops_answer_as_over_the_channel() {
    let mock = MockEventStore::start().await;
    Mock::given(read_stream())
        .and(aggregate_id("gone"))
        .respond_with(Respond::status(Code::NotFound, "no such thing"))
        .expect(2)
        .mount(&mock);
    Mock::given(read_stream())
        .and(aggregate_id("cut"))
        .respond_with(Respond::drop_connection())
        .mount(&mock);
    let direct = mock.direct();
    let status = direct
        .read_stream(Request::new(read_req("gone")))
        .await
        .unwrap_err();
    let over_channel = mock
        .client()
        .read_stream(read_req("gone"))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (over_channel.code(), over_channel.message())
    );
    let dropped = direct
        .read_stream(Request::new(read_req("cut")))
        .await
        .unwrap_err();
    assert_eq!(dropped.code(), Code::Unavailable);
    assert_eq!(mock.received_calls()[2].outcome, Some(Outcome::Dropped));
}

#[tokio::test]
async fn a_delay_makes_the_call_wait() {
    let mock = MockEventStore::start().await;
    Mock::given(read_stream())
        .respond_with(Respond::pass_through().with_delay(Duration::from_millis(50)))
        .mount(&mock);
    let call = mock.direct().read_stream(Request::new(read_req("s")));
    let mut call = pin!(call);
    assert!(
        call.as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    assert!(call.await.is_ok());
}

#[tokio::test]
async fn the_credentials_and_the_size_limit_are_checked_as_the_servers_check_them() {
    let mock = MockEventStore::builder()
        .credentials("u", "p")
        .limits(Limits {
            max_request_bytes: 1024,
            ..Limits::default()
        })
        .start()
        .await;
    let refused = mock
        .direct()
        .read_stream(Request::new(read_req("s")))
        .await
        .unwrap_err();
    let over_channel = mock.client().read_stream(read_req("s")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), over_channel.message());

    // Credentials first (on the headers), then the size (decoding the body).
    let big = append_req(
        "s",
        0,
        vec![ev("e1", "Big", json!({"x": "y".repeat(2000)}))],
    );
    let too_large = mock
        .direct()
        .append(Request::new(big.clone()))
        .await
        .unwrap_err();
    assert_eq!(too_large.code(), Code::Unauthenticated);
    let authorized = |message| {
        let mut request = Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            eventstore_engine::auth::basic_header("u", "p")
                .parse()
                .unwrap(),
        );
        request
    };
    let too_large = mock
        .direct()
        .append(authorized(big.clone()))
        .await
        .unwrap_err();
    let over_channel = mock.client().append(authorized(big)).await.unwrap_err();
    assert_eq!(too_large.code(), Code::ResourceExhausted);
    assert_eq!(too_large.message(), over_channel.message());
    assert_eq!(
        mock.received_call_count(),
        0,
        "refused before any handler ran"
    );
}

#[tokio::test]
async fn a_dropped_mock_refuses_calls() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let direct = mock.direct();
    drop(mock);
    let status = direct
        .read_stream(Request::new(read_req("s")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(direct.stopped().is_cancelled());
}

/// `start_on` cannot load a fixture (loading awaits the engine): it says
/// so, naming the file and what to call instead, and starts nothing.
#[test]
fn start_on_refuses_a_fixture_naming_it_and_try_start() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let error = MockEventStore::builder()
        .fixture("fixtures/orders.json")
        .start_on(rt.handle())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        error,
        "fixture fixtures/orders.json: start_on does not load fixtures (loading awaits the engine); use try_start"
    );
}

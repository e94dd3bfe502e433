//! Many mocks in one test binary, at the same time: each has its own port,
//! data, journal and expectations, with no cross-talk.
// The body of the test is the spawned `exercise`, not a `#[test]` function.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TENANT, append_req, ev, read_req, subscribe_req, take_events, tcp_client, types};
use eventstore_mock::{Mock, MockEventStore, Respond, Rpc, matchers::*};
use serde_json::json;
use std::collections::HashSet;
use tonic::Code;

const MOCKS: usize = 24;

/// One mock's life: the same stream names as every other mock, its own data.
async fn exercise(i: usize) -> String {
    let mock = MockEventStore::start().await;
    let endpoint = mock.endpoint();
    Mock::given(append())
        .and(event(0).payload(json!({"mock": i})))
        .expect(2)
        .mount(&mock);
    Mock::given(read_stream())
        .respond_with(Respond::status(Code::Unavailable, format!("mock {i}")))
        .on_nth_call(1)
        .expect(2)
        .mount(&mock);
    mock.seed(
        TENANT,
        "order-1",
        "Order",
        vec![ev("", "Seeded", json!({"mock": i}))],
    )
    .await
    .unwrap();

    let mut in_process = mock.client();
    let mut tcp = tcp_client(&mock).await;
    let mut subscription = in_process
        .subscribe(subscribe_req())
        .await
        .unwrap()
        .into_inner();
    // Event ids are unique per tenant, so the same id in every mock also
    // shows that their stores are separate.
    in_process
        .append(append_req(
            "order-1",
            1,
            vec![ev("same-id", "A", json!({"mock": i}))],
        ))
        .await
        .unwrap();
    tcp.append(append_req(
        "order-1",
        2,
        vec![ev("same-id-2", "B", json!({"mock": i}))],
    ))
    .await
    .unwrap();

    let err = tcp.read_stream(read_req("order-1")).await.unwrap_err();
    assert_eq!(
        err.message(),
        format!("mock {i}"),
        "its own expectation answers"
    );
    let page = tcp
        .read_stream(read_req("order-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(types(&page.events), ["Seeded", "A", "B"]);
    assert!(
        page.events
            .iter()
            .all(|e| common::payload(e) == json!({"mock": i})),
        "mock {i} sees only its own data"
    );
    let live = take_events(&mut subscription, 3).await;
    assert_eq!(
        live.iter()
            .map(|e| e.meta.as_ref().unwrap().global_nonce)
            .collect::<Vec<_>>(),
        [1, 2, 3],
        "global nonces are per mock"
    );

    let calls = mock.received_calls();
    assert_eq!(
        calls.iter().map(|c| c.rpc()).collect::<Vec<_>>(),
        [
            Rpc::Subscribe,
            Rpc::Append,
            Rpc::Append,
            Rpc::ReadStream,
            Rpc::ReadStream
        ],
        "mock {i} journals only its own calls"
    );
    assert!(
        calls
            .iter()
            .filter(|c| c.rpc() == Rpc::Append)
            .all(|c| c.request_json["events"][0]["payload"]["mock"] == i)
    );
    mock.verify().unwrap();
    assert_eq!(mock.read_all(TENANT, "order-1").await.unwrap().len(), 3);
    endpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_mocks_run_in_parallel_without_sharing_anything() {
    let tasks: Vec<_> = (0..MOCKS).map(|i| tokio::spawn(exercise(i))).collect();
    let mut endpoints = HashSet::new();
    for task in tasks {
        endpoints.insert(task.await.expect("each mock's checks pass"));
    }
    assert_eq!(endpoints.len(), MOCKS, "each mock has its own port");
}

/// Tests of this binary run in parallel too: each starts its own mocks.
#[tokio::test]
async fn a_mock_per_test_is_isolated_from_other_tests() {
    let mock = MockEventStore::builder().strict(true).start().await;
    Mock::given(read_stream()).expect(1).mount(&mock);
    mock.client()
        .read_stream(read_req("order-1"))
        .await
        .unwrap();
    assert_eq!(mock.received_calls().len(), 1);
    mock.verify().unwrap();
}

#[tokio::test]
async fn two_mocks_side_by_side() {
    let a = MockEventStore::start().await;
    let b = MockEventStore::start().await;
    assert_ne!(a.address(), b.address());
    Mock::given(append())
        .respond_with(Respond::status(Code::Internal, "a fails"))
        .mount(&a);
    let request = append_req("order-1", 0, vec![ev("e1", "A", json!({}))]);
    assert!(a.client().append(request.clone()).await.is_err());
    b.client().append(request).await.unwrap();
    assert!(a.read_all(TENANT, "order-1").await.unwrap().is_empty());
    assert_eq!(b.read_all(TENANT, "order-1").await.unwrap().len(), 1);
    assert_eq!(a.received_calls().len(), 1);
    assert_eq!(b.received_calls().len(), 1);
    drop(a);
    // b outlives a and still works.
    b.client().read_stream(read_req("order-1")).await.unwrap();
}

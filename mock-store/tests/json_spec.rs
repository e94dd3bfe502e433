//! Expectations written as JSON (`mount_json`, `mount_value`): the same
//! matchers, counts and responses as the Rust builder, and errors that name
//! the offending field.

mod common;

use common::{TENANT, append_req, ev, next_item, read_req, subscribe_req, take_events, types};
use eventstore_engine::status::concurrency_detail;
use eventstore_mock::MockEventStore;
use serde_json::json;
use std::time::{Duration, Instant};
use tonic::{Code, Request};

#[tokio::test]
async fn matchers_counts_and_a_status_from_json() {
    let mock = MockEventStore::start().await;
    let id = mock
        .mount_json(
            r#"{
                "rpc": "append",
                "request": {"aggregate_id": "order-1", "events": [{"meta": {"event_type": "OrderCreated"}}]},
                "fields": {"events[0].payload.amount": 10, "aggregate_type": {"$regex": "^Ord"}},
                "metadata": {"X-Request-Id": "abc"},
                "times": 1,
                "respond": {"status": {"code": "UNAVAILABLE", "message": "down"}, "delay_ms": 30},
                "name": "created"
            }"#,
        )
        .unwrap();
    let mut client = mock.client();

    let mut request = Request::new(append_req(
        "order-1",
        0,
        vec![ev("e1", "OrderCreated", json!({"amount": 10}))],
    ));
    request
        .metadata_mut()
        .insert("x-request-id", "abc".parse().unwrap());
    let started = Instant::now();
    let err = client.append(request).await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!((err.code(), err.message()), (Code::Unavailable, "down"));

    // Without the metadata it does not match and passes through.
    client
        .append(append_req(
            "order-1",
            0,
            vec![ev("e1", "OrderCreated", json!({"amount": 10}))],
        ))
        .await
        .unwrap();
    assert_eq!(mock.calls_matching(id).len(), 1);
    mock.verify().unwrap();
}

#[tokio::test]
async fn every_response_kind_from_json() {
    let mock = MockEventStore::start().await;
    mock.mount_value(json!({
        "fields": {"aggregate_id": "conflict"},
        "respond": {"conflict": {"actual_last_aggregate_nonce": 4, "actual_last_global_nonce": 40}}
    }))
    .unwrap();
    mock.mount_value(json!({
        "fields": {"aggregate_id": "stub"},
        "rpc": "Append",
        "respond": {"append_response": {"last_global_nonce": 9, "last_aggregate_nonce": 3}}
    }))
    .unwrap();
    mock.mount_value(json!({
        "rpc": "read_stream",
        "fields": {"aggregate_id": "stub"},
        "respond": {"read_response": {"events": [{"meta": {"event_type": "Stubbed", "aggregate_nonce": 1}, "payload": {"a": 1}}]}}
    }))
    .unwrap();
    mock.mount_value(json!({
        "rpc": "read_stream",
        "fields": {"aggregate_id": "details"},
        "respond": {"status": {"code": 9, "message": "with details", "details_base64": "AQID"}}
    }))
    .unwrap();
    mock.mount_value(json!({
        "rpc": "read_stream",
        "fields": {"aggregate_id": "second"},
        "nth": 2,
        "times": 2,
        "respond": {"drop_connection": true}
    }))
    .unwrap();
    mock.mount_value(json!({
        "rpc": "subscribe",
        "fields": {"aggregate_id_prefix": "stub"},
        "respond": {
            "events": [{"meta": {"event_type": "S1"}}, {"meta": {"event_type": "S2"}, "payload": {"$base64": "AAE="}}],
            "fail_after": {"events": 1, "code": "DataLoss", "message": "gone"}
        }
    }))
    .unwrap();
    mock.mount_value(json!({
        "rpc": "subscribe",
        "fields": {"aggregate_id_prefix": "slow"},
        "respond": {"delay_each_ms": 20, "drop_after": 1}
    }))
    .unwrap();
    let mut client = mock.client();

    let err = client
        .append(append_req("conflict", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap_err();
    let detail = concurrency_detail(&err).unwrap();
    assert_eq!(
        (
            detail.tenant_id.as_str(),
            detail.aggregate_id.as_str(),
            detail.actual_last_aggregate_nonce,
            detail.actual_last_global_nonce
        ),
        (TENANT, "conflict", 4, 40)
    );

    let stub = client
        .append(append_req("stub", 0, vec![ev("e1", "A", json!({}))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stub.last_global_nonce, stub.last_aggregate_nonce), (9, 3));

    let page = client
        .read_stream(read_req("stub"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(types(&page.events), ["Stubbed"]);
    assert_eq!(page.events[0].payload, br#"{"a":1}"#);
    assert!(page.is_end, "is_end defaults to true");

    let err = client.read_stream(read_req("details")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.details(), [1, 2, 3]);

    client.read_stream(read_req("second")).await.unwrap();
    let err = client.read_stream(read_req("second")).await.unwrap_err();
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");

    // A fresh client: the drop above may still be settling on the old one.
    let mut client = mock.client();
    let mut request = subscribe_req();
    request.aggregate_id_prefix = "stub".into();
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    assert_eq!(types(&take_events(&mut stream, 1).await), ["S1"]);
    let status = next_item(&mut stream).await.unwrap().unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::DataLoss, "gone"));

    mock.seed(
        TENANT,
        "slow-1",
        "Slow",
        vec![ev("", "A", json!({})), ev("", "B", json!({}))],
    )
    .await
    .unwrap();
    let mut request = subscribe_req();
    request.aggregate_id_prefix = "slow".into();
    let started = Instant::now();
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    assert_eq!(types(&take_events(&mut stream, 1).await), ["A"]);
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert!(next_item(&mut stream).await.unwrap().is_err());
}

#[tokio::test]
async fn counts_from_json() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    mock.mount_json(r#"{"rpc": "read_stream", "at_least": 2}"#)
        .unwrap();
    mock.mount_json(r#"{"rpc": "read_stream", "at_most": 1}"#)
        .unwrap();
    mock.mount_json(r#"{"rpc": "read_stream", "at_least": 1, "at_most": 3}"#)
        .unwrap();
    mock.mount_json(r#"{"rpc": "append", "times": 0}"#).unwrap();
    let mut client = mock.client();
    client.read_stream(read_req("a")).await.unwrap();
    client.read_stream(read_req("a")).await.unwrap();
    let err = mock.verify().unwrap_err();
    assert_eq!(err.problems, 1, "{err}");
    assert!(
        err.report.contains("expected at most 1 call, received 2"),
        "{err}"
    );
}

#[test]
fn bad_expectations_name_the_field() {
    let cases = [
        (
            json!({"respond": {"status": {"code": "NOPE"}}}),
            "invalid expectation: respond.status.code: \"NOPE\" is not a gRPC status code",
        ),
        (
            json!({"respond": {"status": {"code": 17}}}),
            "respond.status.code: 17 is not a gRPC status code",
        ),
        (json!({"rpc": "delete"}), "rpc: unknown RPC \"delete\""),
        (json!({"rcp": "append"}), "unknown field `rcp`"),
        (
            json!({"respond": {"statuz": {}}}),
            "respond.statuz: unknown field `statuz`, expected one of `status`",
        ),
        (json!({"times": "once"}), "times: invalid type"),
        (
            json!({"fields": {"aggregate_id": {"$regex": "("}}}),
            "fields[\"aggregate_id\"]: pattern: invalid regex \"(\"",
        ),
        (
            json!({"fields": {"events[x]": 1}}),
            "fields: invalid field path \"events[x]\"",
        ),
        (
            json!({"request": {"events": [{"meta": {"$nope": 1}}]}}),
            "request: events[0].meta: unknown operator $nope",
        ),
        (
            json!({"metadata": {"x": {"$regex": 1}}}),
            "metadata[\"x\"]: pattern: unknown operator $regex",
        ),
        (
            json!({"times": 1, "at_least": 1}),
            "times cannot be combined",
        ),
        (
            json!({"at_least": 3, "at_most": 1}),
            "at_least (3) is more than at_most (1)",
        ),
        (json!({"nth": 0}), "nth: calls are counted from 1"),
        (json!({"up_to": 0}), "up_to: must be at least 1 call, got 0"),
        (
            json!({"respond": {"status": {"code": 1}, "drop_connection": true}}),
            "respond: give at most one of",
        ),
        (
            json!({"respond": {"status": {"code": 1, "details_base64": "!!"}}}),
            "respond.status.details_base64:",
        ),
        (
            json!({"respond": {"fail_after": {"events": 1, "code": "bad"}}}),
            "respond.fail_after.code:",
        ),
        (
            json!({"respond": {"events": [{"meta": {"event_typ": "A"}}]}}),
            "respond.events[0].meta.event_typ: unknown field `event_typ`",
        ),
        (
            json!({"respond": {"read_response": {"events": [{"payload": {"$base64": 5}}]}}}),
            "respond.read_response.events[0].payload: $base64 must be a string",
        ),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mock = MockEventStore::start().await;
        for (spec, wanted) in cases {
            let err = mock.mount_value(spec.clone()).unwrap_err().to_string();
            assert!(
                err.contains(wanted),
                "{spec}: got {err:?}, wanted {wanted:?}"
            );
        }
        let err = mock.mount_json("{not json").unwrap_err().to_string();
        assert!(err.starts_with("invalid expectation: not JSON:"), "{err}");
        assert!(mock.verify().is_ok(), "nothing was mounted");
    });
}

#[tokio::test]
async fn status_codes_by_name_or_number() {
    let mock = MockEventStore::start().await;
    for (i, code) in [
        json!("NOT_FOUND"),
        json!("NotFound"),
        json!("not_found"),
        json!(5),
    ]
    .into_iter()
    .enumerate()
    {
        mock.mount_value(json!({
            "fields": {"aggregate_id": format!("s{i}")},
            "respond": {"status": {"code": code}}
        }))
        .unwrap();
        let err = mock
            .client()
            .read_stream(read_req(&format!("s{i}")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{code}");
    }
}

#[tokio::test]
async fn an_expectation_without_a_count_wants_exactly_one_call() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    mock.mount_json(r#"{"rpc": "read_stream"}"#).unwrap();
    let err = mock.verify().unwrap_err();
    assert!(
        err.report.contains("expected exactly 1 call, received 0"),
        "{err}"
    );
    let mut client = mock.client();
    client.read_stream(read_req("a")).await.unwrap();
    mock.verify().unwrap();
    client.read_stream(read_req("a")).await.unwrap();
    let err = mock.verify().unwrap_err();
    assert!(
        err.report.contains("expected exactly 1 call, received 2"),
        "{err}"
    );

    // `"at_least": 0` is how a JSON stub answers any number of calls.
    mock.reset();
    mock.mount_json(r#"{"rpc": "read_stream", "at_least": 0}"#)
        .unwrap();
    mock.verify().unwrap();
}

#[tokio::test]
async fn up_to_from_json_retires_the_expectation_and_sets_the_count() {
    let mock = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    mock.mount_json(
        r#"{"rpc": "read_stream", "up_to": 2,
            "respond": {"status": {"code": "UNAVAILABLE", "message": "down"}}}"#,
    )
    .unwrap();
    let mut client = mock.client();
    for _ in 0..2 {
        let err = client.read_stream(read_req("a")).await.unwrap_err();
        assert_eq!(err.message(), "down");
    }
    // Without a count it wants exactly its 2 calls, and later calls go
    // past it uncounted.
    mock.verify().unwrap();
    client
        .read_stream(read_req("a"))
        .await
        .expect("falls through");
    mock.verify().unwrap();
    // With an explicit count, that count is verified.
    mock.reset();
    mock.mount_json(r#"{"rpc": "read_stream", "up_to": 2, "at_least": 1}"#)
        .unwrap();
    client.read_stream(read_req("a")).await.unwrap();
    mock.verify().unwrap();
}

#[test]
fn spec_errors_are_typed() {
    use eventstore_mock::{pattern::PatternError, spec::SpecError};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mock = MockEventStore::start().await;
        let err = mock.mount_value(json!({"rpc": "delete"})).unwrap_err();
        assert_eq!(err, SpecError::UnknownRpc { name: "delete".into() });
        assert!(err.to_string().contains("read_all, get_server_info"), "{err}");
        let err = mock
            .mount_value(json!({"respond": {"status": {"code": "NOPE"}}}))
            .unwrap_err();
        assert!(
            matches!(&err, SpecError::Code { field, source } if field == "respond.status.code" && source.value == "\"NOPE\""),
            "{err:?}"
        );
        let err = mock
            .mount_value(json!({"fields": {"aggregate_id": {"$regex": "("}}}))
            .unwrap_err();
        assert!(
            matches!(&err, SpecError::Pattern { source: PatternError::InvalidRegex { regex, .. }, .. } if regex == "("),
            "{err:?}"
        );
        let err = mock
            .mount_value(json!({"respond": {"events": [{"meta": {"event_version": "x"}}]}}))
            .unwrap_err();
        assert!(
            matches!(&err, SpecError::Event(e) if e.at == "respond.events[0].meta.event_version"),
            "{err:?}"
        );
        assert_eq!(
            mock.mount_value(json!({"at_least": 3, "at_most": 1})).unwrap_err(),
            SpecError::EmptyRange { at_least: 3, at_most: 1 }
        );
    });
}

//! Append: validation order, concurrency, idempotency, event ids, limits.

use super::support::{
    event_ids, expect_error, globals, meta, meta_mut, now_ms, read_stream_to_end, stream_nonces,
};
use crate::{Ctx, Store, append, read};
use eventstore_engine::{Limits, status::concurrency_detail};
use eventstore_proto::conflict;
use eventstore_proto::{AppendRequest, AppendResponse, ConcurrencyErrorDetail, EventData};
use std::collections::HashMap;
use tonic::Code;

/// Small limits, so each one is easy to break.
fn small_limits() -> Limits {
    Limits {
        max_events_per_batch: 3,
        max_id_length: 16,
        max_request_bytes: 4096,
        max_page_size: 5,
        default_page_size: 2,
        ..Limits::default()
    }
}

/// `request` with short event ids (`{prefix}{i}`), to fit `max_id_length` 16.
fn short_ids(mut request: AppendRequest, prefix: &str) -> AppendRequest {
    for (i, e) in request.events.iter_mut().enumerate() {
        meta_mut(e).event_id = format!("{prefix}{i}");
    }
    request
}

fn with_key(mut request: AppendRequest, key: &str) -> AppendRequest {
    request.idempotency_key = key.into();
    request
}

fn response(last_aggregate_nonce: u64, last_global_nonce: u64) -> AppendResponse {
    AppendResponse {
        last_global_nonce,
        last_aggregate_nonce,
    }
}

pub async fn append_then_read_back(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let response = store
        .append(append("t1", "order-1", 0, 2))
        .await
        .expect("append");
    assert_eq!(response.last_aggregate_nonce, 2);
    assert_eq!(response.last_global_nonce, 2);
    let page = store
        .read_stream(read("t1", "order-1", 0, 0, true))
        .await
        .expect("read");
    assert_eq!(page.events.len(), 2);
    assert!(page.is_end);
    assert_eq!(page.next_from_aggregate_nonce, 3);
}

// ---- Check 1 and 2: the request ----

pub async fn empty_tenant_is_unauthenticated(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let status = store
        .append(append("", "order-1", 0, 1))
        .await
        .expect_err("no tenant");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "tenant_id is required");
}

pub async fn empty_request_fields_are_invalid(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    expect_error(
        store.append(append("t1", "", 0, 1)).await,
        Code::InvalidArgument,
        &["aggregate_id"],
    );
    let mut request = append("t1", "order-1", 0, 1);
    request.aggregate_type.clear();
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["aggregate_type"],
    );
    let mut request = append("t1", "order-1", 0, 1);
    request.events.clear();
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events"],
    );
    assert!(stream_nonces(&store, "t1", "order-1").await.is_empty());
}

// ---- Check 3: each event ----

pub async fn invalid_event_is_invalid_argument_naming_its_index(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    type Breaker = fn(&mut EventData);
    let cases: [(&str, usize, Breaker, &[&str]); 4] = [
        ("meta missing", 1, |e| e.meta = None, &["events[1]", "meta"]),
        (
            "event_id empty",
            2,
            |e| meta_mut(e).event_id.clear(),
            &["events[2]", "event_id"],
        ),
        (
            "aggregate_nonce 0",
            1,
            |e| meta_mut(e).aggregate_nonce = 0,
            &["events[1]", "aggregate_nonce"],
        ),
        (
            "event_type empty",
            0,
            |e| meta_mut(e).event_type.clear(),
            &["events[0]", "event_type"],
        ),
    ];
    for (label, index, breaker, parts) in cases {
        let mut request = append("t1", "order-1", 0, 3);
        breaker(&mut request.events[index]);
        let status = store.append(request).await.expect_err(label);
        assert_eq!(status.code(), Code::InvalidArgument, "{label}: {status:?}");
        for part in parts {
            assert!(
                status.message().contains(part),
                "{label}: message {:?} should contain {part:?}",
                status.message()
            );
        }
    }
    // The first broken event decides: events[1] before events[2].
    let mut request = append("t1", "order-1", 0, 3);
    meta_mut(&mut request.events[1]).event_type.clear();
    request.events[2].meta = None;
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[1]", "event_type"],
    );
    assert!(stream_nonces(&store, "t1", "order-1").await.is_empty());
}

pub async fn event_stream_fields_are_filled_from_the_request(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let request = append("t1", "order-1", 0, 2);
    for e in &request.events {
        assert!(meta(e).aggregate_id.is_empty() && meta(e).tenant_id.is_empty());
    }
    store.append(request).await.expect("append");
    // Explicit, matching values are accepted as well.
    let mut request = append("t1", "order-1", 2, 1);
    let m = meta_mut(&mut request.events[0]);
    m.tenant_id = "t1".into();
    m.aggregate_id = "order-1".into();
    m.aggregate_type = "Test".into();
    store
        .append(request)
        .await
        .expect("matching explicit fields");

    let events = read_stream_to_end(&store, "t1", "order-1", true, 0).await;
    assert_eq!(events.len(), 3);
    for e in &events {
        let m = meta(e);
        assert_eq!(m.tenant_id, "t1");
        assert_eq!(m.aggregate_id, "order-1");
        assert_eq!(m.aggregate_type, "Test");
    }
}

pub async fn event_stream_field_mismatch_is_rejected(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut request = append("t1", "order-1", 0, 3);
    meta_mut(&mut request.events[1]).aggregate_id = "order-2".into();
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[1]", "aggregate_id", "order-2"],
    );
    let mut request = append("t1", "order-1", 0, 3);
    meta_mut(&mut request.events[2]).aggregate_type = "Other".into();
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[2]", "aggregate_type", "Other"],
    );
    let mut request = append("t1", "order-1", 0, 3);
    meta_mut(&mut request.events[0]).tenant_id = "t2".into();
    expect_error(
        store.append(request).await,
        Code::PermissionDenied,
        &["events[0]", "tenant_id", "t2"],
    );
    assert!(stream_nonces(&store, "t1", "order-1").await.is_empty());
    assert!(stream_nonces(&store, "t2", "order-1").await.is_empty());
    assert!(stream_nonces(&store, "t1", "order-2").await.is_empty());
}

pub async fn empty_content_type_becomes_octet_stream(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut request = append("t1", "order-1", 0, 2);
    meta_mut(&mut request.events[0]).content_type.clear();
    store.append(request).await.expect("append");
    let events = read_stream_to_end(&store, "t1", "order-1", true, 0).await;
    assert_eq!(meta(&events[0]).content_type, "application/octet-stream");
    assert_eq!(meta(&events[1]).content_type, "application/json");
}

pub async fn store_fields_sent_by_the_client_are_overwritten(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let before = now_ms();
    let mut request = append("t1", "order-1", 0, 2);
    meta_mut(&mut request.events[0]).global_nonce = 999;
    meta_mut(&mut request.events[0]).recorded_time_unix_ms = 1;
    meta_mut(&mut request.events[1]).global_nonce = 1;
    meta_mut(&mut request.events[1]).recorded_time_unix_ms = u64::MAX;
    let response = store.append(request).await.expect("append");
    let after = now_ms();
    assert_eq!(response, self::response(2, 2));
    let events = read_stream_to_end(&store, "t1", "order-1", true, 0).await;
    assert_eq!(globals(&events), [1, 2]);
    for e in &events {
        let recorded = meta(e).recorded_time_unix_ms;
        assert!(
            (before..=after).contains(&recorded),
            "recorded_time_unix_ms {recorded} not in [{before}, {after}]"
        );
    }
}

pub async fn every_client_field_round_trips(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut request = append("t1", "order-1", 0, 1);
    let headers: HashMap<String, String> = [
        ("trace-id".to_string(), "abc123".to_string()),
        ("empty".to_string(), String::new()),
        ("unicode".to_string(), "ü→✓".to_string()),
    ]
    .into_iter()
    .collect();
    {
        let m = meta_mut(&mut request.events[0]);
        m.event_type = "com.myco.order.OrderCreated".into();
        m.event_version = 7;
        m.content_type = "application/x-protobuf".into();
        m.content_schema = "schema://order/v7".into();
        m.correlation_id = "corr-1".into();
        m.causation_id = "cause-1".into();
        m.actor_id = "user-42".into();
        m.timestamp_unix_ms = 1_700_000_000_123;
        m.payload_sha256 = vec![0xAB; 32];
        m.headers = headers.clone().into_iter().collect();
    }
    request.events[0].payload = vec![0, 1, 2, 255, 254, 0];
    let sent = request.events[0].clone();
    store.append(request).await.expect("append");
    let events = read_stream_to_end(&store, "t1", "order-1", true, 0).await;
    assert_eq!(events.len(), 1);
    let (got, want) = (meta(&events[0]), meta(&sent));
    assert_eq!(got.event_id, want.event_id);
    assert_eq!(got.aggregate_nonce, 1);
    assert_eq!(got.event_type, "com.myco.order.OrderCreated");
    assert_eq!(got.event_version, 7);
    assert_eq!(got.content_type, "application/x-protobuf");
    assert_eq!(got.content_schema, "schema://order/v7");
    assert_eq!(got.correlation_id, "corr-1");
    assert_eq!(got.causation_id, "cause-1");
    assert_eq!(got.actor_id, "user-42");
    assert_eq!(got.timestamp_unix_ms, 1_700_000_000_123);
    assert_eq!(got.payload_sha256, vec![0xAB; 32]);
    let got_headers: HashMap<String, String> = got.headers.clone().into_iter().collect();
    assert_eq!(got_headers, headers);
    assert_eq!(events[0].payload, sent.payload);
}

// ---- The order of the checks ----

pub async fn checks_run_in_the_specified_order(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store
        .append(append("t1", "order-1", 0, 2))
        .await
        .expect("seed");

    // 1 before 2: no tenant and no aggregate id.
    let mut request = append("", "", 0, 1);
    request.events.clear();
    let status = expect_error(
        store.append(request).await,
        Code::Unauthenticated,
        &["tenant_id"],
    );
    assert_eq!(status.message(), "tenant_id is required");

    // 2 before 3: no aggregate type and an event without meta.
    let mut request = append("t1", "order-1", 2, 1);
    request.aggregate_type.clear();
    request.events[0].meta = None;
    let status = expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["aggregate_type"],
    );
    assert!(!status.message().contains("events[0]"), "{status:?}");

    // 3 before 5: an invalid event in a conflicting append.
    let mut request = append("t1", "order-1", 0, 1);
    meta_mut(&mut request.events[0]).event_type.clear();
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[0]", "event_type"],
    );
    // 3 (foreign tenant) before 5.
    let mut request = append("t1", "order-1", 0, 1);
    meta_mut(&mut request.events[0]).tenant_id = "t9".into();
    expect_error(
        store.append(request).await,
        Code::PermissionDenied,
        &["events[0]", "t9"],
    );

    // 5 before 6: a conflict whose nonces are also wrong.
    let mut request = append("t1", "order-1", 1, 1);
    meta_mut(&mut request.events[0]).aggregate_nonce = 9;
    expect_error(store.append(request).await, Code::Aborted, &["order-1"]);

    // 6 before 7: wrong nonce and a reused event id.
    let used = event_ids(&read_stream_to_end(&store, "t1", "order-1", true, 0).await);
    let mut request = append("t1", "order-1", 2, 2);
    meta_mut(&mut request.events[0]).event_id = used[0].clone();
    meta_mut(&mut request.events[1]).aggregate_nonce = 7;
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[1]", "7", "4"],
    );

    assert_eq!(stream_nonces(&store, "t1", "order-1").await, [1, 2]);
}

pub async fn limits_are_checked_after_the_other_checks(ctx: Ctx) {
    let store = ctx.start(small_limits()).await;
    store
        .append(short_ids(append("t1", "s", 0, 1), "seed"))
        .await
        .expect("seed");

    // 1 before 8.
    let request = short_ids(append("", "s", 1, 4), "a");
    expect_error(
        store.append(request).await,
        Code::Unauthenticated,
        &["tenant_id is required"],
    );
    // 3 before 8: the broken event is named, not the batch size.
    let mut request = short_ids(append("t1", "s", 1, 4), "b");
    request.events[3].meta = None;
    let status = expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[3]"],
    );
    assert!(
        !status.message().contains("max_events_per_batch"),
        "{status:?}"
    );
    // 5 before 8: a conflicting batch that is also too large.
    let request = short_ids(append("t1", "s", 0, 4), "c");
    expect_error(store.append(request).await, Code::Aborted, &[]);
    // 7 before 8: a reused event id with an over-long correlation id.
    let mut request = short_ids(append("t1", "s", 1, 1), "d");
    meta_mut(&mut request.events[0]).event_id = "seed0".into();
    meta_mut(&mut request.events[0]).correlation_id = "x".repeat(17);
    expect_error(store.append(request).await, Code::AlreadyExists, &["seed0"]);

    assert_eq!(stream_nonces(&store, "t1", "s").await, [1]);
}

// ---- Check 4: idempotency ----

pub async fn idempotent_retry_returns_the_original_response_and_writes_nothing(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store
        .append(append("t1", "other", 0, 1))
        .await
        .expect("seed");
    let request = with_key(append("t1", "order-1", 0, 2), "key-1");
    let first = store.append(request.clone()).await.expect("first");
    assert_eq!(first, response(2, 3));
    // The retry's expected nonce 0 is stale now: idempotency comes first.
    let retry = store.append(request.clone()).await.expect("retry");
    assert_eq!(retry, first);
    let again = store.append(request).await.expect("second retry");
    assert_eq!(again, first);

    assert_eq!(stream_nonces(&store, "t1", "order-1").await, [1, 2]);
    // The global log did not advance either.
    let next = store
        .append(append("t1", "other", 1, 1))
        .await
        .expect("next");
    assert_eq!(next, response(2, 4));
}

pub async fn idempotent_retry_after_the_stream_moved_on_returns_the_original_response(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let request = with_key(append("t1", "order-1", 0, 2), "key-1");
    let first = store.append(request.clone()).await.expect("first");
    assert_eq!(first, response(2, 2));
    let later = store
        .append(append("t1", "order-1", 2, 3))
        .await
        .expect("later");
    assert_eq!(later, response(5, 5));
    let retry = store.append(request).await.expect("retry");
    assert_eq!(retry, first, "the original response, not the current head");
    assert_eq!(
        stream_nonces(&store, "t1", "order-1").await,
        [1, 2, 3, 4, 5]
    );
    let next = store.append(append("t1", "b", 0, 1)).await.expect("next");
    assert_eq!(next, response(1, 6));
}

pub async fn idempotency_compares_the_normalized_batch(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut request = with_key(append("t1", "order-1", 0, 2), "key-1");
    meta_mut(&mut request.events[0]).content_type.clear();
    let first = store.append(request.clone()).await.expect("first");
    // The same batch, with request fields and the default content type
    // spelled out, and store fields sent: the same once normalized.
    let mut retry = request;
    for (i, e) in retry.events.iter_mut().enumerate() {
        let m = meta_mut(e);
        m.tenant_id = "t1".into();
        m.aggregate_id = "order-1".into();
        m.aggregate_type = "Test".into();
        m.global_nonce = 40 + i as u64;
        m.recorded_time_unix_ms = 12_345;
    }
    meta_mut(&mut retry.events[0]).content_type = "application/octet-stream".into();
    assert_eq!(store.append(retry).await.expect("retry"), first);
    assert_eq!(stream_nonces(&store, "t1", "order-1").await, [1, 2]);
}

pub async fn idempotency_key_reused_for_a_different_batch_is_already_exists(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let request = with_key(append("t1", "order-1", 0, 2), "key-1");
    store.append(request.clone()).await.expect("first");

    // Other events (new ids), stale expected nonce: 4 decides before 5.
    let other = with_key(append("t1", "order-1", 0, 2), "key-1");
    expect_error(
        store.append(other).await,
        Code::AlreadyExists,
        &["idempotency_key", "key-1"],
    );
    // Other events that would otherwise be a valid continuation.
    let other = with_key(append("t1", "order-1", 2, 1), "key-1");
    expect_error(store.append(other).await, Code::AlreadyExists, &["key-1"]);
    // The same event ids with another payload.
    let mut other = request;
    other.events[1].payload = b"{\"changed\":true}".to_vec();
    expect_error(store.append(other).await, Code::AlreadyExists, &["key-1"]);
    assert_eq!(stream_nonces(&store, "t1", "order-1").await, [1, 2]);
}

pub async fn idempotency_keys_are_per_stream(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let a = store
        .append(with_key(append("t1", "a", 0, 2), "key-1"))
        .await
        .expect("t1/a");
    assert_eq!(a, response(2, 2));
    let b = store
        .append(with_key(append("t1", "b", 0, 1), "key-1"))
        .await
        .expect("same key on another stream");
    assert_eq!(b, response(1, 3));
    let other_tenant = store
        .append(with_key(append("t2", "a", 0, 3), "key-1"))
        .await
        .expect("same key, same aggregate id, another tenant");
    assert_eq!(other_tenant, response(3, 6));
    assert_eq!(stream_nonces(&store, "t1", "a").await, [1, 2]);
    assert_eq!(stream_nonces(&store, "t1", "b").await, [1]);
    assert_eq!(stream_nonces(&store, "t2", "a").await, [1, 2, 3]);
}

// ---- Check 5: optimistic concurrency ----

pub async fn expected_zero_on_an_existing_stream_is_aborted(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store
        .append(append("t1", "order-1", 0, 3))
        .await
        .expect("seed");
    store
        .append(append("t1", "other", 0, 1))
        .await
        .expect("other");
    let status = expect_error(
        store.append(append("t1", "order-1", 0, 1)).await,
        Code::Aborted,
        &["expected_aggregate_nonce", "order-1"],
    );
    let detail = concurrency_detail(&status).expect("ConcurrencyErrorDetail");
    assert_eq!(
        detail,
        ConcurrencyErrorDetail {
            tenant_id: "t1".into(),
            aggregate_id: "order-1".into(),
            actual_last_aggregate_nonce: 3,
            actual_last_global_nonce: 3,
        }
    );
    assert_eq!(stream_nonces(&store, "t1", "order-1").await, [1, 2, 3]);
}

/// The reference's bytes: `grpc-status-details-bin` is a bare
/// `google.protobuf.Any` of `eventstore.v1.ConcurrencyErrorDetail`, not a
/// `google.rpc.Status` envelope (the reference's Python client decodes only
/// the bare form unless an optional package is installed).
pub async fn conflict_detail_is_a_bare_any(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store
        .append(append("t1", "order-1", 0, 2))
        .await
        .expect("seed");
    let status = expect_error(
        store.append(append("t1", "order-1", 0, 1)).await,
        Code::Aborted,
        &["expected_aggregate_nonce"],
    );
    assert!(
        conflict::is_bare_any(status.details()),
        "grpc-status-details-bin must be a bare google.protobuf.Any with type URL {}; got {} bytes{}",
        eventstore_proto::CONCURRENCY_ERROR_DETAIL_TYPE_URL,
        status.details().len(),
        if concurrency_detail(&status).is_some() {
            " (a google.rpc.Status envelope)"
        } else {
            ""
        }
    );
    let detail = concurrency_detail(&status).expect("ConcurrencyErrorDetail");
    assert_eq!(
        (
            detail.actual_last_aggregate_nonce,
            detail.aggregate_id.as_str()
        ),
        (2, "order-1")
    );
}

pub async fn expected_other_than_the_head_is_aborted(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "a", 0, 2)).await.expect("a");
    store.append(append("t1", "b", 0, 1)).await.expect("b");
    store
        .append(append("t1", "a", 2, 1))
        .await
        .expect("a again");
    store.append(append("t2", "c", 0, 1)).await.expect("c");
    // t1/a: head 3 at global 4.
    let a = ConcurrencyErrorDetail {
        tenant_id: "t1".into(),
        aggregate_id: "a".into(),
        actual_last_aggregate_nonce: 3,
        actual_last_global_nonce: 4,
    };
    for expected in [1, 2, 4, 100] {
        let status = expect_error(
            store.append(append("t1", "a", expected, 1)).await,
            Code::Aborted,
            &["expected_aggregate_nonce", &expected.to_string()],
        );
        assert_eq!(concurrency_detail(&status).as_ref(), Some(&a), "{expected}");
    }
    // A stream that does not exist has head 0, in its own tenant only.
    for (tenant, aggregate_id) in [("t1", "missing"), ("t2", "a")] {
        let status = expect_error(
            store.append(append(tenant, aggregate_id, 3, 1)).await,
            Code::Aborted,
            &["expected_aggregate_nonce"],
        );
        assert_eq!(
            concurrency_detail(&status),
            Some(ConcurrencyErrorDetail {
                tenant_id: tenant.into(),
                aggregate_id: aggregate_id.into(),
                actual_last_aggregate_nonce: 0,
                actual_last_global_nonce: 0,
            })
        );
    }
    assert_eq!(stream_nonces(&store, "t1", "a").await, [1, 2, 3]);
    assert!(stream_nonces(&store, "t1", "missing").await.is_empty());
    // The right expected nonce still works.
    let ok = store.append(append("t1", "a", 3, 1)).await.expect("head");
    assert_eq!(ok, response(4, 6));
}

// ---- Check 6: nonce sequence ----

pub async fn event_nonces_must_continue_the_head(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store
        .append(append("t1", "order-1", 0, 2))
        .await
        .expect("seed");
    let mut request = append("t1", "order-1", 2, 3);
    meta_mut(&mut request.events[1]).aggregate_nonce = 5;
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[1]", "5", "4"],
    );
    let mut request = append("t1", "order-1", 2, 1);
    meta_mut(&mut request.events[0]).aggregate_nonce = 2;
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[0]", "2", "3"],
    );
    let mut request = append("t1", "new", 0, 1);
    meta_mut(&mut request.events[0]).aggregate_nonce = 2;
    expect_error(
        store.append(request).await,
        Code::InvalidArgument,
        &["events[0]", "2", "1"],
    );
    assert_eq!(stream_nonces(&store, "t1", "order-1").await, [1, 2]);
    assert!(stream_nonces(&store, "t1", "new").await.is_empty());
}

// ---- Check 7: event ids ----

pub async fn event_id_used_in_the_tenant_is_already_exists(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let seed = append("t1", "a", 0, 2);
    let used = event_ids(&seed.events);
    store.append(seed).await.expect("seed");
    let mut request = append("t1", "b", 0, 3);
    meta_mut(&mut request.events[1]).event_id = used[1].clone();
    expect_error(
        store.append(request).await,
        Code::AlreadyExists,
        &["events[1]", &used[1]],
    );
    // On the same stream too.
    let mut request = append("t1", "a", 2, 1);
    meta_mut(&mut request.events[0]).event_id = used[0].clone();
    expect_error(
        store.append(request).await,
        Code::AlreadyExists,
        &["events[0]", &used[0]],
    );
    assert!(stream_nonces(&store, "t1", "b").await.is_empty());
    assert_eq!(stream_nonces(&store, "t1", "a").await, [1, 2]);
}

pub async fn event_id_twice_in_a_batch_is_already_exists(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut request = append("t1", "a", 0, 3);
    let id = meta(&request.events[0]).event_id.clone();
    meta_mut(&mut request.events[2]).event_id = id.clone();
    expect_error(
        store.append(request).await,
        Code::AlreadyExists,
        &["events[2]", &id],
    );
    assert!(stream_nonces(&store, "t1", "a").await.is_empty());
    // Not reserved by the failed batch.
    let mut request = append("t1", "a", 0, 1);
    meta_mut(&mut request.events[0]).event_id = id;
    store.append(request).await.expect("id is free");
}

pub async fn event_ids_are_unique_per_tenant_only(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let seed = append("t1", "a", 0, 2);
    let mut copy = append("t2", "a", 0, 2);
    for (e, s) in copy.events.iter_mut().zip(&seed.events) {
        meta_mut(e).event_id = meta(s).event_id.clone();
    }
    store.append(seed).await.expect("t1");
    let other = store.append(copy).await.expect("same ids in t2");
    assert_eq!(other, response(2, 4));
    let t1 = event_ids(&read_stream_to_end(&store, "t1", "a", true, 0).await);
    let t2 = event_ids(&read_stream_to_end(&store, "t2", "a", true, 0).await);
    assert_eq!(t1, t2);
}

// ---- Atomicity ----

pub async fn a_failed_batch_writes_nothing(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "a", 0, 2)).await.expect("seed");
    let used = event_ids(&read_stream_to_end(&store, "t1", "a", true, 0).await);
    type Breaker = fn(&mut EventData, &str);
    let breakers: [(&str, Breaker); 4] = [
        ("wrong nonce", |e, _| meta_mut(e).aggregate_nonce += 1),
        ("reused event id", |e, used| {
            meta_mut(e).event_id = used.into()
        }),
        ("foreign tenant", |e, _| meta_mut(e).tenant_id = "t2".into()),
        ("no event type", |e, _| meta_mut(e).event_type.clear()),
    ];
    let mut failed_ids = Vec::new();
    for (label, breaker) in breakers {
        for (stream, head) in [("a", 2), ("fresh", 0)] {
            let mut request = append("t1", stream, head, 3);
            breaker(&mut request.events[2], &used[0]);
            failed_ids.push(meta(&request.events[0]).event_id.clone());
            let result = store.append(request).await;
            assert!(result.is_err(), "{label} on {stream}: {result:?}");
        }
    }
    assert_eq!(stream_nonces(&store, "t1", "a").await, [1, 2]);
    assert!(stream_nonces(&store, "t1", "fresh").await.is_empty());
    // No global nonce was consumed and no event id was reserved.
    let mut request = append("t1", "fresh", 0, 1);
    meta_mut(&mut request.events[0]).event_id = failed_ids[0].clone();
    assert_eq!(store.append(request).await.expect("after"), response(1, 3));
}

// ---- The response and the global log ----

pub async fn response_reports_the_new_head_and_the_last_global_nonce(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    assert_eq!(
        store.append(append("t1", "a", 0, 3)).await.expect("1"),
        response(3, 3)
    );
    assert_eq!(
        store.append(append("t1", "b", 0, 2)).await.expect("2"),
        response(2, 5)
    );
    assert_eq!(
        store.append(append("t2", "a", 0, 1)).await.expect("3"),
        response(1, 6)
    );
    assert_eq!(
        store.append(append("t1", "a", 3, 2)).await.expect("4"),
        response(5, 8)
    );
    let a = read_stream_to_end(&store, "t1", "a", true, 0).await;
    assert_eq!(globals(&a), [1, 2, 3, 7, 8]);
    let b = read_stream_to_end(&store, "t1", "b", true, 0).await;
    assert_eq!(globals(&b), [4, 5]);
    let other = read_stream_to_end(&store, "t2", "a", true, 0).await;
    assert_eq!(globals(&other), [6]);
}

pub async fn global_nonces_are_gap_free_across_streams_and_tenants(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let streams = [("t1", "a"), ("t2", "a"), ("t1", "b"), ("t3", "c")];
    let mut heads = [0u64; 4];
    let mut last_global = 0;
    for round in 0..20u64 {
        let s = (round as usize * 3) % streams.len();
        let count = round % 3 + 1;
        let (tenant, aggregate_id) = streams[s];
        let got = store
            .append(append(tenant, aggregate_id, heads[s], count))
            .await
            .expect("append");
        heads[s] += count;
        last_global += count;
        assert_eq!(got, response(heads[s], last_global), "round {round}");
    }
    let mut all = Vec::new();
    for (tenant, aggregate_id) in streams {
        let events = read_stream_to_end(&store, tenant, aggregate_id, true, 0).await;
        let g = globals(&events);
        assert!(
            g.windows(2).all(|w| w[0] < w[1]),
            "{tenant}/{aggregate_id}: {g:?}"
        );
        all.extend(g);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=last_global).collect::<Vec<_>>());
}

pub async fn recorded_time_is_set_at_commit_and_never_decreases(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let before = now_ms();
    for (i, aggregate_id) in ["a", "b", "a", "c", "b"].into_iter().enumerate() {
        let head = stream_nonces(&store, "t1", aggregate_id).await.len() as u64;
        store
            .append(append("t1", aggregate_id, head, 2))
            .await
            .expect("append");
        if i % 2 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }
    let after = now_ms();
    let mut all = Vec::new();
    for aggregate_id in ["a", "b", "c"] {
        all.extend(read_stream_to_end(&store, "t1", aggregate_id, true, 0).await);
    }
    all.sort_by_key(|e| meta(e).global_nonce);
    assert_eq!(all.len(), 10);
    let times: Vec<u64> = all.iter().map(|e| meta(e).recorded_time_unix_ms).collect();
    assert!(
        times.iter().all(|t| (before..=after).contains(t)),
        "{times:?} not within [{before}, {after}]"
    );
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

// ---- Check 8: limits ----

pub async fn too_many_events_is_invalid(ctx: Ctx) {
    let store = ctx.start(small_limits()).await;
    expect_error(
        store.append(short_ids(append("t1", "s", 0, 4), "a")).await,
        Code::InvalidArgument,
        &["max_events_per_batch", "3"],
    );
    assert!(stream_nonces(&store, "t1", "s").await.is_empty());
    let ok = store
        .append(short_ids(append("t1", "s", 0, 3), "b"))
        .await
        .expect("3 events is the limit");
    assert_eq!(ok, response(3, 3));
}

pub async fn ids_longer_than_the_limit_are_invalid(ctx: Ctx) {
    let store = ctx.start(small_limits()).await;
    let long = "x".repeat(17);
    type Breaker = fn(&mut AppendRequest, &str);
    let cases: [(&str, Breaker, &[&str]); 9] = [
        ("tenant", |r, v| r.tenant_id = v.into(), &["tenant_id"]),
        (
            "aggregate",
            |r, v| r.aggregate_id = v.into(),
            &["aggregate_id"],
        ),
        (
            "type",
            |r, v| r.aggregate_type = v.into(),
            &["aggregate_type"],
        ),
        (
            "key",
            |r, v| r.idempotency_key = v.into(),
            &["idempotency_key"],
        ),
        (
            "event id",
            |r, v| meta_mut(&mut r.events[1]).event_id = v.into(),
            &["events[1]", "event_id"],
        ),
        (
            "event type",
            |r, v| meta_mut(&mut r.events[0]).event_type = v.into(),
            &["events[0]", "event_type"],
        ),
        (
            "correlation",
            |r, v| meta_mut(&mut r.events[1]).correlation_id = v.into(),
            &["events[1]", "correlation_id"],
        ),
        (
            "causation",
            |r, v| meta_mut(&mut r.events[0]).causation_id = v.into(),
            &["events[0]", "causation_id"],
        ),
        (
            "actor",
            |r, v| meta_mut(&mut r.events[1]).actor_id = v.into(),
            &["events[1]", "actor_id"],
        ),
    ];
    for (label, breaker, parts) in &cases {
        let mut request = append("t1", "s", 0, 2);
        // Short event ids, except where the case breaks them.
        for (i, e) in request.events.iter_mut().enumerate() {
            meta_mut(e).event_id = format!("{}-{i}", &label[..3]);
        }
        breaker(&mut request, &long);
        let status = store.append(request).await.expect_err(label);
        assert_eq!(status.code(), Code::InvalidArgument, "{label}: {status:?}");
        for part in parts.iter().chain(&["max_id_length", "16"]) {
            assert!(
                status.message().contains(part),
                "{label}: message {:?} should contain {part:?}",
                status.message()
            );
        }
    }
    assert!(stream_nonces(&store, "t1", "s").await.is_empty());
    // Exactly the limit is fine, everywhere.
    let edge = "y".repeat(16);
    let mut request = short_ids(append(&edge, &edge, 0, 2), "ok");
    request.aggregate_type = edge.clone();
    request.idempotency_key = edge.clone();
    for (i, e) in request.events.iter_mut().enumerate() {
        let m = meta_mut(e);
        m.event_id = format!("{}{i}", &edge[..15]);
        m.event_type = edge.clone();
        m.correlation_id = edge.clone();
        m.causation_id = edge.clone();
        m.actor_id = edge.clone();
    }
    store
        .append(request)
        .await
        .expect("ids of exactly 16 bytes");
}

pub async fn too_large_request_is_resource_exhausted_and_the_store_survives(ctx: Ctx) {
    let store = ctx.start(small_limits()).await;
    let mut request = short_ids(append("t1", "s", 0, 1), "big");
    request.events[0].payload = vec![7; 3_000];
    store
        .append(request)
        .await
        .expect("a request under 4096 bytes is accepted");
    for size in [5_000, 64 * 1024, 3 * 1024 * 1024] {
        let mut request = short_ids(append("t1", "s", 1, 1), &format!("b{size}"));
        request.events[0].payload = vec![7; size];
        expect_error(
            store.append(request).await,
            Code::ResourceExhausted,
            &["max_request_bytes", "4096"],
        );
    }
    // Still answering, with nothing of the refused requests written.
    let ok = store
        .append(short_ids(append("t1", "s", 1, 1), "after"))
        .await
        .expect("the store still answers");
    assert_eq!(ok, response(2, 2));
    assert_eq!(stream_nonces(&store, "t1", "s").await, [1, 2]);
}

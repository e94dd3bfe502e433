//! Append: validation order, concurrency, idempotency, event ids, limits.

use eventstore_conformance::{Store, Target, append, read};
use eventstore_engine::Limits;
use tonic::Code;

pub async fn append_then_read_back<T: Target>() {
    let store = T::start(Limits::default()).await;
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

pub async fn empty_tenant_is_unauthenticated<T: Target>() {
    let store = T::start(Limits::default()).await;
    let status = store
        .append(append("", "order-1", 0, 1))
        .await
        .expect_err("no tenant");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "tenant_id is required");
}

//! ReadAll: a tenant's events of every stream in global order, its page
//! limits (default 100, cap 1,000, the byte limit) and tenant isolation.
//! The cursor rules are checked with ReadStream's in `paging.rs`.

use super::support::{expect_error, globals, meta, store_of_large_events};
use crate::{Ctx, HEAD, Store, append, read, read_all};
use eventstore_engine::Limits;
use tonic::Code;

pub async fn read_all_without_tenant_is_unauthenticated(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "s", 0, 1)).await.expect("append");
    for forward in [true, false] {
        let status = expect_error(
            store.read_all(read_all("", 0, 0, forward)).await,
            Code::Unauthenticated,
            &[],
        );
        assert_eq!(status.message(), "tenant_id is required");
    }
}

pub async fn read_all_is_the_tenants_log_in_global_order(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let writes = [
        ("t1", "order-1", 2),
        ("t2", "order-1", 1),
        ("t1", "invoice-7", 1),
        ("t2", "order-2", 2),
        ("t1", "order-2", 3),
    ];
    let mut heads = std::collections::HashMap::new();
    for (tenant, aggregate, n) in writes {
        let head: &mut u64 = heads.entry((tenant, aggregate)).or_default();
        store
            .append(append(tenant, aggregate, *head, n))
            .await
            .expect("append");
        *head += n;
    }
    let mut want_t1 = Vec::new();
    for aggregate in ["order-1", "invoice-7", "order-2"] {
        let page = store
            .read_stream(read("t1", aggregate, 0, 0, true))
            .await
            .expect("read");
        want_t1.extend(globals(&page.events));
    }
    want_t1.sort_unstable();
    assert_eq!(want_t1, [1, 2, 4, 7, 8, 9]);

    let page = store
        .read_all(read_all("t1", 0, 0, true))
        .await
        .expect("ReadAll");
    assert_eq!(globals(&page.events), want_t1);
    assert!(page.is_end);
    assert_eq!(page.next_from_global_nonce, 10);
    assert!(page.events.iter().all(|e| meta(e).tenant_id == "t1"));
    // Every field as stored: the same events ReadStream returns.
    let stream = store
        .read_stream(read("t1", "invoice-7", 0, 0, true))
        .await
        .expect("read");
    assert_eq!(page.events[2], stream.events[0]);

    let back = store
        .read_all(read_all("t1", HEAD, 0, false))
        .await
        .expect("ReadAll backward");
    let mut reversed = want_t1.clone();
    reversed.reverse();
    assert_eq!(globals(&back.events), reversed);
    assert!(back.is_end);
    assert_eq!(back.next_from_global_nonce, 0);

    let t2 = store
        .read_all(read_all("t2", 0, 0, true))
        .await
        .expect("ReadAll t2");
    assert_eq!(globals(&t2.events), [3, 5, 6]);
    // A tenant without events reads as empty, not as an error.
    for (from, forward) in [(0, true), (5, true), (0, false), (HEAD, false)] {
        let none = store
            .read_all(read_all("t3", from, 0, forward))
            .await
            .expect("ReadAll t3");
        assert!(none.events.is_empty() && none.is_end);
        // Forward keeps the cursor; an empty backward page returns 0.
        let next = if forward { from } else { 0 };
        assert_eq!(none.next_from_global_nonce, next);
    }
}

/// `max_count` 0 is 100 and larger than 1,000 is capped (the reference's
/// defaults).
pub async fn read_all_max_count_zero_is_100_and_large_is_capped(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut batch = append("t1", "s", 0, 1_001);
    for e in &mut batch.events {
        e.payload.clear();
    }
    store.append(batch).await.expect("a 1,001-event batch");
    let page = store
        .read_all(read_all("t1", 0, 0, true))
        .await
        .expect("ReadAll");
    assert_eq!(globals(&page.events), (1..=100).collect::<Vec<_>>());
    assert!(!page.is_end);
    let page = store
        .read_all(read_all("t1", 0, 5_000, true))
        .await
        .expect("ReadAll");
    assert_eq!(page.events.len(), 1_000);
    assert!(!page.is_end);
    assert_eq!(page.next_from_global_nonce, 1_001);
    let page = store
        .read_all(read_all("t1", HEAD, u32::MAX, false))
        .await
        .expect("ReadAll");
    assert_eq!(page.events.len(), 1_000);
    assert_eq!(page.next_from_global_nonce, 1);
}

/// The ReadAll page sizes are the configured `default_page_size` and
/// `max_page_size`.
pub async fn read_all_page_sizes_follow_the_configured_limits(ctx: Ctx) {
    let small = ctx
        .start(Limits {
            default_page_size: 2,
            max_page_size: 5,
            ..Limits::default()
        })
        .await;
    small.append(append("t1", "s", 0, 8)).await.expect("append");
    let page = small
        .read_all(read_all("t1", 0, 0, true))
        .await
        .expect("ReadAll");
    assert_eq!(globals(&page.events), [1, 2]);
    let page = small
        .read_all(read_all("t1", 3, 100, true))
        .await
        .expect("ReadAll");
    assert_eq!(globals(&page.events), [3, 4, 5, 6, 7]);
    assert!(!page.is_end);
}

pub async fn read_all_page_stops_early_under_the_response_size_limit(ctx: Ctx) {
    let (store, max_response_bytes) = store_of_large_events(&ctx).await;
    for forward in [true, false] {
        let mut from = if forward { 0 } else { HEAD };
        let mut seen = Vec::new();
        let mut first = true;
        loop {
            let page = store
                .read_all(read_all("t1", from, 1000, forward))
                .await
                .expect("ReadAll");
            let n = page.events.len();
            assert!((1..10).contains(&n), "forward {forward}: {n} events");
            let payload: usize = page.events.iter().map(|e| e.payload.len()).sum();
            assert!(payload <= max_response_bytes, "{payload} payload bytes");
            if first {
                assert!(!page.is_end, "a page cut short is not the end");
                first = false;
            }
            seen.extend(globals(&page.events));
            if page.is_end {
                break;
            }
            from = page.next_from_global_nonce;
        }
        if !forward {
            seen.reverse();
        }
        assert_eq!(seen, (1..=10).collect::<Vec<_>>(), "forward {forward}");
    }
}

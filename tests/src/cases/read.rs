//! ReadStream: errors, page sizes, both directions, paging, tenants, and
//! pages cut short by the response size limit.

use super::support::{expect_error, meta, read_stream_to_end, store_of_large_events};
use crate::{AnyStore, Ctx, HEAD, Store, append, read};
use eventstore_engine::Limits;
use eventstore_proto::ReadStreamResponse;
use tonic::Code;

fn nonces(page: &ReadStreamResponse) -> Vec<u64> {
    page.events
        .iter()
        .map(|e| meta(e).aggregate_nonce)
        .collect()
}

/// A store holding `t1`/`s` with `count` events, appended in batches of up to 4.
async fn store_with_stream(ctx: &Ctx, limits: Limits, count: u64) -> AnyStore {
    let store = ctx.start(limits).await;
    let mut head = 0;
    while head < count {
        let n = (count - head).min(4);
        store
            .append(append("t1", "s", head, n))
            .await
            .expect("append");
        head += n;
    }
    store
}

/// Reads one page and checks its nonces, `is_end` and `next_from`.
async fn expect_page<S: Store>(
    store: &S,
    (from, max_count, forward): (u64, u32, bool),
    want: &[u64],
    is_end: bool,
    next_from: u64,
) {
    let page = store
        .read_stream(read("t1", "s", from, max_count, forward))
        .await
        .expect("read");
    let what = format!("read from {from}, max_count {max_count}, forward {forward}");
    assert_eq!(nonces(&page), want, "{what}: nonces");
    assert_eq!(page.is_end, is_end, "{what}: is_end");
    assert_eq!(
        page.next_from_aggregate_nonce, next_from,
        "{what}: next_from"
    );
}

pub async fn read_without_tenant_is_unauthenticated(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 2).await;
    let status = expect_error(
        store.read_stream(read("", "s", 0, 0, true)).await,
        Code::Unauthenticated,
        &[],
    );
    assert_eq!(status.message(), "tenant_id is required");
    // Before the aggregate id check.
    expect_error(
        store.read_stream(read("", "", 0, 0, false)).await,
        Code::Unauthenticated,
        &["tenant_id is required"],
    );
}

pub async fn read_without_aggregate_id_is_invalid(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 2).await;
    for forward in [true, false] {
        expect_error(
            store.read_stream(read("t1", "", 0, 0, forward)).await,
            Code::InvalidArgument,
            &["aggregate_id"],
        );
    }
}

pub async fn read_ids_longer_than_the_limit_are_invalid(ctx: Ctx) {
    let limits = Limits {
        // Room for the UUIDv7 event ids of the builders (36 bytes).
        max_id_length: 36,
        ..Limits::default()
    };
    let store = store_with_stream(&ctx, limits, 1).await;
    let long = "x".repeat(37);
    expect_error(
        store.read_stream(read("t1", &long, 0, 0, true)).await,
        Code::InvalidArgument,
        &["aggregate_id", "max_id_length", "36"],
    );
    expect_error(
        store.read_stream(read(&long, "s", 0, 0, true)).await,
        Code::InvalidArgument,
        &["tenant_id", "max_id_length", "36"],
    );
}

pub async fn missing_stream_reads_empty_with_is_end(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 3).await;
    for (from, forward) in [
        (0, true),
        (1, true),
        (5, true),
        (0, false),
        (5, false),
        (7, false),
        (HEAD, false),
    ] {
        let page = store
            .read_stream(read("t1", "missing", from, 0, forward))
            .await
            .expect("a missing stream is not an error");
        assert!(page.events.is_empty(), "from {from} forward {forward}");
        assert!(page.is_end, "from {from} forward {forward}");
        // Forward keeps the cursor (polling the tail); an empty backward
        // page returns 0 whatever its start (the reference's paging.rs).
        let next = if forward { from } else { 0 };
        assert_eq!(
            page.next_from_aggregate_nonce, next,
            "from {from} forward {forward}"
        );
    }
}

/// ReadStream has no count limit: the ReadAll page limits do not apply.
pub async fn max_count_zero_reads_to_the_end_and_large_is_not_capped(ctx: Ctx) {
    let limits = Limits {
        default_page_size: 2,
        max_page_size: 5,
        ..Limits::default()
    };
    let store = store_with_stream(&ctx, limits, 12).await;
    let all: Vec<u64> = (1..=12).collect();
    let all_back: Vec<u64> = (1..=12).rev().collect();
    expect_page(&store, (0, 0, true), &all, true, 13).await;
    expect_page(&store, (HEAD, 0, false), &all_back, true, 0).await;
    expect_page(&store, (0, 3, true), &[1, 2, 3], false, 4).await;
    expect_page(&store, (0, 6, true), &[1, 2, 3, 4, 5, 6], false, 7).await;
    expect_page(&store, (3, u32::MAX, true), &all[2..], true, 13).await;
    expect_page(&store, (HEAD, 1000, false), &all_back, true, 0).await;
    let forward = read_stream_to_end(&store, "t1", "s", true, 0).await;
    assert_eq!(forward.len(), 12);
    let backward = read_stream_to_end(&store, "t1", "s", false, 1000).await;
    assert_eq!(backward.len(), 12);
}

pub async fn forward_reads_start_at_from(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 6).await;
    expect_page(&store, (0, 3, true), &[1, 2, 3], false, 4).await;
    expect_page(&store, (1, 3, true), &[1, 2, 3], false, 4).await;
    expect_page(&store, (4, 2, true), &[4, 5], false, 6).await;
    expect_page(&store, (4, 0, true), &[4, 5, 6], true, 7).await;
    expect_page(&store, (6, 10, true), &[6], true, 7).await;
    // Nothing at or after `from`: empty, the end, continue from `from`.
    expect_page(&store, (7, 10, true), &[], true, 7).await;
    expect_page(&store, (100, 10, true), &[], true, 100).await;
}

pub async fn backward_reads_descend_from_from(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 6).await;
    expect_page(&store, (4, 2, false), &[4, 3], false, 2).await;
    expect_page(&store, (2, 2, false), &[2, 1], true, 0).await;
    expect_page(&store, (1, 5, false), &[1], true, 0).await;
    expect_page(&store, (6, 6, false), &[6, 5, 4, 3, 2, 1], true, 0).await;
}

/// Backward, 0 is before every event: an empty final page with cursor 0
/// (a terminal cursor that never repeats an event).
pub async fn backward_from_zero_is_an_empty_final_page(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 5).await;
    expect_page(&store, (0, 2, false), &[], true, 0).await;
    expect_page(&store, (0, 0, false), &[], true, 0).await;
    // The last backward page's cursor is 0; following it reads nothing more.
    expect_page(&store, (2, 2, false), &[2, 1], true, 0).await;
    // From the head: any position at or past it. The head moves with appends.
    expect_page(&store, (HEAD, 2, false), &[5, 4], false, 3).await;
    store.append(append("t1", "s", 5, 2)).await.expect("append");
    expect_page(&store, (HEAD, 1, false), &[7], false, 6).await;
}

pub async fn backward_from_beyond_the_head_starts_at_the_head(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 5).await;
    expect_page(&store, (6, 2, false), &[5, 4], false, 3).await;
    expect_page(&store, (1000, 3, false), &[5, 4, 3], false, 2).await;
    expect_page(&store, (HEAD, 10, false), &[5, 4, 3, 2, 1], true, 0).await;
    expect_page(&store, (5, 10, false), &[5, 4, 3, 2, 1], true, 0).await;
    expect_page(&store, (u64::MAX, 10, false), &[5, 4, 3, 2, 1], true, 0).await;
}

pub async fn is_end_is_true_exactly_when_nothing_follows(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 4).await;
    // A page that ends exactly at the last event is the end.
    expect_page(&store, (1, 4, true), &[1, 2, 3, 4], true, 5).await;
    expect_page(&store, (1, 3, true), &[1, 2, 3], false, 4).await;
    expect_page(&store, (3, 2, true), &[3, 4], true, 5).await;
    expect_page(&store, (4, 2, false), &[4, 3], false, 2).await;
    expect_page(&store, (HEAD, 4, false), &[4, 3, 2, 1], true, 0).await;
    expect_page(&store, (HEAD, 3, false), &[4, 3, 2], false, 1).await;
}

pub async fn paging_visits_every_event_once_in_both_directions(ctx: Ctx) {
    let store = store_with_stream(&ctx, Limits::default(), 23).await;
    let all: Vec<u64> = (1..=23).collect();
    for page_size in [5, 1, 23, 22, 24] {
        let forward = read_stream_to_end(&store, "t1", "s", true, page_size).await;
        let got: Vec<u64> = forward.iter().map(|e| meta(e).aggregate_nonce).collect();
        assert_eq!(got, all, "forward, page {page_size}");
        let backward = read_stream_to_end(&store, "t1", "s", false, page_size).await;
        let mut got: Vec<u64> = backward.iter().map(|e| meta(e).aggregate_nonce).collect();
        assert!(
            got.windows(2).all(|w| w[0] > w[1]),
            "backward order {got:?}"
        );
        got.reverse();
        assert_eq!(got, all, "backward, page {page_size}");
    }
    // Exact pages of 5, backward from the head.
    let mut from = HEAD;
    let mut pages = Vec::new();
    loop {
        let page = store
            .read_stream(read("t1", "s", from, 5, false))
            .await
            .expect("read");
        pages.push(nonces(&page));
        if page.is_end {
            break;
        }
        from = page.next_from_aggregate_nonce;
    }
    assert_eq!(
        pages,
        vec![
            vec![23, 22, 21, 20, 19],
            vec![18, 17, 16, 15, 14],
            vec![13, 12, 11, 10, 9],
            vec![8, 7, 6, 5, 4],
            vec![3, 2, 1],
        ]
    );
}

pub async fn streams_are_isolated_by_tenant(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "acc", 0, 3)).await.expect("t1");
    store.append(append("t2", "acc", 0, 2)).await.expect("t2");
    let t1 = read_stream_to_end(&store, "t1", "acc", true, 0).await;
    let t2 = read_stream_to_end(&store, "t2", "acc", true, 0).await;
    assert_eq!(t1.len(), 3);
    assert_eq!(t2.len(), 2);
    assert!(t1.iter().all(|e| meta(e).tenant_id == "t1"));
    assert!(t2.iter().all(|e| meta(e).tenant_id == "t2"));
    let t1_globals: Vec<u64> = t1.iter().map(|e| meta(e).global_nonce).collect();
    let t2_globals: Vec<u64> = t2.iter().map(|e| meta(e).global_nonce).collect();
    assert_eq!(t1_globals, [1, 2, 3]);
    assert_eq!(t2_globals, [4, 5]);
    let backward = store
        .read_stream(read("t2", "acc", HEAD, 0, false))
        .await
        .expect("read");
    assert_eq!(nonces(&backward), [2, 1]);
    assert!(
        read_stream_to_end(&store, "t3", "acc", true, 0)
            .await
            .is_empty()
    );
}

pub async fn page_stops_early_under_the_response_size_limit(ctx: Ctx) {
    let (store, max_response_bytes) = store_of_large_events(&ctx).await;
    for forward in [true, false] {
        let from = if forward { 0 } else { HEAD };
        let page = store
            .read_stream(read("t1", "s", from, 1000, forward))
            .await
            .expect("read");
        let n = page.events.len();
        assert!((1..10).contains(&n), "forward {forward}: {n} events");
        assert!(!page.is_end, "a page cut short is not the end");
        let payload: usize = page.events.iter().map(|e| e.payload.len()).sum();
        assert!(payload <= max_response_bytes, "{payload} payload bytes");
        let want: Vec<u64> = if forward {
            (1..=n as u64).collect()
        } else {
            (11 - n as u64..=10).rev().collect()
        };
        assert_eq!(nonces(&page), want, "forward {forward}");
        let next = if forward { n as u64 + 1 } else { 10 - n as u64 };
        assert_eq!(page.next_from_aggregate_nonce, next);

        let all = read_stream_to_end(&store, "t1", "s", forward, 1000).await;
        let mut got: Vec<u64> = all.iter().map(|e| meta(e).aggregate_nonce).collect();
        if !forward {
            got.reverse();
        }
        assert_eq!(got, (1..=10).collect::<Vec<_>>(), "forward {forward}");
    }
}

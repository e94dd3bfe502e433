//! The cursor rules shared by ReadStream and ReadAll (`spec/semantics.md`,
//! Cursor rules): every start position in both directions with small page
//! sizes, each visiting every event once in the minimum number of calls,
//! and a reader polling the tail seeing each new event exactly once; an
//! empty backward page returns cursor 0 whatever its start.

use super::support::meta;
use crate::{AnyStore, Ctx, HEAD, Store, append, read, read_all};
use eventstore_engine::Limits;

const PAGE_SIZES: [u32; 6] = [1, 2, 3, 4, 6, 10];

/// The two paged reads: positions are aggregate nonces of `t1`/`s`, or
/// global nonces of tenant `t1`.
#[derive(Debug, Clone, Copy)]
enum Reader {
    Stream,
    All,
}

/// One page as both reads see it.
struct Page {
    positions: Vec<u64>,
    is_end: bool,
    next: u64,
}

async fn read_page<S: Store>(
    store: &S,
    reader: Reader,
    from: u64,
    max_count: u32,
    forward: bool,
) -> Page {
    match reader {
        Reader::Stream => {
            let page = store
                .read_stream(read("t1", "s", from, max_count, forward))
                .await
                .expect("ReadStream");
            Page {
                positions: page
                    .events
                    .iter()
                    .map(|e| meta(e).aggregate_nonce)
                    .collect(),
                is_end: page.is_end,
                next: page.next_from_aggregate_nonce,
            }
        }
        Reader::All => {
            let page = store
                .read_all(read_all("t1", from, max_count, forward))
                .await
                .expect("ReadAll");
            assert!(
                page.events.iter().all(|e| meta(e).tenant_id == "t1"),
                "ReadAll returned another tenant's event"
            );
            Page {
                positions: page.events.iter().map(|e| meta(e).global_nonce).collect(),
                is_end: page.is_end,
                next: page.next_from_global_nonce,
            }
        }
    }
}

/// Pages from `from` until `is_end`, checking every page against the
/// cursor rules; returns the positions in read order and the calls made.
async fn page_through<S: Store>(
    store: &S,
    reader: Reader,
    from: u64,
    size: u32,
    forward: bool,
) -> (Vec<u64>, usize) {
    let what = format!("{reader:?} from {from}, page {size}, forward {forward}");
    let mut cursor = from;
    let mut all = Vec::new();
    for calls in 1..=100 {
        let page = read_page(store, reader, cursor, size, forward).await;
        assert!(
            page.positions.len() <= size as usize,
            "{what}: page too big"
        );
        if !page.is_end {
            assert_eq!(
                page.positions.len(),
                size as usize,
                "{what}: a page before the end is full"
            );
        }
        let ordered = page
            .positions
            .windows(2)
            .all(|w| if forward { w[0] < w[1] } else { w[0] > w[1] });
        assert!(ordered, "{what}: order {:?}", page.positions);
        let expected_next = match page.positions.last() {
            None if forward => cursor,
            None => 0,
            Some(&last) if forward => last + 1,
            Some(&last) => last - 1,
        };
        assert_eq!(page.next, expected_next, "{what}: next cursor");
        all.extend(page.positions);
        if page.is_end {
            return (all, calls);
        }
        cursor = page.next;
    }
    panic!("{what}: no is_end after 100 pages");
}

/// What a read from `from` must visit, in read order, given every
/// position ascending.
fn expected(positions: &[u64], from: u64, forward: bool) -> Vec<u64> {
    if forward {
        positions
            .iter()
            .copied()
            .filter(|&p| p >= from.max(1))
            .collect()
    } else if from == 0 {
        Vec::new()
    } else {
        positions
            .iter()
            .rev()
            .copied()
            .filter(|&p| p <= from)
            .collect()
    }
}

/// `t1`/`s` with 10 events, interleaved with `t1`/`x` and tenant `t2`, so
/// the positions of tenant `t1` in the global log have gaps. Returns the
/// store and `t1`'s global nonces.
async fn interleaved_store(ctx: &Ctx) -> (AnyStore, Vec<u64>) {
    let store = ctx.start(Limits::default()).await;
    let mut t1_globals = Vec::new();
    let mut s_head = 0;
    let mut others = 0;
    for (n, tenant, aggregate) in [
        (2, "t1", "s"),
        (1, "t2", "o"),
        (1, "t1", "x"),
        (3, "t1", "s"),
        (2, "t2", "o"),
        (5, "t1", "s"),
        (1, "t2", "o"),
    ] {
        let head = match (tenant, aggregate) {
            ("t1", "s") => s_head,
            ("t1", "x") => 0,
            _ => others,
        };
        let response = store
            .append(append(tenant, aggregate, head, n))
            .await
            .expect("append");
        match (tenant, aggregate) {
            ("t1", "s") => s_head += n,
            ("t1", "x") => {}
            _ => others += n,
        }
        if tenant == "t1" {
            let last = response.last_global_nonce;
            t1_globals.extend(last + 1 - n..=last);
        }
    }
    (store, t1_globals)
}

/// Every start (0, 1, the middle, the head, past the head, 2^63-1,
/// u64::MAX, and for ReadAll a position of another tenant) in both
/// directions with page sizes 1, 2, 3, 4, 6, 10: every event once, in
/// order, in `max(1, ceil(n / size))` calls (`is_end` is exact).
pub async fn paging_from_every_start_takes_the_minimal_calls(ctx: Ctx) {
    let (store, globals) = interleaved_store(&ctx).await;
    let nonces: Vec<u64> = (1..=10).collect();
    let gap = (1..*globals.last().expect("events"))
        .find(|g| !globals.contains(g))
        .expect("t2 wrote between t1's events");
    for (reader, positions) in [(Reader::Stream, &nonces), (Reader::All, &globals)] {
        let head = *positions.last().expect("events");
        let mut starts = vec![
            0,
            1,
            positions[positions.len() / 2],
            head,
            head + 1,
            HEAD,
            u64::MAX,
        ];
        if let Reader::All = reader {
            starts.push(gap);
        }
        for from in starts {
            for forward in [true, false] {
                let want = expected(positions, from, forward);
                for size in PAGE_SIZES {
                    let (got, calls) = page_through(&store, reader, from, size, forward).await;
                    let what = format!("{reader:?} from {from}, page {size}, forward {forward}");
                    assert_eq!(got, want, "{what}: positions");
                    let minimal = want.len().div_ceil(size as usize).max(1);
                    assert_eq!(calls, minimal, "{what}: calls");
                }
            }
        }
    }
}

/// A reader polling the tail: an empty forward page keeps its cursor, and
/// the next append is seen exactly once.
pub async fn tail_polling_sees_each_new_event_once(ctx: Ctx) {
    let (store, _) = interleaved_store(&ctx).await;
    for reader in [Reader::Stream, Reader::All] {
        let mut cursor = read_page(&store, reader, 0, 1000, true).await.next;
        for round in 0..3u64 {
            let idle = read_page(&store, reader, cursor, 10, true).await;
            assert!(idle.positions.is_empty(), "{reader:?}: nothing new yet");
            assert!(idle.is_end, "{reader:?}: an empty page is the end");
            assert_eq!(
                idle.next, cursor,
                "{reader:?}: an empty page keeps its cursor"
            );
            // Another tenant writes first, so ReadAll's next position is a gap.
            let t2 = read_all("t2", HEAD, 1, false);
            let t2_head = match store.read_all(t2).await.expect("t2").events.first() {
                Some(e) => meta(e).aggregate_nonce,
                None => 0,
            };
            store
                .append(append("t2", "o", t2_head, 1))
                .await
                .expect("t2 append");
            let s_head = read_page(&store, Reader::Stream, HEAD, 1, false)
                .await
                .positions
                .first()
                .copied()
                .unwrap_or(0);
            let response = store
                .append(append("t1", "s", s_head, 1))
                .await
                .expect("append");
            let new = match reader {
                Reader::Stream => s_head + 1,
                Reader::All => response.last_global_nonce,
            };
            let page = read_page(&store, reader, cursor, 10, true).await;
            assert_eq!(
                page.positions,
                [new],
                "{reader:?} round {round}: the new event once"
            );
            assert!(page.is_end, "{reader:?}: the new event is the last");
            assert_eq!(page.next, new + 1);
            cursor = page.next;
        }
    }
}

/// An empty backward page returns cursor 0 with `is_end`, whatever its
/// start (the reference's `paging.rs`): ReadAll from every position below a
/// tenant's first event (other tenants' positions), with every page size,
/// and ReadStream on a missing stream from 5, the head position and
/// `u64::MAX`.
pub async fn empty_backward_pages_return_cursor_zero(ctx: Ctx) {
    let (store, t1_globals) = interleaved_store(&ctx).await;
    // Tenant t2 first wrote after t1's first two events.
    let t2 = store
        .read_all(read_all("t2", 0, 1, true))
        .await
        .expect("ReadAll t2");
    let t2_first = meta(t2.events.first().expect("t2 has events")).global_nonce;
    assert!(t2_first > 1 && t1_globals.contains(&(t2_first - 1)));
    for from in 1..t2_first {
        for size in [0, 1, 2, 10] {
            let page = store
                .read_all(read_all("t2", from, size, false))
                .await
                .expect("ReadAll");
            let what = format!(
                "ReadAll t2 backward from {from} (below its first event {t2_first}), page {size}"
            );
            assert!(page.events.is_empty(), "{what}: no events");
            assert!(page.is_end, "{what}: is_end");
            assert_eq!(page.next_from_global_nonce, 0, "{what}: cursor");
        }
    }
    for from in [5, HEAD, u64::MAX] {
        let page = store
            .read_stream(read("t1", "missing", from, 0, false))
            .await
            .expect("ReadStream");
        let what = format!("ReadStream of a missing stream backward from {from}");
        assert!(
            page.events.is_empty() && page.is_end,
            "{what}: empty, is_end"
        );
        assert_eq!(page.next_from_aggregate_nonce, 0, "{what}: cursor");
        let page = store
            .read_all(read_all("t-none", from, 0, false))
            .await
            .expect("ReadAll");
        let what = format!("ReadAll of a tenant without events backward from {from}");
        assert!(
            page.events.is_empty() && page.is_end,
            "{what}: empty, is_end"
        );
        assert_eq!(page.next_from_global_nonce, 0, "{what}: cursor");
    }
}

//! Subscribe: errors, history then live in global order, start position,
//! prefix filter, tenant isolation, the history/live boundary under
//! concurrent appends, slow consumers, and staying open.

use super::support::{
    Events, WAIT, assert_idle, event_ids, expect_error, globals, meta, next_event, next_events,
};
use crate::{Ctx, Store, append, subscribe};
use eventstore_engine::Limits;
use eventstore_proto::{AppendRequest, SubscribeRequest};
use futures::StreamExt;
use std::{collections::HashSet, time::Duration};
use tonic::{Code, Status};

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(200);

async fn open<S: Store>(store: &S, request: SubscribeRequest) -> Events {
    tokio::time::timeout(WAIT, store.subscribe(request))
        .await
        .expect("subscribe answered in time")
        .expect("subscribe")
}

/// The error a subscription fails with, whether at the call or as its
/// first item.
async fn subscribe_error<S: Store>(store: &S, request: SubscribeRequest) -> Status {
    let result = tokio::time::timeout(WAIT, store.subscribe(request))
        .await
        .expect("subscribe answered in time");
    match result {
        Err(status) => status,
        Ok(mut events) => match tokio::time::timeout(WAIT, events.next()).await {
            Ok(Some(Err(status))) => status,
            other => panic!("expected the subscription to fail, got {other:?}"),
        },
    }
}

/// Appends `request` and returns its event ids.
async fn append_ids<S: Store>(store: &S, request: AppendRequest) -> Vec<String> {
    let ids = event_ids(&request.events);
    store.append(request).await.expect("append");
    ids
}

fn aggregate_ids(events: &[eventstore_proto::EventData]) -> Vec<String> {
    events
        .iter()
        .map(|e| meta(e).aggregate_id.clone())
        .collect()
}

fn assert_strictly_increasing(globals: &[u64], what: &str) {
    assert!(
        globals.windows(2).all(|w| w[0] < w[1]),
        "{what}: global nonces not strictly increasing: {globals:?}"
    );
}

pub async fn subscribe_without_tenant_is_unauthenticated(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "a", 0, 1)).await.expect("append");
    let status = subscribe_error(&store, subscribe("", "", 0)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "tenant_id is required");
    let status = subscribe_error(&store, subscribe("", "a", 1)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

pub async fn subscribe_prefix_longer_than_the_limit_is_invalid(ctx: Ctx) {
    let store = ctx
        .start(Limits {
            max_id_length: 16,
            ..Limits::default()
        })
        .await;
    let status = subscribe_error(&store, subscribe("t1", &"p".repeat(17), 0)).await;
    expect_error::<()>(
        Err(status),
        Code::InvalidArgument,
        &["aggregate_id_prefix", "max_id_length", "16"],
    );
    let mut ok = open(&store, subscribe("t1", &"p".repeat(16), 0)).await;
    assert_idle(&mut ok, Duration::from_millis(50)).await;
}

pub async fn history_then_live_in_global_order(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut ids = Vec::new();
    ids.extend(append_ids(&store, append("t1", "a", 0, 3)).await);
    ids.extend(append_ids(&store, append("t1", "b", 0, 2)).await);
    ids.extend(append_ids(&store, append("t1", "a", 3, 1)).await);
    let mut events = open(&store, subscribe("t1", "", 0)).await;
    let history = next_events(&mut events, 6).await;
    assert_eq!(globals(&history), [1, 2, 3, 4, 5, 6]);
    assert_eq!(event_ids(&history), ids);
    assert_eq!(aggregate_ids(&history), ["a", "a", "a", "b", "b", "a"]);
    assert!(history.iter().all(|e| meta(e).tenant_id == "t1"));

    let mut live_ids = Vec::new();
    live_ids.extend(append_ids(&store, append("t1", "b", 2, 2)).await);
    live_ids.extend(append_ids(&store, append("t1", "c", 0, 1)).await);
    let live = next_events(&mut events, 3).await;
    assert_eq!(globals(&live), [7, 8, 9]);
    assert_eq!(event_ids(&live), live_ids);
    // Delivered events are complete, as read from the stream.
    assert_eq!(meta(&live[2]).aggregate_nonce, 1);
    assert_eq!(meta(&live[2]).aggregate_type, "Test");
    assert_eq!(live[2].payload, b"{\"n\":1}");
    assert_idle(&mut events, QUIET).await;
}

pub async fn from_global_nonce_selects_the_first_event(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "a", 0, 4)).await.expect("a");
    store.append(append("t1", "b", 0, 3)).await.expect("b");
    store.append(append("t1", "a", 4, 3)).await.expect("a");
    for from in [0, 1] {
        let mut events = open(&store, subscribe("t1", "", from)).await;
        let got = next_events(&mut events, 10).await;
        assert_eq!(globals(&got), (1..=10).collect::<Vec<_>>(), "from {from}");
        assert_idle(&mut events, Duration::from_millis(50)).await;
    }
    let mut from_seven = open(&store, subscribe("t1", "", 7)).await;
    assert_eq!(
        globals(&next_events(&mut from_seven, 4).await),
        [7, 8, 9, 10]
    );
    let mut from_ten = open(&store, subscribe("t1", "", 10)).await;
    assert_eq!(globals(&next_events(&mut from_ten, 1).await), [10]);
    let mut beyond = open(&store, subscribe("t1", "", 12)).await;
    assert_idle(&mut beyond, QUIET).await;

    store.append(append("t1", "c", 0, 2)).await.expect("c");
    assert_eq!(globals(&next_events(&mut from_seven, 2).await), [11, 12]);
    assert_eq!(globals(&next_events(&mut from_ten, 2).await), [11, 12]);
    assert_eq!(globals(&next_events(&mut beyond, 1).await), [12]);
    assert_idle(&mut beyond, Duration::from_millis(50)).await;
}

pub async fn prefix_filters_aggregate_ids(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let streams = ["order-1", "customer-1", "order-2", "xorder-1", "orders"];
    for (i, aggregate_id) in streams.iter().enumerate() {
        store
            .append(append("t1", aggregate_id, 0, 1 + i as u64 % 2))
            .await
            .expect("append");
    }
    // Globals: order-1 1, customer-1 2-3, order-2 4, xorder-1 5-6, orders 7.
    let mut orders = open(&store, subscribe("t1", "order-", 0)).await;
    let got = next_events(&mut orders, 2).await;
    assert_eq!(globals(&got), [1, 4]);
    assert_eq!(aggregate_ids(&got), ["order-1", "order-2"]);

    let mut order = open(&store, subscribe("t1", "order", 0)).await;
    let got = next_events(&mut order, 3).await;
    assert_eq!(aggregate_ids(&got), ["order-1", "order-2", "orders"]);

    let mut all = open(&store, subscribe("t1", "", 0)).await;
    let got = next_events(&mut all, 7).await;
    assert_eq!(globals(&got), (1..=7).collect::<Vec<_>>());

    let mut exact = open(&store, subscribe("t1", "customer-1", 0)).await;
    let got = next_events(&mut exact, 2).await;
    assert_eq!(globals(&got), [2, 3]);

    // Live events are filtered the same way.
    store
        .append(append("t1", "customer-1", 2, 1))
        .await
        .expect("customer");
    store
        .append(append("t1", "order-3", 0, 1))
        .await
        .expect("order");
    let live = next_event(&mut orders).await;
    assert_eq!(
        (meta(&live).global_nonce, meta(&live).aggregate_id.as_str()),
        (9, "order-3")
    );
    let live = next_event(&mut exact).await;
    assert_eq!(meta(&live).global_nonce, 8);
    assert_eq!(globals(&next_events(&mut all, 2).await), [8, 9]);
    assert_idle(&mut orders, QUIET).await;
    assert_idle(&mut exact, Duration::from_millis(10)).await;
}

/// The prefix is matched literally (capability
/// `literal_subscription_prefix`): `_`, `%` and `\` are ordinary
/// characters, not SQL `LIKE` wildcards or escapes.
pub async fn prefix_is_matched_literally(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let streams = [
        "a_1", "ab1", "a%1", "aXY1", "a\\1", "a\\_1", "a\\x", "a", "b_1",
    ];
    for aggregate_id in streams {
        store
            .append(append("t1", aggregate_id, 0, 1))
            .await
            .expect("append");
    }
    // Globals 1..=9, in the order of `streams`.
    for (prefix, matching) in [
        ("a_", vec!["a_1"]),
        ("a%", vec!["a%1"]),
        ("a\\", vec!["a\\1", "a\\_1", "a\\x"]),
        ("a\\_", vec!["a\\_1"]),
        ("_", vec![]),
        ("%", vec![]),
    ] {
        let mut subscription = open(&store, subscribe("t1", prefix, 0)).await;
        let got = match matching.len() {
            0 => Vec::new(),
            n => next_events(&mut subscription, n).await,
        };
        assert_eq!(
            aggregate_ids(&got),
            matching,
            "prefix {prefix:?} is matched literally"
        );
        assert_idle(&mut subscription, Duration::from_millis(50)).await;
    }
}

pub async fn tenants_are_isolated(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "a", 0, 1)).await.expect("1");
    store.append(append("t2", "a", 0, 2)).await.expect("2-3");
    store.append(append("t1", "b", 0, 2)).await.expect("4-5");
    store.append(append("t2", "c", 0, 1)).await.expect("6");

    let mut t1 = open(&store, subscribe("t1", "", 0)).await;
    let got = next_events(&mut t1, 3).await;
    assert_eq!(globals(&got), [1, 4, 5]);
    assert!(got.iter().all(|e| meta(e).tenant_id == "t1"));

    let mut t2 = open(&store, subscribe("t2", "a", 3)).await;
    assert_eq!(globals(&next_events(&mut t2, 1).await), [3]);

    let mut t2_all = open(&store, subscribe("t2", "", 2)).await;
    assert_eq!(globals(&next_events(&mut t2_all, 3).await), [2, 3, 6]);

    let mut t3 = open(&store, subscribe("t3", "", 0)).await;

    // Live: another tenant's events are never delivered.
    store.append(append("t2", "a", 2, 1)).await.expect("7");
    store.append(append("t1", "a", 1, 1)).await.expect("8");
    let next = next_event(&mut t1).await;
    assert_eq!(
        (meta(&next).tenant_id.as_str(), meta(&next).global_nonce),
        ("t1", 8)
    );
    let next = next_event(&mut t2).await;
    assert_eq!(
        (meta(&next).tenant_id.as_str(), meta(&next).global_nonce),
        ("t2", 7)
    );
    assert_eq!(globals(&next_events(&mut t2_all, 1).await), [7]);
    assert_idle(&mut t1, QUIET).await;
    assert_idle(&mut t2, Duration::from_millis(10)).await;
    assert_idle(&mut t2_all, Duration::from_millis(10)).await;
    assert_idle(&mut t3, Duration::from_millis(10)).await;
}

pub async fn history_live_boundary_under_concurrent_appends(ctx: Ctx) {
    const STREAMS: usize = 4;
    const ROUNDS: u64 = 25;
    const BATCH: u64 = 2;
    let store = ctx.start(Limits::default()).await;
    let mut t1_ids = Vec::new();
    for s in 0..STREAMS {
        t1_ids.extend(append_ids(&store, append("t1", &format!("s{s}"), 0, 5)).await);
    }
    let history = t1_ids.len();

    // Appenders on every stream of t1 and one in t2, all at once.
    let mut tasks = Vec::new();
    for s in 0..=STREAMS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (tenant, aggregate_id, start) = if s == STREAMS {
                ("t2", "other".to_string(), 0)
            } else {
                ("t1", format!("s{s}"), 5)
            };
            let mut ids = Vec::new();
            for round in 0..ROUNDS {
                let head = start + round * BATCH;
                ids.extend(append_ids(&store, append(tenant, &aggregate_id, head, BATCH)).await);
                tokio::task::yield_now().await;
            }
            ids
        }));
    }
    // Subscriptions opened while the appends run: from the beginning, from
    // a position inside the history, for one stream, and for the other tenant.
    let mut from_start = open(&store, subscribe("t1", "", 0)).await;
    let mut one_stream = open(&store, subscribe("t1", "s1", 0)).await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let mut from_mid = open(&store, subscribe("t1", "", 11)).await;
    let mut other = open(&store, subscribe("t2", "", 0)).await;

    let live = STREAMS * (ROUNDS * BATCH) as usize;
    let all = next_events(&mut from_start, history + live).await;
    let mut t2_ids = Vec::new();
    for (s, task) in tasks.into_iter().enumerate() {
        let ids = task.await.expect("appender");
        if s == STREAMS {
            t2_ids = ids;
        } else {
            t1_ids.extend(ids);
        }
    }

    let got = globals(&all);
    assert_strictly_increasing(&got, "from 0");
    let got_ids: HashSet<String> = event_ids(&all).into_iter().collect();
    assert_eq!(got_ids.len(), all.len(), "duplicates delivered");
    assert_eq!(got_ids, t1_ids.iter().cloned().collect::<HashSet<_>>());
    assert!(all.iter().all(|e| meta(e).tenant_id == "t1"));
    for s in 0..STREAMS {
        let name = format!("s{s}");
        let nonces: Vec<u64> = all
            .iter()
            .filter(|e| meta(e).aggregate_id == name)
            .map(|e| meta(e).aggregate_nonce)
            .collect();
        assert_eq!(
            nonces,
            (1..=5 + ROUNDS * BATCH).collect::<Vec<_>>(),
            "{name}"
        );
    }

    // The mid subscription sees exactly the suffix with global >= 11.
    let suffix: Vec<u64> = got.iter().copied().filter(|g| *g >= 11).collect();
    let mid = next_events(&mut from_mid, suffix.len()).await;
    assert_eq!(globals(&mid), suffix, "from 11");

    let s1: Vec<&eventstore_proto::EventData> = all
        .iter()
        .filter(|e| meta(e).aggregate_id == "s1")
        .collect();
    let filtered = next_events(&mut one_stream, s1.len()).await;
    assert_eq!(
        event_ids(&filtered),
        s1.iter()
            .map(|e| meta(e).event_id.clone())
            .collect::<Vec<_>>()
    );

    let theirs = next_events(&mut other, t2_ids.len()).await;
    assert_eq!(event_ids(&theirs), t2_ids);
    assert_strictly_increasing(&globals(&theirs), "t2");
    // Between them, the two tenants saw the whole global log once.
    let mut union: Vec<u64> = got.iter().chain(&globals(&theirs)).copied().collect();
    union.sort_unstable();
    assert_eq!(union, (1..=union.len() as u64).collect::<Vec<_>>());

    for events in [&mut from_start, &mut from_mid, &mut one_stream, &mut other] {
        assert_idle(events, Duration::from_millis(50)).await;
    }
}

pub async fn slow_consumer_misses_nothing(ctx: Ctx) {
    const TOTAL: u64 = 5_000;
    const BATCH: u64 = 100;
    let store = ctx.start(Limits::default()).await;
    let mut ids = append_ids(&store, append("t1", "s0", 0, 10)).await;
    let mut events = open(&store, subscribe("t1", "", 0)).await;
    let first = next_events(&mut events, 5).await;
    // Fall behind: append everything without reading.
    let mut heads = [10u64, 0, 0, 0, 0];
    for i in 0..TOTAL / BATCH {
        let s = i as usize % heads.len();
        let request = append("t1", &format!("s{s}"), heads[s], BATCH);
        ids.extend(append_ids(&store, request).await);
        heads[s] += BATCH;
    }
    let rest = next_events(&mut events, ids.len() - 5).await;
    let all: Vec<_> = first.into_iter().chain(rest).collect();
    assert_eq!(globals(&all), (1..=10 + TOTAL).collect::<Vec<_>>());
    assert_eq!(event_ids(&all), ids);
    assert_idle(&mut events, Duration::from_millis(50)).await;
}

pub async fn subscription_stays_open_while_idle(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut events = open(&store, subscribe("t1", "", 0)).await;
    let mut unmatched = open(&store, subscribe("t1", "nothing-", 0)).await;
    assert_idle(&mut events, QUIET).await;
    store.append(append("t1", "a", 0, 1)).await.expect("1");
    assert_eq!(globals(&next_events(&mut events, 1).await), [1]);
    assert_idle(&mut events, QUIET).await;
    store.append(append("t1", "a", 1, 2)).await.expect("2");
    assert_eq!(globals(&next_events(&mut events, 2).await), [2, 3]);
    assert_idle(&mut unmatched, Duration::from_millis(10)).await;
    store
        .append(append("t1", "nothing-here", 0, 1))
        .await
        .expect("4");
    assert_eq!(globals(&next_events(&mut unmatched, 1).await), [4]);
    assert_eq!(globals(&next_events(&mut events, 1).await), [4]);
}

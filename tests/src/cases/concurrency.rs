//! Real races: many tasks appending at once, to one stream and to many.

use super::support::{event_ids, expect_error, globals, meta, read_stream_to_end, stream_nonces};
use crate::{Ctx, HEAD, Store, append, read};
use eventstore_engine::{Limits, status::concurrency_detail};
use eventstore_proto::AppendResponse;
use std::{collections::BTreeMap, sync::Arc};
use tokio::sync::Barrier;
use tonic::Code;

const TASKS: usize = 16;

/// The head of `t1`/`aggregate_id` as a reader sees it.
async fn read_head<S: Store>(store: &S, aggregate_id: &str) -> u64 {
    let page = store
        .read_stream(read("t1", aggregate_id, HEAD, 1, false))
        .await
        .expect("read head");
    page.events.first().map_or(0, |e| meta(e).aggregate_nonce)
}

pub async fn racing_appenders_get_exactly_one_winner_per_nonce(ctx: Ctx) {
    const ROUNDS: usize = 12;
    let store = ctx.start(Limits::default()).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut wins = Vec::new();
            let mut losses = 0usize;
            let mut head = read_head(&store, "race").await;
            for round in 0..ROUNDS {
                let request = append("t1", "race", head, 1);
                let id = meta(&request.events[0]).event_id.clone();
                tokio::task::yield_now().await;
                match store.append(request).await {
                    Ok(response) => {
                        // One stream in the store: global = aggregate nonce.
                        assert_eq!(
                            response,
                            AppendResponse {
                                last_aggregate_nonce: head + 1,
                                last_global_nonce: head + 1,
                            },
                            "task {task}"
                        );
                        head += 1;
                        wins.push((head, id));
                    }
                    Err(status) => {
                        assert_eq!(status.code(), Code::Aborted, "task {task}: {status:?}");
                        let detail = concurrency_detail(&status).expect("ConcurrencyErrorDetail");
                        assert_eq!(detail.tenant_id, "t1");
                        assert_eq!(detail.aggregate_id, "race");
                        assert!(
                            detail.actual_last_aggregate_nonce > head,
                            "task {task}: expected {head}, detail {detail:?}"
                        );
                        assert_eq!(
                            detail.actual_last_global_nonce, detail.actual_last_aggregate_nonce,
                            "task {task}: {detail:?}"
                        );
                        losses += 1;
                        // Learn the head from the detail or from a read.
                        head = if round % 2 == 0 {
                            detail.actual_last_aggregate_nonce
                        } else {
                            read_head(&store, "race").await
                        };
                    }
                }
            }
            (wins, losses)
        }));
    }
    let mut winners = BTreeMap::new();
    let mut attempts = 0;
    for task in tasks {
        let (wins, losses) = task.await.expect("racer");
        attempts += wins.len() + losses;
        for (nonce, id) in wins {
            if let Some(other) = winners.insert(nonce, id) {
                panic!("two winners for nonce {nonce} (one wrote {other})");
            }
        }
    }
    assert_eq!(attempts, TASKS * ROUNDS);
    let events = read_stream_to_end(&store, "t1", "race", true, 0).await;
    let head = events.len() as u64;
    assert!(head > 0, "someone must win");
    let nonces: Vec<u64> = events.iter().map(|e| meta(e).aggregate_nonce).collect();
    assert_eq!(nonces, (1..=head).collect::<Vec<_>>(), "gap-free stream");
    assert_eq!(
        winners.keys().copied().collect::<Vec<_>>(),
        nonces,
        "exactly one success per nonce"
    );
    assert_eq!(
        event_ids(&events),
        winners.into_values().collect::<Vec<_>>(),
        "each nonce holds its winner's event"
    );
    assert_eq!(globals(&events), nonces);
}

pub async fn concurrent_appends_to_many_streams_all_succeed(ctx: Ctx) {
    const ROUNDS: u64 = 15;
    let store = ctx.start(Limits::default()).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let tenant = if task % 2 == 0 { "t1" } else { "t2" };
            let aggregate_id = format!("s{task}");
            barrier.wait().await;
            let mut head = 0;
            let mut ranges = Vec::new();
            for round in 0..ROUNDS {
                let count = round % 3 + 1;
                let response = store
                    .append(append(tenant, &aggregate_id, head, count))
                    .await
                    .unwrap_or_else(|e| panic!("task {task} round {round}: {e:?}"));
                head += count;
                assert_eq!(response.last_aggregate_nonce, head);
                ranges.push(response.last_global_nonce + 1 - count..=response.last_global_nonce);
                tokio::task::yield_now().await;
            }
            (tenant, aggregate_id, ranges)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let (tenant, aggregate_id, ranges) = task.await.expect("appender");
        let from_responses: Vec<u64> = ranges.into_iter().flatten().collect();
        let events = read_stream_to_end(&store, tenant, &aggregate_id, true, 0).await;
        let nonces: Vec<u64> = events.iter().map(|e| meta(e).aggregate_nonce).collect();
        assert_eq!(nonces, (1..=nonces.len() as u64).collect::<Vec<_>>());
        assert_eq!(globals(&events), from_responses, "{tenant}/{aggregate_id}");
        all.extend(from_responses);
    }
    all.sort_unstable();
    let total = TASKS as u64 * (1..=ROUNDS).map(|r| (r - 1) % 3 + 1).sum::<u64>();
    assert_eq!(
        all,
        (1..=total).collect::<Vec<_>>(),
        "unique, gap-free globals"
    );
}

pub async fn concurrent_idempotent_retries_write_once(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut request = append("t1", "order-1", 0, 2);
    request.idempotency_key = "key-1".into();
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, request, barrier) = (store.clone(), request.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.append(request).await
        }));
    }
    for task in tasks {
        let response = task.await.expect("task").expect("every retry succeeds");
        assert_eq!(
            response,
            AppendResponse {
                last_aggregate_nonce: 2,
                last_global_nonce: 2,
            }
        );
    }
    assert_eq!(stream_nonces(&store, "t1", "order-1").await, [1, 2]);
    let next = store.append(append("t1", "b", 0, 1)).await.expect("next");
    assert_eq!(next.last_global_nonce, 3);
}

pub async fn concurrent_duplicate_event_ids_have_one_winner(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let id = crate::new_event_id();
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (store, barrier) = (store.clone(), barrier.clone());
        let mut request = append("t1", &format!("s{task}"), 0, 1);
        super::support::meta_mut(&mut request.events[0]).event_id = id.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.append(request).await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(response) => {
                winners += 1;
                assert_eq!(response.last_global_nonce, 1);
            }
            result @ Err(_) => {
                expect_error(result, Code::AlreadyExists, &[&id]);
            }
        }
    }
    assert_eq!(winners, 1);
    let mut written = 0;
    for task in 0..TASKS {
        written += stream_nonces(&store, "t1", &format!("s{task}")).await.len();
    }
    assert_eq!(written, 1);
}

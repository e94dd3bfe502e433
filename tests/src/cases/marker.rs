//! Subscribe's caught-up marker and failure contract: one event-less
//! response exactly once, after the history committed at the start and
//! before any live event; a subscription the store ends is `UNAVAILABLE`
//! naming where to resume.

use super::support::{WAIT, expect_error, meta};
use crate::{Ctx, Responses, Store, append, subscribe};
use eventstore_engine::Limits;
use eventstore_proto::SubscribeRequest;
use futures::StreamExt;
use std::time::Duration;
use tonic::{Code, Status};

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

/// What a subscription delivered: an event's global nonce, or the marker.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Event(u64),
    Marker,
}

async fn open<S: Store>(store: &S, request: SubscribeRequest) -> Responses {
    tokio::time::timeout(WAIT, store.subscribe_responses(request))
        .await
        .expect("subscribe answered in time")
        .expect("subscribe")
}

async fn next(responses: &mut Responses) -> Result<Item, Status> {
    match tokio::time::timeout(WAIT, responses.next()).await {
        Err(_) => panic!("nothing from the subscription within {WAIT:?}"),
        Ok(None) => panic!("the subscription ended without a status"),
        Ok(Some(Err(status))) => Err(status),
        Ok(Some(Ok(response))) => Ok(match response.event {
            Some(event) => Item::Event(meta(&event).global_nonce),
            None => Item::Marker,
        }),
    }
}

async fn take(responses: &mut Responses, n: usize) -> Vec<Item> {
    let mut items = Vec::new();
    for _ in 0..n {
        items.push(next(responses).await.expect("no error"));
    }
    items
}

async fn assert_quiet(responses: &mut Responses) {
    if let Ok(item) = tokio::time::timeout(QUIET, responses.next()).await {
        panic!("unexpected item from the subscription: {item:?}");
    }
}

pub async fn marker_once_after_an_empty_history(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let mut sub = open(&store, subscribe("t1", "", 0)).await;
    assert_eq!(take(&mut sub, 1).await, [Item::Marker]);
    assert_quiet(&mut sub).await;
    store.append(append("t1", "a", 0, 2)).await.expect("append");
    assert_eq!(take(&mut sub, 2).await, [Item::Event(1), Item::Event(2)]);
    assert_quiet(&mut sub).await;
}

pub async fn marker_once_after_the_history_before_live_events(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "a", 0, 2)).await.expect("append");
    store.append(append("t2", "a", 0, 1)).await.expect("append");
    store.append(append("t1", "b", 0, 1)).await.expect("append");
    let mut sub = open(&store, subscribe("t1", "", 0)).await;
    let mut from_two = open(&store, subscribe("t1", "", 2)).await;
    let mut past_head = open(&store, subscribe("t1", "", 50)).await;
    let mut filtered = open(&store, subscribe("t1", "b", 0)).await;
    store.append(append("t1", "a", 2, 1)).await.expect("live");
    assert_eq!(
        take(&mut sub, 5).await,
        [
            Item::Event(1),
            Item::Event(2),
            Item::Event(4),
            Item::Marker,
            Item::Event(5)
        ]
    );
    assert_eq!(
        take(&mut from_two, 4).await,
        [Item::Event(2), Item::Event(4), Item::Marker, Item::Event(5)]
    );
    assert_eq!(take(&mut past_head, 1).await, [Item::Marker]);
    assert_eq!(take(&mut filtered, 2).await, [Item::Event(4), Item::Marker]);
    for s in [&mut sub, &mut from_two, &mut past_head, &mut filtered] {
        assert_quiet(s).await;
    }
    // Many live events later, still no second marker.
    for head in 3..6 {
        store
            .append(append("t1", "a", head, 1))
            .await
            .expect("live");
    }
    assert_eq!(
        take(&mut sub, 3).await,
        [Item::Event(6), Item::Event(7), Item::Event(8)]
    );
    assert_quiet(&mut sub).await;
}

/// A subscription the store ends (here: its shutdown) is `UNAVAILABLE`
/// naming the next undelivered position: last delivered + 1, or the
/// requested start when nothing was delivered.
pub async fn shutdown_ends_subscriptions_with_resume_from(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    store.append(append("t1", "a", 0, 3)).await.expect("append");
    let mut delivered = open(&store, subscribe("t1", "", 0)).await;
    let mut nothing = open(&store, subscribe("t1", "zzz", 2)).await;
    assert_eq!(take(&mut delivered, 4).await.last(), Some(&Item::Marker));
    assert_eq!(take(&mut nothing, 1).await, [Item::Marker]);
    if !store.stop() {
        ctx.skip("needs a store the kit can shut down");
    }
    for (sub, resume) in [(&mut delivered, 4), (&mut nothing, 2)] {
        let ended = next(sub).await.map(|item| format!("{item:?}"));
        expect_error(
            ended,
            Code::Unavailable,
            &[&format!("resume from global_nonce {resume}")],
        );
    }
}

//! Small helpers shared by the cases: status assertions, paging a stream to
//! its end, and waiting on subscriptions with a timeout (so a bug fails the
//! case rather than hanging it).

use crate::{AnyStore, Ctx, HEAD, Store, append, read};
use eventstore_engine::Limits;
use eventstore_proto::{EventData, EventMetadata};
use futures::{StreamExt, stream::BoxStream};
use std::{
    fmt::Debug,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tonic::{Code, Status};

/// Longest wait for anything a subscription should deliver.
pub const WAIT: Duration = Duration::from_secs(10);

/// An open subscription as the harness returns it.
pub type Events = BoxStream<'static, Result<EventData, Status>>;

/// The metadata of a stored event (always present once stored).
pub fn meta(event: &EventData) -> &EventMetadata {
    event
        .meta
        .as_ref()
        .expect("a stored event carries its metadata")
}

/// The metadata of an event being built.
pub fn meta_mut(event: &mut EventData) -> &mut EventMetadata {
    event.meta.as_mut().expect("builders always set metadata")
}

/// Asserts that `result` failed with `code` and a message containing every
/// one of `parts`; returns the status for further checks.
#[track_caller]
pub fn expect_error<T: Debug>(result: Result<T, Status>, code: Code, parts: &[&str]) -> Status {
    let status = match result {
        Ok(value) => panic!("expected {code:?} naming {parts:?}, got Ok({value:?})"),
        Err(status) => status,
    };
    assert_eq!(
        status.code(),
        code,
        "wrong code; message: {:?}",
        status.message()
    );
    for part in parts {
        assert!(
            status.message().contains(part),
            "message {:?} should contain {part:?}",
            status.message()
        );
    }
    status
}

/// The current wall clock in Unix milliseconds.
pub fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(since.as_millis()).expect("fits u64")
}

/// Pages through a whole stream with `next_from_aggregate_nonce` until
/// `is_end`, starting from 0 forward and from [`HEAD`] backward, checking
/// the paging contract on every page. Returns the events in read order.
pub async fn read_stream_to_end<S: Store>(
    store: &S,
    tenant: &str,
    aggregate_id: &str,
    forward: bool,
    page_size: u32,
) -> Vec<EventData> {
    let mut all = Vec::new();
    let mut from = if forward { 0 } else { HEAD };
    for _ in 0..10_000 {
        let page = store
            .read_stream(read(tenant, aggregate_id, from, page_size, forward))
            .await
            .expect("read page");
        assert!(
            page_size == 0 || page.events.len() <= page_size as usize,
            "page of {} events is larger than max_count {page_size}",
            page.events.len()
        );
        match page.events.last() {
            None => assert_eq!(
                page.next_from_aggregate_nonce, from,
                "an empty page continues from `from`"
            ),
            Some(last) => {
                let last = meta(last).aggregate_nonce;
                let expected = if forward { last + 1 } else { last - 1 };
                assert_eq!(page.next_from_aggregate_nonce, expected, "next_from");
            }
        }
        if page.events.is_empty() {
            assert!(page.is_end, "an empty page must be the end");
        }
        all.extend(page.events);
        if page.is_end {
            return all;
        }
        from = page.next_from_aggregate_nonce;
    }
    panic!("paging {tenant}/{aggregate_id} did not reach is_end");
}

/// The aggregate nonces of a whole stream, read forward.
pub async fn stream_nonces<S: Store>(store: &S, tenant: &str, aggregate_id: &str) -> Vec<u64> {
    read_stream_to_end(store, tenant, aggregate_id, true, 0)
        .await
        .iter()
        .map(|e| meta(e).aggregate_nonce)
        .collect()
}

/// The next event of a subscription, failing on a timeout, an error or the
/// end of the stream.
pub async fn next_event(events: &mut Events) -> EventData {
    match tokio::time::timeout(WAIT, events.next()).await {
        Err(_) => panic!("no event from the subscription within {WAIT:?}"),
        Ok(None) => panic!("the subscription ended"),
        Ok(Some(Err(status))) => panic!("the subscription failed: {status:?}"),
        Ok(Some(Ok(event))) => event,
    }
}

/// The next `n` events of a subscription.
pub async fn next_events(events: &mut Events, n: usize) -> Vec<EventData> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(next_event(events).await);
    }
    out
}

/// Asserts that a subscription delivers nothing (and stays open) for `quiet`.
pub async fn assert_idle(events: &mut Events, quiet: Duration) {
    match tokio::time::timeout(quiet, events.next()).await {
        Err(_) => {}
        Ok(None) => panic!("the subscription ended instead of staying open"),
        Ok(Some(item)) => panic!("unexpected item from the subscription: {item:?}"),
    }
}

/// Global nonces of `events`, in order.
pub fn globals(events: &[EventData]) -> Vec<u64> {
    events.iter().map(|e| meta(e).global_nonce).collect()
}

/// Event ids of `events`, in order.
pub fn event_ids(events: &[EventData]) -> Vec<String> {
    events.iter().map(|e| meta(e).event_id.clone()).collect()
}

/// A store answering at most 2 KiB per response (the limit is returned
/// too), holding ten events of 500-byte payloads in tenant `t1`, stream
/// `s`: no page of them all fits, so every read's page stops early.
pub async fn store_of_large_events(ctx: &Ctx) -> (AnyStore, usize) {
    let max_response_bytes = 2048;
    let store = ctx
        .start(Limits {
            max_response_bytes,
            ..Limits::default()
        })
        .await;
    for head in 0..10 {
        let mut request = append("t1", "s", head, 1);
        request.events[0].payload = vec![b'p'; 500];
        store.append(request).await.expect("append");
    }
    (store, max_response_bytes)
}

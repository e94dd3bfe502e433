//! MockEventStore figures: cold start to ready, and append latency in
//! process and over loopback TCP. Prints numbers; run with
//! `cargo bench -p eventstore-mock --bench mock`.
//!
//! `MOCK_BENCH_STARTS` and `MOCK_BENCH_APPENDS` override the sample sizes.

use eventstore_mock::MockEventStore;
use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, event_store_client::EventStoreClient,
};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn append(nonce: u64) -> AppendRequest {
    AppendRequest {
        tenant_id: "bench".into(),
        aggregate_id: "stream".into(),
        aggregate_type: "Bench".into(),
        expected_aggregate_nonce: nonce - 1,
        idempotency_key: String::new(),
        events: vec![EventData {
            meta: Some(EventMetadata {
                event_id: format!("e-{nonce}"),
                aggregate_nonce: nonce,
                event_type: "bench.Event".into(),
                ..EventMetadata::default()
            }),
            payload: br#"{"amount":10}"#.to_vec(),
        }],
    }
}

async fn append_latency(mut client: EventStoreClient<Channel>, n: usize) -> Vec<Duration> {
    for nonce in 1..=50 {
        client.append(append(nonce)).await.expect("warm-up append");
    }
    let mut samples = Vec::with_capacity(n);
    for nonce in 51..51 + n as u64 {
        let start = Instant::now();
        client.append(append(nonce)).await.expect("append");
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

fn show(name: &str, sorted: &[Duration], target: Option<Duration>) {
    let p50 = percentile(sorted, 0.5);
    let verdict = target.map_or(String::new(), |t| {
        format!(
            "   target < {t:?}: {}",
            if p50 < t { "PASS" } else { "MISS" }
        )
    });
    println!(
        "{name:<34} p50 {:>9.1?}  p90 {:>9.1?}  p99 {:>9.1?}  (n={}){verdict}",
        p50,
        percentile(sorted, 0.9),
        percentile(sorted, 0.99),
        sorted.len()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let starts = env("MOCK_BENCH_STARTS", 300);
        let appends = env("MOCK_BENCH_APPENDS", 5_000);

        // Warm up the allocator and tonic's lazy statics once.
        drop(
            MockEventStore::builder()
                .verify_on_drop(false)
                .start()
                .await,
        );
        let mut start_times = Vec::with_capacity(starts);
        for _ in 0..starts {
            let t = Instant::now();
            let mock = MockEventStore::builder()
                .verify_on_drop(false)
                .start()
                .await;
            start_times.push(t.elapsed());
            drop(mock);
        }
        start_times.sort();
        show(
            "MockEventStore::start() to ready",
            &start_times,
            Some(Duration::from_millis(2)),
        );

        let mock = MockEventStore::start().await;
        let in_process = append_latency(mock.client(), appends).await;
        show("append, in process", &in_process, None);

        let mock = MockEventStore::start().await;
        let tcp = EventStoreClient::connect(mock.endpoint())
            .await
            .expect("connect");
        let over_tcp = append_latency(tcp, appends).await;
        show("append, loopback TCP", &over_tcp, None);
    });
}

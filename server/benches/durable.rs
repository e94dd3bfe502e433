//! In-memory vs durable (`--data-dir`) append throughput of the release
//! `eventstore-server`, side by side in one run, over loopback.
//!
//! First measures this machine's fsync latency (write + fsync of 4 KiB on a
//! file in the temporary directory the data directories live in), so the
//! durable figures can be judged; then, for each backend on a fresh server:
//!
//! 1. sequential single-event appends to one stream from one client:
//!    appends/s and p50/p99 latency;
//! 2. 64 concurrent writers, one stream each, single-event appends:
//!    events/s (and p50/p99 latency under load).
//!
//! Targets for the durable backend: >= 1,000 appends/s sequential and
//! >= 20,000 events/s with 64 writers; each is printed with PASS/MISS.
//!
//! `cargo bench -p eventstore-server --bench durable`. Sizes (defaults in
//! brackets): `BENCH_SEQ` [2000] sequential appends measured after
//! `BENCH_SEQ_WARMUP` [200]; `BENCH_WRITERS` [64] concurrent writers on
//! `BENCH_CHANNELS` [4] HTTP/2 connections for `BENCH_CONC_SECS` [5] seconds
//! after `BENCH_CONC_WARMUP_SECS` [1]; `BENCH_BACKENDS` [in-memory,durable]
//! picks the backends; `EVENTSTORE_SERVER_BIN` runs another server build.
//! Without cargo's `--bench` flag (as under `cargo test --all-targets`) it is
//! a quick smoke run with small sizes.

use eventstore_proto::{AppendRequest, EventData, EventMetadata};
use std::{
    io::Write,
    path::Path,
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

mod support;

use support::{Latencies, Result, Server, env_or, thousands, us, verdict};

const TARGET_SEQUENTIAL_PER_SEC: f64 = 1_000.0;
const TARGET_CONCURRENT_EVENTS_PER_SEC: f64 = 20_000.0;

#[derive(Debug, Clone)]
struct Settings {
    seq: usize,
    seq_warmup: usize,
    writers: usize,
    channels: usize,
    conc_secs: f64,
    conc_warmup_secs: f64,
    fsyncs: usize,
}

impl Settings {
    fn from_env(smoke: bool) -> Result<Self> {
        let s = Self {
            seq: env_or("BENCH_SEQ", if smoke { 100 } else { 2_000 })?,
            seq_warmup: env_or("BENCH_SEQ_WARMUP", if smoke { 10 } else { 200 })?,
            writers: env_or("BENCH_WRITERS", 64)?,
            channels: env_or("BENCH_CHANNELS", 4)?,
            conc_secs: env_or("BENCH_CONC_SECS", if smoke { 0.5 } else { 5.0 })?,
            conc_warmup_secs: env_or("BENCH_CONC_WARMUP_SECS", if smoke { 0.2 } else { 1.0 })?,
            fsyncs: if smoke { 20 } else { 500 },
        };
        if s.seq == 0 || s.writers == 0 || s.channels == 0 || s.conc_secs <= 0.0 {
            return Err(
                "BENCH_SEQ, BENCH_WRITERS, BENCH_CHANNELS and BENCH_CONC_SECS must be positive"
                    .into(),
            );
        }
        Ok(s)
    }
}

/// Sorted latencies with percentile lookup.
/// write(4 KiB) + fsync, and overwrite + fdatasync, on a file in `dir`.
fn fsync_latency(dir: &Path, rounds: usize) -> Result<(Latencies, Latencies)> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let block = [0x5Au8; 4096];
    let mut append = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_all()?;
        append.push(started.elapsed());
    }
    let mut overwrite = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0))?;
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        overwrite.push(started.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok((Latencies::new(append), Latencies::new(overwrite)))
}

fn append_request(aggregate_id: &str, head: u64) -> AppendRequest {
    AppendRequest {
        tenant_id: "bench".into(),
        aggregate_id: aggregate_id.into(),
        aggregate_type: "Bench".into(),
        expected_aggregate_nonce: head,
        idempotency_key: String::new(),
        events: vec![EventData {
            meta: Some(EventMetadata {
                event_id: uuid::Uuid::now_v7().to_string(),
                aggregate_nonce: head + 1,
                event_type: "bench.Event".into(),
                event_version: 1,
                content_type: "application/octet-stream".into(),
                ..EventMetadata::default()
            }),
            payload: vec![b'x'; 64],
        }],
    }
}

/// Sequential figures: appends/s, p50, p99.
struct Sequential {
    rate: f64,
    lat: Latencies,
}

async fn sequential(server: &Server, s: &Settings) -> Result<Sequential> {
    let mut client = server.connect(1).await?.remove(0);
    let mut head = 0u64;
    for _ in 0..s.seq_warmup {
        head = client
            .append(append_request("seq", head))
            .await?
            .into_inner()
            .last_aggregate_nonce;
    }
    let mut samples = Vec::with_capacity(s.seq);
    let started = Instant::now();
    for _ in 0..s.seq {
        let sent = Instant::now();
        head = client
            .append(append_request("seq", head))
            .await?
            .into_inner()
            .last_aggregate_nonce;
        samples.push(sent.elapsed());
    }
    let rate = s.seq as f64 / started.elapsed().as_secs_f64();
    Ok(Sequential {
        rate,
        lat: Latencies::new(samples),
    })
}

/// Concurrent figures: events/s, latency under load, server CPU per event.
struct Concurrent {
    rate: f64,
    lat: Latencies,
    server_cpu_per_event: Option<Duration>,
}

async fn concurrent(server: &Server, s: &Settings) -> Result<Concurrent> {
    let clients = server.connect(s.channels).await?;
    let cpu_before = server.cpu_time();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(s.conc_warmup_secs);
    let end = measure_from + Duration::from_secs_f64(s.conc_secs);
    let mut tasks = JoinSet::new();
    for i in 0..s.writers {
        let mut client = clients[i % clients.len()].clone();
        tasks.spawn(async move {
            let stream = format!("conc-{i}");
            let mut head = 0u64;
            let mut samples = Vec::new();
            let mut appended = 0u32;
            loop {
                let sent = Instant::now();
                let response = client.append(append_request(&stream, head)).await?;
                let done = Instant::now();
                head = response.into_inner().last_aggregate_nonce;
                appended += 1;
                if done > end {
                    break;
                }
                if sent >= measure_from {
                    samples.push(done - sent);
                }
            }
            Ok::<_, tonic::Status>((samples, appended))
        });
    }
    let mut samples = Vec::new();
    let mut appended = 0u32;
    while let Some(result) = tasks.join_next().await {
        let (task_samples, task_appended) = result??;
        samples.extend(task_samples);
        appended += task_appended;
    }
    let server_cpu_per_event = match (cpu_before, server.cpu_time()) {
        (Some(before), Some(after)) if appended > 0 => Some((after - before) / appended),
        _ => None,
    };
    Ok(Concurrent {
        rate: samples.len() as f64 / s.conc_secs,
        lat: Latencies::new(samples),
        server_cpu_per_event,
    })
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<()> {
    let smoke = !std::env::args().any(|a| a == "--bench");
    if smoke {
        println!("smoke run (no --bench flag): small sizes; figures are not meaningful");
    }
    let s = Settings::from_env(smoke)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Other work on the machine skews every figure: show how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".to_owned());
    let tmp = tempfile::Builder::new()
        .prefix("eventstore-bench-")
        .tempdir()?;
    println!(
        "eventstore-server durable benchmark: client (2 tokio workers) and server share {cpus} CPUs (load average before the run: {load}); data directory under {}",
        tmp.path().display()
    );

    let (append, overwrite) = fsync_latency(tmp.path(), s.fsyncs)?;
    println!(
        "fsync on this disk ({} rounds): write 4 KiB + fsync p50 {}, p99 {}, mean {} (~{}/s one at a time); overwrite 4 KiB + fdatasync p50 {}, p99 {}",
        s.fsyncs,
        us(append.percentile(50.0)),
        us(append.percentile(99.0)),
        us(append.mean()),
        thousands(1.0 / append.mean().as_secs_f64().max(1e-9)),
        us(overwrite.percentile(50.0)),
        us(overwrite.percentile(99.0)),
    );

    let mut rows = Vec::new();
    let only = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "in-memory,durable".into());
    for (name, durable) in [("in-memory", false), ("durable", true)] {
        if !only.split(',').any(|b| b.trim() == name) {
            continue;
        }
        let flags = if durable {
            let dir = tmp.path().join("data");
            vec!["--data-dir".to_owned(), dir.display().to_string()]
        } else {
            Vec::new()
        };
        let server = Server::spawn(&flags).await?;
        let seq = sequential(&server, &s).await?;
        server.stop().await;
        // A fresh server (and data directory) for the concurrent run.
        if durable {
            std::fs::remove_dir_all(tmp.path().join("data"))?;
        }
        let server = Server::spawn(&flags).await?;
        let conc = concurrent(&server, &s).await?;
        server.stop().await;
        if durable {
            std::fs::remove_dir_all(tmp.path().join("data"))?;
        }
        rows.push((name, seq, conc));
    }

    println!(
        "[1] sequential single-event appends, 1 client, 1 stream, 64-byte payload ({} after {} warm-up):",
        s.seq, s.seq_warmup
    );
    for (name, seq, _) in &rows {
        println!(
            "    {name:>9}: {:>7} appends/s   p50 {:>7}   p99 {:>7}",
            thousands(seq.rate),
            us(seq.lat.percentile(50.0)),
            us(seq.lat.percentile(99.0)),
        );
    }
    println!(
        "[2] {} concurrent writers, 1 stream each, single-event appends, {} HTTP/2 connections ({:.1} s after {:.1} s warm-up):",
        s.writers, s.channels, s.conc_secs, s.conc_warmup_secs
    );
    for (name, _, conc) in &rows {
        println!(
            "    {name:>9}: {:>7} events/s    p50 {:>7}   p99 {:>7}   server CPU {}/event",
            thousands(conc.rate),
            us(conc.lat.percentile(50.0)),
            us(conc.lat.percentile(99.0)),
            conc.server_cpu_per_event.map_or_else(
                || "n/a".to_owned(),
                |d| format!("{:.1} us", d.as_secs_f64() * 1e6)
            ),
        );
    }
    if let Some((_, seq, conc)) = rows.iter().find(|(name, _, _)| *name == "durable") {
        println!(
            "targets (durable): sequential {} appends/s >= {}: {}; concurrent {} events/s >= {}: {}",
            thousands(seq.rate),
            thousands(TARGET_SEQUENTIAL_PER_SEC),
            verdict(seq.rate >= TARGET_SEQUENTIAL_PER_SEC),
            thousands(conc.rate),
            thousands(TARGET_CONCURRENT_EVENTS_PER_SEC),
            verdict(conc.rate >= TARGET_CONCURRENT_EVENTS_PER_SEC),
        );
    }
    Ok(())
}

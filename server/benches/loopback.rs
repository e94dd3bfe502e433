//! Loopback benchmark of the release `eventstore-server` binary.
//!
//! Spawns the server on `127.0.0.1:0`, connects tonic clients over loopback
//! and prints one line per figure, with its unit, its target and PASS/MISS:
//!
//! 1. `append`: sequential single-event append latency, p50/p99;
//! 2. `concurrent`: append throughput of 64 tasks on 64 streams;
//!
//! (1 and 2 run against the server and against the floor, a do-nothing
//! service with the same proto, served by tonic's `Server` and by our
//! transport (`support/floor.rs`), `BENCH_ROUNDS` times each in alternating
//! order; the best round of each is compared: latency p50 and server CPU
//! per append, absolute and as a ratio to the tonic floor. Server CPU is
//! process CPU time over the measured appends: on a shared machine it holds
//! where wall times drift.)
//! 3. `read`: latency of a 100-event forward page at random positions in a
//!    1k and a 1M-event stream, and their ratio;
//! 4. `subscribe`: catch-up rate of a subscription over the 1M events.
//! 5. `read_all`: latency of a 100-event forward ReadAll page at random
//!    positions of a tenant with 1k events and of one with 1M, and their
//!    ratio (the cost must follow the page, not the tenant's log).
//! 6. `memory`: resident bytes per stored event for `BENCH_LARGE` events of
//!    `BENCH_PAYLOAD` bytes, in memory and in a durable server after a
//!    restart, against the encoded size of one event.
//!
//! 7. `instructions`: instructions the server executes per append,
//!    sequential and with 64 in flight, against the floors', counted by
//!    valgrind's callgrind (skipped where valgrind is missing). Counts do not
//!    drift with the machine's load as times do; a figure per append is the
//!    difference of a run of `BENCH_IR_LONG` appends and one of
//!    `BENCH_IR_SHORT`, over their difference (start-up cancels out).
//!
//! Run all: `cargo bench -p eventstore-server --bench loopback`. Run a subset
//! by naming sections after `--` (or in `BENCH_ONLY`, comma-separated):
//! `cargo bench -p eventstore-server --bench loopback -- read read_all subscribe`.
//! Sizes come from environment variables (defaults in brackets):
//!
//! | variable | meaning |
//! | --- | --- |
//! | `BENCH_SEQ` [5000] | sequential appends measured |
//! | `BENCH_SEQ_WARMUP` [500] | sequential appends before measuring |
//! | `BENCH_STREAMS` [64] | concurrent tasks, one stream each |
//! | `BENCH_CHANNELS` [4] | HTTP/2 connections shared round-robin by them |
//! | `BENCH_CLIENT_THREADS` [0] | client runtime workers; 0 = current-thread |
//! | `BENCH_CONC_SECS` [3] | measured seconds of concurrent appends |
//! | `BENCH_CONC_WARMUP_SECS` [1] | seconds of concurrent appends before measuring |
//! | `BENCH_SMALL` [1000] | events in the small stream |
//! | `BENCH_LARGE` [1000000] | events in the large stream (and subscribed to) |
//! | `BENCH_BATCH` [1000] | events per append when populating |
//! | `BENCH_PAYLOAD` [100] | payload bytes of a populated event |
//! | `BENCH_PAGE` [100] | events per read page |
//! | `BENCH_READS` [2000] | measured reads per stream |
//! | `BENCH_READ_WARMUP` [200] | reads per stream before measuring |
//! | `BENCH_ROUNDS` [3] | rounds of sections 1 and 2 per target (best kept) |
//! | `BENCH_IR_SHORT` [256] | appends of the short counted run (section 7) |
//! | `BENCH_IR_LONG` [1280] | appends of the long counted run (section 7) |
//!
//! The client runs on a current-thread runtime by default: on a small
//! machine it costs about half the CPU per append of a multi-thread one
//! (cross-thread wake-ups), leaving the CPUs to the server being measured.
//! Each figure also shows the CPU the server and the client spent on it,
//! and how many CPUs other processes used meanwhile: a busy machine shows
//! there, not as a mystery.
//!
//! Run without cargo's `--bench` flag (e.g. by `cargo test --all-targets`),
//! the defaults shrink to a quick smoke run.
//!
//! The server gets `--max-events-per-batch` / `--max-page-size` /
//! `--max-request-bytes` flags only when a size above asks for more than its
//! defaults allow.

use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadAllRequest, ReadStreamRequest, SubscribeRequest,
};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

mod support;

use support::{
    Client, Latencies, Result, Server, callgrind, cpu_time_of, env_or, floor::FloorKind, thousands,
    us, verdict,
};

/// Targets the figures are judged against.
const TARGET_CONCURRENT_EVENTS_PER_SEC: f64 = 20_000.0;
const TARGET_LARGE_OVER_SMALL_PAGE: f64 = 1.5;
const TARGET_CATCH_UP_EVENTS_PER_SEC: f64 = 200_000.0;
/// Resident bytes per stored event over its encoded size.
const TARGET_MEMORY_OVER_ENCODED: f64 = 2.0;
/// The server's write figures against the do-nothing floor's.
const TARGET_OVER_FLOOR: f64 = 1.3;

/// The server's default limits, so the bench only raises what it must.
const SERVER_DEFAULT_MAX_BATCH: usize = eventstore_engine::Limits::DEFAULT_MAX_EVENTS_PER_BATCH;
const SERVER_DEFAULT_MAX_PAGE: usize = 1_000;
const SERVER_DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

const SECTIONS: [&str; 7] = [
    "append",
    "concurrent",
    "read",
    "subscribe",
    "read_all",
    "memory",
    "instructions",
];

/// The two paged reads the bench measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// ReadStream of one stream, positions are aggregate nonces.
    Stream,
    /// ReadAll of one tenant, positions are global nonces.
    All,
}

#[derive(Debug)]
struct Settings {
    seq: usize,
    seq_warmup: usize,
    streams: usize,
    channels: usize,
    conc_secs: f64,
    conc_warmup_secs: f64,
    small: usize,
    large: usize,
    batch: usize,
    payload: usize,
    page: usize,
    reads: usize,
    read_warmup: usize,
    rounds: usize,
    ir_short: usize,
    ir_long: usize,
}

impl Settings {
    /// The sizes from the environment; `smoke` shrinks the defaults.
    fn from_env(smoke: bool) -> Result<Self> {
        let pick = |full: usize, small: usize| if smoke { small } else { full };
        let s = Self {
            seq: env_or("BENCH_SEQ", pick(5_000, 200))?,
            seq_warmup: env_or("BENCH_SEQ_WARMUP", pick(500, 20))?,
            streams: env_or("BENCH_STREAMS", 64)?,
            channels: env_or("BENCH_CHANNELS", 4)?,
            conc_secs: env_or("BENCH_CONC_SECS", if smoke { 0.5 } else { 3.0 })?,
            conc_warmup_secs: env_or("BENCH_CONC_WARMUP_SECS", if smoke { 0.2 } else { 1.0 })?,
            small: env_or("BENCH_SMALL", 1_000)?,
            large: env_or("BENCH_LARGE", pick(1_000_000, 10_000))?,
            batch: env_or("BENCH_BATCH", 1_000)?,
            payload: env_or("BENCH_PAYLOAD", 100)?,
            page: env_or("BENCH_PAGE", 100)?,
            reads: env_or("BENCH_READS", pick(2_000, 100))?,
            read_warmup: env_or("BENCH_READ_WARMUP", pick(200, 10))?,
            rounds: env_or("BENCH_ROUNDS", pick(3, 1))?,
            ir_short: env_or("BENCH_IR_SHORT", pick(256, 64))?,
            ir_long: env_or("BENCH_IR_LONG", pick(1_280, 192))?,
        };
        let positive = [
            ("BENCH_SEQ", s.seq),
            ("BENCH_STREAMS", s.streams),
            ("BENCH_CHANNELS", s.channels),
            ("BENCH_SMALL", s.small),
            ("BENCH_LARGE", s.large),
            ("BENCH_BATCH", s.batch),
            ("BENCH_PAGE", s.page),
            ("BENCH_READS", s.reads),
            ("BENCH_ROUNDS", s.rounds),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be at least 1").into());
        }
        if s.ir_long <= s.ir_short {
            return Err("BENCH_IR_LONG must be larger than BENCH_IR_SHORT".into());
        }
        if s.conc_secs <= 0.0 || s.conc_warmup_secs < 0.0 {
            return Err("BENCH_CONC_SECS must be > 0 and BENCH_CONC_WARMUP_SECS >= 0".into());
        }
        Ok(s)
    }

    /// Extra server flags for sizes beyond the server's defaults.
    fn server_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if self.batch > SERVER_DEFAULT_MAX_BATCH {
            flags.push("--max-events-per-batch".to_owned());
            flags.push(self.batch.to_string());
        }
        if self.page > SERVER_DEFAULT_MAX_PAGE {
            flags.push("--max-page-size".to_owned());
            flags.push(self.page.to_string());
        }
        // A populate batch: ~150 bytes of metadata per event plus the payload.
        let batch_bytes = self.batch * (self.payload + 256);
        if batch_bytes > SERVER_DEFAULT_MAX_REQUEST_BYTES {
            flags.push("--max-request-bytes".to_owned());
            flags.push((batch_bytes * 2).to_string());
        }
        flags
    }
}

/// Busy CPU time of the whole machine, from the first line of `/proc/stat`
/// (user, nice, system, irq, softirq, steal).
fn machine_busy_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let ticks: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| fields.get(i).copied().unwrap_or(0))
        .sum();
    Some(Duration::from_millis(ticks * 10))
}

/// CPU used by the server, by this client and by every other process of the
/// machine between two snapshots: what a figure cost, and whether something
/// else competed for the CPUs meanwhile.
struct CpuMeter {
    wall: Instant,
    server: Option<Duration>,
    client: Option<Duration>,
    machine: Option<Duration>,
}

impl CpuMeter {
    fn start(server: &Server) -> Self {
        Self {
            wall: Instant::now(),
            server: server.cpu_time(),
            client: cpu_time_of("self"),
            machine: machine_busy_time(),
        }
    }

    /// The server's CPU time per unit for `count` units of work.
    fn server_per(&self, server: &Server, count: f64) -> Option<Duration> {
        let spent = server.cpu_time()?.checked_sub(self.server?)?;
        (count > 0.0).then(|| spent.div_f64(count))
    }

    /// "CPU: server X us/`unit`, client Y us/`unit`; other processes Z CPUs"
    /// for `count` units of work.
    fn per(&self, server: &Server, count: f64, unit: &str) -> String {
        let wall = self.wall.elapsed().as_secs_f64();
        let delta = |before: Option<Duration>, after: Option<Duration>| {
            Some(after?.checked_sub(before?)?.as_secs_f64())
        };
        let server_cpu = delta(self.server, server.cpu_time());
        let client_cpu = delta(self.client, cpu_time_of("self"));
        let per = |cpu: Option<f64>| match cpu {
            Some(cpu) if count > 0.0 => format!("{:.1} us/{unit}", cpu * 1e6 / count),
            _ => "n/a".to_owned(),
        };
        let others = match (
            delta(self.machine, machine_busy_time()),
            server_cpu,
            client_cpu,
        ) {
            (Some(all), Some(s), Some(c)) if wall > 0.0 => {
                format!("{:.2} CPUs", ((all - s - c) / wall).max(0.0))
            }
            _ => "n/a".to_owned(),
        };
        format!(
            "CPU: server {}, client {}; other processes {others}",
            per(server_cpu),
            per(client_cpu)
        )
    }
}

fn event(aggregate_nonce: u64, payload: Vec<u8>) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: uuid::Uuid::now_v7().to_string(),
            aggregate_nonce,
            event_type: "bench.Event".into(),
            event_version: 1,
            content_type: "application/octet-stream".into(),
            ..EventMetadata::default()
        }),
        payload,
    }
}

/// An append of `count` events after `head`, each with a `payload`-byte body.
fn append_request(
    tenant: &str,
    aggregate_id: &str,
    head: u64,
    count: usize,
    payload: usize,
) -> AppendRequest {
    AppendRequest {
        tenant_id: tenant.into(),
        aggregate_id: aggregate_id.into(),
        aggregate_type: "Bench".into(),
        expected_aggregate_nonce: head,
        idempotency_key: String::new(),
        events: (1..=count as u64)
            .map(|i| event(head + i, vec![b'x'; payload]))
            .collect(),
    }
}

/// Appends `total` events to a new stream in batches of `batch`.
async fn populate(
    client: &mut Client,
    s: &Settings,
    tenant: &str,
    aggregate_id: &str,
    total: usize,
) -> Result<()> {
    let started = Instant::now();
    let mut head = 0u64;
    while (head as usize) < total {
        let count = s.batch.min(total - head as usize);
        let response = client
            .append(append_request(tenant, aggregate_id, head, count, s.payload))
            .await?
            .into_inner();
        head = response.last_aggregate_nonce;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "    (populated {tenant}/{aggregate_id}: {} events of {} payload bytes in batches of {} in {:.2} s = {} events/s)",
        thousands(total as f64),
        s.payload,
        s.batch,
        secs,
        thousands(total as f64 / secs)
    );
    Ok(())
}

/// Sorted latencies with percentile lookup.
/// A small deterministic generator for read positions (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// What a write figure is measured against: the real server, or the
/// do-nothing floor service (see `support/floor.rs`) served one of two ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Server,
    Floor(FloorKind),
}

impl Target {
    const ALL: [Self; 3] = [
        Self::Floor(FloorKind::Tonic),
        Self::Floor(FloorKind::Transport),
        Self::Server,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Floor(FloorKind::Tonic) => "floor (tonic Server)",
            Self::Floor(FloorKind::Transport) => "floor (our transport)",
        }
    }

    fn command(self, s: &Settings) -> Result<tokio::process::Command> {
        match self {
            Self::Server => Ok(Server::server_command(&s.server_flags())),
            Self::Floor(kind) => Server::floor_command(kind),
        }
    }

    async fn spawn(self, s: &Settings) -> Result<Server> {
        Server::start(self.command(s)?).await
    }
}

/// One write figure of one target in one round: a latency, a rate and the
/// server's CPU per append.
#[derive(Debug, Clone, Copy)]
struct WriteFigure {
    p50: Duration,
    events_per_sec: f64,
    server_cpu_per_append: Option<Duration>,
}

/// 1. Sequential single-event appends to one stream.
async fn bench_append(s: &Settings, target: Target) -> Result<WriteFigure> {
    let server = target.spawn(s).await?;
    let mut client = server.connect(1).await?.remove(0);
    let (tenant, stream) = ("bench-seq", "seq-0");
    let mut head = 0u64;
    let mut samples = Vec::with_capacity(s.seq);
    let mut cpu = None;
    for i in 0..s.seq_warmup + s.seq {
        if i == s.seq_warmup {
            cpu = Some(CpuMeter::start(&server));
        }
        let request = append_request(tenant, stream, head, 1, 64);
        let started = Instant::now();
        let response = client.append(request).await?.into_inner();
        let took = started.elapsed();
        head = response.last_aggregate_nonce;
        if i >= s.seq_warmup {
            samples.push(took);
        }
    }
    let server_cpu_per_append = cpu
        .as_ref()
        .and_then(|c| c.server_per(&server, s.seq as f64));
    let cpu = cpu.map_or_else(String::new, |c| c.per(&server, s.seq as f64, "append"));
    let lat = Latencies::new(samples);
    println!(
        "    [1] {:<22} sequential append: p50 {}, p99 {}  [{cpu}]",
        target.name(),
        us(lat.p50()),
        us(lat.p99())
    );
    server.stop().await;
    Ok(WriteFigure {
        p50: lat.p50(),
        events_per_sec: 1.0 / lat.mean().as_secs_f64().max(1e-9),
        server_cpu_per_append,
    })
}

/// 2. Concurrent single-event appends, one task and one stream each.
async fn bench_concurrent(s: &Settings, target: Target) -> Result<WriteFigure> {
    let server = target.spawn(s).await?;
    let clients = server.connect(s.channels).await?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(s.conc_warmup_secs);
    let end = measure_from + Duration::from_secs_f64(s.conc_secs);
    // Every task counts its appends in `measured` while the clock is in the
    // measured window; the CPU meter starts and stops with that window.
    let measured = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for i in 0..s.streams {
        let mut client = clients[i % clients.len()].clone();
        let measured = measured.clone();
        tasks.spawn(async move {
            let stream = format!("conc-{i}");
            let mut head = 0u64;
            let mut samples = Vec::new();
            loop {
                let request = append_request("bench-conc", &stream, head, 1, 64);
                let sent = Instant::now();
                let response = client.append(request).await?.into_inner();
                let done = Instant::now();
                head = response.last_aggregate_nonce;
                if done > end {
                    break;
                }
                if sent >= measure_from {
                    samples.push(done - sent);
                    measured.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Ok::<_, tonic::Status>(samples)
        });
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu = CpuMeter::start(&server);
    tokio::time::sleep_until(end.into()).await;
    let appended = measured.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let server_cpu_per_append = cpu.server_per(&server, appended);
    let cpu = cpu.per(&server, appended, "append");
    let mut samples = Vec::new();
    while let Some(result) = tasks.join_next().await {
        samples.extend(result??);
    }
    let rate = samples.len() as f64 / s.conc_secs;
    let lat = Latencies::new(samples);
    println!(
        "    [2] {:<22} {} tasks x 1 stream, {} connections: {} events/s, latency p50 {}, p99 {}  [{cpu}]",
        target.name(),
        s.streams,
        s.channels,
        thousands(rate),
        us(lat.p50()),
        us(lat.p99()),
    );
    server.stop().await;
    Ok(WriteFigure {
        p50: lat.p50(),
        events_per_sec: rate,
        server_cpu_per_append,
    })
}

/// The best figure of each target over the rounds: the lowest latency and
/// CPU, the highest rate (the machine's other load only ever worsens one).
fn best(figures: &[WriteFigure]) -> Option<WriteFigure> {
    let first = *figures.first()?;
    Some(figures.iter().skip(1).fold(first, |a, b| WriteFigure {
        p50: a.p50.min(b.p50),
        events_per_sec: a.events_per_sec.max(b.events_per_sec),
        server_cpu_per_append: match (a.server_cpu_per_append, b.server_cpu_per_append) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        },
    }))
}

/// Runs `section` (1 or 2) for every target, `s.rounds` times, alternating
/// the order, and prints the server's figures beside the floors' with their
/// ratios.
async fn bench_writes(s: &Settings, section: u8) -> Result<()> {
    let title = match section {
        1 => format!(
            "[1] sequential single-event append (1 stream, 64-byte payload, {} appends after {} warm-up)",
            s.seq, s.seq_warmup
        ),
        _ => format!(
            "[2] concurrent single-event appends ({} tasks x 1 stream each, {} HTTP/2 connections round-robin, {:.1} s after {:.1} s warm-up)",
            s.streams, s.channels, s.conc_secs, s.conc_warmup_secs
        ),
    };
    println!("{title}, best of {} rounds against the floor:", s.rounds);
    let mut figures: Vec<(Target, Vec<WriteFigure>)> =
        Target::ALL.iter().map(|t| (*t, Vec::new())).collect();
    for round in 0..s.rounds {
        let mut order: Vec<usize> = (0..figures.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for k in order {
            let target = figures[k].0;
            let figure = match section {
                1 => bench_append(s, target).await?,
                _ => bench_concurrent(s, target).await?,
            };
            figures[k].1.push(figure);
        }
    }
    let best_of = |target: Target| {
        figures
            .iter()
            .find(|(t, _)| *t == target)
            .and_then(|(_, f)| best(f))
    };
    let (Some(server), Some(tonic), Some(transport)) = (
        best_of(Target::Server),
        best_of(Target::Floor(FloorKind::Tonic)),
        best_of(Target::Floor(FloorKind::Transport)),
    ) else {
        return Err("no rounds measured (BENCH_ROUNDS must be at least 1)".into());
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let cpu = |f: &WriteFigure| f.server_cpu_per_append.map(|d| d.as_secs_f64());
    let show_cpu = |f: &WriteFigure| {
        f.server_cpu_per_append.map_or_else(
            || "n/a".to_owned(),
            |d| format!("{:.1} us", d.as_secs_f64() * 1e6),
        )
    };
    let floor = tonic;
    let p50_ratio = ratio(server.p50.as_secs_f64(), floor.p50.as_secs_f64());
    let cpu_ratio = match (cpu(&server), cpu(&floor)) {
        (Some(a), Some(b)) => ratio(a, b),
        _ => f64::NAN,
    };
    let cpu_transport_ratio = match (cpu(&transport), cpu(&floor)) {
        (Some(a), Some(b)) => ratio(a, b),
        _ => f64::NAN,
    };
    println!(
        "    latency p50: server {} = {:.2}x floor {} (our transport's floor {}, {:.2}x)  (target <= {TARGET_OVER_FLOOR:.1}x: {})",
        us(server.p50),
        p50_ratio,
        us(floor.p50),
        us(transport.p50),
        ratio(transport.p50.as_secs_f64(), floor.p50.as_secs_f64()),
        if section == 1 {
            verdict(p50_ratio <= TARGET_OVER_FLOOR)
        } else {
            "no target"
        },
    );
    println!(
        "    server CPU per append: server {} = {:.2}x floor {} (our transport's floor {}, {:.2}x)  (target <= {TARGET_OVER_FLOOR:.1}x: {})",
        show_cpu(&server),
        cpu_ratio,
        show_cpu(&floor),
        show_cpu(&transport),
        cpu_transport_ratio,
        if section == 2 {
            verdict(cpu_ratio <= TARGET_OVER_FLOOR)
        } else {
            "no target"
        },
    );
    if section == 2 {
        println!(
            "    throughput: server {} events/s = {:.2}x floor {} events/s (target >= {} events/s: {})",
            thousands(server.events_per_sec),
            ratio(server.events_per_sec, floor.events_per_sec),
            thousands(floor.events_per_sec),
            thousands(TARGET_CONCURRENT_EVENTS_PER_SEC),
            verdict(server.events_per_sec >= TARGET_CONCURRENT_EVENTS_PER_SEC),
        );
    }
    Ok(())
}

/// The global nonce of a tenant's first event.
async fn first_global(client: &mut Client, tenant: &str) -> Result<u64> {
    let page = client
        .read_all(ReadAllRequest {
            tenant_id: tenant.into(),
            from_global_nonce: 0,
            max_count: 1,
            forward: true,
        })
        .await?
        .into_inner();
    page.events
        .first()
        .and_then(|e| e.meta.as_ref())
        .map(|m| m.global_nonce)
        .ok_or_else(|| format!("tenant {tenant} has no events").into())
}

/// 3 and 5. Page reads from a small and a large stream (ReadStream) or
/// tenant (ReadAll; each tenant holds one stream), interleaved.
async fn bench_read(s: &Settings, server: &Server, client: &mut Client, kind: Read) -> Result<()> {
    let mut targets = [
        ("bench-small", "small-0", s.small, 1),
        ("bench-large", "large-0", s.large, 1),
    ];
    if kind == Read::All {
        for target in &mut targets {
            target.3 = first_global(client, target.0).await?;
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut samples = [Vec::with_capacity(s.reads), Vec::with_capacity(s.reads)];
    let mut cpu = None;
    for i in 0..s.read_warmup + s.reads {
        if i == s.read_warmup {
            cpu = Some(CpuMeter::start(server));
        }
        for (k, (tenant, stream, len, first)) in targets.iter().enumerate() {
            let span = (*len as u64).saturating_sub(s.page as u64) + 1;
            let from = first + rng.below(span);
            let started = Instant::now();
            let returned = match kind {
                Read::Stream => {
                    let request = ReadStreamRequest {
                        tenant_id: (*tenant).into(),
                        aggregate_id: (*stream).into(),
                        from_aggregate_nonce: from,
                        max_count: s.page as u32,
                        forward: true,
                    };
                    client.read_stream(request).await?.into_inner().events.len()
                }
                Read::All => {
                    let request = ReadAllRequest {
                        tenant_id: (*tenant).into(),
                        from_global_nonce: from,
                        max_count: s.page as u32,
                        forward: true,
                    };
                    client.read_all(request).await?.into_inner().events.len()
                }
            };
            let took = started.elapsed();
            let expected = s.page.min(*len);
            if returned != expected {
                return Err(format!(
                    "{kind:?} read of {tenant}/{stream} from {from} returned {returned} events, expected {expected}"
                )
                .into());
            }
            if i >= s.read_warmup {
                samples[k].push(took);
            }
        }
    }
    let cpu = cpu.map_or_else(String::new, |c| c.per(server, (2 * s.reads) as f64, "read"));
    let [small, large] = samples.map(Latencies::new);
    let ratio_p50 = large.p50().as_secs_f64() / small.p50().as_secs_f64();
    let ratio_p99 = large.p99().as_secs_f64() / small.p99().as_secs_f64();
    let (number, rpc, of) = match kind {
        Read::Stream => (3, "read", "stream"),
        Read::All => (5, "read_all", "tenant"),
    };
    println!(
        "[{number}] {rpc} {}-event page, forward, random positions ({} reads each, interleaved, after {} warm-up)  [{cpu}]:",
        s.page, s.reads, s.read_warmup
    );
    println!(
        "    {:>9}-event {of}: p50 {}, p99 {}",
        thousands(s.small as f64),
        us(small.p50()),
        us(small.p99())
    );
    println!(
        "    {:>9}-event {of}: p50 {}, p99 {}",
        thousands(s.large as f64),
        us(large.p50()),
        us(large.p99())
    );
    println!(
        "    ratio large/small: p50 {:.2}x, p99 {:.2}x  (target p50 <= {:.1}x: {})",
        ratio_p50,
        ratio_p99,
        TARGET_LARGE_OVER_SMALL_PAGE,
        verdict(ratio_p50 <= TARGET_LARGE_OVER_SMALL_PAGE)
    );
    Ok(())
}

/// 4. A subscription from the start of the large stream's tenant.
async fn bench_subscribe(s: &Settings, server: &Server, client: &mut Client) -> Result<()> {
    let cpu = CpuMeter::start(server);
    let started = Instant::now();
    let mut stream = client
        .subscribe(SubscribeRequest {
            tenant_id: "bench-large".into(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: 0,
        })
        .await?
        .into_inner();
    let mut received = 0usize;
    let mut last_global = 0u64;
    let mut first_event = None;
    while received < s.large {
        let Some(response) = stream.message().await? else {
            return Err(format!("subscription ended after {received} events").into());
        };
        // An event-less response is the caught-up marker: not an event.
        if response.event.is_none() {
            continue;
        }
        let global = response
            .event
            .as_ref()
            .and_then(|e| e.meta.as_ref())
            .map_or(0, |m| m.global_nonce);
        if global <= last_global {
            return Err(format!("global nonce {global} after {last_global}").into());
        }
        last_global = global;
        received += 1;
        first_event.get_or_insert_with(|| started.elapsed());
    }
    let secs = started.elapsed().as_secs_f64();
    drop(stream);
    let cpu = cpu.per(server, received as f64, "event");
    let rate = received as f64 / secs;
    println!(
        "[4] subscription catch-up (from 0, {} events, 1 connection): {} events/s, {:.2} s total, first event after {}  (target >= {} events/s: {})  [{cpu}]",
        thousands(received as f64),
        thousands(rate),
        secs,
        us(first_event.unwrap_or_default()),
        thousands(TARGET_CATCH_UP_EVENTS_PER_SEC),
        verdict(rate >= TARGET_CATCH_UP_EVENTS_PER_SEC)
    );
    Ok(())
}

/// The encoded size of one stored event of `tenant/stream` as a reader gets
/// it (every store field set): what "bytes per event" is compared with.
async fn encoded_event_size(client: &mut Client, tenant: &str, stream: &str) -> Result<usize> {
    use prost::Message as _;
    let page = client
        .read_stream(ReadStreamRequest {
            tenant_id: tenant.into(),
            aggregate_id: stream.into(),
            from_aggregate_nonce: 1,
            max_count: 1,
            forward: true,
        })
        .await?
        .into_inner();
    page.events
        .first()
        .map(|e| e.encoded_len())
        .ok_or_else(|| format!("{tenant}/{stream} has no events").into())
}

/// Section 6, resident bytes per stored event: `BENCH_LARGE` events of
/// `BENCH_PAYLOAD` bytes in the in-memory server, and in a durable one
/// after a restart (its index rebuilt from the file), each over the
/// server's resident size when empty, against the encoded size of an event.
async fn bench_memory(s: &Settings) -> Result<()> {
    let (tenant, stream) = ("bench-memory", "memory-0");
    let per_event = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / s.large as f64),
        _ => None,
    };
    let show = |bytes: Option<f64>, encoded: usize| match bytes {
        Some(b) => format!(
            "{b:.0} bytes/event = {:.2}x encoded  (target <= {TARGET_MEMORY_OVER_ENCODED:.1}x: {})",
            b / encoded as f64,
            verdict(b / encoded as f64 <= TARGET_MEMORY_OVER_ENCODED)
        ),
        None => "n/a (no /proc)".to_owned(),
    };

    let server = Server::spawn(&s.server_flags()).await?;
    let mut client = server.connect(1).await?.remove(0);
    let empty = server.resident_bytes();
    populate(&mut client, s, tenant, stream, s.large).await?;
    let encoded = encoded_event_size(&mut client, tenant, stream).await?;
    let in_memory = per_event(empty, server.resident_bytes());
    server.stop().await;

    let dir = tempfile::tempdir()?;
    let mut flags = s.server_flags();
    flags.push("--data-dir".to_owned());
    flags.push(dir.path().display().to_string());
    let server = Server::spawn(&flags).await?;
    let empty_durable = server.resident_bytes();
    let mut client = server.connect(1).await?.remove(0);
    populate(&mut client, s, tenant, stream, s.large).await?;
    server.stop().await;
    let started = Instant::now();
    let server = Server::spawn(&flags).await?;
    let reopened_in = started.elapsed();
    let after_restart = per_event(empty_durable, server.resident_bytes());
    server.stop().await;

    println!(
        "[6] resident memory per stored event ({} events of {} payload bytes, one stream; an event encodes to {encoded} bytes):",
        thousands(s.large as f64),
        s.payload
    );
    println!("    in memory:              {}", show(in_memory, encoded));
    println!(
        "    durable, after restart: {}  (reopened in {:.2} s)",
        show(after_restart, encoded),
        reopened_in.as_secs_f64()
    );
    Ok(())
}

/// 3, 4 and 5 share one server and its populated streams.
async fn bench_reads_and_subscribe(
    s: &Settings,
    read: bool,
    read_all: bool,
    subscribe: bool,
) -> Result<()> {
    let server = Server::spawn(&s.server_flags()).await?;
    let mut client = server.connect(1).await?.remove(0);
    if read || read_all {
        populate(&mut client, s, "bench-small", "small-0", s.small).await?;
    }
    populate(&mut client, s, "bench-large", "large-0", s.large).await?;
    if read {
        bench_read(s, &server, &mut client, Read::Stream).await?;
    }
    if subscribe {
        // A fresh connection, so the subscription has it to itself.
        let mut client = server.connect(1).await?.remove(0);
        bench_subscribe(s, &server, &mut client).await?;
    }
    if read_all {
        bench_read(s, &server, &mut client, Read::All).await?;
    }
    server.stop().await;
    Ok(())
}

fn selected_sections() -> Result<Vec<String>> {
    // cargo passes `--bench`; every other word names a section.
    let mut chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        chosen.extend(
            only.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(str::to_owned),
        );
    }
    if let Some(unknown) = chosen.iter().find(|w| !SECTIONS.contains(&w.as_str())) {
        return Err(format!("unknown section {unknown:?}; sections are {SECTIONS:?}").into());
    }
    if chosen.is_empty() {
        chosen = SECTIONS.iter().map(|s| (*s).to_owned()).collect();
    }
    Ok(chosen)
}

fn main() -> Result<()> {
    // Re-run as the floor server by `Server::spawn_floor`: serves, never returns.
    support::floor::serve_if_asked()?;
    // The client's runtime: `BENCH_CLIENT_THREADS` workers, 0 for a
    // current-thread runtime; the server runs its own (one worker per CPU).
    let threads: usize = env_or("BENCH_CLIENT_THREADS", 0)?;
    let runtime = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(threads))
}

async fn run(client_threads: usize) -> Result<()> {
    let sections = selected_sections()?;
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`,
    // a debug build) the run is a quick smoke test of the same code.
    let smoke = !std::env::args().any(|a| a == "--bench");
    if smoke {
        println!("smoke run (no --bench flag): small default sizes; figures are not meaningful");
    }
    let s = Settings::from_env(smoke)?;
    let on = |name: &str| sections.iter().any(|w| w == name);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "eventstore-server loopback benchmark: sections {sections:?}; client and server share {workers} CPUs; client runtime {}; server flags {:?}",
        match client_threads {
            0 => "current-thread".to_owned(),
            n => format!("{n} worker threads"),
        },
        s.server_flags()
    );
    if on("append") {
        bench_writes(&s, 1).await?;
    }
    if on("concurrent") {
        bench_writes(&s, 2).await?;
    }
    if on("read") || on("read_all") || on("subscribe") {
        bench_reads_and_subscribe(&s, on("read"), on("read_all"), on("subscribe")).await?;
    }
    if on("memory") {
        bench_memory(&s).await?;
    }
    if on("instructions") {
        bench_instructions(&s).await?;
    }
    Ok(())
}

/// Section 7, one counted run: the instructions one process (the server
/// or a floor, under callgrind) executes from start-up to exit while
/// `count` single-event appends (rounded up to a multiple of `in_flight`)
/// reach it, `in_flight` at a time over `s.channels` connections.
async fn counted_appends(
    s: &Settings,
    target: Target,
    in_flight: usize,
    count: usize,
) -> Result<(u64, usize)> {
    let out_file = std::env::temp_dir().join(format!(
        "eventstore-bench-callgrind-{}-{}.out",
        std::process::id(),
        target
            .name()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
    ));
    let counted = callgrind::Counted::start(&target.command(s)?, out_file).await?;
    let clients = counted.server.connect(s.channels.min(in_flight)).await?;
    let per_task = count.div_ceil(in_flight);
    let mut tasks = JoinSet::new();
    for i in 0..in_flight {
        let mut client = clients[i % clients.len()].clone();
        tasks.spawn(async move {
            let stream = format!("ir-{i}");
            let mut head = 0u64;
            for _ in 0..per_task {
                let request = append_request("bench-ir", &stream, head, 1, 64);
                head = client
                    .append(request)
                    .await?
                    .into_inner()
                    .last_aggregate_nonce;
            }
            Ok::<_, tonic::Status>(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    drop(clients);
    Ok((counted.stop().await?, per_task * in_flight))
}

/// Section 7: the server's instructions per append against the floors',
/// one append at a time and `s.streams` in flight.
async fn bench_instructions(s: &Settings) -> Result<()> {
    if !callgrind::available() {
        println!("[7] instructions per append: skipped (valgrind is not installed)");
        return Ok(());
    }
    println!(
        "[7] instructions per single-event append, counted by callgrind (({} - {} appends) difference; start-up cancels out):",
        s.ir_long, s.ir_short
    );
    for in_flight in [1, s.streams] {
        let mut figures = Vec::new();
        for target in Target::ALL {
            let (short, short_n) = counted_appends(s, target, in_flight, s.ir_short).await?;
            let (long, long_n) = counted_appends(s, target, in_flight, s.ir_long).await?;
            let per = callgrind::per_operation(short, short_n, long, long_n)
                .ok_or("the long counted run did no more appends than the short one")?;
            println!(
                "    [7] {:<22} {in_flight:>2} in flight: {} instructions/append",
                target.name(),
                thousands(per)
            );
            figures.push((target, per));
        }
        let of = |target: Target| {
            figures
                .iter()
                .find(|(t, _)| *t == target)
                .map_or(f64::NAN, |(_, per)| *per)
        };
        let (server, floor, transport) = (
            of(Target::Server),
            of(Target::Floor(FloorKind::Tonic)),
            of(Target::Floor(FloorKind::Transport)),
        );
        let ratio = server / floor;
        println!(
            "    {in_flight:>2} in flight: server {} = {ratio:.2}x floor {} instructions/append (our transport's floor {}, {:.2}x)  (target <= {TARGET_OVER_FLOOR:.1}x: {})",
            thousands(server),
            thousands(floor),
            thousands(transport),
            transport / floor,
            verdict(ratio <= TARGET_OVER_FLOOR),
        );
    }
    Ok(())
}

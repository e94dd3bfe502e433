//! Crash test of the durable backend: `kill -9` in the middle of concurrent
//! appends, restart on the same data directory, and check that
//!
//! - every acknowledged batch is there, with the nonces and global nonces it
//!   was acknowledged with;
//! - no batch is partly there (a batch in flight at the kill is all there or
//!   not at all), and a refused batch (ABORTED) is not there;
//! - each stream's nonces are 1..=n and the global nonces 1..=N, gap-free;
//! - what a previous restart found is still there, in the same order;
//! - a subscription from 0 delivers exactly the stored log, in order;
//! - an idempotent retry of a stored batch gets its original response.
//!
//! Iterations run on one data directory, so each restart also replays what
//! every earlier crash left. `EVENTSTORE_CRASH_ITERATIONS` sets how many
//! (default 30); `EVENTSTORE_CRASH_SEED` fixes the random choices (the kill
//! timing is never exactly reproducible).

mod support;

use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, ReadStreamRequest,
    event_store_client::EventStoreClient,
};
use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use support::{RPC, Server, event, meta, read_all, subscribe_exactly};
use tonic::{Code, transport::Channel};

type Client = EventStoreClient<Channel>;

const TENANT: &str = "crash";
/// Concurrent appender tasks; each has its own stream and shares the others.
const WRITERS: usize = 16;
const SHARED_STREAMS: usize = 4;
/// Connections the writers share round-robin.
const CONNECTIONS: usize = 4;
const MAX_BATCH: u64 = 5;
/// The kill comes this long (ms) after the writers start.
const KILL_AFTER_MS: (u64, u64) = (20, 200);

/// xorshift64*: small, seedable, good enough for test choices.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

fn stream_names() -> Vec<String> {
    (0..WRITERS)
        .map(|w| format!("own-{w}"))
        .chain((0..SHARED_STREAMS).map(|s| format!("shared-{s}")))
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// The server acknowledged it: it must be there, exactly so.
    Acked(AppendResponse),
    /// Refused by a check: it must not be there.
    Refused(Code),
    /// No answer (the kill): all there or none of it.
    Unknown(String),
}

/// One append sent, and what became of it.
#[derive(Debug, Clone)]
struct Batch {
    request: AppendRequest,
    outcome: Outcome,
}

impl Batch {
    fn len(&self) -> usize {
        self.request.events.len()
    }
}

/// The head of `stream` as readers see it.
async fn read_head(client: &mut Client, stream: &str) -> Result<u64, tonic::Status> {
    let page = tokio::time::timeout(
        RPC,
        client.read_stream(ReadStreamRequest {
            tenant_id: TENANT.into(),
            aggregate_id: stream.into(),
            from_aggregate_nonce: 0,
            max_count: 1,
            forward: false,
        }),
    )
    .await
    .map_err(|_| tonic::Status::deadline_exceeded("read timed out"))??
    .into_inner();
    Ok(page.events.first().map_or(0, |e| meta(e).aggregate_nonce))
}

/// One writer: appends batches of 1..=5 events to its own stream and to the
/// shared ones until the server goes away; returns every batch it sent.
async fn writer(
    mut client: Client,
    iteration: usize,
    writer: usize,
    mut heads: HashMap<String, u64>,
    mut rng: Rng,
) -> Vec<Batch> {
    let mut sent = Vec::new();
    for seq in 0.. {
        let stream = if rng.next().is_multiple_of(2) {
            format!("own-{writer}")
        } else {
            format!("shared-{}", rng.next() % SHARED_STREAMS as u64)
        };
        let head = heads.get(&stream).copied().unwrap_or(0);
        let count = rng.between(1, MAX_BATCH);
        let id = format!("i{iteration}-w{writer}-b{seq}");
        let request = AppendRequest {
            tenant_id: TENANT.into(),
            aggregate_id: stream.clone(),
            aggregate_type: "Crash".into(),
            expected_aggregate_nonce: head,
            idempotency_key: id.clone(),
            events: (1..=count)
                .map(|k| event(&format!("{id}-e{k}"), head + k))
                .collect(),
        };
        let result = tokio::time::timeout(RPC, client.append(request.clone())).await;
        let outcome = match result {
            Ok(Ok(response)) => Outcome::Acked(response.into_inner()),
            Ok(Err(status)) if status.code() == Code::Aborted => Outcome::Refused(Code::Aborted),
            Ok(Err(status)) => {
                Outcome::Unknown(format!("{:?}: {}", status.code(), status.message()))
            }
            Err(_) => Outcome::Unknown("no answer within the RPC timeout".into()),
        };
        let stop = matches!(outcome, Outcome::Unknown(_));
        match &outcome {
            Outcome::Acked(response) => {
                heads.insert(stream, response.last_aggregate_nonce);
            }
            Outcome::Refused(_) => match read_head(&mut client, &stream).await {
                Ok(head) => {
                    heads.insert(stream, head);
                }
                Err(_) => {
                    sent.push(Batch { request, outcome });
                    break;
                }
            },
            Outcome::Unknown(_) => {}
        }
        sent.push(Batch { request, outcome });
        if stop {
            break;
        }
    }
    sent
}

/// What a restart found, for the next restart to compare with.
#[derive(Debug, Default)]
struct Verified {
    /// (global nonce, event id) of the whole log, in global order.
    log: Vec<(u64, String)>,
    /// Each stream's head.
    heads: HashMap<String, u64>,
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    acked: usize,
    acked_events: usize,
    refused: usize,
    unknown_present: usize,
    unknown_absent: usize,
}

/// Checks everything the server on `dir` holds against every batch sent so far.
async fn verify(
    server: &Server,
    batches: &[Batch],
    previous: &Verified,
    rng: &mut Rng,
) -> Verified {
    let mut client = server.client().await;
    let mut by_stream = HashMap::new();
    let mut all: Vec<EventData> = Vec::new();
    for stream in stream_names() {
        let events = read_all(&mut client, TENANT, &stream).await;
        let nonces: Vec<u64> = events.iter().map(|e| meta(e).aggregate_nonce).collect();
        let expected: Vec<u64> = (1..=events.len() as u64).collect();
        assert_eq!(nonces, expected, "{stream}'s nonces are not 1..=n");
        for e in &events {
            assert_eq!(meta(e).aggregate_id, stream);
        }
        by_stream.insert(stream, events.len() as u64);
        all.extend(events);
    }
    all.sort_by_key(|e| meta(e).global_nonce);
    let globals: Vec<u64> = all.iter().map(|e| meta(e).global_nonce).collect();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(globals, expected, "global nonces are not 1..=N");

    // Nothing found by an earlier restart was lost or moved.
    let log: Vec<(u64, String)> = all
        .iter()
        .map(|e| (meta(e).global_nonce, meta(e).event_id.clone()))
        .collect();
    assert!(
        log.len() >= previous.log.len() && log[..previous.log.len()] == previous.log[..],
        "the log found by the previous restart ({} events) is not a prefix of this one ({} events)",
        previous.log.len(),
        log.len()
    );

    // The subscription from 0 is exactly the stored log.
    let subscribed =
        subscribe_exactly(&mut client, TENANT, 0, all.len(), Duration::from_millis(50)).await;
    assert!(
        subscribed == all,
        "the subscription from 0 differs from the stored log"
    );

    // Every stored event belongs to a batch that was sent, at its place.
    let mut owner: HashMap<&str, (usize, usize)> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        for (k, e) in batch.request.events.iter().enumerate() {
            owner.insert(meta(e).event_id.as_str(), (b, k));
        }
    }
    let mut present: HashMap<usize, Vec<&EventData>> = HashMap::new();
    for stored in &all {
        let m = meta(stored);
        let &(b, k) = owner
            .get(m.event_id.as_str())
            .unwrap_or_else(|| panic!("stored event {} was never sent", m.event_id));
        let sent = &batches[b].request;
        assert_eq!(m.aggregate_id, sent.aggregate_id, "event {}", m.event_id);
        assert_eq!(
            m.aggregate_nonce,
            sent.expected_aggregate_nonce + k as u64 + 1,
            "event {}",
            m.event_id
        );
        assert_eq!(
            stored.payload, sent.events[k].payload,
            "event {}",
            m.event_id
        );
        present.entry(b).or_default().push(stored);
    }

    // All or nothing; acknowledged means there, as acknowledged.
    let mut retry = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let found = present.get(&b).map_or(&[][..], Vec::as_slice);
        let id = &batch.request.idempotency_key;
        assert!(
            found.is_empty() || found.len() == batch.len(),
            "PARTIAL BATCH {id}: {} of its {} events are stored ({:?})",
            found.len(),
            batch.len(),
            batch.outcome
        );
        if let Some(last) = found.last() {
            let first = meta(found[0]).global_nonce;
            let last = meta(last).global_nonce;
            assert_eq!(
                last - first + 1,
                batch.len() as u64,
                "batch {id}'s global nonces are not consecutive"
            );
        }
        match &batch.outcome {
            Outcome::Acked(response) => {
                assert!(
                    !found.is_empty(),
                    "LOST ACKNOWLEDGED BATCH {id} ({} events, acknowledged as {response:?})",
                    batch.len()
                );
                let last = meta(found[found.len() - 1]);
                assert_eq!(
                    (last.aggregate_nonce, last.global_nonce),
                    (response.last_aggregate_nonce, response.last_global_nonce),
                    "batch {id} is stored elsewhere than acknowledged"
                );
                retry.push((b, *response));
            }
            Outcome::Refused(code) => {
                assert!(
                    found.is_empty(),
                    "batch {id} was refused ({code:?}) but is stored"
                );
            }
            Outcome::Unknown(_) => {
                if let Some(last) = found.last() {
                    let last = meta(last);
                    retry.push((
                        b,
                        AppendResponse {
                            last_aggregate_nonce: last.aggregate_nonce,
                            last_global_nonce: last.global_nonce,
                        },
                    ));
                }
            }
        }
    }

    // Idempotent retries of stored batches get their original response.
    for _ in 0..retry.len().min(8) {
        let (b, expected) = retry[(rng.next() % retry.len() as u64) as usize];
        let request = batches[b].request.clone();
        let id = request.idempotency_key.clone();
        let response = tokio::time::timeout(RPC, client.append(request))
            .await
            .expect("retry within the RPC timeout")
            .unwrap_or_else(|e| panic!("retry of {id}: {e:?}"))
            .into_inner();
        assert_eq!(response, expected, "retry of {id}");
    }
    Verified {
        log,
        heads: by_stream,
    }
}

fn tally(batches: &[Batch], verified: &Verified) -> Tally {
    let stored: std::collections::HashSet<&str> =
        verified.log.iter().map(|(_, id)| id.as_str()).collect();
    let mut t = Tally::default();
    for batch in batches {
        match &batch.outcome {
            Outcome::Acked(_) => {
                t.acked += 1;
                t.acked_events += batch.len();
            }
            Outcome::Refused(_) => t.refused += 1,
            Outcome::Unknown(_) => {
                if stored.contains(meta(&batch.request.events[0]).event_id.as_str()) {
                    t.unknown_present += 1;
                } else {
                    t.unknown_absent += 1;
                }
            }
        }
    }
    t
}

/// One round: appenders against a fresh server on `dir`, killed after a
/// random delay. Returns the batches sent.
async fn round(
    dir: &Path,
    iteration: usize,
    heads: &HashMap<String, u64>,
    rng: &mut Rng,
) -> (Vec<Batch>, Server) {
    let server = Server::durable(dir, &[]).await;
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        clients.push(server.client().await);
    }
    let kill_after = Duration::from_millis(rng.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1));
    let mut tasks = Vec::with_capacity(WRITERS);
    for w in 0..WRITERS {
        let seed = Rng(rng.next() | 1);
        tasks.push(tokio::spawn(writer(
            clients[w % CONNECTIONS].clone(),
            iteration,
            w,
            heads.clone(),
            seed,
        )));
    }
    tokio::time::sleep(kill_after).await;
    server.signal("KILL");
    let mut batches = Vec::new();
    for task in tasks {
        let sent = tokio::time::timeout(RPC * 2, task)
            .await
            .expect("writers stop once the server is gone")
            .expect("writer did not panic");
        batches.extend(sent);
    }
    (batches, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_appends_loses_no_acknowledged_batch_and_tears_none() {
    let iterations = env_number("EVENTSTORE_CRASH_ITERATIONS").unwrap_or(30) as usize;
    let seed = env_number("EVENTSTORE_CRASH_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!(
        "crash test: {iterations} iterations, seed {seed} (EVENTSTORE_CRASH_ITERATIONS, EVENTSTORE_CRASH_SEED)"
    );
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut batches: Vec<Batch> = Vec::new();
    let mut verified = Verified::default();
    let mut totals = Tally::default();
    let mut min_acked = usize::MAX;
    for iteration in 0..iterations {
        let (sent, killed) = round(dir.path(), iteration, &verified.heads, &mut rng).await;
        let (status, stderr) = killed.wait().await;
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "the server exited before the kill: {status}; stderr:\n{stderr}"
        );
        let from = batches.len();
        batches.extend(sent);

        let server = Server::durable(dir.path(), &[]).await;
        verified = verify(&server, &batches, &verified, &mut rng).await;
        server.signal("KILL");
        let _ = server.wait().await;

        let t = tally(&batches[from..], &verified);
        eprintln!(
            "  iteration {iteration}: {} batches acknowledged ({} events), {} refused (ABORTED), in flight at the kill: {} stored whole, {} absent; log now {} events",
            t.acked,
            t.acked_events,
            t.refused,
            t.unknown_present,
            t.unknown_absent,
            verified.log.len()
        );
        min_acked = min_acked.min(t.acked);
        totals.acked += t.acked;
        totals.acked_events += t.acked_events;
        totals.refused += t.refused;
        totals.unknown_present += t.unknown_present;
        totals.unknown_absent += t.unknown_absent;
    }
    eprintln!(
        "crash test: {iterations} kills in {:.1} s; {} acknowledged batches ({} events) all found; {} in-flight batches stored whole, {} absent, none partial; {} ABORTED, none stored; final log {} events",
        started.elapsed().as_secs_f64(),
        totals.acked,
        totals.acked_events,
        totals.unknown_present,
        totals.unknown_absent,
        totals.refused,
        verified.log.len()
    );
    if iterations > 0 {
        assert!(
            totals.acked > 0,
            "no append was acknowledged before any kill"
        );
        assert!(
            totals.unknown_present + totals.unknown_absent > 0,
            "no kill hit an append in flight"
        );
    }
}

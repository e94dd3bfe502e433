//! `eventstore-server --data-dir`: what was acknowledged is there after a
//! graceful restart and after `kill -9`, with the same nonces, the same
//! global order, the same idempotency answers and the same event ids; a data
//! directory is used by one server at a time; a damaged data file stops the
//! server with a clear error, never a panic.

mod support;

use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, event_store_client::EventStoreClient,
};
use std::{path::Path, time::Duration};
use support::{Server, append, meta, read_all, run_failing, subscribe_exactly};
use tonic::{Code, transport::Channel};

type Client = EventStoreClient<Channel>;

/// How long a subscription must stay silent after its last expected event.
const QUIET: Duration = Duration::from_millis(200);

async fn send(
    client: &mut Client,
    request: AppendRequest,
) -> Result<AppendResponse, tonic::Status> {
    tokio::time::timeout(support::RPC, client.append(request))
        .await
        .expect("append within RPC timeout")
        .map(tonic::Response::into_inner)
}

async fn ok(client: &mut Client, request: AppendRequest) -> AppendResponse {
    let what = format!("{}/{}", request.tenant_id, request.aggregate_id);
    send(client, request)
        .await
        .unwrap_or_else(|e| panic!("append to {what}: {e:?}"))
}

fn keyed(mut request: AppendRequest, key: &str) -> AppendRequest {
    request.idempotency_key = key.into();
    request
}

/// The streams the restart tests write.
const STREAMS: [(&str, &str); 5] = [
    ("t1", "order-1"),
    ("t1", "order-2"),
    ("t2", "order-1"),
    ("t1", "order-3"),
    ("t2", "order-4"),
];

/// What the store held before the restart.
struct Snapshot {
    streams: Vec<Vec<EventData>>,
    t1_log: Vec<EventData>,
    t2_log: Vec<EventData>,
}

impl Snapshot {
    async fn take(client: &mut Client) -> Self {
        let mut streams = Vec::new();
        for (tenant, aggregate) in STREAMS {
            streams.push(read_all(client, tenant, aggregate).await);
        }
        let count = |tenant: &str| -> usize {
            STREAMS
                .iter()
                .zip(&streams)
                .filter(|((t, _), _)| *t == tenant)
                .map(|(_, events)| events.len())
                .sum()
        };
        let (t1, t2) = (count("t1"), count("t2"));
        Self {
            t1_log: subscribe_exactly(client, "t1", 0, t1, QUIET).await,
            t2_log: subscribe_exactly(client, "t2", 0, t2, QUIET).await,
            streams,
        }
    }

    fn total(&self) -> usize {
        self.t1_log.len() + self.t2_log.len()
    }

    /// Every global nonce 1..=total exactly once over both tenants' logs,
    /// each log ascending, and each stream's nonces 1..=len.
    fn check_orders(&self) {
        for log in [&self.t1_log, &self.t2_log] {
            let globals: Vec<u64> = log.iter().map(|e| meta(e).global_nonce).collect();
            assert!(
                globals.windows(2).all(|w| w[0] < w[1]),
                "a subscription delivered out of global order: {globals:?}"
            );
        }
        let mut all: Vec<u64> = self
            .t1_log
            .iter()
            .chain(&self.t2_log)
            .map(|e| meta(e).global_nonce)
            .collect();
        all.sort_unstable();
        let expected: Vec<u64> = (1..=self.total() as u64).collect();
        assert_eq!(all, expected, "global nonces are not gap-free");
        for ((tenant, aggregate), events) in STREAMS.iter().zip(&self.streams) {
            let nonces: Vec<u64> = events.iter().map(|e| meta(e).aggregate_nonce).collect();
            let expected: Vec<u64> = (1..=events.len() as u64).collect();
            assert_eq!(nonces, expected, "nonces of {tenant}/{aggregate}");
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Restart {
    Graceful,
    Kill9,
}

async fn restart(server: Server, how: Restart, dir: &Path) -> Server {
    match how {
        Restart::Graceful => {
            server.stop().await;
        }
        Restart::Kill9 => server.kill9().await,
    }
    Server::durable(dir, &[]).await
}

async fn data_survives_restart(how: Restart) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::durable(dir.path(), &[]).await;
    let mut client = server.client().await;

    let a = ok(
        &mut client,
        keyed(append("t1", "order-1", 0, 3, "a"), "key-a"),
    )
    .await;
    let b = ok(&mut client, append("t1", "order-1", 3, 2, "b")).await;
    let c = ok(
        &mut client,
        keyed(append("t1", "order-2", 0, 1, "c"), "key-c"),
    )
    .await;
    let d = ok(&mut client, append("t2", "order-1", 0, 2, "d")).await;
    let e = ok(&mut client, append("t1", "order-1", 5, 1, "e")).await;
    let f = ok(&mut client, append("t1", "order-3", 0, 4, "f")).await;
    let responses: Vec<(u64, u64)> = [&a, &b, &c, &d, &e, &f]
        .iter()
        .map(|r| (r.last_aggregate_nonce, r.last_global_nonce))
        .collect();
    assert_eq!(
        responses,
        [(3, 3), (5, 5), (1, 6), (2, 8), (6, 9), (4, 13)],
        "responses before the restart"
    );
    let before = Snapshot::take(&mut client).await;
    assert_eq!(before.total(), 13);
    before.check_orders();
    drop(client);

    let server = restart(server, how, dir.path()).await;
    let mut client = server.client().await;
    let after = Snapshot::take(&mut client).await;
    after.check_orders();
    assert_eq!(after.streams, before.streams, "streams after {how:?}");
    assert_eq!(after.t1_log, before.t1_log, "t1's log after {how:?}");
    assert_eq!(after.t2_log, before.t2_log, "t2's log after {how:?}");
    // A subscription from the middle starts at the right event.
    let tail = subscribe_exactly(&mut client, "t1", 6, 6, QUIET).await;
    assert_eq!(tail, before.t1_log[5..], "t1's log from global nonce 6");

    // Idempotency keys: a retry gets the original response and writes nothing;
    // the same key for another batch is refused.
    let retry_a = ok(
        &mut client,
        keyed(append("t1", "order-1", 0, 3, "a"), "key-a"),
    )
    .await;
    assert_eq!(retry_a, a, "retry of key-a after {how:?}");
    let retry_c = ok(
        &mut client,
        keyed(append("t1", "order-2", 0, 1, "c"), "key-c"),
    )
    .await;
    assert_eq!(retry_c, c, "retry of key-c after {how:?}");
    let reused = send(
        &mut client,
        keyed(append("t1", "order-2", 1, 1, "g"), "key-c"),
    )
    .await;
    let status = reused.expect_err("key-c reused for another batch");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    // Event ids stay taken in their tenant (and only there).
    let mut dup = append("t1", "order-4", 0, 1, "x");
    dup.events[0].meta.as_mut().expect("meta").event_id = "a-1".into();
    let status = send(&mut client, dup.clone())
        .await
        .expect_err("a-1 reused in t1");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains("a-1"), "{status:?}");

    // Stream heads survive: expected 0 on an existing stream is ABORTED.
    let status = send(&mut client, append("t1", "order-1", 0, 1, "h"))
        .await
        .expect_err("order-1 exists");
    assert_eq!(status.code(), Code::Aborted, "{status:?}");

    // New appends continue the numbering, and a subscription opened before
    // them sees history then live events.
    let mut live = client.clone();
    let watcher =
        tokio::spawn(async move { subscribe_exactly(&mut live, "t1", 0, 13, QUIET).await });
    dup.tenant_id = "t2".into();
    let g = ok(&mut client, dup).await;
    assert_eq!((g.last_aggregate_nonce, g.last_global_nonce), (1, 14));
    let h = ok(&mut client, append("t1", "order-1", 6, 2, "h")).await;
    assert_eq!((h.last_aggregate_nonce, h.last_global_nonce), (8, 16));
    let t1_log = tokio::time::timeout(support::RPC, watcher)
        .await
        .expect("the live subscription ends its checks")
        .expect("the watcher did not panic");
    assert_eq!(t1_log[..11], before.t1_log[..]);
    let live_globals: Vec<u64> = t1_log[11..].iter().map(|e| meta(e).global_nonce).collect();
    assert_eq!(live_globals, [15, 16]);
    drop(client);

    // A second restart: a log written by two processes replays as one.
    let server = restart(server, how, dir.path()).await;
    let mut client = server.client().await;
    let third = Snapshot::take(&mut client).await;
    third.check_orders();
    assert_eq!(third.total(), 16);
    assert_eq!(third.t1_log, t1_log, "t1's log after the second {how:?}");
    let retry_a = ok(
        &mut client,
        keyed(append("t1", "order-1", 0, 3, "a"), "key-a"),
    )
    .await;
    assert_eq!(retry_a, a, "retry of key-a after the second {how:?}");
    let next = ok(&mut client, append("t1", "order-2", 1, 1, "i")).await;
    assert_eq!((next.last_aggregate_nonce, next.last_global_nonce), (2, 17));
    drop(client);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_graceful_restart() {
    data_survives_restart(Restart::Graceful).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_kill_9() {
    data_survives_restart(Restart::Kill9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_serves_one_server_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = Server::durable(dir.path(), &[]).await;
    let mut client = first.client().await;
    ok(&mut client, append("t1", "order-1", 0, 2, "a")).await;

    let data_dir = dir.path().to_str().expect("UTF-8 path");
    let stderr = run_failing(&["--listen", "127.0.0.1:0", "--data-dir", data_dir], &[]).await;
    let file = dir.path().join("eventstore.redb");
    assert!(
        stderr.contains(&file.display().to_string()),
        "the error does not name {}: {stderr}",
        file.display()
    );
    assert!(
        stderr.contains("already open"),
        "the error does not say the database is in use: {stderr}"
    );

    // The first server is unaffected, and once it stops the next one starts.
    let next = ok(&mut client, append("t1", "order-1", 2, 1, "b")).await;
    assert_eq!(next.last_global_nonce, 3);
    drop(client);
    first.stop().await;
    let second = Server::durable(dir.path(), &[]).await;
    let mut client = second.client().await;
    assert_eq!(read_all(&mut client, "t1", "order-1").await.len(), 3);
    drop(client);
    second.stop().await;
}

/// Writes a small store in `dir` and stops its server.
async fn populate(dir: &Path) {
    let server = Server::durable(dir, &[]).await;
    let mut client = server.client().await;
    for i in 0..20 {
        ok(
            &mut client,
            append("t1", &format!("s-{i}"), 0, 5, &format!("p{i}")),
        )
        .await;
    }
    drop(client);
    server.stop().await;
}

/// Asserts that starting on `dir` fails naming the data file and `reason`.
async fn refuses_to_start(dir: &Path, reason: &str, case: &str) {
    let data_dir = dir.to_str().expect("UTF-8 path");
    let stderr = run_failing(&["--listen", "127.0.0.1:0", "--data-dir", data_dir], &[]).await;
    let file = dir.join("eventstore.redb");
    assert!(
        stderr.contains(&file.display().to_string()),
        "{case}: the error does not name {}: {stderr}",
        file.display()
    );
    assert!(
        stderr.contains(reason),
        "{case}: the error does not say {reason:?}: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_data_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("eventstore.redb");
    // Not a redb file at all.
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &garbage).expect("write garbage");
    refuses_to_start(dir.path(), "Not a redb database", "garbage").await;
    std::fs::write(&file, b"hello, world\n").expect("write text");
    refuses_to_start(dir.path(), "Not a redb database", "a text file").await;
    // The garbage was left as it was.
    assert_eq!(std::fs::read(&file).expect("read back"), b"hello, world\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_data_file_is_a_clear_error() {
    for (case, damage) in [
        ("truncated to half", Damage::Truncate),
        ("middle overwritten", Damage::Overwrite),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        populate(dir.path()).await;
        let file = dir.path().join("eventstore.redb");
        let bytes = std::fs::read(&file).expect("read the data file");
        match damage {
            Damage::Truncate => {
                std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncate");
            }
            Damage::Overwrite => {
                let mut damaged = bytes.clone();
                let (from, to) = (damaged.len() / 4, damaged.len() * 3 / 4);
                for (i, b) in damaged[from..to].iter_mut().enumerate() {
                    *b = (i as u8).wrapping_mul(37) ^ 0x5A;
                }
                std::fs::write(&file, &damaged).expect("overwrite");
            }
        }
        let data_dir = dir.path().to_str().expect("UTF-8 path");
        let args = ["--listen", "127.0.0.1:0", "--data-dir", data_dir];
        let output = support::run(&args, &[]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprintln!("{case}: exit {}; stderr:\n{stderr}", output.status);
        assert!(!stderr.contains("panicked"), "{case}: panicked:\n{stderr}");
        assert!(
            output.status.code().is_some_and(|c| c != 0),
            "{case}: started on a damaged file: {stderr}"
        );
        assert!(
            stderr.contains(&file.display().to_string()),
            "{case}: the error does not name {}: {stderr}",
            file.display()
        );
    }
}

/// Issue 14 item 9: a data file truncated to 0 bytes (the store held 100
/// events) refuses to start, naming the file and the recovery, instead of
/// starting as an empty store; `--help` documents the recovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_length_data_file_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    populate(dir.path()).await;
    let file = dir.path().join("eventstore.redb");
    std::fs::write(&file, b"").expect("truncate to 0 bytes");
    refuses_to_start(dir.path(), "is empty (0 bytes)", "zero-length").await;
    refuses_to_start(dir.path(), "restore the file from a backup", "zero-length").await;
    assert_eq!(
        std::fs::metadata(&file).expect("the file is kept").len(),
        0,
        "the empty file was left as it was"
    );
    let help = support::run(&["--help"], &[]).await;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("zero-length data file"), "{help}");
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate,
    Overwrite,
}

#[tokio::test]
async fn a_data_dir_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, b"x").expect("write a file");
    let path = not_a_dir.to_str().expect("UTF-8 path");
    let stderr = run_failing(&["--listen", "127.0.0.1:0", "--data-dir", path], &[]).await;
    assert!(
        stderr.contains(path),
        "the error does not name {path}: {stderr}"
    );
    assert!(
        stderr.contains("data directory"),
        "the error does not say what {path} was for: {stderr}"
    );
}

/// Damage to any single 4 KiB page of the file never panics the server: it
/// refuses to start naming the file, or it starts on a consistent prefix of
/// the log. redb commits in one phase with checksums, so a damaged page of
/// the *last* commit makes it fall back to the commit before (the same
/// recovery that discards a commit torn by a crash): at most that one
/// batch is lost, never part of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_page_never_panics_and_never_tears_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    populate(dir.path()).await;
    let file = dir.path().join("eventstore.redb");
    let bytes = std::fs::read(&file).expect("read the data file");
    let data_dir = dir.path().to_str().expect("UTF-8 path");
    let (mut refused, mut rolled_back, mut intact) = (0, 0, 0);
    for page in 0..bytes.len() / 4096 {
        let mut damaged = bytes.clone();
        for (i, b) in damaged[page * 4096..(page + 1) * 4096]
            .iter_mut()
            .enumerate()
        {
            *b = (i as u8).wrapping_mul(37) ^ 0x5A;
        }
        std::fs::write(&file, &damaged).expect("damage one page");
        match Server::try_start(&["--data-dir", data_dir], &[]).await {
            Err(why) => {
                assert!(!why.contains("panicked"), "page {page}: panicked: {why}");
                assert!(
                    why.contains(&file.display().to_string()),
                    "page {page}: the error does not name the file: {why}"
                );
                refused += 1;
            }
            Ok(server) => {
                let mut client = server.client().await;
                let mut heads = Vec::new();
                for i in 0..20 {
                    let events = read_all(&mut client, "t1", &format!("s-{i}")).await;
                    heads.push(events.len());
                }
                drop(client);
                server.stop().await;
                // Streams were written in order s-0..s-19, 5 events each.
                let whole = heads.iter().take_while(|&&n| n == 5).count();
                assert!(
                    heads[whole..].iter().all(|&n| n == 0),
                    "page {page}: not a prefix of the log (a torn batch?): {heads:?}"
                );
                assert!(
                    whole >= 19,
                    "page {page}: lost more than the last commit: {heads:?}"
                );
                if whole == 20 {
                    intact += 1;
                } else {
                    rolled_back += 1;
                }
            }
        }
    }
    eprintln!(
        "{} pages damaged one at a time: {refused} refused with an error, {rolled_back} fell back to the previous commit, {intact} intact",
        bytes.len() / 4096
    );
}

/// Issue 24 weakness 9: the data file at the process's file-size limit
/// (`ulimit -f`) no longer kills the server with SIGXFSZ. The append that
/// hits it gets `RESOURCE_EXHAUSTED` naming the limit, later appends
/// `UNAVAILABLE` with the restart message, and reads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_size_limit_is_resource_exhausted_not_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().expect("UTF-8 temp path");
    // 16 MiB in sh's 512-byte blocks.
    let server = Server::start_with_ulimit("-f 32768", &["--data-dir", data]).await;
    let mut client = server.client().await;
    let payload = vec![b'x'; 512 * 1024];
    let mut head = 0;
    let mut refused = None;
    for _ in 0..200 {
        let mut request = append("t1", "big", head, 1, "big");
        request.events[0].payload = payload.clone();
        match client.append(request).await {
            Ok(_) => head += 1,
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let status = refused.expect("the file-size limit was reached within 100 MiB");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("size limit"), "{status:?}");
    let status = send(&mut client, append("t1", "small", 0, 1, "s"))
        .await
        .expect_err("refused after the failed commit");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("restart"), "{status:?}");
    // Reads go on and show exactly what was acknowledged.
    assert_eq!(read_all(&mut client, "t1", "big").await.len() as u64, head);
    let stderr = server.stop().await;
    assert!(!stderr.contains("panicked"), "{stderr}");
}

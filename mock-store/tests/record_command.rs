//! `eventstore-mock record` as a user runs it, then `eventstore-mock --seed`
//! on what it wrote: the replayed mock process answers ReadAll as the
//! source did; bad input exits 1 (a failed recording) or 2 (usage) with
//! one line naming the cause. Every wait has a timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore_mock::MockEventStore;
use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadAllRequest, event_store_client::EventStoreClient,
};
use std::{process::Stdio, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

const BIN: &str = env!("CARGO_BIN_EXE_eventstore-mock");
const PATIENCE: Duration = Duration::from_secs(20);

async fn run(args: &[&str]) -> (i32, String, String) {
    let output = tokio::time::timeout(
        PATIENCE,
        Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the command exits")
    .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn read_all_request(tenant: &str) -> ReadAllRequest {
    ReadAllRequest {
        tenant_id: tenant.into(),
        from_global_nonce: 1,
        max_count: 1000,
        forward: true,
    }
}

#[tokio::test]
async fn record_then_seed_replays_the_tenant() {
    let source = MockEventStore::builder()
        .verify_on_drop(false)
        .start()
        .await;
    let mut client = source.client();
    for (i, tenant) in ["t1", "noise", "t1"].into_iter().enumerate() {
        client
            .append(AppendRequest {
                tenant_id: tenant.into(),
                aggregate_id: format!("s-{i}"),
                aggregate_type: "S".into(),
                expected_aggregate_nonce: 0,
                idempotency_key: String::new(),
                events: vec![EventData {
                    meta: Some(EventMetadata {
                        event_id: format!("e-{i}"),
                        event_type: "E".into(),
                        aggregate_nonce: 1,
                        ..EventMetadata::default()
                    }),
                    payload: format!("{{\"i\":{i}}}").into_bytes(),
                }],
            })
            .await
            .unwrap();
    }
    let dir = std::env::temp_dir().join(format!("eventstore-record-cmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("t1.json");
    let out_arg = out.to_str().unwrap();
    let from = source.address().to_string();
    let (code, stdout, stderr) = run(&[
        "record", "--from", &from, "--tenant", "t1", "--out", out_arg,
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("recorded 2 events in 2 streams"),
        "{stdout}"
    );

    // `eventstore-mock --seed` serves the recording.
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--seed", out_arg])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    tokio::time::timeout(PATIENCE, stdout.read_line(&mut line))
        .await
        .expect("the readiness line")
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("eventstore-mock listening on ")
        .unwrap()
        .to_owned();
    let mut replay = EventStoreClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let expected = client
        .read_all(read_all_request("t1"))
        .await
        .unwrap()
        .into_inner();
    let got = replay
        .read_all(read_all_request("t1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, expected);
    assert_eq!(
        got.events
            .iter()
            .map(|e| e.meta.as_ref().unwrap().global_nonce)
            .collect::<Vec<_>>(),
        [1, 3],
        "the recorded global nonces, gap included"
    );
    child.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn record_errors_exit_with_one_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (code, _, stderr) = run(&[
        "record",
        "--from",
        &closed,
        "--tenant",
        "t",
        "--out",
        "/tmp/never-written.json",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!("eventstore-mock record: cannot reach {closed}: ")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let (code, _, stderr) = run(&[
        "record", "--from", &closed, "--tenant", "t", "--redact", "a~2", "--out", "x.json",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--redact \"a~2\": not a JSON pointer"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["record", "--from", &closed]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("--tenant"), "{stderr}");
}

/// A store that accepts connections and answers no call in full: silent,
/// it never writes a byte; trickling, it speaks HTTP/2 and sends each
/// call's response headers and the first byte of its body, then nothing
/// (a deadline that only covers the headers never ends that call).
async fn stalling_store(trickle: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            if !trickle {
                held.push(socket);
                continue;
            }
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                let mut bodies = Vec::new();
                while let Some(Ok((_, mut respond))) = connection.accept().await {
                    let headers = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .body(())
                        .unwrap();
                    if let Ok(mut body) = respond.send_response(headers, false) {
                        let _ = body.send_data(bytes::Bytes::from_static(&[0]), false);
                        bodies.push(body);
                    }
                }
            });
        }
    });
    addr
}

/// A store that never answers, or answers a page's headers and never its
/// body: `record` gives up after `--request-timeout`, naming the store,
/// the page and the deadline, and writes nothing (the trickling store held
/// it forever: the deadline was sent as `grpc-timeout`, which the channel
/// enforces only until the response headers).
#[tokio::test]
async fn a_store_that_never_answers_fails_after_the_request_timeout() {
    for trickle in [false, true] {
        let store = stalling_store(trickle).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.json");
        let (code, _, stderr) = run(&[
            "record",
            "--from",
            &store,
            "--tenant",
            "t",
            "--out",
            out.to_str().unwrap(),
            "--request-timeout",
            "1",
        ])
        .await;
        assert_eq!(code, 1, "trickle {trickle}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "eventstore-mock record: {store}: ReadAll from global_nonce 1: no answer within 1 s (--request-timeout): "
            )),
            "trickle {trickle}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "a failed recording writes no file"
        );
    }
}

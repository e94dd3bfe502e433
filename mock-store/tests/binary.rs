//! The standalone `eventstore-mock` binary, run as a harness would run it:
//! the readiness line, `--seed`, `--strict`, health and reflection, and a
//! clean exit on SIGTERM. Every wait has a timeout.

#![allow(clippy::unwrap_used)]

use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadStreamRequest, SubscribeRequest,
    event_store_client::EventStoreClient,
    testing::v1::{JournalRequest, MountRequest, mock_control_client::MockControlClient},
};
use futures::StreamExt;
use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    process::{ExitStatus, Stdio},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, ChildStderr, ChildStdout, Command},
};
use tonic::{Code, transport::Channel};

const BIN: &str = env!("CARGO_BIN_EXE_eventstore-mock");
const READY_PREFIX: &str = "eventstore-mock listening on ";
const PATIENCE: Duration = Duration::from_secs(20);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A running `eventstore-mock`, killed if the test ends without stopping it.
struct Running {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
    stderr: ChildStderr,
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts the binary on a free port and waits for its readiness line.
async fn start(args: &[&str]) -> Running {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut child = command(&all).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let mut line = String::new();
    let read = within("the readiness line", stdout.read_line(&mut line))
        .await
        .unwrap();
    if read == 0 {
        let mut err = String::new();
        let _ = within("stderr", stderr.read_to_string(&mut err)).await;
        panic!("eventstore-mock exited before its readiness line; stderr:\n{err}");
    }
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let addr = line
        .strip_prefix(READY_PREFIX)
        .unwrap_or_else(|| panic!("unexpected readiness line {line:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("readiness line {line:?}: {e}"));
    Running {
        child,
        addr,
        stdout,
        stderr,
    }
}

/// Runs the binary to completion (it is expected to exit by itself).
async fn run_to_exit(args: &[&str]) -> (ExitStatus, String, String) {
    let output = within("the process to exit", command(args).output())
        .await
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

impl Running {
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn channel(&self) -> Channel {
        within(
            "a connection",
            Channel::from_shared(self.endpoint()).unwrap().connect(),
        )
        .await
        .unwrap()
    }

    async fn store(&self) -> EventStoreClient<Channel> {
        EventStoreClient::new(self.channel().await)
    }

    async fn control(&self) -> MockControlClient<Channel> {
        MockControlClient::new(self.channel().await)
    }

    /// Sends SIGTERM and waits for the exit; returns the status, the rest of
    /// stdout and all of stderr.
    async fn terminate(mut self) -> (ExitStatus, String, String) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = within("the exit after SIGTERM", self.child.wait())
            .await
            .unwrap();
        let mut out = String::new();
        let mut err = String::new();
        within("stdout", self.stdout.read_to_string(&mut out))
            .await
            .unwrap();
        within("stderr", self.stderr.read_to_string(&mut err))
            .await
            .unwrap();
        (status, out, err)
    }
}

/// A fixture file in the temp directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "eventstore-mock-{}-{nanos}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn create(aggregate: &str) -> AppendRequest {
    AppendRequest {
        tenant_id: "t1".into(),
        aggregate_id: aggregate.into(),
        aggregate_type: "Order".into(),
        expected_aggregate_nonce: 0,
        idempotency_key: String::new(),
        events: vec![EventData {
            meta: Some(EventMetadata {
                event_id: uuid::Uuid::now_v7().to_string(),
                event_type: "OrderCreated".into(),
                aggregate_nonce: 1,
                ..EventMetadata::default()
            }),
            payload: b"{}".to_vec(),
        }],
    }
}

fn read_req(aggregate: &str) -> ReadStreamRequest {
    ReadStreamRequest {
        tenant_id: "t1".into(),
        aggregate_id: aggregate.into(),
        from_aggregate_nonce: 0,
        max_count: 0,
        forward: true,
    }
}

#[tokio::test]
async fn prints_one_readiness_line_with_the_real_port_and_serves() {
    let mock = start(&[]).await;
    assert_eq!(mock.addr.ip().to_string(), "127.0.0.1");
    assert_ne!(mock.addr.port(), 0, "the real port, not 0");

    let mut store = mock.store().await;
    let appended = within("Append", store.append(create("order-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (appended.last_aggregate_nonce, appended.last_global_nonce),
        (1, 1)
    );
    // The control API is on the same port.
    let calls = within(
        "Journal",
        mock.control().await.journal(JournalRequest::default()),
    )
    .await
    .unwrap()
    .into_inner()
    .calls;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].rpc, "append");

    let (status, rest, _) = mock.terminate().await;
    assert_eq!(status.code(), Some(0));
    assert!(rest.is_empty(), "exactly one line on stdout, then {rest:?}");
}

#[tokio::test]
async fn serves_health_and_reflection() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let mock = start(&[]).await;
    let mut health = HealthClient::new(mock.channel().await);
    for service in [
        "",
        "eventstore.v1.EventStore",
        "eventstore.testing.v1.MockControl",
    ] {
        let response = within(
            "Health.Check",
            health.check(HealthCheckRequest {
                service: service.into(),
            }),
        )
        .await
        .unwrap()
        .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }

    let mut reflection = ServerReflectionClient::new(mock.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = within(
        "ServerReflectionInfo",
        reflection.server_reflection_info(futures::stream::iter([request])),
    )
    .await
    .unwrap()
    .into_inner();
    let response = within("a reflection response", responses.next())
        .await
        .unwrap()
        .unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "eventstore.v1.EventStore",
        "eventstore.testing.v1.MockControl",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    drop(responses);
    assert_eq!(mock.terminate().await.0.code(), Some(0));
}

#[tokio::test]
async fn seed_preloads_a_good_file() {
    let file = TempFile::new(
        "good.json",
        r#"{"streams": [
  {"tenant_id": "t1", "aggregate_id": "order-1", "aggregate_type": "Order",
   "events": [
     {"event_type": "com.myco.order.OrderCreated", "event_version": 1, "payload": {"amount": 10}},
     {"event_type": "com.myco.order.OrderShipped", "payload": {"$base64": "AAEC"},
      "event_id": "shipped-1", "correlation_id": "c-1", "headers": {"k": "v"}}
   ]},
  {"tenant_id": "t2", "aggregate_id": "cart-1", "aggregate_type": "Cart",
   "events": [{"event_type": "CartOpened"}]}
]}
"#,
    );
    let mock = start(&["--seed", file.arg()]).await;
    let mut store = mock.store().await;
    let events = within("ReadStream", store.read_stream(read_req("order-1")))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 2);
    let metas: Vec<&EventMetadata> = events.iter().map(|e| e.meta.as_ref().unwrap()).collect();
    assert_eq!(
        metas
            .iter()
            .map(|m| (m.aggregate_nonce, m.global_nonce))
            .collect::<Vec<_>>(),
        [(1, 1), (2, 2)]
    );
    assert_eq!(metas[0].event_type, "com.myco.order.OrderCreated");
    assert_eq!(metas[0].content_type, "application/json");
    assert_eq!(events[0].payload, br#"{"amount":10}"#);
    assert!(uuid::Uuid::parse_str(&metas[0].event_id).is_ok());
    assert_eq!(metas[1].event_id, "shipped-1");
    assert_eq!(metas[1].correlation_id, "c-1");
    assert_eq!(metas[1].headers.get("k").map(String::as_str), Some("v"));
    assert_eq!(events[1].payload, [0, 1, 2]);

    let mut other = read_req("cart-1");
    other.tenant_id = "t2".into();
    let cart = within("ReadStream", store.read_stream(other))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(cart.len(), 1);
    assert_eq!(cart[0].meta.as_ref().unwrap().global_nonce, 3);

    // The seed is data, not calls: the journal holds only the read above.
    let calls = within(
        "Journal",
        mock.control().await.journal(JournalRequest::default()),
    )
    .await
    .unwrap()
    .into_inner()
    .calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(mock.terminate().await.0.code(), Some(0));
}

#[tokio::test]
async fn seed_with_a_malformed_file_exits_with_the_line_and_field() {
    let file = TempFile::new(
        "bad.json",
        r#"{"streams": [
  {"tenant_id": "t1", "aggregate_id": "order-1", "aggregate_type": "Order",
   "events": [
     {"event_type": "A"},
     {"event_version": 1,
      "payload": {}
     }
   ]}
]}
"#,
    );
    let (status, stdout, stderr) =
        run_to_exit(&["--listen", "127.0.0.1:0", "--seed", file.arg()]).await;
    assert_ne!(status.code(), Some(0), "stderr: {stderr}");
    assert!(status.code().is_some(), "exited, not killed: {status:?}");
    assert!(stdout.is_empty(), "no readiness line: {stdout:?}");
    let expected = format!(
        "{} line 7: streams[0].events[1].event_type: missing field",
        file.arg()
    );
    assert!(stderr.contains(&expected), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

#[tokio::test]
async fn seed_errors_of_each_kind_exit_non_zero() {
    let cases = [
        (
            "{\"streams\": [\n {\"tenant_id\": \"\", \"aggregate_id\": \"a\", \"aggregate_type\": \"A\",\n  \"events\": [{\"event_type\": \"E\"}]}]}",
            "line 2: streams[0].tenant_id: must not be empty",
        ),
        (
            "{\"streams\": [\n {\"tenant_id\": \"t\", \"aggregate_id\": \"a\", \"aggregate_type\": \"A\",\n  \"events\": [{\"event_type\": \"E\",\n   \"evnt_id\": \"x\"}]}]}",
            "line 4: streams[0].events[0].evnt_id: unknown field",
        ),
        (
            "{\"streams\": [\n  {,}]}",
            "line 2: streams[0]: not valid JSON",
        ),
        (
            // Parses, but the store refuses it: the same event id twice.
            "{\"streams\": [{\"tenant_id\": \"t\", \"aggregate_id\": \"a\", \"aggregate_type\": \"A\",\n  \"events\": [{\"event_type\": \"E\", \"event_id\": \"dup\"}, {\"event_type\": \"E\", \"event_id\": \"dup\"}]}]}",
            "streams[0] (t/a): ALREADY_EXISTS",
        ),
    ];
    for (text, expected) in cases {
        let file = TempFile::new("case.json", text);
        let (status, stdout, stderr) =
            run_to_exit(&["--listen", "127.0.0.1:0", "--seed", file.arg()]).await;
        assert_eq!(status.code(), Some(1), "{expected}: {stderr}");
        assert!(
            stdout.is_empty(),
            "{expected}: no readiness line: {stdout:?}"
        );
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }

    let (status, _, stderr) = run_to_exit(&[
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "/nonexistent/eventstore-mock-fixtures.json",
    ])
    .await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("/nonexistent/eventstore-mock-fixtures.json: cannot read"),
        "{stderr}"
    );
}

#[tokio::test]
async fn strict_fails_unmatched_calls() {
    let mock = start(&["--strict"]).await;
    let mut store = mock.store().await;
    let err = within("Append", store.append(create("order-1")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("strict mock"), "{}", err.message());

    within(
        "Mount",
        mock.control().await.mount(MountRequest {
            expectation_json: r#"{"rpc": "append"}"#.into(),
        }),
    )
    .await
    .unwrap();
    within("Append", store.append(create("order-1")))
        .await
        .unwrap();
    assert_eq!(mock.terminate().await.0.code(), Some(0));
}

#[tokio::test]
async fn limits_flags_reach_the_engine() {
    let mock = start(&["--max-events-per-batch", "1", "--max-id-length", "8"]).await;
    let mut store = mock.store().await;
    let mut two = create("order-1");
    let mut second = two.events[0].clone();
    if let Some(m) = second.meta.as_mut() {
        m.event_id = uuid::Uuid::now_v7().to_string();
        m.aggregate_nonce = 2;
    }
    two.events.push(second);
    let err = within("Append", store.append(two)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    let err = within("Append", store.append(create("a-very-long-aggregate-id")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert_eq!(mock.terminate().await.0.code(), Some(0));

    let (status, stdout, stderr) =
        run_to_exit(&["--listen", "127.0.0.1:0", "--max-page-size", "0"]).await;
    assert_eq!(status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(stderr.contains("invalid limits"), "{stderr}");
}

#[tokio::test]
async fn sigterm_exits_zero_even_with_an_open_subscription() {
    let mock = start(&[]).await;
    let mut store = mock.store().await;
    let mut subscription = within(
        "Subscribe",
        store.subscribe(SubscribeRequest {
            tenant_id: "t1".into(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: 0,
        }),
    )
    .await
    .unwrap()
    .into_inner();
    let (status, rest, _) = mock.terminate().await;
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(rest.is_empty());
    // The subscription ends rather than hang (after the caught-up marker
    // of its empty history, if that made it out before the end).
    let mut end = within("the subscription's end", subscription.next()).await;
    if matches!(&end, Some(Ok(r)) if r.event.is_none()) {
        end = within("the subscription's end", subscription.next()).await;
    }
    assert!(!matches!(end, Some(Ok(_))), "{end:?}");
}

#[tokio::test]
async fn verify_on_exit_fails_on_unmet_expectations() {
    let mock = start(&["--verify-on-exit"]).await;
    within(
        "Mount",
        mock.control().await.mount(MountRequest {
            expectation_json: r#"{"rpc": "append", "times": 1, "name": "never sent"}"#.into(),
        }),
    )
    .await
    .unwrap();
    let (status, _, stderr) = mock.terminate().await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("MockEventStore verification failed"),
        "{stderr}"
    );
    assert!(stderr.contains("\"never sent\""), "{stderr}");
}

#[tokio::test]
async fn a_busy_port_is_an_error() {
    let first = start(&[]).await;
    let addr = first.addr.to_string();
    let (status, stdout, stderr) = run_to_exit(&["--listen", &addr]).await;
    assert_eq!(status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(first.terminate().await.0.code(), Some(0));
}

#[tokio::test]
async fn help_documents_every_flag_and_the_control_api() {
    let (status, stdout, _) = run_to_exit(&["--help"]).await;
    assert_eq!(status.code(), Some(0));
    for flag in [
        "--listen",
        "--seed",
        "--strict",
        "--verify-on-exit",
        "--max-request-bytes",
        "--max-events-per-batch",
        "--max-id-length",
        "--default-page-size",
        "--max-page-size",
        "--max-response-bytes",
        "eventstore.testing.v1.MockControl",
        "eventstore-mock listening on",
        "SIGTERM",
    ] {
        assert!(
            stdout.contains(flag),
            "--help should mention {flag}:\n{stdout}"
        );
    }
}

/// "Ready" includes "stops gracefully": SIGTERM sent the moment the
/// readiness line is read must end the mock with exit 0, never with the
/// signal's default action (the same check as the server's
/// `sigterm_right_after_the_readiness_line_exits_0`). A shell sends it with
/// its builtin `kill` right after `read`, fast enough to hit a handler
/// installed after the line.
#[tokio::test]
async fn sigterm_right_after_the_readiness_line_exits_0() {
    const SCRIPT: &str = r#"
bin=$1; shift
fifo=$(mktemp -u) && mkfifo "$fifo" || exit 90
failed=0; i=0
while [ $i -lt 40 ]; do
  "$bin" --listen 127.0.0.1:0 "$@" >"$fifo" 2>/dev/null &
  pid=$!
  exec 3<"$fifo"
  read -r line <&3 || { echo "start $i: no readiness line"; exit 91; }
  kill -TERM "$pid"
  wait "$pid"; rc=$?
  exec 3<&-
  if [ "$rc" -ne 0 ]; then failed=$((failed+1)); echo "start $i: exit status $rc"; fi
  i=$((i+1))
done
rm -f "$fifo"
echo "$failed of 40 starts did not exit 0"
[ "$failed" -eq 0 ]
"#;
    let mut shell = Command::new("sh");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("EVENTSTORE_") {
            shell.env_remove(name);
        }
    }
    shell.args(["-c", SCRIPT, "sh", BIN]).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), shell.output())
        .await
        .expect("40 starts and stops within 120 s")
        .expect("run sh");
    assert!(
        output.status.success(),
        "SIGTERM right after the readiness line:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Issue 14 item 10: `--username/--password` (or `EVENTSTORE_MOCK_*`)
/// cover the control API and reflection as well as the store; health stays
/// open.
#[tokio::test]
async fn credentials_flags_cover_the_control_api_and_reflection() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest,
    };
    let mock = start(&["--username", "tester", "--password", "pa55"]).await;
    let status = within(
        "Journal",
        mock.control().await.journal(JournalRequest::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = within("Append", mock.store().await.append(create("order-1")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut reflection = ServerReflectionClient::new(mock.channel().await);
    let refused = match within(
        "reflection",
        reflection.server_reflection_info(futures::stream::iter([request])),
    )
    .await
    {
        Err(status) => status,
        Ok(response) => within("reflection answer", response.into_inner().message())
            .await
            .unwrap_err(),
    };
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let health = within(
        "health",
        tonic_health::pb::health_client::HealthClient::new(mock.channel().await).check(
            tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            },
        ),
    )
    .await;
    assert!(health.is_ok(), "health needs no credentials: {health:?}");

    // With the credentials the control API answers.
    let token = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "tester:pa55");
    let mut request = tonic::Request::new(JournalRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Basic {token}").parse().unwrap());
    within("Journal", mock.control().await.journal(request))
        .await
        .unwrap();
    assert_eq!(mock.terminate().await.0.code(), Some(0));
}

/// `--backend postgres` answers GetServerInfo as the reference's Postgres
/// backend; a name outside the reference's set is refused at start, naming
/// it and the allowed ones. `--token` (or `EVENTSTORE_MOCK_TOKEN`) requires
/// `authorization: Bearer`.
#[tokio::test]
async fn backend_and_token_flags() {
    let mock = start(&["--backend", "postgres", "--token", "t0k.en"]).await;
    let status = within(
        "GetServerInfo",
        mock.store()
            .await
            .get_server_info(eventstore_proto::GetServerInfoRequest {}),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let mut request = tonic::Request::new(eventstore_proto::GetServerInfoRequest {});
    request
        .metadata_mut()
        .insert("authorization", "Bearer t0k.en".parse().unwrap());
    let info = within("GetServerInfo", mock.store().await.get_server_info(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.backend, "postgres");
    assert!(info.server_version.starts_with("0.17.0+eventstore-sdk."));
    assert_eq!(mock.terminate().await.0.code(), Some(0));

    let (status, stdout, stderr) =
        run_to_exit(&["--listen", "127.0.0.1:0", "--backend", "mock"]).await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(
            r#"backend "mock" is not one of the reference's: "memory", "postgres", "unknown""#
        ),
        "{stderr}"
    );
    let (status, _, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", "--token", "se cret"]).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bearer token"), "{stderr}");
    assert!(!stderr.contains("se cret"), "{stderr}");
}

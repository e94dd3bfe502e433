//! The `eventstore-server` binary as an operator and a harness see it: its
//! command line, readiness line, errors, health and reflection services,
//! limits, and graceful shutdown on SIGTERM and SIGINT.
//!
//! Every wait is bounded, so a broken server fails a test instead of
//! hanging it; `kill_on_drop` reaps a server left running by a failed test.

use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadAllRequest, ReadStreamRequest, SubscribeRequest,
    event_store_client::EventStoreClient,
};
use std::{
    net::SocketAddr,
    process::ExitStatus,
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines},
    process::{Child, ChildStdout},
    task::JoinHandle,
};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

mod support;

use support::{RPC, STARTUP, command, run};
/// How soon after SIGTERM/SIGINT the process must have exited ("~2 s").
const SHUTDOWN: Duration = Duration::from_millis(2_500);

const FLAGS: [(&str, &str); 8] = [
    ("--listen", "EVENTSTORE_LISTEN"),
    ("--max-request-bytes", "EVENTSTORE_MAX_REQUEST_BYTES"),
    ("--max-events-per-batch", "EVENTSTORE_MAX_EVENTS_PER_BATCH"),
    ("--max-id-length", "EVENTSTORE_MAX_ID_LENGTH"),
    ("--default-page-size", "EVENTSTORE_DEFAULT_PAGE_SIZE"),
    ("--max-page-size", "EVENTSTORE_MAX_PAGE_SIZE"),
    ("--max-response-bytes", "EVENTSTORE_MAX_RESPONSE_BYTES"),
    ("--shutdown-grace-secs", "EVENTSTORE_SHUTDOWN_GRACE_SECS"),
];

/// A running server that printed its readiness line.
struct Server {
    child: Child,
    addr: SocketAddr,
    readiness_line: String,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: JoinHandle<String>,
}

impl Server {
    /// Starts the binary with `args` and `envs` and waits for its readiness line.
    async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = command(args, envs)
            .spawn()
            .expect("spawn eventstore-server");
        let mut stderr = child.stderr.take().expect("piped stderr");
        // Drained in the background, so the server never blocks on a full pipe.
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let line = match tokio::time::timeout(STARTUP, stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => {
                let _ = child.start_kill();
                let stderr = stderr.await.unwrap_or_default();
                panic!(
                    "no readiness line from eventstore-server {args:?}: {other:?}; stderr:\n{stderr}"
                );
            }
        };
        let addr = line
            .split("listening on ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected readiness line {line:?}"))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("readiness line {line:?} has no socket address: {e}"));
        Self {
            child,
            addr,
            readiness_line: line,
            stdout,
            stderr,
        }
    }

    /// Starts the binary on a free loopback port.
    async fn start_local(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::start(&all, envs).await
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn channel(&self) -> Channel {
        tokio::time::timeout(
            RPC,
            Channel::from_shared(self.url()).expect("url").connect(),
        )
        .await
        .expect("connect within RPC timeout")
        .expect("connect to eventstore-server")
    }

    async fn client(&self) -> EventStoreClient<Channel> {
        EventStoreClient::new(self.channel().await)
    }

    /// Sends `signal` ("TERM", "INT") with the `kill` command.
    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("server still running");
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed: {status}");
    }

    /// Waits (at most `limit`) for the process to exit; returns its status,
    /// the rest of its stdout and all of its stderr.
    async fn exit(mut self, limit: Duration) -> (ExitStatus, Vec<String>, String) {
        let started = Instant::now();
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("wait for eventstore-server"),
            Err(_) => {
                let _ = self.child.start_kill();
                let stderr = tokio::time::timeout(RPC, self.stderr)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                panic!("eventstore-server still running {limit:?} later; stderr:\n{stderr}");
            }
        };
        let mut rest = Vec::new();
        while let Ok(Ok(Some(line))) = tokio::time::timeout(RPC, self.stdout.next_line()).await {
            rest.push(line);
        }
        let stderr = tokio::time::timeout(RPC, self.stderr)
            .await
            .expect("stderr closes after exit")
            .expect("stderr reader");
        assert!(
            !stderr.contains("panicked"),
            "eventstore-server panicked:\n{stderr}"
        );
        eprintln!(
            "eventstore-server exited {status} after {:?}",
            started.elapsed()
        );
        (status, rest, stderr)
    }
}

fn event(id: &str, nonce: u64, payload: Vec<u8>) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: id.into(),
            aggregate_nonce: nonce,
            event_type: "test.Event".into(),
            ..EventMetadata::default()
        }),
        payload,
    }
}

/// An append of `count` events with fresh ids `<prefix>-<n>` after `expected`.
fn append(aggregate_id: &str, expected: u64, count: u64, prefix: &str) -> AppendRequest {
    AppendRequest {
        tenant_id: "t1".into(),
        aggregate_id: aggregate_id.into(),
        aggregate_type: "Test".into(),
        expected_aggregate_nonce: expected,
        idempotency_key: String::new(),
        events: (expected + 1..=expected + count)
            .map(|n| event(&format!("{prefix}-{aggregate_id}-{n}"), n, b"{}".to_vec()))
            .collect(),
    }
}

fn read(aggregate_id: &str, max_count: u32) -> ReadStreamRequest {
    ReadStreamRequest {
        tenant_id: "t1".into(),
        aggregate_id: aggregate_id.into(),
        from_aggregate_nonce: 0,
        max_count,
        forward: true,
    }
}

async fn bounded<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(RPC, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {RPC:?}"))
}

#[tokio::test]
async fn help_documents_every_flag_and_exits_0() {
    let output = run(&["--help"], &[]).await;
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "--help exited {}", output.status);
    for (flag, env) in FLAGS {
        assert!(
            help.contains(flag),
            "--help does not document {flag}:\n{help}"
        );
        assert!(help.contains(env), "--help does not name {env}:\n{help}");
    }
    for topic in ["SIGTERM", "SIGINT", "UNAVAILABLE", "listening on"] {
        assert!(
            help.contains(topic),
            "--help does not mention {topic}:\n{help}"
        );
    }

    let output = run(&["--version"], &[]).await;
    assert!(
        output.status.success(),
        "--version exited {}",
        output.status
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn port_0_prints_one_readiness_line_with_the_real_port() {
    let server = Server::start(&["--listen", "127.0.0.1:0"], &[]).await;
    assert!(
        server
            .readiness_line
            .contains(&format!("listening on 127.0.0.1:{}", server.addr.port())),
        "{:?}",
        server.readiness_line
    );
    assert_ne!(server.addr.port(), 0, "{:?}", server.readiness_line);
    assert_eq!(
        server.addr.ip().to_string(),
        "127.0.0.1",
        "{:?}",
        server.readiness_line
    );
    // Ready means accepting: a connection succeeds at once.
    bounded("TCP connect", tokio::net::TcpStream::connect(server.addr))
        .await
        .expect("the announced port accepts connections");
    server.signal("TERM");
    let (status, rest, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        rest.is_empty(),
        "stdout has more than the readiness line: {rest:?}"
    );
}

#[tokio::test]
async fn env_listen_is_honoured() {
    let server = Server::start(&[], &[("EVENTSTORE_LISTEN", "127.0.0.1:0")]).await;
    assert_ne!(server.addr.port(), 0);
    assert_ne!(server.addr.port(), 50051, "EVENTSTORE_LISTEN was ignored");
    server.signal("TERM");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A run that must fail: its flags, its environment, and what stderr must name.
struct BadRun {
    args: &'static [&'static str],
    envs: &'static [(&'static str, &'static str)],
    mentions: &'static [&'static str],
}

#[tokio::test]
async fn bad_values_fail_cleanly_naming_the_flag_and_value() {
    const LOCAL: &str = "127.0.0.1:0";
    let cases = [
        BadRun {
            args: &["--listen", "nonsense"],
            envs: &[],
            mentions: &["--listen", "nonsense"],
        },
        BadRun {
            args: &["--listen", LOCAL, "--max-page-size", "0"],
            envs: &[],
            mentions: &["max_page_size", "0"],
        },
        BadRun {
            args: &[
                "--listen",
                LOCAL,
                "--default-page-size",
                "50",
                "--max-page-size",
                "10",
            ],
            envs: &[],
            mentions: &["default_page_size", "50", "max_page_size", "10"],
        },
        BadRun {
            args: &["--listen", LOCAL, "--max-request-bytes", "0"],
            envs: &[],
            mentions: &["max_request_bytes", "0"],
        },
        BadRun {
            args: &["--listen", LOCAL, "--max-events-per-batch", "many"],
            envs: &[],
            mentions: &["--max-events-per-batch", "many"],
        },
        BadRun {
            args: &["--listen", LOCAL, "--shutdown-grace-secs", "soon"],
            envs: &[],
            mentions: &["--shutdown-grace-secs", "soon"],
        },
        BadRun {
            args: &["--listen", LOCAL, "--no-such-flag"],
            envs: &[],
            mentions: &["--no-such-flag"],
        },
        BadRun {
            args: &["--listen", LOCAL],
            envs: &[("EVENTSTORE_MAX_PAGE_SIZE", "0")],
            mentions: &["max_page_size", "0"],
        },
        BadRun {
            args: &["--listen", LOCAL],
            envs: &[("EVENTSTORE_MAX_ID_LENGTH", "-3")],
            mentions: &["max-id-length", "-3"],
        },
    ];
    for BadRun {
        args,
        envs,
        mentions,
    } in cases
    {
        let output = run(args, envs).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let context = format!("{args:?} {envs:?}: {}\nstderr:\n{stderr}", output.status);
        assert!(
            output.status.code().is_some_and(|c| c != 0),
            "must exit non-zero: {context}"
        );
        assert!(!stderr.contains("panicked"), "panicked: {context}");
        assert!(
            !stdout.contains("listening on"),
            "printed the readiness line: {context}"
        );
        for mention in mentions {
            assert!(
                stderr.contains(mention),
                "stderr lacks {mention:?}: {context}"
            );
        }
    }
}

#[tokio::test]
async fn port_in_use_fails_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("local addr").to_string();
    let output = run(&["--listen", &addr], &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code().is_some_and(|c| c != 0),
        "{}: {stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&addr),
        "stderr does not name {addr}: {stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("in use"),
        "stderr does not say the address is in use: {stderr}"
    );
    assert!(output.stdout.is_empty(), "printed a readiness line");
    drop(taken);
}

#[tokio::test]
async fn health_reports_serving() {
    let server = Server::start_local(&[], &[]).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", eventstore_proto::SERVICE_NAME] {
        let response = bounded(
            "health check",
            health.check(HealthCheckRequest {
                service: service.into(),
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("health check of {service:?}: {e:?}"))
        .into_inner();
        assert_eq!(
            response.status(),
            ServingStatus::Serving,
            "health of {service:?}"
        );
    }
    let unknown = bounded(
        "health check",
        health.check(HealthCheckRequest {
            service: "no.such.Service".into(),
        }),
    )
    .await
    .expect_err("an unknown service has no health");
    assert_eq!(unknown.code(), Code::NotFound);
    server.signal("TERM");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test]
async fn reflection_lists_and_describes_the_services() {
    let server = Server::start_local(&[], &[]).await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol(eventstore_proto::SERVICE_NAME.into()),
    ]
    .map(|request| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    });
    let mut responses = bounded(
        "reflection",
        reflection.server_reflection_info(tokio_stream::iter(requests)),
    )
    .await
    .expect("reflection call")
    .into_inner();

    let listed = bounded("list services", responses.message())
        .await
        .expect("list services")
        .expect("a response");
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("unexpected response to ListServices: {listed:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in [eventstore_proto::SERVICE_NAME, "grpc.health.v1.Health"] {
        assert!(names.contains(&service), "{service} not listed: {names:?}");
    }

    let described = bounded("file containing symbol", responses.message())
        .await
        .expect("file containing symbol")
        .expect("a response");
    let Some(MessageResponse::FileDescriptorResponse(files)) = described.message_response else {
        panic!("unexpected response to FileContainingSymbol: {described:?}");
    };
    let mentions_contract = files
        .file_descriptor_proto
        .iter()
        .any(|file| String::from_utf8_lossy(file).contains("eventstore/v1/eventstore.proto"));
    assert!(
        mentions_contract,
        "no eventstore.v1 file descriptor returned"
    );
    drop(responses);
    server.signal("TERM");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");
}

/// An acknowledged append, an open subscription that has delivered it, then
/// `signal`: the subscription ends with UNAVAILABLE and the process exits 0
/// promptly.
async fn signal_ends_subscription_and_exits_0(signal: &str) {
    let server = Server::start_local(&[], &[]).await;
    let mut client = server.client().await;
    let acknowledged = bounded("append", client.append(append("order-1", 0, 2, signal)))
        .await
        .expect("append before the signal")
        .into_inner();
    assert_eq!(acknowledged.last_aggregate_nonce, 2);
    assert_eq!(acknowledged.last_global_nonce, 2);

    let mut subscription = bounded(
        "subscribe",
        client.subscribe(SubscribeRequest {
            tenant_id: "t1".into(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: 0,
        }),
    )
    .await
    .expect("subscribe")
    .into_inner();
    for global in 1..=2 {
        let delivered = bounded("history", subscription.message())
            .await
            .expect("history event")
            .and_then(|r| r.event)
            .and_then(|e| e.meta)
            .expect("an event");
        assert_eq!(delivered.global_nonce, global);
    }
    let marker = bounded("caught-up marker", subscription.message())
        .await
        .expect("the caught-up marker")
        .expect("the subscription stays open");
    assert_eq!(marker.event, None, "the caught-up marker has no event");

    let signalled = Instant::now();
    server.signal(signal);
    let end = tokio::time::timeout(SHUTDOWN, subscription.message())
        .await
        .unwrap_or_else(|_| panic!("the subscription stayed open {SHUTDOWN:?} after SIG{signal}"));
    match end {
        Err(status) => {
            assert_eq!(
                status.code(),
                Code::Unavailable,
                "the subscription ended with {status:?}"
            );
            assert!(
                status.message().contains("resume from global_nonce 3"),
                "{status:?}"
            );
        }
        Ok(other) => panic!("the subscription did not end with UNAVAILABLE: {other:?}"),
    }
    let (status, _, _) = server
        .exit(SHUTDOWN.saturating_sub(signalled.elapsed()))
        .await;
    assert_eq!(status.code(), Some(0), "exit after SIG{signal}: {status}");
}

#[tokio::test]
async fn sigterm_ends_an_open_subscription_and_exits_0() {
    signal_ends_subscription_and_exits_0("TERM").await;
}

#[tokio::test]
async fn sigint_ends_an_open_subscription_and_exits_0() {
    signal_ends_subscription_and_exits_0("INT").await;
}

/// "Ready" includes "stops gracefully": SIGTERM sent the moment the
/// readiness line is read must end the process with exit 0, never with the
/// signal's default action. A shell sends it with its builtin `kill` right
/// after `read`: spawning a `kill` process, as [`Server::signal`] does, is
/// slow enough to hide the race. With the handler installed after the line,
/// half of the in-memory and most of the durable starts died by signal 15.
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
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    for (kind, args) in [
        ("in-memory", vec![]),
        ("durable", vec!["--data-dir", data_dir]),
    ] {
        let mut shell = tokio::process::Command::new("sh");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("EVENTSTORE_") {
                shell.env_remove(name);
            }
        }
        shell
            .args(["-c", SCRIPT, "sh", support::BIN])
            .args(&args)
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), shell.output())
            .await
            .expect("40 starts and stops within 120 s")
            .expect("run sh");
        assert!(
            output.status.success(),
            "{kind}: SIGTERM right after the readiness line:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Appends in flight while SIGTERM arrives: each is either acknowledged or
/// refused with UNAVAILABLE (never a half-answer), and the acknowledged ones
/// form a gap-free prefix of the log.
#[tokio::test]
async fn appends_racing_sigterm_are_acknowledged_or_refused() {
    let server = Server::start_local(&[], &[]).await;
    let client = server.client().await;
    let writer = tokio::spawn(async move {
        let mut client = client;
        let mut results = Vec::new();
        // Until the server refuses: bounded by the timeout on the writer.
        for n in 0.. {
            let result = tokio::time::timeout(RPC, client.append(append("racing", n, 1, "race")))
                .await
                .expect("append did not hang");
            let stop = result.is_err();
            results.push(result.map(tonic::Response::into_inner));
            if stop {
                break;
            }
        }
        results
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal("TERM");
    let results = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("the writer finished")
        .expect("the writer did not panic");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");

    let acknowledged: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(
        !acknowledged.is_empty(),
        "no append was acknowledged in 200 ms"
    );
    for (i, response) in acknowledged.iter().enumerate() {
        assert_eq!(response.last_aggregate_nonce, i as u64 + 1);
        assert_eq!(response.last_global_nonce, i as u64 + 1);
    }
    let last = results.last().expect("at least one append");
    match last {
        Err(status) => assert_eq!(
            status.code(),
            Code::Unavailable,
            "an append racing shutdown failed with {status:?}"
        ),
        Ok(_) => unreachable!("the writer stops at the first error"),
    }
}

#[tokio::test]
async fn env_max_events_per_batch_is_honoured() {
    let server = Server::start_local(&[], &[("EVENTSTORE_MAX_EVENTS_PER_BATCH", "2")]).await;
    let mut client = server.client().await;
    let refused = bounded("append 3", client.append(append("order-1", 0, 3, "env")))
        .await
        .expect_err("3 events over a limit of 2");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("max_events_per_batch"),
        "{refused:?}"
    );
    let accepted = bounded("append 2", client.append(append("order-1", 0, 2, "env")))
        .await
        .expect("2 events within the limit")
        .into_inner();
    assert_eq!(accepted.last_aggregate_nonce, 2);
    server.signal("TERM");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");

    // The flag wins over the environment.
    let server = Server::start_local(
        &["--max-events-per-batch", "3"],
        &[("EVENTSTORE_MAX_EVENTS_PER_BATCH", "2")],
    )
    .await;
    let mut client = server.client().await;
    bounded("append 3", client.append(append("order-1", 0, 3, "flag")))
        .await
        .expect("the flag's limit of 3 applies");
    server.signal("TERM");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test]
async fn limit_flags_are_honoured_over_grpc() {
    let server = Server::start_local(
        &[
            "--default-page-size",
            "1",
            "--max-page-size",
            "2",
            "--max-id-length",
            "24",
        ],
        &[],
    )
    .await;
    let mut client = server.client().await;
    bounded("append", client.append(append("order-1", 0, 3, "lim")))
        .await
        .expect("append 3 small events");
    // The page size flags bound ReadAll; ReadStream has no count limit.
    let read_all = |max_count| ReadAllRequest {
        tenant_id: "t1".into(),
        from_global_nonce: 0,
        max_count,
        forward: true,
    };
    let default_page = bounded("read_all", client.read_all(read_all(0)))
        .await
        .expect("read_all")
        .into_inner();
    assert_eq!(default_page.events.len(), 1, "default page size");
    assert!(!default_page.is_end);
    let capped = bounded("read_all", client.read_all(read_all(50)))
        .await
        .expect("read_all")
        .into_inner();
    assert_eq!(capped.events.len(), 2, "max page size");
    let whole = bounded("read", client.read_stream(read("order-1", 0)))
        .await
        .expect("read")
        .into_inner();
    assert_eq!(
        whole.events.len(),
        3,
        "ReadStream max_count 0 reads to the end"
    );
    assert!(whole.is_end);

    let refused = bounded(
        "long id",
        client.append(append("an-aggregate-id-well-over-24-bytes", 0, 1, "x")),
    )
    .await
    .expect_err("an id over max-id-length");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("max_id_length"), "{refused:?}");

    server.signal("TERM");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");
}

/// Issue 14 item 7: the header and content limits are flags and env vars
/// of the shared assembly; a refusal names the field, the event, the size
/// and the limit.
#[tokio::test]
async fn header_and_content_limit_flags_are_honoured_over_grpc() {
    let server = Server::start_local(
        &["--max-headers-per-event", "1"],
        &[("EVENTSTORE_MAX_CONTENT_TYPE_BYTES", "8")],
    )
    .await;
    let mut client = server.client().await;
    let mut two_headers = append("order-1", 0, 1, "hdr");
    if let Some(meta) = two_headers.events[0].meta.as_mut() {
        meta.headers.insert("a".into(), "1".into());
        meta.headers.insert("b".into(), "2".into());
    }
    let refused = bounded("two headers", client.append(two_headers))
        .await
        .expect_err("over --max-headers-per-event");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    for part in [
        "events[0].meta.headers",
        "2 entries",
        "max_headers_per_event = 1",
    ] {
        assert!(refused.message().contains(part), "{refused:?}");
    }
    let mut long_type = append("order-1", 0, 1, "ct");
    if let Some(meta) = long_type.events[0].meta.as_mut() {
        meta.content_type = "application/json".into();
    }
    let refused = bounded("content type", client.append(long_type))
        .await
        .expect_err("over EVENTSTORE_MAX_CONTENT_TYPE_BYTES");
    assert!(
        refused.message().contains("max_content_type_bytes = 8"),
        "{refused:?}"
    );
    server.signal("TERM");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");
}

/// `--max-request-bytes` answers RESOURCE_EXHAUSTED naming the limit, as
/// documented (in `--help`, `Limits` and the spec), over the wire too: tonic
/// alone would answer OUT_OF_RANGE ("decoded message length too large"),
/// because its decode limit trips before the engine's own check can run.
#[tokio::test]
async fn request_over_max_request_bytes_is_resource_exhausted() {
    let server = Server::start_local(&["--max-request-bytes", "2048"], &[]).await;
    let mut client = server.client().await;
    let mut small = append("order-1", 0, 1, "req");
    small.events[0].payload = vec![b'x'; 1024];
    bounded("small append", client.append(small))
        .await
        .expect("a request under max-request-bytes");
    let mut big = append("order-2", 0, 1, "req");
    big.events[0].payload = vec![b'x'; 4096];
    let refused = bounded("big append", client.append(big))
        .await
        .expect_err("a request over max-request-bytes");
    server.signal("TERM");
    let (status, _, _) = server.exit(SHUTDOWN).await;
    assert_eq!(status.code(), Some(0), "{status}");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("max_request_bytes"),
        "{refused:?}"
    );
}

//! What the durability, crash and security tests share: the binary with a
//! clean environment, a running server (its address, SIGTERM / SIGKILL, its
//! stderr), and request builders. Every wait is bounded.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadStreamRequest, SubscribeRequest,
    event_store_client::EventStoreClient,
};
use std::{
    net::SocketAddr,
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, Command},
    task::JoinHandle,
};
use tonic::transport::Channel;

pub const BIN: &str = env!("CARGO_BIN_EXE_eventstore-server");
/// Longest wait for the readiness line (or for a failing run to exit).
pub const STARTUP: Duration = Duration::from_secs(20);
/// Longest wait for one RPC.
pub const RPC: Duration = Duration::from_secs(10);

/// The binary with a clean environment: no `EVENTSTORE_*` variable leaks in
/// from the caller's.
pub fn command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("EVENTSTORE_") {
            command.env_remove(name);
        }
    }
    command
        .env("RUST_LOG", "info")
        .envs(envs.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The binary under `sh -c 'ulimit -n LIMIT; exec ...'`: the same process
/// (same pid) with at most `fd_limit` open files.
pub fn command_with_fd_limit(fd_limit: u32, args: &[&str], envs: &[(&str, &str)]) -> Command {
    command_with_ulimit(&format!("-n {fd_limit}"), args, envs)
}

/// The binary under `sh -c 'ulimit LIMIT && exec ...'`.
pub fn command_with_ulimit(limit: &str, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new("sh");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("EVENTSTORE_") {
            command.env_remove(name);
        }
    }
    command
        .env("RUST_LOG", "info")
        .envs(envs.iter().copied())
        .arg("-c")
        .arg(format!("ulimit {limit} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs the binary to completion (bounded by [`STARTUP`]).
pub async fn run(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    tokio::time::timeout(STARTUP, command(args, envs).output())
        .await
        .unwrap_or_else(|_| panic!("eventstore-server {args:?} did not exit within {STARTUP:?}"))
        .expect("run eventstore-server")
}

/// A run that must fail at startup: non-zero exit, no readiness line, no
/// panic. Returns its stderr.
pub async fn run_failing(args: &[&str], envs: &[(&str, &str)]) -> String {
    let output = run(args, envs).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
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
    stderr
}

/// A running server that printed its readiness line.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stderr: JoinHandle<String>,
}

impl Server {
    /// Starts the binary on a free loopback port with `args` and `envs` and
    /// waits for its readiness line; panics (with its stderr) if it fails.
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        match Self::try_start(args, envs).await {
            Ok(server) => server,
            Err(why) => panic!("eventstore-server {args:?} did not start: {why}"),
        }
    }

    /// Like [`Server::start`], but returns why it did not start.
    pub async fn try_start(args: &[&str], envs: &[(&str, &str)]) -> Result<Self, String> {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::spawn(command(&all, envs)).await
    }

    /// Starts the binary with at most `fd_limit` open files (see
    /// [`command_with_fd_limit`]); panics if it does not start.
    pub async fn start_with_fd_limit(fd_limit: u32, args: &[&str]) -> Self {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        match Self::spawn(command_with_fd_limit(fd_limit, &all, &[])).await {
            Ok(server) => server,
            Err(why) => panic!("eventstore-server {args:?} (ulimit -n {fd_limit}): {why}"),
        }
    }

    /// Starts the binary with `ulimit LIMIT` (e.g. `-f 8192`, the file-size
    /// limit in 512-byte blocks); panics if it does not start.
    pub async fn start_with_ulimit(limit: &str, args: &[&str]) -> Self {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        match Self::spawn(command_with_ulimit(limit, &all, &[])).await {
            Ok(server) => server,
            Err(why) => panic!("eventstore-server {args:?} (ulimit {limit}): {why}"),
        }
    }

    /// Spawns `command` and waits for its readiness line.
    async fn spawn(mut command: Command) -> Result<Self, String> {
        let mut child = command.spawn().expect("spawn eventstore-server");
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
                let status = child.wait().await;
                let stderr = stderr.await.unwrap_or_default();
                return Err(format!(
                    "no readiness line ({other:?}), exit {status:?}; stderr:\n{stderr}"
                ));
            }
        };
        let addr = line
            .split("listening on ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected readiness line {line:?}"))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("readiness line {line:?} has no socket address: {e}"));
        // Nothing more is printed on stdout; drop it.
        drop(stdout);
        Ok(Self {
            child,
            addr,
            stderr,
        })
    }

    /// Starts a durable server on `dir`, with `extra` flags.
    pub async fn durable(dir: &Path, extra: &[&str]) -> Self {
        let dir = dir.to_str().expect("UTF-8 temp path");
        let mut args = vec!["--data-dir", dir];
        args.extend_from_slice(extra);
        Self::start(&args, &[]).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("server still running")
    }

    pub async fn channel(&self) -> Channel {
        tokio::time::timeout(
            RPC,
            Channel::from_shared(self.url()).expect("url").connect(),
        )
        .await
        .expect("connect within RPC timeout")
        .expect("connect to eventstore-server")
    }

    pub async fn client(&self) -> EventStoreClient<Channel> {
        EventStoreClient::new(self.channel().await)
    }

    /// Sends `signal` ("TERM", "KILL", ...) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid();
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed: {status}");
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded) for the process to exit; returns its status and stderr.
    pub async fn wait(mut self) -> (ExitStatus, String) {
        let status = match tokio::time::timeout(STARTUP, self.child.wait()).await {
            Ok(status) => status.expect("wait for eventstore-server"),
            Err(_) => {
                let _ = self.child.start_kill();
                panic!("eventstore-server still running {STARTUP:?} later");
            }
        };
        let stderr = tokio::time::timeout(RPC, self.stderr)
            .await
            .expect("stderr closes after exit")
            .expect("stderr reader");
        (status, stderr)
    }

    /// SIGTERM, then waits; asserts a clean exit without a panic.
    pub async fn stop(self) -> String {
        self.signal("TERM");
        let (status, stderr) = self.wait().await;
        assert!(!stderr.contains("panicked"), "panicked:\n{stderr}");
        assert_eq!(status.code(), Some(0), "exit after SIGTERM: {stderr}");
        stderr
    }

    /// `kill -9`, then waits until the process is gone.
    pub async fn kill9(self) {
        self.signal("KILL");
        let (status, _) = self.wait().await;
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status}"
        );
    }
}

/// A valid event with id `id` and nonce `nonce` (tenant, aggregate id and
/// type are filled by the store from the request).
pub fn event(id: &str, nonce: u64) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: id.into(),
            aggregate_nonce: nonce,
            event_type: "test.Event".into(),
            event_version: 1,
            content_type: "application/json".into(),
            ..EventMetadata::default()
        }),
        payload: format!("{{\"id\":\"{id}\"}}").into_bytes(),
    }
}

/// An append of `count` events with ids `<prefix>-<nonce>` after `expected`.
pub fn append(
    tenant: &str,
    aggregate_id: &str,
    expected: u64,
    count: u64,
    prefix: &str,
) -> AppendRequest {
    AppendRequest {
        tenant_id: tenant.into(),
        aggregate_id: aggregate_id.into(),
        aggregate_type: "Test".into(),
        expected_aggregate_nonce: expected,
        idempotency_key: String::new(),
        events: (expected + 1..=expected + count)
            .map(|n| event(&format!("{prefix}-{n}"), n))
            .collect(),
    }
}

/// Every event of a stream, forward, paging until `is_end`.
pub async fn read_all(
    client: &mut EventStoreClient<Channel>,
    tenant: &str,
    aggregate_id: &str,
) -> Vec<EventData> {
    let mut all = Vec::new();
    let mut from = 0;
    loop {
        let page = tokio::time::timeout(
            RPC,
            client.read_stream(ReadStreamRequest {
                tenant_id: tenant.into(),
                aggregate_id: aggregate_id.into(),
                from_aggregate_nonce: from,
                max_count: 1000,
                forward: true,
            }),
        )
        .await
        .expect("read within RPC timeout")
        .expect("read")
        .into_inner();
        all.extend(page.events);
        if page.is_end {
            return all;
        }
        from = page.next_from_aggregate_nonce;
    }
}

/// The first `count` events a subscription of `tenant` from `from` delivers;
/// then checks that nothing more arrives within `quiet`.
pub async fn subscribe_exactly(
    client: &mut EventStoreClient<Channel>,
    tenant: &str,
    from: u64,
    count: usize,
    quiet: Duration,
) -> Vec<EventData> {
    let mut stream = tokio::time::timeout(
        RPC,
        client.subscribe(SubscribeRequest {
            tenant_id: tenant.into(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: from,
        }),
    )
    .await
    .expect("subscribe within RPC timeout")
    .expect("subscribe")
    .into_inner();
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let next = tokio::time::timeout(RPC, stream.message())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "subscription of {tenant} from {from} delivered {} of {count} events",
                    events.len()
                )
            })
            .expect("subscription item")
            .expect("subscription stays open");
        // An event-less response is the caught-up marker (or a keepalive):
        // clients skip it.
        if let Some(event) = next.event {
            events.push(event);
        }
    }
    let quiet_until = tokio::time::Instant::now() + quiet;
    while let Ok(extra) = tokio::time::timeout_at(quiet_until, stream.message()).await {
        if matches!(&extra, Ok(Some(r)) if r.event.is_none()) {
            continue;
        }
        panic!("subscription delivered more than the {count} expected events: {extra:?}");
    }
    events
}

/// The metadata of a stored event.
pub fn meta(event: &EventData) -> &EventMetadata {
    event.meta.as_ref().expect("stored events carry metadata")
}

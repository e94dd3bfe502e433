//! The transport under abuse (issue 14 items 3 and 8), measured on a real
//! server process: subscriptions a client never reads cost a bounded amount
//! of memory and are limited per connection; at the file descriptor limit
//! the accept loop backs off with a log line instead of spinning; a
//! connection that never sends the HTTP/2 preface is closed after the
//! handshake timeout.

mod support;

use bytes::Bytes;
use eventstore_proto::{AppendRequest, EventData, SubscribeRequest};
use prost::Message;
use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};
use support::{Server, event};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// Resident memory of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// CPU time (user + system) `pid` has used, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').expect("comm").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports clock ticks of 1/100 s (USER_HZ).
    Duration::from_millis(ticks * 10)
}

/// A socket whose reads can be stopped: the client then leaves everything
/// the server sends in the kernel's buffers and the server's, like a
/// consumer that stalled, while its own requests still go out.
struct Stallable {
    io: TcpStream,
    stalled: Arc<AtomicBool>,
}

impl AsyncRead for Stallable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.stalled.load(Ordering::SeqCst) {
            // Never woken: this connection reads nothing more.
            return Poll::Pending;
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stallable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A gRPC request (POST with one length-prefixed message) on `path`.
fn grpc_request(addr: std::net::SocketAddr, path: &str) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request")
}

fn grpc_frame(message: &impl Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
    frame.extend_from_slice(&body);
    frame.into()
}

/// Appends `count` events of about `payload_bytes` each to tenant `tenant`.
async fn fill_tenant(server: &Server, tenant: &str, count: u64, payload_bytes: usize) {
    let mut client = server
        .client()
        .await
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX);
    let payload = vec![b'x'; payload_bytes];
    let batch = 500;
    for start in (0..count).step_by(batch) {
        let events: Vec<EventData> = (start..(start + batch as u64).min(count))
            .map(|i| {
                let mut e = event(&uuid::Uuid::now_v7().to_string(), i + 1);
                e.payload.clone_from(&payload);
                e
            })
            .collect();
        client
            .append(AppendRequest {
                tenant_id: tenant.into(),
                aggregate_id: "big".into(),
                aggregate_type: "Big".into(),
                expected_aggregate_nonce: start,
                idempotency_key: String::new(),
                events,
            })
            .await
            .expect("fill the tenant");
    }
}

/// Waits until the server's resident memory has not grown for a while
/// (its buffers are full), at most `limit`; returns the last reading.
async fn settled_rss_kib(pid: u32, limit: Duration) -> u64 {
    let start = Instant::now();
    let mut last = rss_kib(pid);
    let mut stable_since = Instant::now();
    while start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = rss_kib(pid);
        if now > last + 256 {
            stable_since = Instant::now();
        }
        last = last.max(now);
        if stable_since.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscriptions_are_bounded_per_stream_and_per_connection() {
    let server = Server::start(&[], &[]).await;
    let pid = server.pid();
    // 8,000 events of 1 KiB: every subscription has ~8 MB of history to send.
    fill_tenant(&server, "big", 8_000, 1024).await;

    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let stalled = Arc::new(AtomicBool::new(false));
    let io = Stallable {
        io: tcp,
        stalled: stalled.clone(),
    };
    // The largest windows HTTP/2 allows: nothing but the server's own
    // bounds keeps it from buffering.
    let (mut sender, connection) = h2::client::Builder::new()
        .initial_window_size(i32::MAX as u32)
        .initial_connection_window_size(i32::MAX as u32)
        .handshake::<_, Bytes>(io)
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    // One round trip, so the server's SETTINGS (its stream limit) are in.
    sender = sender.ready().await.expect("ready");
    let (response, mut body) = sender
        .send_request(
            grpc_request(server.addr, "/eventstore.v1.EventStore/GetServerInfo"),
            false,
        )
        .expect("send GetServerInfo");
    body.send_data(grpc_frame(&eventstore_proto::GetServerInfoRequest {}), true)
        .expect("send body");
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("GetServerInfo answered")
        .expect("GetServerInfo response");
    assert_eq!(response.status(), 200);

    let before = settled_rss_kib(pid, Duration::from_secs(5)).await;
    stalled.store(true, Ordering::SeqCst);

    // The server advertises its stream limit: a client queues further
    // streams, one ignoring the limit gets them refused (REFUSED_STREAM),
    // so whatever this client does, at most 100 are open at the server.
    assert_eq!(
        sender.current_max_send_streams(),
        100,
        "the default --max-concurrent-streams must be advertised"
    );
    let mut open = Vec::new();
    for _ in 0..300 {
        sender = match tokio::time::timeout(Duration::from_secs(2), sender.ready()).await {
            Ok(ready) => ready.expect("the connection stays up"),
            // The previous stream waits for a free slot.
            Err(_) => break,
        };
        let (response, mut body) = sender
            .send_request(
                grpc_request(server.addr, "/eventstore.v1.EventStore/Subscribe"),
                false,
            )
            .expect("send Subscribe");
        body.send_data(
            grpc_frame(&SubscribeRequest {
                tenant_id: "big".into(),
                aggregate_id_prefix: String::new(),
                from_global_nonce: 1,
            }),
            true,
        )
        .expect("send Subscribe body");
        open.push((response, body));
    }
    eprintln!("{} subscriptions sent", open.len());
    // The memory budget is per stream the server may hold open.
    let streams = 100;

    let after = settled_rss_kib(pid, Duration::from_secs(15)).await;
    let per_stream_kib = after.saturating_sub(before) / streams as u64;
    eprintln!(
        "RSS before {before} KiB, after {streams} stalled subscriptions {after} KiB: {per_stream_kib} KiB each"
    );
    assert!(
        per_stream_kib <= 120,
        "a stalled subscription costs {per_stream_kib} KiB (RSS {before} -> {after} KiB for {streams} streams)"
    );
    drop(open);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_stream_limit_is_advertised_and_enforced() {
    let server = Server::start(&["--max-concurrent-streams", "3"], &[]).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, connection) = h2::client::handshake(tcp).await.expect("handshake");
    tokio::spawn(connection);
    sender = sender.ready().await.expect("ready");
    // One finished call first: the server's SETTINGS are then known.
    let (response, mut body) = sender
        .send_request(
            grpc_request(server.addr, "/eventstore.v1.EventStore/GetServerInfo"),
            false,
        )
        .expect("send");
    body.send_data(grpc_frame(&eventstore_proto::GetServerInfoRequest {}), true)
        .expect("body");
    let _ = response.await.expect("GetServerInfo");
    assert_eq!(sender.current_max_send_streams(), 3, "advertised limit");
    let subscribe = |sender: &mut h2::client::SendRequest<Bytes>| {
        let (response, mut body) = sender
            .send_request(
                grpc_request(server.addr, "/eventstore.v1.EventStore/Subscribe"),
                false,
            )
            .expect("send");
        body.send_data(
            grpc_frame(&SubscribeRequest {
                tenant_id: "t".into(),
                aggregate_id_prefix: String::new(),
                from_global_nonce: 1,
            }),
            true,
        )
        .expect("body");
        (response, body)
    };
    let mut open = Vec::new();
    for _ in 0..3 {
        let (response, body) = subscribe(&mut sender);
        let response = tokio::time::timeout(Duration::from_secs(5), response)
            .await
            .expect("a stream within the limit is answered")
            .expect("response");
        open.push((response, body));
    }
    let (fourth, _fourth_body) = subscribe(&mut sender);
    let mut fourth = Box::pin(fourth);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut fourth)
            .await
            .is_err(),
        "a fourth stream must wait while three are open"
    );
    // Ending one of the three lets the fourth in.
    drop(open.pop());
    tokio::time::timeout(Duration::from_secs(5), fourth)
        .await
        .expect("the fourth stream is answered once one ended")
        .expect("response");
    drop(open);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_accept_loop_backs_off_and_idle_handshakes_time_out() {
    let server = Server::start_with_fd_limit(64, &["--handshake-timeout-secs", "2"]).await;
    let pid = server.pid();
    // More idle connections than the server has descriptors: none sends
    // the HTTP/2 preface.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu_before = cpu_time(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu_used = cpu_time(pid) - cpu_before;
    assert!(
        cpu_used < Duration::from_millis(100),
        "the server used {cpu_used:?} of CPU in one second at the descriptor limit"
    );

    // After the handshake timeout the server closes the idle connections it
    // accepted: the client reads end-of-file (or a reset) instead of waiting.
    let mut closed = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    for stream in &mut idle {
        let mut buf = [0u8; 256];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => {
                    closed += 1;
                    break;
                }
                // The server's SETTINGS frame, sent before the preface.
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    assert!(
        closed >= 50,
        "only {closed} of 100 idle connections were closed after the handshake timeout"
    );
    drop(idle);

    // The server works again once descriptors are free.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut client = server.client().await;
    client
        .get_server_info(eventstore_proto::GetServerInfoRequest {})
        .await
        .expect("serving after the descriptors came back");
    let stderr = server.stop().await;
    assert!(
        stderr.contains("cannot accept a connection") && stderr.contains("out of file descriptors"),
        "no log line about the failed accepts:\n{stderr}"
    );
}

/// `grpc-message` as sent: percent-encoded UTF-8.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The gRPC status of a response that ended before any message: its
/// `grpc-status` and `grpc-message` (trailers-only, in the headers), or
/// those of its trailers.
async fn grpc_status(response: h2::client::ResponseFuture) -> (i32, String) {
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("a response within 10 s")
        .expect("response");
    let read = |headers: &http::HeaderMap| {
        let code = headers
            .get("grpc-status")?
            .to_str()
            .ok()?
            .parse::<i32>()
            .ok()?;
        let message = percent_decoded(
            headers
                .get("grpc-message")
                .and_then(|m| m.to_str().ok())
                .unwrap_or_default(),
        );
        Some((code, message))
    };
    if let Some(status) = read(response.headers()) {
        return status;
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let _ = chunk.expect("body");
    }
    let trailers = body
        .trailers()
        .await
        .expect("trailers")
        .expect("trailers sent");
    read(&trailers).expect("grpc-status in the trailers")
}

/// Issue 24 bug 1: request bodies that announce 4 MiB and never finish no
/// longer pin memory without bound. Each connection may hold a quarter of
/// `--max-buffered-request-bytes` of unfinished bodies: a frame beyond is
/// `RESOURCE_EXHAUSTED` at once; what stays within waits at most
/// `--request-body-timeout-secs` and is then `DEADLINE_EXCEEDED`. Before,
/// 2 connections x 100 such streams took the server to 810 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_request_bodies_are_bounded_in_bytes_and_time() {
    let server = Server::start(
        &[
            "--max-buffered-request-bytes",
            "16777216",
            "--request-body-timeout-secs",
            "3",
        ],
        &[],
    )
    .await;
    let pid = server.pid();
    let before = settled_rss_kib(pid, Duration::from_millis(300)).await;
    // A gRPC frame header announcing 4 MiB, then 3 MiB of it, never the rest.
    let mut partial = vec![0u8];
    partial.extend_from_slice(&(4u32 * 1024 * 1024).to_be_bytes());
    partial.resize(5 + 3 * 1024 * 1024, b'x');
    let partial = Bytes::from(partial);
    let mut responses = Vec::new();
    let mut bodies = Vec::new();
    let mut connections = Vec::new();
    for _ in 0..2 {
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let (mut sender, connection) = h2::client::handshake(tcp).await.expect("handshake");
        connections.push(tokio::spawn(connection));
        for _ in 0..30 {
            sender = sender.ready().await.expect("ready");
            let (response, mut body) = sender
                .send_request(
                    grpc_request(server.addr, "/eventstore.v1.EventStore/Append"),
                    false,
                )
                .expect("send");
            body.send_data(partial.clone(), false).expect("data");
            responses.push(response);
            bodies.push(body);
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = rss_kib(pid);
    let grew_mib = during.saturating_sub(before) / 1024;
    assert!(
        grew_mib < 64,
        "the server grew by {grew_mib} MiB with 180 MiB of unfinished bodies offered"
    );
    let mut exhausted = 0;
    let mut timed_out = 0;
    for response in responses {
        let (code, message) = grpc_status(response).await;
        match code {
            // RESOURCE_EXHAUSTED
            8 => {
                assert!(message.contains("unfinished requests"), "{message}");
                exhausted += 1;
            }
            // DEADLINE_EXCEEDED
            4 => {
                assert!(message.contains("request_body_timeout"), "{message}");
                timed_out += 1;
            }
            other => panic!("unexpected status {other}: {message}"),
        }
    }
    assert!(exhausted >= 40, "{exhausted} refused for the byte budget");
    assert!(timed_out >= 2, "{timed_out} cut by the body deadline");
    drop(bodies);
    // The server still serves.
    let mut client = server.client().await;
    client
        .get_server_info(eventstore_proto::GetServerInfoRequest {})
        .await
        .expect("serving");
    server.stop().await;
}

/// Issue 24 weakness 8: a connection with no call in flight (a client that
/// sent only the preface, half a SETTINGS frame, or a HEADERS frame without
/// END_HEADERS) is closed after `--idle-timeout-secs`; at
/// `--max-connections` the connection idle the longest makes room for a
/// new one, and with every connection busy a new one is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_the_longest_idle_makes_room() {
    let server = Server::start(&["--idle-timeout-secs", "1"], &[]).await;
    // Raw sockets that stop mid-frame after the preface.
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let half_settings: &[u8] = &[0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 3];
    // HEADERS (type 1) on stream 1 without END_HEADERS, 3 bytes of block.
    let open_headers: &[u8] = &[0, 0, 3, 1, 0, 0, 0, 0, 1, 0x82, 0x86, 0x84];
    let empty_settings: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    let mut sockets = Vec::new();
    for tail in [
        Vec::new(),
        half_settings.to_vec(),
        [empty_settings, open_headers].concat(),
    ] {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut tcp, &[&preface[..], &tail].concat())
            .await
            .expect("write");
        sockets.push(tcp);
    }
    for (i, tcp) in sockets.iter_mut().enumerate() {
        let mut buf = [0u8; 1024];
        let closed = async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(6), closed)
            .await
            .unwrap_or_else(|_| panic!("idle socket {i} still open after 6 s"));
    }
    server.stop().await;

    let server = Server::start(&["--max-connections", "2"], &[]).await;
    let connect = || async {
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let (sender, connection) = h2::client::handshake(tcp).await.expect("handshake");
        (sender, tokio::spawn(connection))
    };
    let (_idle_sender, idle) = connect().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut busy, _busy_connection) = connect().await;
    let subscribe = |sender: &mut h2::client::SendRequest<Bytes>| {
        let (response, mut body) = sender
            .send_request(
                grpc_request(server.addr, "/eventstore.v1.EventStore/Subscribe"),
                false,
            )
            .expect("send");
        body.send_data(
            grpc_frame(&SubscribeRequest {
                tenant_id: "t".into(),
                aggregate_id_prefix: String::new(),
                from_global_nonce: 0,
            }),
            true,
        )
        .expect("body");
        (response, body)
    };
    busy = busy.ready().await.expect("ready");
    let (busy_call, _busy_body) = subscribe(&mut busy);
    let _busy_call = tokio::time::timeout(Duration::from_secs(5), busy_call)
        .await
        .expect("answered")
        .expect("response");
    // A third connection: the idle one is closed to make room.
    let mut client = server.client().await;
    client
        .get_server_info(eventstore_proto::GetServerInfoRequest {})
        .await
        .expect("the new connection is served");
    let _ended = tokio::time::timeout(Duration::from_secs(5), idle)
        .await
        .expect("the idle connection was closed for the new one")
        .expect("task");
    server.stop().await;
}

/// Issue 24 weakness 9: a request body that ends inside its gRPC message (a
/// truncated frame) is the client's fault, `INVALID_ARGUMENT` saying so;
/// a compressed-flag frame without `grpc-encoding` stays `INTERNAL`, as
/// gRPC's compression spec requires (and the reference answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_frame_is_invalid_argument() {
    let server = Server::start(&[], &[]).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, connection) = h2::client::handshake(tcp).await.expect("handshake");
    tokio::spawn(connection);
    for (flag, expected) in [(0u8, 3), (1u8, 13)] {
        sender = sender.ready().await.expect("ready");
        let (response, mut body) = sender
            .send_request(
                grpc_request(server.addr, "/eventstore.v1.EventStore/GetServerInfo"),
                false,
            )
            .expect("send");
        let mut frame = vec![flag];
        frame.extend_from_slice(&100u32.to_be_bytes());
        frame.extend_from_slice(&[0; 10]);
        body.send_data(Bytes::from(frame), true).expect("data");
        let (code, message) = grpc_status(response).await;
        assert_eq!(code, expected, "flag {flag}: {message}");
        if flag == 0 {
            assert!(message.contains("truncated request"), "{message}");
        }
    }
    server.stop().await;
}

//! The `eventstore-conformance` binary, as Rust users run it: the same
//! `check` and `diff` as the Python wheel's command.

use eventstore_conformance::{cases, targets::GrpcStore};
use eventstore_mock::MockEventStore;
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The longest a command may run in these tests before it is called hung:
/// generous, for a loaded machine; the commands under test end in seconds.
const HANG: Duration = Duration::from_secs(60);

fn kit(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_eventstore-conformance"))
        .args(args)
        .output()
        .expect("run eventstore-conformance");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `eventstore-conformance args`, killed (and the test failed) if it runs
/// past [`HANG`]: a regression fails instead of hanging the suite.
fn kit_bounded(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventstore-conformance"))
        .args(args)
        .env_remove("EVENTSTORE_PASSWORD")
        .env_remove("EVENTSTORE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eventstore-conformance");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > HANG {
            let _ = child.kill();
            let output = child.wait_with_output().expect("wait");
            panic!(
                "eventstore-conformance {args:?} still running after {} s: {}{}",
                HANG.as_secs(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("wait");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A store that accepts connections and answers no call in full: silent,
/// it never writes a byte; trickling, it speaks HTTP/2 and sends each
/// call's response headers and the first byte of its body, then nothing
/// (a deadline that only covers the headers never ends that call).
async fn stalling_store(trickle: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
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
                    let Ok(headers) = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .body(())
                    else {
                        return;
                    };
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

/// `check` and `diff` against a store that never answers (or answers a
/// call's headers, never its body) end with exit status 2 and one line
/// naming the store and the deadline (`--request-timeout`); they used to
/// wait forever, the deadline being only sent to the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_diff_give_up_on_a_store_that_never_answers() {
    let real = MockEventStore::builder().start().await;
    let real = real.address().to_string();
    for trickle in [false, true] {
        let store = stalling_store(trickle).await;
        let deadline = format!("no answer from {store} within 1 s (--request-timeout)");
        let runs: [Vec<&str>; 4] = [
            vec!["check", "--endpoint", &store],
            vec!["diff", "--a", &store, "--b", &store],
            vec!["diff", "--a", &store, "--b", &real],
            vec!["diff", "--a", &real, "--b", &store],
        ];
        for mut args in runs {
            args.extend(["--request-timeout", "1"]);
            let (code, stdout, stderr) = {
                let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
                tokio::task::spawn_blocking(move || {
                    kit_bounded(&args.iter().map(String::as_str).collect::<Vec<_>>())
                })
                .await
                .expect("join")
            };
            assert_eq!(code, 2, "{args:?} (trickle {trickle}): {stdout}{stderr}");
            assert!(
                stderr.starts_with("eventstore-conformance: ") && stderr.contains(&deadline),
                "{args:?} (trickle {trickle}): {stderr}"
            );
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            if args[0] == "diff" {
                let side = if args[2] == store { "a" } else { "b" };
                assert!(
                    stderr.starts_with(&format!("eventstore-conformance: store {side}: ")),
                    "{stderr}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_runs_the_cases_against_an_endpoint() {
    let mock = MockEventStore::builder().start().await;
    let endpoint = mock.address().to_string();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        kit(&["check", "--endpoint", &endpoint, "--only", "read_all::*"])
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    // What it will write, the 5 cases, what it wrote, the counts.
    assert_eq!(lines.len(), 8, "{stdout}");
    assert!(
        lines[0].starts_with(&format!(
            "checking {}: 5 cases append test events to new tenants named conformance-",
            mock.address()
        )),
        "{stdout}"
    );
    assert!(lines[6].starts_with("wrote "), "{stdout}");
    assert!(
        lines[6].contains(" tenants starting with conformance-"),
        "{stdout}"
    );
    assert_eq!(lines[7], "3 passed, 0 failed, 2 skipped");

    let endpoint = mock.address().to_string();
    let (code, stdout, _) = tokio::task::spawn_blocking(move || {
        kit(&[
            "check",
            "--endpoint",
            &endpoint,
            "--only",
            "marker",
            "--json",
        ])
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["passed"], 2);
    assert_eq!(report["skipped"], 1);
    assert_eq!(report["refused"], 0);
    assert_eq!(report["cases"][2]["status"], "skipped");
    let written = &report["written"];
    assert!(written["events"].as_u64() > Some(0), "{report}");
    assert!(written["tenants"].as_u64() > Some(0), "{report}");
    assert!(
        written["tenant_prefix"]
            .as_str()
            .is_some_and(|p| p.starts_with("conformance-")),
        "{report}"
    );
}

/// Against a user bound to one tenant (every append to the kit's tenants
/// refused with PERMISSION_DENIED), no case is failed: each is refused
/// (its store broke no rule), a line says what to do, the exit status is
/// 2; and the line saying what `check` writes comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_bound_user_gets_refused_cases_not_failed_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let users = dir.path().join("users");
    std::fs::write(&users, "bound:pw:acme\n").expect("users file");
    let server = GrpcStore::spawn(&["--users-file".into(), users.display().to_string()]).await;
    let endpoint = server.addr.clone();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        kit_bounded(&[
            "check",
            "--endpoint",
            &endpoint,
            "--username",
            "bound",
            "--password",
            "pw",
            "--tenant-prefix",
            "kit-",
        ])
    })
    .await
    .expect("join");
    assert_eq!(code, 2, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let count = cases::all().len();
    assert!(
        lines[0].starts_with(&format!(
            "checking {}: {count} cases append test events to new tenants named kit-",
            server.addr
        )) && lines[0].contains("they stay in the store"),
        "{stdout}"
    );
    assert_eq!(lines.len(), count + 4, "{stdout}");
    let outcomes = &lines[1..=count];
    assert!(
        outcomes
            .iter()
            .all(|l| l.starts_with("REFUSED   ") || l.starts_with("skipped   ")),
        "{stdout}"
    );
    let refused = outcomes
        .iter()
        .filter(|l| l.starts_with("REFUSED   "))
        .count();
    assert!(refused > 0, "{stdout}");
    assert!(
        lines[count + 1].starts_with(&format!(
            "{refused} cases were refused: the store refused the credentials"
        )) && lines[count + 1].contains("\"kit-\""),
        "{stdout}"
    );
    assert!(
        lines[count + 2].starts_with("wrote 0 events in 0 tenants starting with kit-"),
        "{stdout}"
    );
    assert!(
        lines[count + 3].starts_with(&format!("0 passed, 0 failed, {refused} refused")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_compares_two_stores() {
    let a = MockEventStore::builder().start().await;
    let b = MockEventStore::builder().start().await;
    let (a_addr, b_addr) = (a.address().to_string(), b.address().to_string());
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        kit(&[
            "diff", "--a", &a_addr, "--b", &b_addr, "--ops", "100", "--seed", "9",
        ])
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout, "100 operations, 0 differences\n");
}

#[test]
fn a_store_it_cannot_use_is_exit_status_2() {
    let (code, _, stderr) = kit(&["check", "--endpoint", "nowhere"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("\"nowhere\"") && stderr.contains("HOST:PORT"),
        "{stderr}"
    );
    let (code, _, stderr) = kit(&["check", "--endpoint", "127.0.0.1:1"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot reach 127.0.0.1:1: "), "{stderr}");
    let (code, _, stderr) = kit(&[
        "check",
        "--endpoint",
        "127.0.0.1:1",
        "--only",
        "nothing-like-this",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("selects no case"), "{stderr}");
}

/// `check` takes the shared connection flags, environment variables
/// included: `--username` with the password from `EVENTSTORE_PASSWORD`,
/// as the recorder always did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_the_password_from_the_environment() {
    let mock = MockEventStore::builder()
        .credentials("kit", "s3cret")
        .verify_on_drop(false)
        .start()
        .await;
    let endpoint = mock.address().to_string();
    let run = move |password: &'static str| {
        let endpoint = endpoint.clone();
        move || {
            let output = Command::new(env!("CARGO_BIN_EXE_eventstore-conformance"))
                .args(["check", "--endpoint", &endpoint, "--username", "kit"])
                .args(["--only", "append_then_read_back"])
                .env("EVENTSTORE_PASSWORD", password)
                .env_remove("EVENTSTORE_TOKEN")
                .output()
                .expect("run eventstore-conformance");
            (
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }
    };
    let (code, stdout, stderr) = tokio::task::spawn_blocking(run("s3cret"))
        .await
        .expect("join");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some("1 passed, 0 failed"),
        "{stdout}"
    );
    let (code, _, stderr) = tokio::task::spawn_blocking(run("wrong"))
        .await
        .expect("join");
    assert_eq!(code, 2);
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(!stderr.contains("wrong"), "{stderr}");
}

//! The `eventstore-conformance` binary, as Rust users run it: the same
//! `check` and `diff` as the Python wheel's command.

use eventstore_mock::MockEventStore;
use std::process::Command;

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
    assert_eq!(lines.len(), 6, "{stdout}");
    assert_eq!(lines[5], "3 passed, 0 failed, 2 skipped");

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
    assert_eq!(report["cases"][2]["status"], "skipped");
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

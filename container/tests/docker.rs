//! EventStoreContainer against a real Docker engine: readiness, round
//! trips, restart durability, removal on stop and drop, sweeping, start
//! errors with logs, credentials, TLS and mutual TLS, SIGTERM as PID 1,
//! reuse, image override.
//!
//! Without an engine these tests fail with what to do, unless
//! `EVENTSTORE_SKIP_DOCKER_TESTS=1`.

mod support;

use eventstore_container::{
    ContainerError, EventStoreContainer, HOST_LABEL, LABEL_KEY, LABEL_VALUE, Mode, PID_LABEL,
    SESSION_LABEL, TlsSettings,
};
use std::time::{Duration, Instant};
use support::*;
use tonic::{
    Code,
    transport::{Certificate, ClientTlsConfig, Endpoint},
};

/// Held by the tests that make leftovers and sweep them, so one test's
/// explicit sweep does not take the other's leftovers mid-test.
static SWEEPING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn docker_store() -> eventstore_container::EventStoreContainerBuilder {
    EventStoreContainer::builder().mode(Mode::Docker)
}

#[tokio::test]
async fn starts_ready_and_round_trips() {
    if !docker_or_skip().await {
        return;
    }
    let started = Instant::now();
    let store = docker_store().start().await.expect("start");
    let ready_after = started.elapsed();
    eprintln!("start to ready: {ready_after:?}");
    assert_eq!(store.mode(), Mode::Docker);
    let address = store.address();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_eq!(store.url(), format!("http://{address}"));
    assert_eq!(store.endpoint(), store.url());
    let id = store.id().expect("container id").to_owned();
    assert!(container_exists(&id));
    // The labels that sweeps rely on.
    let labels = docker(&["inspect", "-f", "{{json .Config.Labels}}", &id]);
    for key in [LABEL_KEY, SESSION_LABEL, PID_LABEL, HOST_LABEL] {
        assert!(labels.contains(key), "{key} missing from {labels}");
    }
    assert!(labels.contains(&format!("\"{LABEL_KEY}\":\"{LABEL_VALUE}\"")));

    let mut client = client(&store).await;
    let response = append(&mut client, "order-1", 0, 3).await.expect("append");
    assert_eq!(response.last_aggregate_nonce, 3);
    assert_eq!(response.last_global_nonce, 3);
    assert_eq!(read_nonces(&mut client, "order-1").await, vec![1, 2, 3]);
    store.check_health().await.expect("serving");
}

#[tokio::test]
async fn data_survives_restart_on_the_same_endpoint() {
    if !docker_or_skip().await {
        return;
    }
    let mut store = docker_store().start().await.expect("start");
    let endpoint = store.endpoint();
    let mut client = client(&store).await;
    append(&mut client, "durable", 0, 2).await.expect("append");

    let started = Instant::now();
    store.restart().await.expect("restart");
    eprintln!("restart to ready: {:?}", started.elapsed());
    assert_eq!(
        store.endpoint(),
        endpoint,
        "the endpoint survives a restart"
    );

    let mut client = support::client(&store).await;
    assert_eq!(read_nonces(&mut client, "durable").await, vec![1, 2]);
    let next = append(&mut client, "durable", 2, 1).await.expect("append");
    assert_eq!(next.last_global_nonce, 3, "global nonces continue");
    let logs = store.logs().await.expect("logs");
    assert_eq!(
        logs.matches("eventstore-server listening on").count(),
        2,
        "{logs}"
    );
}

#[tokio::test]
async fn stop_removes_the_container() {
    if !docker_or_skip().await {
        return;
    }
    let mut store = docker_store().start().await.expect("start");
    let id = store.id().expect("id").to_owned();
    store.stop().await.expect("stop");
    assert!(
        !container_exists(&id),
        "container {id} still there after stop()"
    );
    store.stop().await.expect("stop is idempotent");
    drop(store);
}

#[tokio::test]
async fn drop_removes_the_container() {
    if !docker_or_skip().await {
        return;
    }
    let store = docker_store().start().await.expect("start");
    let id = store.id().expect("id").to_owned();
    assert!(container_exists(&id));
    drop(store);
    assert!(
        !container_exists(&id),
        "container {id} still there after drop"
    );
}

#[tokio::test]
async fn sweep_removes_leftovers_of_dead_processes_only() {
    if !docker_or_skip().await {
        return;
    }
    let _sweeping = SWEEPING.lock().await;
    let live = docker_store().start().await.expect("start");
    let (image, tag) = (
        eventstore_container::IMAGE_NAME,
        eventstore_container::embedded_image_tag().expect("embedded image"),
    );
    // This host's name, as the harness labels its containers.
    let host = docker(&[
        "inspect",
        "-f",
        &format!("{{{{index .Config.Labels \"{HOST_LABEL}\"}}}}"),
        live.id().expect("id"),
    ]);
    // A container left by a process that no longer exists (pid beyond
    // pid_max), created as a killed test run would have left it.
    let leftover = docker(&[
        "create",
        "--label",
        &format!("{LABEL_KEY}={LABEL_VALUE}"),
        "--label",
        &format!("{SESSION_LABEL}=some-dead-session"),
        "--label",
        &format!("{PID_LABEL}=99999999"),
        "--label",
        &format!("{HOST_LABEL}={host}"),
        &format!("{image}:{tag}"),
    ]);
    assert!(container_exists(&leftover));

    let removed = EventStoreContainer::sweep_leftovers().await.expect("sweep");
    // Another test's start may have swept it first (starts sweep the
    // leftovers of other sessions); either way it is gone.
    assert!(
        !container_exists(&leftover),
        "the leftover survived the sweep"
    );
    let live_id = live.id().expect("id").to_owned();
    assert!(!removed.contains(&live_id), "removed {removed:?}");
    assert!(
        container_exists(live.id().expect("id")),
        "the sweep removed a container of a live process"
    );
    live.check_health().await.expect("still serving");
}

#[tokio::test]
async fn a_start_sweeps_the_leftovers_of_dead_sessions_but_not_its_own() {
    if !docker_or_skip().await {
        return;
    }
    let _sweeping = SWEEPING.lock().await;
    let (image, tag) = (
        eventstore_container::IMAGE_NAME,
        eventstore_container::embedded_image_tag().expect("embedded image"),
    );
    let first = docker_store().start().await.expect("start");
    let host = docker(&[
        "inspect",
        "-f",
        &format!("{{{{index .Config.Labels \"{HOST_LABEL}\"}}}}"),
        first.id().expect("id"),
    ]);
    // As a killed test run leaves them: a dead pid of this host, and of
    // another session or of this one.
    let leftover = |session: &str| {
        docker(&[
            "create",
            "--label",
            &format!("{LABEL_KEY}={LABEL_VALUE}"),
            "--label",
            &format!("{SESSION_LABEL}={session}"),
            "--label",
            &format!("{PID_LABEL}=99999998"),
            "--label",
            &format!("{HOST_LABEL}={host}"),
            &format!("{image}:{tag}"),
        ])
    };
    let other_session = leftover("a-killed-session");
    let this_session = leftover(eventstore_container::session_id());

    let second = docker_store().start().await.expect("start");
    assert!(
        !container_exists(&other_session),
        "a start left the container of a killed run"
    );
    assert!(
        container_exists(&this_session),
        "a start swept a container of its own session"
    );
    assert!(container_exists(first.id().expect("id")));
    drop(second);
    // The explicit sweep takes every dead process's container (here or in
    // a test running alongside).
    EventStoreContainer::sweep_leftovers().await.expect("sweep");
    assert!(!container_exists(&this_session));
}

#[tokio::test]
async fn start_error_includes_the_server_message_and_removes_the_container() {
    if !docker_or_skip().await {
        return;
    }
    let error = docker_store()
        .env("EVENTSTORE_MAX_PAGE_SIZE", "0")
        .start()
        .await
        .expect_err("max_page_size 0 is invalid");
    let text = error.to_string();
    assert!(matches!(error, ContainerError::Start { .. }), "{error:?}");
    assert!(text.contains("exited before it was ready"), "{text}");
    assert!(
        text.contains("invalid limits"),
        "the server's message is missing: {text}"
    );
    assert!(!text.contains('\u{1b}'), "terminal escapes in {text}");
    let logs = error.logs().expect("logs attached");
    assert!(logs.contains("max_page_size"), "{logs}");
    // "container <id> exited ...": that container is gone.
    let id = text
        .split_whitespace()
        .skip_while(|w| *w != "container")
        .nth(1)
        .expect("container id in the message");
    assert!(!container_exists(id), "failed container {id} left behind");
}

#[tokio::test]
async fn credentials_are_required() {
    if !docker_or_skip().await {
        return;
    }
    let store = docker_store()
        .credentials("admin", "s3cret")
        .start()
        .await
        .expect("start");
    let mut good = client(&store).await;
    append(&mut good, "a", 0, 1)
        .await
        .expect("right credentials");

    let mut wrong = client_with(&store, Auth::basic("admin", "wrong")).await;
    let status = append(&mut wrong, "a", 1, 1)
        .await
        .expect_err("wrong password");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    let mut none = client_with(&store, Auth::default()).await;
    let status = append(&mut none, "a", 1, 1)
        .await
        .expect_err("no credentials");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate() {
    if !docker_or_skip().await {
        return;
    }
    let certs = certs();
    let store = docker_store()
        .tls(
            certs.self_signed_cert.clone(),
            certs.self_signed_key.clone(),
            None,
        )
        .start()
        .await
        .expect("start");
    assert!(store.url().starts_with("https://127.0.0.1:"));
    assert_eq!(store.tls_domain(), Some("localhost"));
    let mut client = client(&store).await;
    append(&mut client, "tls", 0, 1)
        .await
        .expect("append over TLS");

    // Plain text is not served.
    let plain = Endpoint::from_shared(store.endpoint())
        .expect("endpoint")
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut plain = eventstore_proto::event_store_client::EventStoreClient::new(channel);
        let result = plain
            .read_stream(eventstore_proto::ReadStreamRequest {
                tenant_id: "t1".into(),
                aggregate_id: "tls".into(),
                ..Default::default()
            })
            .await;
        assert!(result.is_err(), "plain text answered: {result:?}");
    }
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate() {
    if !docker_or_skip().await {
        return;
    }
    let certs = certs();
    let store = docker_store()
        .tls_settings(TlsSettings {
            cert: certs.server_cert.clone().into(),
            key: certs.server_key.clone().into(),
            client_ca: Some(certs.ca.clone().into()),
            ca: Some(certs.ca.clone().into()),
            client_identity: Some((
                certs.client_cert.clone().into(),
                certs.client_key.clone().into(),
            )),
            domain: "localhost".to_owned(),
        })
        .start()
        .await
        .expect("start");
    let mut client = client(&store).await;
    append(&mut client, "mtls", 0, 1)
        .await
        .expect("append with a client cert");

    // Without a client certificate the handshake (or the first call) fails.
    let anonymous = Endpoint::from_shared(store.url())
        .expect("endpoint")
        .timeout(Duration::from_secs(5))
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&certs.ca))
                .domain_name("localhost"),
        )
        .expect("tls");
    let refused = match anonymous.connect().await {
        Err(_) => true,
        Ok(channel) => eventstore_proto::event_store_client::EventStoreClient::new(channel)
            .read_stream(eventstore_proto::ReadStreamRequest {
                tenant_id: "t1".into(),
                aggregate_id: "mtls".into(),
                ..Default::default()
            })
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate got in");

    // The default client identity (the server certificate, as the image's
    // probe uses it) works too.
    let by_default = docker_store()
        .tls(
            certs.server_cert.clone(),
            certs.server_key.clone(),
            Some(certs.ca.clone().into()),
        )
        .start()
        .await
        .expect("start with the default client identity");
    let endpoint = by_default.tonic_endpoint().expect("endpoint");
    let channel = endpoint.connect().await.expect("connect");
    eventstore_proto::event_store_client::EventStoreClient::new(channel)
        .read_stream(eventstore_proto::ReadStreamRequest {
            tenant_id: "t1".into(),
            aggregate_id: "x".into(),
            ..Default::default()
        })
        .await
        .expect("read with the default identity");
    // The image's own health check (exec-form --probe, mTLS) turns healthy.
    wait_healthy(by_default.id().expect("id")).await;
}

/// Waits for Docker's health status `healthy` (the image's HEALTHCHECK).
async fn wait_healthy(id: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let status = docker(&["inspect", "-f", "{{.State.Health.Status}}", id]);
        if status == "healthy" {
            return;
        }
        assert!(
            Instant::now() < until,
            "container {id} is {status}, not healthy: {}",
            docker(&["inspect", "-f", "{{json .State.Health}}", id])
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn image_health_check_reports_healthy() {
    if !docker_or_skip().await {
        return;
    }
    let store = docker_store().start().await.expect("start");
    let id = store.id().expect("id");
    let config = docker(&["inspect", "-f", "{{json .Config.Healthcheck.Test}}", id]);
    assert_eq!(
        config, r#"["CMD","/eventstore-server","--probe"]"#,
        "exec form"
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.Config.User}}", id]),
        "65532:65532"
    );
    wait_healthy(id).await;
}

#[tokio::test]
async fn sigterm_as_pid_1_stops_within_a_second() {
    if !docker_or_skip().await {
        return;
    }
    let store = docker_store().start().await.expect("start");
    let id = store.id().expect("id").to_owned();
    // An open connection and subscription must not hold the shutdown up.
    let mut client = client(&store).await;
    append(&mut client, "s", 0, 1).await.expect("append");
    let _subscription = client
        .subscribe(eventstore_proto::SubscribeRequest {
            tenant_id: "t1".into(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: 0,
        })
        .await
        .expect("subscribe");
    let started = Instant::now();
    let stop_id = id.clone();
    tokio::task::spawn_blocking(move || docker(&["stop", "-t", "5", &stop_id]))
        .await
        .expect("docker stop");
    let took = started.elapsed();
    eprintln!("docker stop -t 5: {took:?}");
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    let exit = docker(&["inspect", "-f", "{{.State.ExitCode}}", &id]);
    assert_eq!(exit, "0", "the server did not exit cleanly on SIGTERM");
    drop(store);
    assert!(!container_exists(&id));
}

#[tokio::test]
async fn reuse_shares_one_container_within_the_session() {
    if !docker_or_skip().await {
        return;
    }
    let settings = || {
        docker_store()
            .reuse(true)
            .env("EVENTSTORE_SHUTDOWN_GRACE_SECS", "7")
    };
    let first = settings().start().await.expect("start");
    let id = first.id().expect("id").to_owned();
    drop(first);
    assert!(
        container_exists(&id),
        "a reused container outlives its handle"
    );
    let mut second = settings().start().await.expect("reuse");
    assert_eq!(second.id(), Some(id.as_str()), "not reused");
    second.check_health().await.expect("serving");
    // Different settings: a container of its own.
    let mut other = docker_store()
        .reuse(true)
        .env("EVENTSTORE_SHUTDOWN_GRACE_SECS", "8")
        .start()
        .await
        .expect("start");
    assert_ne!(other.id(), Some(id.as_str()));
    other.stop().await.expect("stop");
    second
        .stop()
        .await
        .expect("stop removes a reused container");
    assert!(!container_exists(&id));
}

#[tokio::test]
async fn image_override_runs_any_image_that_speaks_the_api() {
    if !docker_or_skip().await {
        return;
    }
    let (reference, _) = EventStoreContainer::build_image().await.expect("image");
    let custom = format!(
        "eventstore-custom-test:{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    docker(&["tag", &reference, &custom]);
    let (name, tag) = custom.split_once(':').expect("name:tag");
    let result = docker_store().image(name, tag).start().await;
    let store = result.expect("start the custom image");
    let mut client = client(&store).await;
    append(&mut client, "custom", 0, 1).await.expect("append");
    drop(store);
    docker(&["rmi", &custom]);

    let error = docker_store()
        .image("localhost/eventstore-missing", "nope")
        .start()
        .await
        .expect_err("a missing image");
    assert!(matches!(error, ContainerError::Image { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("localhost/eventstore-missing:nope"),
        "{error}"
    );
}

#[tokio::test]
async fn docker_mode_without_an_engine_says_how_to_get_one() {
    let error = EventStoreContainer::builder()
        .mode(Mode::Docker)
        .docker_host("unix:///nonexistent/docker.sock")
        .start()
        .await
        .expect_err("no engine there");
    assert!(
        matches!(error, ContainerError::DockerUnavailable { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    for hint in [
        "install Docker",
        "start the daemon",
        "DOCKER_HOST",
        "/nonexistent/docker.sock",
    ] {
        assert!(text.contains(hint), "{hint:?} missing from: {text}");
    }
}

//! Without Docker: `Mode::Process` (the server binary as a child) and
//! `Mode::Auto`'s in-process fallback; and the embedded static binary.

mod support;

use eventstore_container::{
    ContainerError, DOCKERFILE, EventStoreContainer, Mode, embedded_image_tag,
    embedded_server_binary,
};
use sha2::{Digest, Sha256};
use support::*;
use tonic::Code;

/// A Docker host where no engine answers: forces Auto's fallback.
const NO_ENGINE: &str = "unix:///nonexistent/docker.sock";

#[tokio::test]
async fn auto_falls_back_to_the_real_server_in_process() {
    let mut store = EventStoreContainer::builder()
        .mode(Mode::Auto)
        .docker_host(NO_ENGINE)
        .start()
        .await
        .expect("fallback start");
    assert_eq!(store.mode(), Mode::InProcess);
    assert!(store.id().is_none());
    let endpoint = store.endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert_eq!(endpoint, format!("http://{}", store.address()));
    let mut client = client(&store).await;
    append(&mut client, "fallback", 0, 2).await.expect("append");

    // Durable on its temporary directory: survives a restart, same endpoint.
    store.restart().await.expect("restart");
    assert_eq!(store.endpoint(), endpoint);
    let mut client = support::client(&store).await;
    assert_eq!(read_nonces(&mut client, "fallback").await, vec![1, 2]);
    store.stop().await.expect("stop");
    assert!(
        store.check_health().await.is_err(),
        "still serving after stop"
    );
}

#[tokio::test]
async fn in_process_store_takes_settings_and_credentials() {
    let store = EventStoreContainer::builder()
        .mode(Mode::InProcess)
        .credentials("admin", "pw")
        .env("EVENTSTORE_MAX_EVENTS_PER_BATCH", "2")
        .start()
        .await
        .expect("start");
    let mut client = client(&store).await;
    let status = append(&mut client, "a", 0, 3)
        .await
        .expect_err("3 > 2 events");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    append(&mut client, "a", 0, 2).await.expect("2 events");
    let mut wrong = client_with(&store, Auth::basic("admin", "nope")).await;
    let status = append(&mut wrong, "a", 2, 1)
        .await
        .expect_err("wrong password");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn in_process_start_error_says_why() {
    let error = EventStoreContainer::builder()
        .mode(Mode::InProcess)
        .env("EVENTSTORE_MAX_PAGE_SIZE", "0")
        .start()
        .await
        .expect_err("invalid limits");
    assert!(error.to_string().contains("invalid limits"), "{error}");
}

#[tokio::test]
async fn in_process_serves_mutual_tls() {
    let certs = certs();
    let store = EventStoreContainer::builder()
        .mode(Mode::InProcess)
        .tls(
            certs.server_cert.clone(),
            certs.server_key.clone(),
            Some(certs.ca.clone().into()),
        )
        .start()
        .await
        .expect("start");
    assert!(store.url().starts_with("https://"));
    let mut client = client(&store).await;
    append(&mut client, "tls", 0, 1)
        .await
        .expect("append over mTLS");
}

#[tokio::test]
async fn process_mode_runs_the_server_binary() {
    let mut store = EventStoreContainer::builder()
        .mode(Mode::Process)
        .start()
        .await
        .expect("start");
    assert_eq!(store.mode(), Mode::Process);
    let endpoint = store.endpoint();
    let mut client = client(&store).await;
    append(&mut client, "proc", 0, 2).await.expect("append");
    store.restart().await.expect("restart");
    assert_eq!(store.endpoint(), endpoint);
    let mut client = support::client(&store).await;
    assert_eq!(read_nonces(&mut client, "proc").await, vec![1, 2]);
    let logs = store.logs().await.expect("logs");
    assert_eq!(
        logs.matches("eventstore-server listening on").count(),
        2,
        "{logs}"
    );
    store.stop().await.expect("stop");
    assert!(store.check_health().await.is_err());
}

#[tokio::test]
async fn process_start_error_includes_the_logs() {
    let error = EventStoreContainer::builder()
        .mode(Mode::Process)
        .env("EVENTSTORE_MAX_PAGE_SIZE", "0")
        .start()
        .await
        .expect_err("invalid limits");
    assert!(matches!(error, ContainerError::Start { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("exited before it was ready"), "{text}");
    assert!(text.contains("invalid limits"), "{text}");
}

#[test]
fn mode_parses_the_environment_spelling() {
    assert_eq!(Mode::parse("auto"), Some(Mode::Auto));
    assert_eq!(Mode::parse("Docker"), Some(Mode::Docker));
    assert_eq!(Mode::parse("process"), Some(Mode::Process));
    assert_eq!(Mode::parse("in-process"), Some(Mode::InProcess));
    assert_eq!(Mode::parse("in_process"), Some(Mode::InProcess));
    assert_eq!(Mode::parse("vm"), None);
}

#[test]
fn the_embedded_server_is_static_and_tagged_by_content() {
    let binary = embedded_server_binary()
        .expect("built without EVENTSTORE_EMBED_SERVER=0, so a binary is embedded");
    // ELF, and no PT_INTERP program header: no dynamic loader needed.
    assert_eq!(&binary[..4], b"\x7fELF");
    let u16_at = |at: usize| u16::from_le_bytes([binary[at], binary[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(binary[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    let interp = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(binary[at..at + 4].try_into().expect("4 bytes")) == 3
    });
    assert!(!interp, "the embedded server is dynamically linked");

    let mut hasher = Sha256::new();
    hasher.update(binary);
    hasher.update(DOCKERFILE.as_bytes());
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(embedded_image_tag(), Some(&hex[..16]));
}

#[test]
fn the_dockerfile_pulls_nothing() {
    let from: Vec<&str> = DOCKERFILE
        .lines()
        .filter(|l| l.trim_start().to_ascii_uppercase().starts_with("FROM"))
        .collect();
    assert_eq!(from, ["FROM scratch"]);
    for needed in [
        "USER 65532:65532",
        "EXPOSE 50051",
        "EVENTSTORE_LISTEN=0.0.0.0:50051",
        r#"CMD ["/eventstore-server", "--probe"]"#,
        r#"ENTRYPOINT ["/eventstore-server"]"#,
    ] {
        assert!(DOCKERFILE.contains(needed), "{needed} missing");
    }
}

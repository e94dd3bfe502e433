//! Shared by the container tests: Docker presence, a small eventstore.v1
//! client, certificates, and the docker CLI to check what is left.

#![allow(dead_code)]

use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_container::EventStoreContainer;
use eventstore_proto::{
    AppendRequest, AppendResponse, EventData, EventMetadata, ReadStreamRequest,
    event_store_client::EventStoreClient,
};
use std::process::Command;
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

/// Whether the Docker tests should run: yes when an engine answers; when
/// none does, they fail (with how to fix it) unless
/// `EVENTSTORE_SKIP_DOCKER_TESTS=1`, which skips them.
pub async fn docker_or_skip() -> bool {
    if EventStoreContainer::docker_available().await {
        return true;
    }
    if std::env::var("EVENTSTORE_SKIP_DOCKER_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("skipped: no Docker engine and EVENTSTORE_SKIP_DOCKER_TESTS=1");
        return false;
    }
    panic!(
        "these tests need a running Docker engine and none answered (at $DOCKER_HOST or \
         /var/run/docker.sock): install or start Docker, or set EVENTSTORE_SKIP_DOCKER_TESTS=1 \
         to skip them"
    );
}

/// Adds `authorization: Basic ...` when credentials are set.
#[derive(Clone, Default)]
pub struct Auth(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Auth {
    pub fn basic(user: &str, password: &str) -> Self {
        let value = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        Self(Some(value.parse().expect("ascii header")))
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Client = EventStoreClient<InterceptedService<Channel, Auth>>;

/// A client of `store` with the harness's TLS settings and `auth`.
pub async fn client_with(store: &EventStoreContainer, auth: Auth) -> Client {
    let channel = store
        .tonic_endpoint()
        .expect("endpoint")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e:?}", store.url()));
    EventStoreClient::with_interceptor(channel, auth)
}

/// A client of `store` (with its credentials, if any).
pub async fn client(store: &EventStoreContainer) -> Client {
    let auth = match store.credentials() {
        Some((user, password)) => Auth::basic(user, password),
        None => Auth::default(),
    };
    client_with(store, auth).await
}

/// One event with aggregate nonce `nonce`.
pub fn event(nonce: u64) -> EventData {
    EventData {
        meta: Some(EventMetadata {
            event_id: uuid::Uuid::now_v7().to_string(),
            aggregate_nonce: nonce,
            event_type: "test.Event".into(),
            event_version: 1,
            content_type: "application/json".into(),
            ..EventMetadata::default()
        }),
        payload: format!("{{\"n\":{nonce}}}").into_bytes(),
    }
}

/// Appends `count` events after `expected` to `t1`/`aggregate`.
pub async fn append(
    client: &mut Client,
    aggregate: &str,
    expected: u64,
    count: u64,
) -> Result<AppendResponse, Status> {
    client
        .append(AppendRequest {
            tenant_id: "t1".into(),
            aggregate_id: aggregate.into(),
            aggregate_type: "Test".into(),
            expected_aggregate_nonce: expected,
            idempotency_key: String::new(),
            events: (expected + 1..=expected + count).map(event).collect(),
        })
        .await
        .map(|r| r.into_inner())
}

/// The aggregate nonces of `t1`/`aggregate`, read forward.
pub async fn read_nonces(client: &mut Client, aggregate: &str) -> Vec<u64> {
    let response = client
        .read_stream(ReadStreamRequest {
            tenant_id: "t1".into(),
            aggregate_id: aggregate.into(),
            from_aggregate_nonce: 0,
            max_count: 0,
            forward: true,
        })
        .await
        .expect("read")
        .into_inner();
    response
        .events
        .iter()
        .map(|e| e.meta.as_ref().map_or(0, |m| m.aggregate_nonce))
        .collect()
}

/// `docker <args>`, stdout; panics when it fails.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("run the docker CLI");
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Whether a container with this id (or prefix) exists, running or not.
pub fn container_exists(id: &str) -> bool {
    !docker(&["ps", "-aq", "--no-trunc", "--filter", &format!("id={id}")]).is_empty()
}

/// PEM certificates made for one test.
pub struct Certs {
    pub ca: String,
    /// For `localhost` and 127.0.0.1, usable as server and client certificate.
    pub server_cert: String,
    pub server_key: String,
    /// A client certificate signed by the CA.
    pub client_cert: String,
    pub client_key: String,
    /// A self-signed certificate for `localhost` (plain TLS tests).
    pub self_signed_cert: String,
    pub self_signed_key: String,
}

pub fn certs() -> Certs {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let names = || vec!["localhost".to_owned(), "127.0.0.1".to_owned()];

    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "eventstore test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("key");
    let mut server_params = CertificateParams::new(names()).expect("params");
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server_params.extended_key_usages = vec![Eku::ServerAuth, Eku::ClientAuth];
    let server = server_params
        .signed_by(&server_key, &issuer)
        .expect("server cert");

    let client_key = KeyPair::generate().expect("key");
    let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    client_params
        .distinguished_name
        .push(DnType::CommonName, "eventstore test client");
    client_params.extended_key_usages = vec![Eku::ClientAuth];
    let client = client_params
        .signed_by(&client_key, &issuer)
        .expect("client cert");

    let self_key = KeyPair::generate().expect("key");
    let mut self_params = CertificateParams::new(names()).expect("params");
    self_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let self_signed = self_params.self_signed(&self_key).expect("self-signed");

    Certs {
        ca: ca.pem(),
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
        client_cert: client.pem(),
        client_key: client_key.serialize_pem(),
        self_signed_cert: self_signed.pem(),
        self_signed_key: self_key.serialize_pem(),
    }
}

//! Username/password, TLS, mutual TLS and `--probe`, as a client and an
//! operator see them. Certificates are made at test time with rcgen: one CA,
//! a server certificate for `localhost` and `127.0.0.1` that is also usable
//! as a client certificate (`--probe` presents it under mutual TLS), a client
//! certificate, and a stranger (self-signed, trusted by nobody).

mod support;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_proto::{
    AppendRequest, ReadStreamRequest, SubscribeRequest, event_store_client::EventStoreClient,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use support::{Server, append, run_failing};
use tonic::{
    Code, Request, Status,
    metadata::MetadataValue,
    service::Interceptor,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const USER: &str = "admin";
const PASSWORD: &str = "s3cret-Pa55";
/// Bounds every connection attempt of these tests.
const CONNECT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Username and password

/// Sets (or not) one raw `authorization` header on every call.
#[derive(Clone)]
struct Authorization(Option<String>);

impl Interceptor for Authorization {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            let value = MetadataValue::try_from(value.as_str()).expect("ASCII header value");
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

fn basic(user_password: &str) -> Option<String> {
    Some(format!("Basic {}", STANDARD.encode(user_password)))
}

type AuthClient =
    EventStoreClient<tonic::service::interceptor::InterceptedService<Channel, Authorization>>;

async fn auth_client(server: &Server, header: Option<String>) -> AuthClient {
    EventStoreClient::with_interceptor(server.channel().await, Authorization(header))
}

/// The status of each of the three RPCs made with `header`: `Ok(())` when
/// the call got past authentication.
async fn try_all_rpcs(
    server: &Server,
    header: Option<String>,
    stream: &str,
) -> Vec<Result<(), Status>> {
    let mut client = auth_client(server, header).await;
    let appended = client
        .append(append("t1", stream, 0, 1, stream))
        .await
        .map(drop);
    let read = client
        .read_stream(ReadStreamRequest {
            tenant_id: "t1".into(),
            aggregate_id: stream.into(),
            from_aggregate_nonce: 0,
            max_count: 10,
            forward: true,
        })
        .await
        .map(drop);
    let subscribed = client
        .subscribe(SubscribeRequest {
            tenant_id: "t1".into(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: 0,
        })
        .await
        .map(drop);
    vec![appended, read, subscribed]
}

/// Every refused header gets UNAUTHENTICATED with one same message, which
/// names neither part; the right credentials get through.
async fn only_the_right_credentials_get_in(server: &Server) {
    let refused_headers = [
        ("no header", None),
        ("wrong user", basic(&format!("root:{PASSWORD}"))),
        ("wrong password", basic(&format!("{USER}:wrong"))),
        (
            "password with a suffix",
            basic(&format!("{USER}:{PASSWORD}x")),
        ),
        ("empty credentials", basic(":")),
        ("no colon", basic(USER)),
        ("swapped", basic(&format!("{PASSWORD}:{USER}"))),
        (
            "bearer scheme",
            Some(format!(
                "Bearer {}",
                STANDARD.encode(format!("{USER}:{PASSWORD}"))
            )),
        ),
        ("not base64", Some("Basic !!!not-base64!!!".into())),
        ("scheme only", Some("Basic".into())),
        ("raw user:password", Some(format!("{USER}:{PASSWORD}"))),
        ("empty header", Some(String::new())),
    ];
    let mut messages = std::collections::BTreeSet::new();
    for (case, header) in refused_headers {
        for (rpc, result) in ["append", "read", "subscribe"]
            .iter()
            .zip(try_all_rpcs(server, header, "refused").await)
        {
            let status = result.expect_err(&format!("{case}: {rpc} must be refused"));
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{case}: {rpc}: {status:?}"
            );
            let message = status.message().to_owned();
            for secret in [USER, PASSWORD, "root", "wrong"] {
                assert!(
                    !message.contains(secret),
                    "{case}: {rpc}: message {message:?} leaks {secret:?}"
                );
            }
            let lower = message.to_lowercase();
            for hint in ["user", "password", "header", "base64", "scheme"] {
                assert!(
                    !lower.contains(hint),
                    "{case}: {rpc}: message {message:?} hints at {hint:?}"
                );
            }
            messages.insert(message);
        }
    }
    assert_eq!(messages.len(), 1, "refusals differ: {messages:?}");

    // Nothing was written by a refused call.
    let results = try_all_rpcs(server, basic(&format!("{USER}:{PASSWORD}")), "refused").await;
    for result in results {
        result.expect("the right credentials get through");
    }
    // The scheme is case-insensitive.
    let mut client = auth_client(
        server,
        Some(format!(
            "basic {}",
            STANDARD.encode(format!("{USER}:{PASSWORD}"))
        )),
    )
    .await;
    let response = client
        .append(append("t1", "refused", 1, 1, "lower"))
        .await
        .expect("lower-case scheme")
        .into_inner();
    assert_eq!(
        (response.last_aggregate_nonce, response.last_global_nonce),
        (2, 2),
        "a refused call wrote something"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_flags_are_required_with_one_refusal_message() {
    let server = Server::start(&["--username", USER, "--password", PASSWORD], &[]).await;
    only_the_right_credentials_get_in(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_environment_variables_are_required_too() {
    let envs = [
        ("EVENTSTORE_USERNAME", USER),
        ("EVENTSTORE_PASSWORD", PASSWORD),
    ];
    let server = Server::start(&[], &envs).await;
    only_the_right_credentials_get_in(&server).await;
    server.stop().await;

    // A flag and a variable combine; the flag wins over its variable.
    let envs = [
        ("EVENTSTORE_USERNAME", "someone-else"),
        ("EVENTSTORE_PASSWORD", PASSWORD),
    ];
    let server = Server::start(&["--username", USER], &envs).await;
    only_the_right_credentials_get_in(&server).await;
    server.stop().await;
}

const TOKEN: &str = "eyJhbGciOi.J9-x_y~z+/==";

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

/// `--token` (or `EVENTSTORE_TOKEN`) accepts `authorization: Bearer TOKEN`,
/// as the reference's clients send it; any other token, a Basic header
/// carrying the token, or none gets the one UNAUTHENTICATED message.
/// Beside --username/--password, either gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_from_the_flag_or_the_environment_gets_in() {
    for server in [
        Server::start(&["--token", TOKEN], &[]).await,
        Server::start(&[], &[("EVENTSTORE_TOKEN", TOKEN)]).await,
    ] {
        for result in try_all_rpcs(&server, bearer(TOKEN), "token").await {
            result.expect("the token gets in");
        }
        for (case, header) in [
            ("no header", None),
            ("another token", bearer("eyJhbGciOi")),
            ("the token plus one", bearer(&format!("{TOKEN}x"))),
            ("empty token", bearer("")),
            ("the token as Basic", basic(TOKEN)),
            ("the token raw", Some(TOKEN.to_owned())),
        ] {
            for result in try_all_rpcs(&server, header, "refused").await {
                let status = result.expect_err(case);
                assert_eq!(status.code(), Code::Unauthenticated, "{case}");
                assert_eq!(status.message(), "missing or invalid credentials", "{case}");
            }
        }
        server.stop().await;
    }
    let server = Server::start(
        &["--username", USER, "--password", PASSWORD, "--token", TOKEN],
        &[],
    )
    .await;
    for header in [basic(&format!("{USER}:{PASSWORD}")), bearer(TOKEN)] {
        let mut client = auth_client(&server, header).await;
        client
            .get_server_info(eventstore_proto::GetServerInfoRequest {})
            .await
            .expect("either credential gets in");
    }
    server.stop().await;
}

/// A token that breaks RFC 6750's characters stops the server at start,
/// naming the flag and not the token; `--token` with `--users-file` is
/// refused (a users file gives each user its own token).
#[tokio::test]
async fn a_bad_token_is_refused_at_startup_without_echoing_it() {
    let local = ["--listen", "127.0.0.1:0"];
    let stderr = run_failing(&[&local[..], &["--token", "se cret"]].concat(), &[]).await;
    assert!(stderr.contains("--token"), "{stderr}");
    assert!(!stderr.contains("se cret"), "the token is echoed: {stderr}");
    let (_dir, path) = users_file("alice:al1ce:acme\n");
    let stderr = run_failing(
        &[
            &local[..],
            &[
                "--users-file",
                path.to_str().expect("UTF-8"),
                "--token",
                "abc",
            ],
        ]
        .concat(),
        &[],
    )
    .await;
    assert!(
        stderr.contains("--token") && stderr.contains("--users-file"),
        "{stderr}"
    );
}

#[tokio::test]
async fn half_a_credential_is_refused_at_startup() {
    let local = ["--listen", "127.0.0.1:0"];
    let stderr = run_failing(&[&local[..], &["--username", USER]].concat(), &[]).await;
    assert!(
        stderr.contains("--password"),
        "does not name --password: {stderr}"
    );
    let stderr = run_failing(&[&local[..], &["--password", PASSWORD]].concat(), &[]).await;
    assert!(
        stderr.contains("--username"),
        "does not name --username: {stderr}"
    );
    let stderr = run_failing(&local, &[("EVENTSTORE_USERNAME", USER)]).await;
    assert!(
        stderr.contains("--password"),
        "does not name --password: {stderr}"
    );
    let stderr = run_failing(&local, &[("EVENTSTORE_PASSWORD", PASSWORD)]).await;
    assert!(
        stderr.contains("--username"),
        "does not name --username: {stderr}"
    );
    assert!(
        !stderr.contains(PASSWORD),
        "the password is echoed: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_probe_need_no_credentials() {
    let server = Server::start(&["--username", USER, "--password", PASSWORD], &[]).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", eventstore_proto::SERVICE_NAME] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?} without credentials: {e:?}"))
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "health of {service:?}");
    }
    let listen = server.addr.to_string();
    let envs = [
        ("EVENTSTORE_USERNAME", USER),
        ("EVENTSTORE_PASSWORD", PASSWORD),
    ];
    assert_probe(&["--listen", &listen], &envs, true).await;
    server.stop().await;
}

/// One ListServices call over reflection with `header` (or none).
async fn list_services(server: &Server, header: Option<String>) -> Result<Vec<String>, Status> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection =
        ServerReflectionClient::with_interceptor(server.channel().await, Authorization(header));
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let call = reflection.server_reflection_info(tokio_stream::iter([request]));
    let mut responses = tokio::time::timeout(CONNECT, call)
        .await
        .expect("reflection answers in time")?
        .into_inner();
    let response = tokio::time::timeout(CONNECT, responses.message())
        .await
        .expect("reflection answers in time")?
        .expect("a response");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        other => panic!("unexpected reflection response {other:?}"),
    }
}

/// Issue 14 item 10: with credentials set, reflection (which describes the
/// whole API) is refused without them, like the event store; health stays
/// open for probes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_requires_the_credentials_too() {
    let server = Server::start(&["--username", USER, "--password", PASSWORD], &[]).await;
    for (case, header) in [
        ("no header", None),
        ("wrong password", basic(&format!("{USER}:wrong"))),
    ] {
        let status = list_services(&server, header)
            .await
            .expect_err(&format!("{case}: reflection must be refused"));
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
        assert_eq!(status.message(), "missing or invalid credentials");
    }
    let names = list_services(&server, basic(&format!("{USER}:{PASSWORD}")))
        .await
        .expect("reflection with the credentials");
    assert!(
        names.iter().any(|n| n == eventstore_proto::SERVICE_NAME),
        "{names:?}"
    );
    let mut health = HealthClient::new(server.channel().await);
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health without credentials")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Users file: users tied to tenants (issue 14 item 11)

/// A users file in a temporary directory.
fn users_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("users");
    std::fs::write(&path, text).expect("write users file");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_file_ties_each_user_to_its_tenants() {
    let (_dir, path) = users_file(
        "# user:password:tenants\nalice:al1ce:acme,acme-staging\nbob:b0b:globex\nops:0ps:*\n",
    );
    let server = Server::start(&["--users-file", path.to_str().expect("UTF-8")], &[]).await;
    let mut alice = auth_client(&server, basic("alice:al1ce")).await;
    alice
        .append(append("acme", "order-1", 0, 1, "a"))
        .await
        .expect("alice writes acme");
    let mut bob = auth_client(&server, basic("bob:b0b")).await;
    bob.append(append("globex", "order-1", 0, 1, "b"))
        .await
        .expect("bob writes globex");

    // Another tenant: PERMISSION_DENIED naming it, for every data RPC.
    let denied = [
        bob.append(append("acme", "order-2", 0, 1, "x"))
            .await
            .map(drop),
        bob.read_stream(ReadStreamRequest {
            tenant_id: "acme".into(),
            aggregate_id: "order-1".into(),
            from_aggregate_nonce: 0,
            max_count: 10,
            forward: true,
        })
        .await
        .map(drop),
        bob.subscribe(SubscribeRequest {
            tenant_id: "acme".into(),
            aggregate_id_prefix: String::new(),
            from_global_nonce: 0,
        })
        .await
        .map(drop),
        bob.read_all(eventstore_proto::ReadAllRequest {
            tenant_id: "acme".into(),
            ..Default::default()
        })
        .await
        .map(drop),
    ];
    for (rpc, result) in ["append", "read_stream", "subscribe", "read_all"]
        .iter()
        .zip(denied)
    {
        let status = result.expect_err(&format!("bob may not {rpc} acme"));
        assert_eq!(status.code(), Code::PermissionDenied, "{rpc}: {status:?}");
        assert!(
            status.message().contains("\"acme\""),
            "{rpc}: the message names the tenant: {status:?}"
        );
    }
    // Nothing of acme leaked or was written by bob.
    let page = alice
        .read_stream(ReadStreamRequest {
            tenant_id: "acme".into(),
            aggregate_id: "order-2".into(),
            from_aggregate_nonce: 0,
            max_count: 10,
            forward: true,
        })
        .await
        .expect("alice reads acme")
        .into_inner();
    assert!(page.events.is_empty());

    // GetServerInfo needs only valid credentials; `*` means every tenant.
    bob.get_server_info(eventstore_proto::GetServerInfoRequest {})
        .await
        .expect("server info for any user");
    let mut ops = auth_client(&server, basic("ops:0ps")).await;
    for tenant in ["acme", "globex", "anything"] {
        ops.read_stream(ReadStreamRequest {
            tenant_id: tenant.into(),
            aggregate_id: "order-1".into(),
            from_aggregate_nonce: 0,
            max_count: 10,
            forward: true,
        })
        .await
        .unwrap_or_else(|e| panic!("ops reads {tenant}: {e:?}"));
    }
    // Wrong or missing credentials: the same UNAUTHENTICATED as ever.
    for header in [None, basic("alice:b0b"), basic("carol:x")] {
        let mut client = auth_client(&server, header).await;
        let status = client
            .get_server_info(eventstore_proto::GetServerInfoRequest {})
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "missing or invalid credentials");
    }
    server.stop().await;
}

/// A user's token in the users file authenticates that user, bound to its
/// tenants like its password; a user may have only a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_file_tokens_are_bound_to_their_users_tenants() {
    let (_dir, path) = users_file(
        "# user:password:tenants[:token=TOKEN]\nalice:al1ce:acme:token=alice.t0ken\nci::globex:token=ci-t0ken==\n",
    );
    let server = Server::start(&["--users-file", path.to_str().expect("UTF-8")], &[]).await;
    let mut alice = auth_client(&server, bearer("alice.t0ken")).await;
    alice
        .append(append("acme", "order-1", 0, 1, "a"))
        .await
        .expect("alice's token writes acme");
    let status = alice
        .append(append("globex", "order-1", 0, 1, "x"))
        .await
        .expect_err("alice may not use globex");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("\"alice\""), "{status:?}");
    let mut ci = auth_client(&server, bearer("ci-t0ken==")).await;
    ci.append(append("globex", "order-1", 0, 1, "c"))
        .await
        .expect("ci's token writes globex");
    // Alice's password still works; ci has no password to log in with.
    let mut alice_basic = auth_client(&server, basic("alice:al1ce")).await;
    alice_basic
        .get_server_info(eventstore_proto::GetServerInfoRequest {})
        .await
        .expect("alice's password");
    for header in [basic("ci:"), bearer("alice.t0ke"), bearer("al1ce")] {
        let status = auth_client(&server, header)
            .await
            .get_server_info(eventstore_proto::GetServerInfoRequest {})
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_bad_users_file_fails_at_startup_naming_the_line() {
    let (_dir, path) = users_file("alice:secret:acme\nbob-without-password\n");
    let stderr = run_failing(&["--users-file", path.to_str().expect("UTF-8")], &[]).await;
    assert!(stderr.contains("--users-file"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("secret"), "leaks a password: {stderr}");
    let stderr = run_failing(
        &[
            "--users-file",
            path.to_str().expect("UTF-8"),
            "--username",
            "a",
            "--password",
            "b",
        ],
        &[],
    )
    .await;
    assert!(stderr.contains("--users-file"), "{stderr}");
}

// ---------------------------------------------------------------------------
// Certificates

/// PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA; a server certificate (localhost, 127.0.0.1; server and client
    /// use) whose file holds the chain up to the CA; a client certificate;
    /// and a self-signed stranger.
    fn generate() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, pem: &str| {
            std::fs::write(dir.path().join(name), pem).expect("write PEM");
        };

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name
            .push(DnType::CommonName, "eventstore test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
        write("ca.pem", &ca_cert.pem());
        let issuer = Issuer::new(ca, ca_key);

        let leaf = |names: Vec<String>, cn: &str, usages: Vec<ExtendedKeyUsagePurpose>| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = usages;
            (params, key)
        };
        let (params, key) = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        );
        let cert = params
            .signed_by(&key, &issuer)
            .expect("sign the server cert");
        write("server.pem", &format!("{}{}", cert.pem(), ca_cert.pem()));
        write("server-leaf.pem", &cert.pem());
        write("server.key", &key.serialize_pem());

        let (params, key) = leaf(
            vec!["client.test".into()],
            "test client",
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        );
        let cert = params
            .signed_by(&key, &issuer)
            .expect("sign the client cert");
        write("client.pem", &cert.pem());
        write("client.key", &key.serialize_pem());

        let (params, key) = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            "stranger",
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        );
        let cert = params.self_signed(&key).expect("self-sign the stranger");
        write("stranger.pem", &cert.pem());
        write("stranger.key", &key.serialize_pem());
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name)
            .to_str()
            .expect("UTF-8 temp path")
            .to_owned()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read PEM")
    }

    /// Server flags: TLS, and mutual TLS when `mutual`.
    fn server_flags(&self, mutual: bool) -> Vec<String> {
        let mut flags = vec![
            "--tls-cert".to_owned(),
            self.arg("server.pem"),
            "--tls-key".to_owned(),
            self.arg("server.key"),
        ];
        if mutual {
            flags.push("--tls-client-ca".to_owned());
            flags.push(self.arg("ca.pem"));
        }
        flags
    }
}

fn strs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// A TLS client to `server` trusting `ca` (a file of `pki`), checking the
/// name `domain` (or the address when `None`), presenting `identity`
/// (cert and key files) if given. Fails if the handshake fails.
async fn tls_client(
    server: &Server,
    pki: &Pki,
    ca: &str,
    domain: Option<&str>,
    identity: Option<(&str, &str)>,
) -> Result<EventStoreClient<Channel>, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pki.read(ca)));
    if let Some(domain) = domain {
        tls = tls.domain_name(domain);
    }
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(pki.read(cert), pki.read(key)));
    }
    let endpoint = Endpoint::from_shared(format!("https://{}", server.addr))
        .expect("url")
        .connect_timeout(CONNECT)
        .timeout(CONNECT)
        .tls_config(tls)
        .map_err(|e| format!("TLS config: {e}"))?;
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    Ok(EventStoreClient::new(channel))
}

/// One append through `client` (to a fresh stream named `stream`).
async fn append_once(client: &mut EventStoreClient<Channel>, stream: &str) -> Result<(), Status> {
    let request: AppendRequest = append("t1", stream, 0, 1, stream);
    tokio::time::timeout(CONNECT, client.append(request))
        .await
        .map_err(|_| Status::deadline_exceeded("no answer"))?
        .map(drop)
}

/// Connecting and appending with this client setup must fail.
async fn refused(
    server: &Server,
    pki: &Pki,
    ca: &str,
    identity: Option<(&str, &str)>,
    stream: &str,
) -> String {
    match tls_client(server, pki, ca, Some("localhost"), identity).await {
        Err(e) => e,
        Ok(mut client) => match append_once(&mut client, stream).await {
            Err(status) => format!("{status:?}"),
            Ok(()) => panic!("{stream}: the append went through"),
        },
    }
}

/// A plaintext client to a TLS server gets nowhere.
async fn plaintext_fails(server: &Server) {
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .expect("url")
        .connect_timeout(CONNECT)
        .timeout(CONNECT)
        .connect()
        .await;
    if let Ok(channel) = channel {
        let mut client = EventStoreClient::new(channel);
        let status = append_once(&mut client, "plaintext")
            .await
            .expect_err("a plaintext append to a TLS server");
        assert_ne!(status.code(), Code::Ok);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_clients_that_trust_the_ca() {
    let pki = Pki::generate();
    let server = Server::start(&strs(&pki.server_flags(false)), &[]).await;

    let mut by_name = tls_client(&server, &pki, "ca.pem", Some("localhost"), None)
        .await
        .expect("TLS to localhost");
    append_once(&mut by_name, "by-name")
        .await
        .expect("append over TLS");
    // The certificate covers the IP address too.
    let mut by_ip = tls_client(&server, &pki, "ca.pem", None, None)
        .await
        .expect("TLS to 127.0.0.1");
    append_once(&mut by_ip, "by-ip")
        .await
        .expect("append over TLS by IP");

    plaintext_fails(&server).await;
    let why = refused(&server, &pki, "stranger.pem", None, "untrusted").await;
    eprintln!("a client that does not trust the CA: {why}");
    // A name the certificate does not cover is refused.
    let wrong_name = tls_client(&server, &pki, "ca.pem", Some("example.com"), None).await;
    match wrong_name {
        Err(_) => {}
        Ok(mut client) => {
            append_once(&mut client, "wrong-name")
                .await
                .expect_err("a name the certificate does not cover");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let pki = Pki::generate();
    let server = Server::start(&strs(&pki.server_flags(true)), &[]).await;

    let why = refused(&server, &pki, "ca.pem", None, "no-cert").await;
    eprintln!("a client without a certificate: {why}");
    let why = refused(
        &server,
        &pki,
        "ca.pem",
        Some(("stranger.pem", "stranger.key")),
        "stranger",
    )
    .await;
    eprintln!("a client with a certificate from elsewhere: {why}");
    plaintext_fails(&server).await;

    let mut client = tls_client(
        &server,
        &pki,
        "ca.pem",
        Some("localhost"),
        Some(("client.pem", "client.key")),
    )
    .await
    .expect("mutual TLS with the client certificate");
    append_once(&mut client, "with-cert")
        .await
        .expect("append over mutual TLS");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_and_credentials_are_both_required() {
    let pki = Pki::generate();
    let mut flags = pki.server_flags(true);
    flags.extend(["--username", USER, "--password", PASSWORD].map(str::to_owned));
    let server = Server::start(&strs(&flags), &[]).await;
    let mut anonymous = tls_client(
        &server,
        &pki,
        "ca.pem",
        Some("localhost"),
        Some(("client.pem", "client.key")),
    )
    .await
    .expect("mutual TLS");
    let status = append_once(&mut anonymous, "anon")
        .await
        .expect_err("no credentials over mutual TLS");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let channel = Endpoint::from_shared(format!("https://{}", server.addr))
        .expect("url")
        .connect_timeout(CONNECT)
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(pki.read("ca.pem")))
                .domain_name("localhost")
                .identity(Identity::from_pem(
                    pki.read("client.pem"),
                    pki.read("client.key"),
                )),
        )
        .expect("TLS config")
        .connect()
        .await
        .expect("mutual TLS");
    let mut client = EventStoreClient::with_interceptor(
        channel,
        Authorization(basic(&format!("{USER}:{PASSWORD}"))),
    );
    client
        .append(append("t1", "both", 0, 1, "both"))
        .await
        .expect("mutual TLS and credentials");
    server.stop().await;
}

// ---------------------------------------------------------------------------
// --probe

/// Runs `--probe` with `args` and `envs`; asserts its exit code (0 when
/// `serving`, else 1) and that it answers within a few seconds.
async fn assert_probe(args: &[&str], envs: &[(&str, &str)], serving: bool) -> String {
    let mut all = vec!["--probe"];
    all.extend_from_slice(args);
    let started = Instant::now();
    let output = support::run(&all, envs).await;
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let expected = if serving { 0 } else { 1 };
    assert_eq!(
        output.status.code(),
        Some(expected),
        "--probe {args:?} {envs:?} exited {} after {took:?}; stderr:\n{stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(took < Duration::from_secs(8), "--probe took {took:?}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_exits_0_for_a_serving_plain_tls_or_mtls_server() {
    // Plain.
    let server = Server::start(&[], &[]).await;
    let listen = server.addr.to_string();
    assert_probe(&["--listen", &listen], &[], true).await;
    // 0.0.0.0 means this host.
    let any = format!("0.0.0.0:{}", server.addr.port());
    assert_probe(&["--listen", &any], &[], true).await;
    server.stop().await;

    let pki = Pki::generate();
    for mutual in [false, true] {
        let flags = pki.server_flags(mutual);
        let server = Server::start(&strs(&flags), &[]).await;
        let listen = server.addr.to_string();
        // The same flags as the server.
        let mut args = vec!["--listen", listen.as_str()];
        args.extend(strs(&flags));
        assert_probe(&args, &[], true).await;
        // The same configuration from the environment.
        let mut envs = vec![
            ("EVENTSTORE_LISTEN", listen.clone()),
            ("EVENTSTORE_TLS_CERT", pki.arg("server.pem")),
            ("EVENTSTORE_TLS_KEY", pki.arg("server.key")),
        ];
        if mutual {
            envs.push(("EVENTSTORE_TLS_CLIENT_CA", pki.arg("ca.pem")));
        }
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_probe(&[], &envs, true).await;
        // Without TLS flags, the probe speaks plaintext to a TLS server: 1.
        let stderr = assert_probe(&["--listen", &listen], &[], false).await;
        eprintln!("plaintext probe of a TLS server (mutual: {mutual}): {stderr}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_exits_1_when_nothing_listens_or_the_server_is_stopping() {
    // Nothing listens: a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr").to_string();
    drop(free);
    let stderr = assert_probe(&["--listen", &addr], &[], false).await;
    assert!(stderr.contains(&addr), "does not name {addr}: {stderr}");

    // Stopping: SIGTERM while a request holds the server in its grace period.
    let mut server = Server::start(&["--shutdown-grace-secs", "6"], &[]).await;
    let listen = server.addr.to_string();
    assert_probe(&["--listen", &listen], &[], true).await;
    let channel = server.channel().await;
    let mut health = HealthClient::new(channel.clone());
    // A reflection stream stays open as long as its request stream does.
    let (hold, requests) =
        tokio::sync::mpsc::channel::<tonic_reflection::pb::v1::ServerReflectionRequest>(1);
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let held = tokio::spawn(async move {
        reflection
            .server_reflection_info(tokio_stream::wrappers::ReceiverStream::new(requests))
            .await
            .map(drop)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status());
    eprintln!("health on an open connection while stopping: {status:?}");
    if let Ok(status) = status {
        assert_eq!(status, ServingStatus::NotServing);
    }
    let stderr = assert_probe(&["--listen", &listen], &[], false).await;
    eprintln!("probe while stopping: {stderr}");
    assert!(
        server.is_running(),
        "the server exited before the probe ran: the stopping state was not tested"
    );
    drop(hold);
    let _ = held.await;
    let (status, _) = server.wait().await;
    assert_eq!(status.code(), Some(0), "{status}");
    // And once it is gone.
    assert_probe(&["--listen", &listen], &[], false).await;
}

// ---------------------------------------------------------------------------
// Bad TLS configuration

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pem_files_fail_at_startup_naming_the_flag_and_file() {
    let pki = Pki::generate();
    let missing = pki.arg("missing.pem");
    let (cert, key, ca) = (
        pki.arg("server.pem"),
        pki.arg("server.key"),
        pki.arg("ca.pem"),
    );
    let local = ["--listen", "127.0.0.1:0"];
    let cases: [(&str, [&str; 6]); 3] = [
        (
            "--tls-cert",
            [
                "--tls-cert",
                &missing,
                "--tls-key",
                &key,
                "--tls-client-ca",
                &ca,
            ],
        ),
        (
            "--tls-key",
            [
                "--tls-cert",
                &cert,
                "--tls-key",
                &missing,
                "--tls-client-ca",
                &ca,
            ],
        ),
        (
            "--tls-client-ca",
            [
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--tls-client-ca",
                &missing,
            ],
        ),
    ];
    for (flag, args) in cases {
        let stderr = run_failing(&[&local[..], &args[..]].concat(), &[]).await;
        assert!(stderr.contains(flag), "does not name {flag}: {stderr}");
        assert!(
            stderr.contains(&missing),
            "does not name {missing}: {stderr}"
        );
    }

    // Half a TLS configuration is refused by name.
    let stderr = run_failing(&[&local[..], &["--tls-cert", &cert]].concat(), &[]).await;
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let stderr = run_failing(&[&local[..], &["--tls-key", &key]].concat(), &[]).await;
    assert!(stderr.contains("--tls-cert"), "{stderr}");
    let stderr = run_failing(&[&local[..], &["--tls-client-ca", &ca]].concat(), &[]).await;
    assert!(stderr.contains("--tls-cert"), "{stderr}");

    // Files that exist but hold no PEM of the right kind, or a broken one.
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write garbage");
    let garbage = garbage.to_str().expect("UTF-8").to_owned();
    let broken = pki.path("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .expect("write a broken PEM");
    let broken = broken.to_str().expect("UTF-8").to_owned();
    let other_key = pki.arg("stranger.key");
    for (what, flag, file, args) in [
        (
            "garbage cert",
            "--tls-cert",
            &garbage,
            [&garbage, &key, &ca],
        ),
        ("garbage key", "--tls-key", &garbage, [&cert, &garbage, &ca]),
        (
            "garbage CA",
            "--tls-client-ca",
            &garbage,
            [&cert, &key, &garbage],
        ),
        ("a certificate as key", "--tls-key", &ca, [&cert, &ca, &ca]),
        ("broken cert", "--tls-cert", &broken, [&broken, &key, &ca]),
        (
            "broken CA",
            "--tls-client-ca",
            &broken,
            [&cert, &key, &broken],
        ),
        (
            "key of another cert",
            "--tls-key",
            &other_key,
            [&cert, &other_key, &ca],
        ),
    ] {
        let [cert, key, ca] = args.map(String::as_str);
        let args = ["--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca];
        let stderr = run_failing(&[&local[..], &args[..]].concat(), &[]).await;
        eprintln!("{what}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{what}: does not name {flag}: {stderr}"
        );
        assert!(
            stderr.contains(file.as_str()),
            "{what}: does not name {file}: {stderr}"
        );
    }
}

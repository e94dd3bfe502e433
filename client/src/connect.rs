//! The one connector: everything that talks to a store goes through here to
//! turn its options into a channel. The endpoint as given (`HOST:PORT`, or
//! an `http://` / `https://` URL), TLS with a CA of its own or the web's
//! roots, mutual TLS, the server name, Basic credentials or a bearer token,
//! and the connect and request timeouts.
//!
//! Its users: the SDK's client (`pyo3-testing/src/client.rs`, which keeps
//! its own pool of lazy channels and its Python errors), the recorder
//! (`eventstore-mock record`), the conformance kit (`eventstore-conformance
//! check` and `diff`), the container's readiness check and the server's
//! `--probe`. So the same options mean the same thing everywhere and a bad
//! one gets the same message: [`ConnectOptions::dialer`] checks every
//! option before any I/O, so a store that cannot be reached never hides a
//! missing key file, a half-given pair or an `http://` URL that would
//! silently send in plain text what TLS options asked to protect.
//!
//! Messages name an option as the user wrote it: the command line's flags
//! or the Python keywords ([`Spelling`]; the one table that maps them, one
//! to one, is [`Opt::name`]).

use crate::{
    auth::{self, TokenError},
    chain::error_chain,
};
use std::{fmt, path::PathBuf, time::Duration};
use tonic::{
    metadata::AsciiMetadataValue,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

/// How long connecting may take before the store is called unreachable
/// (the tools' default; the SDK's is its `connection_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one call may take (the tools' default, e.g. one page of the
/// recorder's ReadAll; the SDK's is its `request_timeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection option that messages name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    /// The CA of the server's certificate.
    TlsCa,
    /// The client certificate (mutual TLS).
    TlsCert,
    /// The client certificate's key.
    TlsKey,
    /// The name the server's certificate must carry.
    TlsDomain,
    /// The Basic-auth username.
    Username,
    /// The Basic-auth password.
    Password,
    /// The username and password together.
    Credentials,
    /// The bearer token.
    Token,
}

/// Who wrote the options, so messages name them in the user's words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Spelling {
    /// The command line's flags (`--tls-ca`), shared by every binary
    /// (`ConnectArgs`, feature `cli`).
    #[default]
    Flags,
    /// The Python keywords of `EventStoreClient(...)` and the Python tools
    /// (`tls={"ca_certificate": ...}`).
    Python,
}

impl Opt {
    /// The option's name in `spelling`: the one table of the flags and the
    /// Python keywords, side by side.
    pub const fn name(self, spelling: Spelling) -> &'static str {
        match spelling {
            Spelling::Flags => match self {
                Opt::TlsCa => "--tls-ca",
                Opt::TlsCert => "--tls-cert",
                Opt::TlsKey => "--tls-key",
                Opt::TlsDomain => "--tls-domain",
                Opt::Username => "--username",
                Opt::Password => "--password",
                Opt::Credentials => "--username/--password",
                Opt::Token => "--token",
            },
            Spelling::Python => match self {
                Opt::TlsCa => "tls.ca_certificate",
                Opt::TlsCert => "tls.client_certificate",
                Opt::TlsKey => "tls.client_key",
                Opt::TlsDomain => "tls.server_name",
                Opt::Username => "credentials.username",
                Opt::Password => "credentials.password",
                Opt::Credentials => "credentials",
                Opt::Token => "token",
            },
        }
    }
}

/// A PEM certificate or key: a file to read (the command line's), or the
/// PEM itself (the SDK's, the container's). Its `Debug` never shows the
/// bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file holding it, read by [`ConnectOptions::dialer`].
    File(PathBuf),
    /// The PEM text.
    Bytes(Vec<u8>),
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => f.debug_tuple("File").field(path).finish(),
            Pem::Bytes(bytes) => write!(f, "Bytes(<{} bytes>)", bytes.len()),
        }
    }
}

impl From<PathBuf> for Pem {
    fn from(path: PathBuf) -> Self {
        Pem::File(path)
    }
}

impl From<Vec<u8>> for Pem {
    fn from(bytes: Vec<u8>) -> Self {
        Pem::Bytes(bytes)
    }
}

impl Pem {
    fn read(&self, option: &'static str) -> Result<Vec<u8>, ConnectError> {
        match self {
            Pem::Bytes(bytes) => Ok(bytes.clone()),
            Pem::File(path) => std::fs::read(path).map_err(|e| ConnectError::File {
                option,
                path: path.clone(),
                message: e.to_string(),
            }),
        }
    }
}

/// Where the store is and how to talk to it. Secrets (the password, the
/// token, PEM bytes) never show in its `Debug`.
#[derive(Clone)]
pub struct ConnectOptions {
    /// `HOST:PORT`, or a URL (`http://HOST:PORT`, `https://HOST:PORT`).
    pub endpoint: String,
    /// TLS even without a CA or a client certificate (the web's roots), as
    /// an `https://` URL asks (the SDK's `tls=True`).
    pub tls: bool,
    /// The CA that signed the server's certificate: turns TLS on and is
    /// then the only root trusted (without it, TLS trusts the web's roots).
    pub tls_ca: Option<Pem>,
    /// The client certificate for mutual TLS (with [`Self::tls_key`]).
    pub tls_cert: Option<Pem>,
    /// The private key of [`Self::tls_cert`].
    pub tls_key: Option<Pem>,
    /// The name the server's certificate must carry, when it is not the
    /// endpoint's host.
    pub tls_domain: Option<String>,
    /// Basic-auth username (with [`Self::password`]).
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
    /// Bearer token, sent as `authorization: Bearer <token>` (instead of
    /// a username and password).
    pub token: Option<String>,
    /// How long connecting may take (`None`: as long as the OS lets it).
    pub connect_timeout: Option<Duration>,
    /// The deadline of each call, for the callers to apply
    /// ([`Connection::request`]); `None`: none.
    pub request_timeout: Option<Duration>,
    /// How messages name the options.
    pub spelling: Spelling,
}

impl Default for ConnectOptions {
    /// No endpoint, no TLS, no credentials; the tools' timeouts.
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            tls: false,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_domain: None,
            username: None,
            password: None,
            token: None,
            connect_timeout: Some(CONNECT_TIMEOUT),
            request_timeout: Some(REQUEST_TIMEOUT),
            spelling: Spelling::Flags,
        }
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |secret: &Option<String>| secret.as_ref().map(|_| "<hidden>");
        f.debug_struct("ConnectOptions")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_domain", &self.tls_domain)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("token", &hidden(&self.token))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("spelling", &self.spelling)
            .finish()
    }
}

/// Why a store cannot be talked to. Each message names the option (see
/// [`Spelling`]) or the endpoint concerned.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint is not `HOST:PORT` or an http(s) URL, or does not go
    /// with the TLS options.
    #[error("endpoint {endpoint:?}: {reason}")]
    BadEndpoint {
        /// As given.
        endpoint: String,
        /// What is wrong with it, and what it should look like.
        reason: String,
    },
    /// An option needs another one.
    #[error("{given} needs {missing}")]
    Incomplete {
        /// The option given, e.g. `--tls-cert`.
        given: &'static str,
        /// The option missing, e.g. `--tls-key`.
        missing: &'static str,
    },
    /// A TLS file cannot be read.
    #[error("{option} {}: cannot read: {message}", path.display())]
    File {
        /// The option naming the file.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The credentials cannot travel in an HTTP header. (Their base64 form
    /// always can: this keeps a header that could not be built an error
    /// instead of a panic.)
    #[error("{option}: cannot be sent as an authorization header (use printable ASCII)")]
    Credentials {
        /// The option, e.g. `--username/--password`.
        option: &'static str,
    },
    /// The bearer token breaks RFC 6750's characters (never quoted).
    #[error("{option}: {source}")]
    Token {
        /// The option, e.g. `--token`.
        option: &'static str,
        /// The rule it breaks.
        source: TokenError,
    },
    /// Both a username/password and a token: a call carries one
    /// `authorization` header.
    #[error("{token} goes instead of {credentials}, not with them")]
    TwoCredentials {
        /// The token's option.
        token: &'static str,
        /// The username and password's.
        credentials: &'static str,
    },
    /// Nothing answers at the endpoint, or the TLS handshake failed.
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable {
        /// As given.
        endpoint: String,
        /// What the attempt said, and what to check.
        reason: String,
    },
    /// The store answered, but refused what the tool asked (bad
    /// credentials, say).
    #[error("the store at {endpoint} refused the call: {reason}")]
    Refused {
        /// As given.
        endpoint: String,
        /// Its answer, and what to do.
        reason: String,
    },
}

impl ConnectError {
    /// True when the options themselves are wrong (nothing was tried);
    /// false when the store could not be reached or refused.
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Unreachable { .. } | Self::Refused { .. })
    }
}

/// The checked options, ready to dial: no I/O has happened yet.
#[derive(Debug, Clone)]
pub struct Dialer {
    /// The endpoint as given (trimmed), for messages.
    pub endpoint: String,
    /// The URL dialled (`https://` when TLS is on).
    pub url: String,
    /// Whether the channel speaks TLS.
    pub tls: bool,
    /// The tonic endpoint: URL, TLS configuration, connect timeout,
    /// `TCP_NODELAY`. Each channel made from it is a connection of its own.
    pub template: Endpoint,
    /// The `authorization` header every call carries, if any.
    pub authorization: Option<AsciiMetadataValue>,
    /// The deadline of each call ([`ConnectOptions::request_timeout`]).
    pub request_timeout: Option<Duration>,
    spelling: Spelling,
}

/// A connected store.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The HTTP/2 channel.
    pub channel: Channel,
    /// The `authorization` header every call carries, when credentials
    /// were given.
    pub authorization: Option<AsciiMetadataValue>,
    /// The endpoint as given (trimmed), for messages.
    pub endpoint: String,
    /// The deadline of each call.
    pub request_timeout: Option<Duration>,
}

impl Connection {
    /// `message` as a unary call: the credentials and the deadline.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        request(message, self.authorization.as_ref(), self.request_timeout)
    }

    /// `message` as a call that may last (a subscription): the credentials
    /// only.
    pub fn streaming_request<T>(&self, message: T) -> tonic::Request<T> {
        request(message, self.authorization.as_ref(), None)
    }
}

/// gRPC's longest deadline: 99,999,999 hours, the most a `grpc-timeout`
/// header can say (tonic panics on a longer one).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(99_999_999 * 3600);

/// `message` as a call carrying `authorization` (when there is one) and,
/// for a call with a `deadline`, that deadline as its `grpc-timeout`, at
/// most [`MAX_TIMEOUT`] (a longer one means the same: no practical limit).
/// Every client of the store builds its requests here.
pub fn request<T>(
    message: T,
    authorization: Option<&AsciiMetadataValue>,
    deadline: Option<Duration>,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(authorization) = authorization {
        request
            .metadata_mut()
            .insert("authorization", authorization.clone());
    }
    if let Some(deadline) = deadline {
        request.set_timeout(deadline.min(MAX_TIMEOUT));
    }
    request
}

/// Whether `status` is the client's own deadline as tonic's channel
/// reports it: the `grpc-timeout` a request carries ([`Connection::request`])
/// is enforced by the channel only until the response headers arrive, and
/// an expiry surfaces as `CANCELLED` "Timeout expired" (tonic's
/// `TimeoutExpired`), not as `DEADLINE_EXCEEDED`. Callers that enforce the
/// whole call's deadline themselves (`tokio::time::timeout` around it, body
/// included) treat this as the same timeout, whichever fires first.
pub fn is_client_deadline(status: &tonic::Status) -> bool {
    if status.code() != tonic::Code::Cancelled {
        return false;
    }
    if status.message() == tonic::TimeoutExpired(()).to_string() {
        return true;
    }
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        if cause.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Both or neither of a pair of options.
fn pair<A, B>(
    spelling: Spelling,
    (a, a_name): (&Option<A>, Opt),
    (b, b_name): (&Option<B>, Opt),
) -> Result<(), ConnectError> {
    let incomplete = |given: Opt, missing: Opt| ConnectError::Incomplete {
        given: given.name(spelling),
        missing: missing.name(spelling),
    };
    match (a, b) {
        (Some(_), None) => Err(incomplete(a_name, b_name)),
        (None, Some(_)) => Err(incomplete(b_name, a_name)),
        _ => Ok(()),
    }
}

/// The URL to dial: `endpoint` as given when it is an http(s) URL, else
/// `HOST:PORT` with the scheme `tls` asks for.
fn url_of(endpoint: &str, tls: bool) -> Result<String, ConnectError> {
    let bad = |reason: String| ConnectError::BadEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let expected = |host: &str| {
        format!("expected HOST:PORT, such as {host}:50051 (50051 is the event store's usual port)")
    };
    if endpoint.is_empty() {
        return Err(bad(format!("it is empty; {}", expected("localhost"))));
    }
    if endpoint.starts_with("http://") && tls {
        return Err(bad(
            "http:// is plain text, but the TLS options ask for TLS: use https:// or HOST:PORT"
                .to_owned(),
        ));
    }
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        return Ok(endpoint.to_owned());
    }
    if endpoint.contains("://") {
        return Err(bad("only http:// and https:// are supported".to_owned()));
    }
    // Without a scheme the port is not optional: "localhost" would mean
    // port 80, where no event store listens.
    if endpoint.ends_with(']') {
        return Err(bad(format!("it has no port; {}", expected(endpoint))));
    }
    match endpoint.rsplit_once(':') {
        None => Err(bad(format!("it has no port; {}", expected(endpoint)))),
        Some((host, "")) => Err(bad(format!("it has no port; {}", expected(host)))),
        Some(("", _)) => Err(bad(format!(
            "the host is missing; {}",
            expected("localhost")
        ))),
        Some((host, _)) if host.contains(':') && !host.starts_with('[') => Err(bad(
            "an IPv6 address needs brackets; expected HOST:PORT, such as [::1]:50051".to_owned(),
        )),
        Some((host, port)) if port.parse::<u16>().is_err() => Err(bad(format!(
            "the port {port:?} is not a number from 0 to 65535; {}",
            expected(host)
        ))),
        Some(_) => Ok(format!(
            "{}://{endpoint}",
            if tls { "https" } else { "http" }
        )),
    }
}

/// The web's roots for a TLS endpoint given without a CA.
#[cfg(feature = "webpki-roots")]
fn web_roots(
    config: ClientTlsConfig,
    _endpoint: &str,
    _spelling: Spelling,
) -> Result<ClientTlsConfig, ConnectError> {
    Ok(config.with_webpki_roots())
}

/// Without the `webpki-roots` feature, a TLS endpoint needs its CA.
#[cfg(not(feature = "webpki-roots"))]
fn web_roots(
    _config: ClientTlsConfig,
    endpoint: &str,
    spelling: Spelling,
) -> Result<ClientTlsConfig, ConnectError> {
    let ca = Opt::TlsCa.name(spelling);
    Err(ConnectError::BadEndpoint {
        endpoint: endpoint.to_owned(),
        reason: format!(
            "TLS without {ca} trusts the web's roots, which this build leaves out: give {ca}"
        ),
    })
}

impl ConnectOptions {
    /// The `authorization` header the options ask for, if any: Basic
    /// credentials or a bearer token, never both.
    pub fn authorization(&self) -> Result<Option<AsciiMetadataValue>, ConnectError> {
        let spelling = self.spelling;
        pair(
            spelling,
            (&self.username, Opt::Username),
            (&self.password, Opt::Password),
        )?;
        let header = |value: String| {
            value
                .parse::<AsciiMetadataValue>()
                .map_err(|_| ConnectError::Credentials {
                    option: Opt::Credentials.name(spelling),
                })
        };
        match (&self.username, &self.password, &self.token) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(ConnectError::TwoCredentials {
                token: Opt::Token.name(spelling),
                credentials: Opt::Credentials.name(spelling),
            }),
            (Some(user), Some(password), None) => {
                Ok(Some(header(auth::basic_header(user, password))?))
            }
            (_, _, Some(token)) => {
                let value = auth::bearer_header(token).map_err(|source| ConnectError::Token {
                    option: Opt::Token.name(spelling),
                    source,
                })?;
                Ok(Some(header(value)?))
            }
            _ => Ok(None),
        }
    }

    /// Checks every option (reading the TLS files) and builds what dials
    /// the store; no network I/O.
    pub fn dialer(&self) -> Result<Dialer, ConnectError> {
        let spelling = self.spelling;
        let name = |option: Opt| option.name(spelling);
        let endpoint = self.endpoint.trim().to_owned();
        pair(
            spelling,
            (&self.tls_cert, Opt::TlsCert),
            (&self.tls_key, Opt::TlsKey),
        )?;
        pair(
            spelling,
            (&self.username, Opt::Username),
            (&self.password, Opt::Password),
        )?;
        let url = url_of(
            &endpoint,
            self.tls || self.tls_ca.is_some() || self.tls_cert.is_some(),
        )?;
        let tls = url.starts_with("https://");
        let authorization = self.authorization()?;
        let bad = |reason: String| ConnectError::BadEndpoint {
            endpoint: endpoint.clone(),
            reason,
        };
        // Not http2_adaptive_window: it starts the connection window at
        // 64 KiB, and h2 then tolerates only ~130 small unread DATA frames
        // (its budget is half the window) before it sends GOAWAY
        // ENHANCE_YOUR_CALM and fails every call in flight. hyper's fixed
        // 5 MiB / 2 MiB windows leave room for thousands.
        let mut template = Endpoint::from_shared(url.clone())
            .map_err(|e| bad(format!("not a HOST:PORT address or URL: {e}")))?
            .tcp_nodelay(true);
        if let Some(timeout) = self.connect_timeout {
            template = template.connect_timeout(timeout);
        }
        if tls {
            let mut config = ClientTlsConfig::new();
            config = match &self.tls_ca {
                Some(ca) => {
                    config.ca_certificate(Certificate::from_pem(ca.read(name(Opt::TlsCa))?))
                }
                None => web_roots(config, &endpoint, spelling)?,
            };
            if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
                config = config.identity(Identity::from_pem(
                    cert.read(name(Opt::TlsCert))?,
                    key.read(name(Opt::TlsKey))?,
                ));
            }
            if let Some(domain) = &self.tls_domain {
                config = config.domain_name(domain.clone());
            }
            template = template
                .tls_config(config)
                .map_err(|e| bad(format!("TLS: {}", error_chain(&e))))?;
        }
        Ok(Dialer {
            endpoint,
            url,
            tls,
            template,
            authorization,
            request_timeout: self.request_timeout,
            spelling,
        })
    }
}

impl Dialer {
    /// A channel that connects on its first call (and again after a
    /// failure): the SDK's pool is made of these.
    pub fn connect_lazy(&self) -> Channel {
        self.template.clone().connect_lazy()
    }

    /// Connects now (within the connect timeout).
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let channel =
            self.template
                .clone()
                .connect()
                .await
                .map_err(|e| ConnectError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    reason: format!(
                        "{}; check the address, that the store is running and listening there{}",
                        error_chain(&e),
                        if self.tls {
                            ", and the TLS options".to_owned()
                        } else {
                            format!(
                                " (add {} for a store that speaks TLS)",
                                Opt::TlsCa.name(self.spelling)
                            )
                        }
                    ),
                })?;
        Ok(Connection {
            channel,
            authorization: self.authorization.clone(),
            endpoint: self.endpoint.clone(),
            request_timeout: self.request_timeout,
        })
    }
}

/// Checks every option, then connects (within the connect timeout).
pub async fn connect(options: &ConnectOptions) -> Result<Connection, ConnectError> {
    options.dialer()?.connect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(endpoint: &str) -> ConnectOptions {
        ConnectOptions {
            endpoint: endpoint.into(),
            ..ConnectOptions::default()
        }
    }

    fn file(path: &str) -> Option<Pem> {
        Some(Pem::File(path.into()))
    }

    /// A token with a username or password, or a token that breaks RFC
    /// 6750's characters, is refused before any connection is tried, and
    /// the token is never quoted.
    #[tokio::test]
    async fn a_bad_or_doubled_token_is_refused_before_connecting() {
        let doubled = connect(&ConnectOptions {
            username: Some("u".into()),
            password: Some("p".into()),
            token: Some("t0ken".into()),
            ..options("127.0.0.1:1")
        })
        .await;
        assert!(
            matches!(doubled, Err(ConnectError::TwoCredentials { .. })),
            "{doubled:?}"
        );
        let bad = connect(&ConnectOptions {
            token: Some("se cret".into()),
            ..options("127.0.0.1:1")
        })
        .await;
        match bad {
            Err(error @ ConnectError::Token { .. }) => {
                let message = error.to_string();
                assert!(message.starts_with("--token: "), "{message}");
                assert!(!message.contains("se cret"), "{message}");
            }
            other => panic!("expected a token error, got {other:?}"),
        }
    }

    /// A half-given pair is named before any connection is tried: a store
    /// that cannot be reached does not hide it.
    #[tokio::test]
    async fn a_half_given_pair_is_named_before_connecting() {
        let cases = [
            (
                ConnectOptions {
                    username: Some("u".into()),
                    ..options("127.0.0.1:1")
                },
                "--username needs --password",
            ),
            (
                ConnectOptions {
                    password: Some("p".into()),
                    ..options("127.0.0.1:1")
                },
                "--password needs --username",
            ),
            (
                ConnectOptions {
                    tls_cert: file("cert.pem"),
                    ..options("127.0.0.1:1")
                },
                "--tls-cert needs --tls-key",
            ),
            (
                ConnectOptions {
                    tls_key: file("key.pem"),
                    ..options("127.0.0.1:1")
                },
                "--tls-key needs --tls-cert",
            ),
        ];
        for (options, message) in cases {
            match connect(&options).await {
                Err(error @ ConnectError::Incomplete { .. }) => {
                    assert_eq!(error.to_string(), message);
                }
                Err(other) => panic!("{message}: got {other}"),
                Ok(_) => panic!("{message}: connected to 127.0.0.1:1"),
            }
        }
    }

    #[tokio::test]
    async fn a_bad_endpoint_is_named_with_what_it_should_look_like() {
        for (endpoint, reason) in [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("localhost", "expected HOST:PORT"),
            ("localhost:http", "expected HOST:PORT"),
            (":50051", "expected HOST:PORT"),
            ("ftp://host:1", "only http:// and https:// are supported"),
            // IPv6 needs brackets: [::1]:50051.
            ("::1:50051", "HOST:PORT"),
        ] {
            let error = connect(&options(endpoint)).await.err();
            let message = error.as_ref().map(ToString::to_string).unwrap_or_default();
            assert!(
                matches!(error, Some(ConnectError::BadEndpoint { .. })) && message.contains(reason),
                "{endpoint:?}: {message}"
            );
            assert!(
                message.starts_with(&format!("endpoint {:?}: ", endpoint.trim())),
                "{message}"
            );
        }
    }

    /// Each malformed endpoint gets the reason that fits it, with an
    /// example built from what was given.
    #[test]
    fn each_bad_endpoint_form_gets_its_own_reason() {
        for (endpoint, reason) in [
            (
                "localhost",
                "it has no port; expected HOST:PORT, such as localhost:50051",
            ),
            (
                "localhost:",
                "it has no port; expected HOST:PORT, such as localhost:50051",
            ),
            (
                "[::1]",
                "it has no port; expected HOST:PORT, such as [::1]:50051",
            ),
            (
                "localhost:http",
                "the port \"http\" is not a number from 0 to 65535",
            ),
            (
                "localhost:70000",
                "the port \"70000\" is not a number from 0 to 65535",
            ),
            (":50051", "the host is missing"),
            (
                "::1:50051",
                "an IPv6 address needs brackets; expected HOST:PORT, such as [::1]:50051",
            ),
            ("fe80::1", "an IPv6 address needs brackets"),
        ] {
            let message = options(endpoint)
                .dialer()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                message.starts_with(&format!("endpoint {endpoint:?}: {reason}")),
                "{endpoint:?}: {message}"
            );
        }
        for good in [
            "localhost:50051",
            "[::1]:50051",
            "10.0.0.1:1",
            "http://store.example",
        ] {
            assert!(options(good).dialer().is_ok(), "{good}");
        }
    }

    /// TLS without a CA trusts the web's roots; a build without them
    /// (the static server) says to give the CA.
    #[test]
    fn tls_without_a_ca_needs_the_web_roots() {
        let dialer = options("https://store.example").dialer();
        if cfg!(feature = "webpki-roots") {
            assert!(dialer.is_ok(), "{dialer:?}");
        } else {
            let message = dialer.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                message.ends_with("which this build leaves out: give --tls-ca"),
                "{message}"
            );
        }
    }

    #[tokio::test]
    async fn tls_options_with_a_plain_text_url_are_refused() {
        let error = connect(&ConnectOptions {
            tls_ca: file("ca.pem"),
            ..options("http://127.0.0.1:1")
        })
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            error.starts_with("endpoint \"http://127.0.0.1:1\": http:// is plain text"),
            "{error}"
        );
    }

    /// Every way of asking for TLS (a CA, a client certificate, `tls` on)
    /// is refused with an `http://` URL, in the same words whoever spells
    /// the options: the message names no option.
    #[test]
    fn every_tls_option_with_http_is_refused_in_the_same_words() {
        let expected = "endpoint \"http://x:1\": http:// is plain text, but the TLS options ask \
                        for TLS: use https:// or HOST:PORT";
        for spelling in [Spelling::Flags, Spelling::Python] {
            for tls in [
                ConnectOptions {
                    tls: true,
                    ..options("http://x:1")
                },
                ConnectOptions {
                    tls_ca: Some(Pem::Bytes(b"pem".to_vec())),
                    ..options("http://x:1")
                },
                ConnectOptions {
                    tls_cert: file("c.pem"),
                    tls_key: file("k.pem"),
                    ..options("http://x:1")
                },
            ] {
                let error = ConnectOptions { spelling, ..tls }.dialer().err();
                assert_eq!(error.map(|e| e.to_string()).as_deref(), Some(expected));
            }
        }
    }

    #[tokio::test]
    async fn a_missing_tls_file_is_named_before_connecting() {
        let error = connect(&ConnectOptions {
            tls_ca: file("/nonexistent/ca.pem"),
            ..options("127.0.0.1:1")
        })
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            error.starts_with("--tls-ca /nonexistent/ca.pem: cannot read:"),
            "{error}"
        );
    }

    /// The Python spelling names each option by its keyword.
    #[test]
    fn python_messages_name_the_keywords() {
        let python = |options: ConnectOptions| {
            ConnectOptions {
                spelling: Spelling::Python,
                ..options
            }
            .dialer()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
        };
        assert_eq!(
            python(ConnectOptions {
                tls_cert: Some(Pem::Bytes(b"c".to_vec())),
                ..options("x:1")
            }),
            "tls.client_certificate needs tls.client_key"
        );
        assert!(
            python(ConnectOptions {
                tls_ca: file("/nonexistent/ca.pem"),
                ..options("x:1")
            })
            .starts_with("tls.ca_certificate /nonexistent/ca.pem: cannot read:")
        );
        assert_eq!(
            python(ConnectOptions {
                username: Some("u".into()),
                password: Some("p".into()),
                token: Some("t".into()),
                ..options("x:1")
            }),
            "token goes instead of credentials, not with them"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_naming_the_endpoint_and_what_to_check() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr")
        };
        let error = connect(&options(&closed.to_string()))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with(&format!("cannot reach {closed}: ")),
            "{error}"
        );
        assert!(error.contains("check the address"), "{error}");
    }

    /// Secrets stay out of `Debug`.
    #[test]
    fn debug_hides_the_secrets() {
        let text = format!(
            "{:?}",
            ConnectOptions {
                password: Some("s3cret".into()),
                token: Some("t0ken".into()),
                tls_key: Some(Pem::Bytes(b"PRIVATE".to_vec())),
                ..options("x:1")
            }
        );
        for secret in ["s3cret", "t0ken", "PRIVATE"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn the_channel_s_own_deadline_is_told_from_other_cancellations() {
        let expired = tonic::Status::cancelled(tonic::TimeoutExpired(()).to_string());
        assert!(is_client_deadline(&expired));
        assert!(!is_client_deadline(&tonic::Status::cancelled(
            "the client went away"
        )));
        assert!(!is_client_deadline(&tonic::Status::deadline_exceeded(
            "Timeout expired"
        )));
    }
}

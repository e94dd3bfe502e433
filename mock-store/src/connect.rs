//! Connecting to a user's store: the endpoint as given (`HOST:PORT`, or an
//! `http://` / `https://` URL), TLS with a CA of its own or the web's roots,
//! mutual TLS, and Basic credentials or a bearer token.
//!
//! One owner for every tool that talks to a store it did not start: the
//! recorder (`eventstore-mock record`, here) and the conformance kit
//! (`eventstore-conformance check` and `diff`, in the `tests` crate), so
//! that the same options mean the same thing and a bad one gets the same
//! message in both. Every option is checked before any I/O: a store that
//! cannot be reached never hides a missing key file or a half-given pair.
//! (The SDK's client has its own connection pool and Python-facing errors:
//! `pyo3-testing/src/client.rs`.)

use eventstore_engine::auth::{self, TokenError};
use std::{path::PathBuf, time::Duration};
use tonic::{
    metadata::AsciiMetadataValue,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

/// How long connecting may take before the store is called unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the store is and how to authenticate to it. The option names in
/// errors are the command-line flags both tools share (`--tls-ca`, ...).
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `HOST:PORT`, or a URL (`http://HOST:PORT`, `https://HOST:PORT`).
    pub endpoint: String,
    /// PEM file of the CA that signed the server's certificate: turns TLS
    /// on (an `https://` endpoint without it trusts the web's roots).
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with [`Self::tls_key`]).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of [`Self::tls_cert`].
    pub tls_key: Option<PathBuf>,
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
}

/// Why a tool cannot talk to a store.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint is not `HOST:PORT` or an http(s) URL.
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
    #[error(
        "--username/--password: cannot be sent as an authorization header (use printable ASCII)"
    )]
    Credentials,
    /// The bearer token breaks RFC 6750's characters (never quoted).
    #[error("--token: {0}")]
    Token(#[from] TokenError),
    /// Both a username/password and a token: a call carries one
    /// `authorization` header.
    #[error("--token goes instead of --username/--password, not with them")]
    TwoCredentials,
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
}

/// The `authorization` value of Basic credentials.
pub fn basic_authorization(
    username: &str,
    password: &str,
) -> Result<AsciiMetadataValue, ConnectError> {
    auth::basic_header(username, password)
        .parse()
        .map_err(|_| ConnectError::Credentials)
}

fn read_file(option: &'static str, path: &PathBuf) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|e| ConnectError::File {
        option,
        path: path.clone(),
        message: e.to_string(),
    })
}

/// Both or neither of a pair of options.
fn pair<A, B>(
    (a, a_name): (&Option<A>, &'static str),
    (b, b_name): (&Option<B>, &'static str),
) -> Result<(), ConnectError> {
    match (a, b) {
        (Some(_), None) => Err(ConnectError::Incomplete {
            given: a_name,
            missing: b_name,
        }),
        (None, Some(_)) => Err(ConnectError::Incomplete {
            given: b_name,
            missing: a_name,
        }),
        _ => Ok(()),
    }
}

/// The URL to dial: `endpoint` as given when it is an http(s) URL, else
/// `HOST:PORT` with the scheme `tls` asks for.
fn url_of(endpoint: &str, tls: bool) -> Result<String, ConnectError> {
    let bad = |reason: &str| ConnectError::BadEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    if endpoint.is_empty() {
        return Err(bad(
            "it is empty; expected HOST:PORT, such as localhost:50051",
        ));
    }
    if endpoint.starts_with("http://") && tls {
        return Err(bad(
            "http:// is plain text, but --tls-ca or --tls-cert asks for TLS: use https:// or HOST:PORT",
        ));
    }
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        return Ok(endpoint.to_owned());
    }
    if endpoint.contains("://") {
        return Err(bad("only http:// and https:// are supported"));
    }
    if !endpoint
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    {
        return Err(bad("expected HOST:PORT, such as localhost:50051"));
    }
    Ok(format!(
        "{}://{endpoint}",
        if tls { "https" } else { "http" }
    ))
}

/// Checks every option, then connects (within [`CONNECT_TIMEOUT`]).
pub async fn connect(options: &ConnectOptions) -> Result<Connection, ConnectError> {
    let endpoint = options.endpoint.trim().to_owned();
    pair(
        (&options.tls_cert, "--tls-cert"),
        (&options.tls_key, "--tls-key"),
    )?;
    pair(
        (&options.username, "--username"),
        (&options.password, "--password"),
    )?;
    let url = url_of(
        &endpoint,
        options.tls_ca.is_some() || options.tls_cert.is_some(),
    )?;
    let tls = url.starts_with("https://");
    let authorization = match (&options.username, &options.password, &options.token) {
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => return Err(ConnectError::TwoCredentials),
        (Some(user), Some(password), None) => Some(basic_authorization(user, password)?),
        (_, _, Some(token)) => Some(
            auth::bearer_header(token)?
                .parse()
                .map_err(|_| ConnectError::Credentials)?,
        ),
        _ => None,
    };
    let mut dial = Endpoint::from_shared(url)
        .map_err(|e| ConnectError::BadEndpoint {
            endpoint: endpoint.clone(),
            reason: format!("not a HOST:PORT address or URL: {e}"),
        })?
        .connect_timeout(CONNECT_TIMEOUT);
    if tls {
        let mut config = ClientTlsConfig::new();
        config = match &options.tls_ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(read_file("--tls-ca", ca)?)),
            None => config.with_webpki_roots(),
        };
        if let (Some(cert), Some(key)) = (&options.tls_cert, &options.tls_key) {
            config = config.identity(Identity::from_pem(
                read_file("--tls-cert", cert)?,
                read_file("--tls-key", key)?,
            ));
        }
        if let Some(domain) = &options.tls_domain {
            config = config.domain_name(domain.clone());
        }
        dial = dial
            .tls_config(config)
            .map_err(|e| ConnectError::BadEndpoint {
                endpoint: endpoint.clone(),
                reason: format!("TLS: {}", eventstore_engine::assembly::error_chain(&e)),
            })?;
    }
    let channel = dial
        .connect()
        .await
        .map_err(|e| ConnectError::Unreachable {
            endpoint: endpoint.clone(),
            reason: format!(
                "{}; check the address, that the store is running and listening there{}",
                eventstore_engine::assembly::error_chain(&e),
                if tls {
                    ", and the TLS options"
                } else {
                    " (add --tls-ca for a store that speaks TLS)"
                }
            ),
        })?;
    Ok(Connection {
        channel,
        authorization,
        endpoint,
    })
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
            matches!(doubled, Err(ConnectError::TwoCredentials)),
            "{doubled:?}"
        );
        let bad = connect(&ConnectOptions {
            token: Some("se cret".into()),
            ..options("127.0.0.1:1")
        })
        .await;
        match bad {
            Err(error @ ConnectError::Token(_)) => {
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
                    tls_cert: Some("cert.pem".into()),
                    ..options("127.0.0.1:1")
                },
                "--tls-cert needs --tls-key",
            ),
            (
                ConnectOptions {
                    tls_key: Some("key.pem".into()),
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

    #[tokio::test]
    async fn tls_options_with_a_plain_text_url_are_refused() {
        let error = connect(&ConnectOptions {
            tls_ca: Some("ca.pem".into()),
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

    #[tokio::test]
    async fn a_missing_tls_file_is_named_before_connecting() {
        let error = connect(&ConnectOptions {
            tls_ca: Some("/nonexistent/ca.pem".into()),
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
}

//! A user's store at `HOST:PORT`: connecting (TLS, mutual TLS, basic
//! auth), and [`SharedEndpoint`], the [`Provider`] that gives each case a
//! fresh tenant of it (see [`crate::shared`]).

use crate::{
    ANY_BACKEND, AnyStore, Provider, Skip, Store, append, shared::SharedView, targets::GrpcStore,
};
use eventstore_engine::{Limits, assembly::error_chain};
use futures::future::BoxFuture;
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tonic::{
    Code,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};

/// How long connecting to the store may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the store is and how to authenticate to it.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `HOST:PORT`, or a URL (`http://HOST:PORT`, `https://HOST:PORT`).
    pub endpoint: String,
    /// PEM file of the CA that signed the server's certificate: turns TLS on.
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with [`Self::tls_key`]).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of [`Self::tls_cert`].
    pub tls_key: Option<PathBuf>,
    /// Basic-auth username (with [`Self::password`]).
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
}

/// Why the kit cannot talk to a store.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint is not `HOST:PORT` or a URL.
    #[error("endpoint {endpoint:?} is not HOST:PORT or http(s)://HOST:PORT: {reason}")]
    BadEndpoint {
        /// As given.
        endpoint: String,
        /// What is wrong with it.
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
    #[error("cannot read {option} file {path}: {source}")]
    File {
        /// The option naming the file.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store cannot be reached or refused the kit.
    #[error("cannot use the store at {endpoint}: {reason}")]
    Unreachable {
        /// As given.
        endpoint: String,
        /// What happened, and what to do.
        reason: String,
    },
}

fn read_file(option: &'static str, path: &PathBuf) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|source| ConnectError::File {
        option,
        path: path.clone(),
        source,
    })
}

/// Connects to the store `options` name and checks that it answers
/// (`GetServerInfo`; a store predating it answers `UNIMPLEMENTED`, fine).
pub async fn connect(options: &ConnectOptions) -> Result<GrpcStore, ConnectError> {
    let given = options.endpoint.trim();
    let bad = |reason: &str| ConnectError::BadEndpoint {
        endpoint: given.to_owned(),
        reason: reason.to_owned(),
    };
    if given.is_empty() {
        return Err(bad("it is empty"));
    }
    let tls = options.tls_ca.is_some() || options.tls_cert.is_some();
    let url = if given.contains("://") {
        given.to_owned()
    } else {
        if !given
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        {
            return Err(bad("expected HOST:PORT, such as localhost:50051"));
        }
        format!("{}://{given}", if tls { "https" } else { "http" })
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| bad(&e.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT);
    match (&options.tls_cert, &options.tls_key) {
        (Some(_), None) => {
            return Err(ConnectError::Incomplete {
                given: "--tls-cert",
                missing: "--tls-key",
            });
        }
        (None, Some(_)) => {
            return Err(ConnectError::Incomplete {
                given: "--tls-key",
                missing: "--tls-cert",
            });
        }
        _ => {}
    }
    // Both pairs are checked before any I/O: an unreachable store must not
    // hide a missing option.
    match (&options.username, &options.password) {
        (Some(_), None) => {
            return Err(ConnectError::Incomplete {
                given: "--username",
                missing: "--password",
            });
        }
        (None, Some(_)) => {
            return Err(ConnectError::Incomplete {
                given: "--password",
                missing: "--username",
            });
        }
        _ => {}
    }
    if tls || url.starts_with("https://") {
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
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| bad(&format!("TLS: {}", error_chain(&e))))?;
    }
    let unreachable = |reason: String| ConnectError::Unreachable {
        endpoint: given.to_owned(),
        reason,
    };
    let channel = endpoint.connect().await.map_err(|e| {
        unreachable(format!(
            "{}; is the store running and listening there{}?",
            error_chain(&e),
            if tls { " with TLS" } else { "" }
        ))
    })?;
    let mut store = GrpcStore::with_channel(channel, given);
    if let (Some(user), Some(password)) = (&options.username, &options.password) {
        store = store.with_basic_auth(user, password);
    }
    match store.server_info().await {
        Ok(_) => Ok(store),
        Err(status) if status.code() == Code::Unimplemented => Ok(store),
        Err(status) if status.code() == Code::Unauthenticated => Err(unreachable(format!(
            "it refused the credentials ({}); pass --username and --password",
            status.message()
        ))),
        Err(status) => Err(unreachable(format!(
            "GetServerInfo failed with {:?}: {}",
            status.code(),
            status.message()
        ))),
    }
}

/// A unique run id: a few random hex digits, so two runs never share tenants.
pub fn run_id() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[id.len() - 8..].to_owned()
}

/// One store shared by every case: each start is a fresh tenant
/// (`{tenant_prefix}{run}-{n}-`) with its global nonces rebased on the
/// store's last global nonce, learned by appending one event to the
/// run's probe tenant. Only the default limits are available: a case
/// that needs others is skipped.
#[derive(Debug, Clone)]
pub struct SharedEndpoint {
    store: GrpcStore,
    run: String,
    next: Arc<AtomicU64>,
}

impl SharedEndpoint {
    /// Cases' tenants on `store` start with `tenant_prefix`.
    pub fn new(store: GrpcStore, tenant_prefix: &str) -> Self {
        Self {
            store,
            run: format!("{tenant_prefix}{}", run_id()),
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The tenant prefix of this run (`{tenant_prefix}{run id}`).
    pub fn run(&self) -> &str {
        &self.run
    }
}

/// The fields of `limits` that differ from the defaults, `name value, ...`.
fn differing_limits(limits: &Limits) -> String {
    // `Limits` holds numbers only: its Debug form is `Limits { a: 1, b: 2 }`.
    let fields = |l: &Limits| -> Vec<String> {
        format!("{l:?}")
            .trim_start_matches("Limits {")
            .trim_end_matches('}')
            .split(',')
            .map(|f| f.trim().replace(": ", " "))
            .collect()
    };
    let default = fields(&Limits::default());
    fields(limits)
        .into_iter()
        .filter(|f| !default.contains(f))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Provider for SharedEndpoint {
    fn start(&self, limits: Limits) -> BoxFuture<'static, Result<AnyStore, Skip>> {
        let this = self.clone();
        Box::pin(async move {
            if limits != Limits::default() {
                return Err(Skip(format!(
                    "needs a store started with limits {}",
                    differing_limits(&limits)
                )));
            }
            let n = this.next.fetch_add(1, Ordering::Relaxed);
            let probe = this
                .store
                .append(append(&format!("{}-probe", this.run), &format!("case-{n}"), 0, 1))
                .await
                .unwrap_or_else(|status| {
                    panic!(
                        "cannot append to the store at {} (to learn its last global nonce): {:?}: {}",
                        this.store.addr,
                        status.code(),
                        status.message()
                    )
                });
            let view = SharedView::new(
                this.store.clone(),
                format!("{}-{n}-", this.run),
                probe.last_global_nonce,
            );
            Ok(AnyStore::new(view))
        })
    }

    fn backends(&self) -> &'static [&'static str] {
        ANY_BACKEND
    }

    fn is_our_build(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A half-given option pair is named before any connection is tried:
    /// a store that cannot be reached does not hide it.
    #[tokio::test]
    async fn a_half_given_pair_is_named_before_connecting() {
        let unreachable = |options: ConnectOptions| ConnectOptions {
            endpoint: "127.0.0.1:1".into(),
            ..options
        };
        let cases = [
            (
                unreachable(ConnectOptions {
                    username: Some("u".into()),
                    ..ConnectOptions::default()
                }),
                "--username needs --password",
            ),
            (
                unreachable(ConnectOptions {
                    password: Some("p".into()),
                    ..ConnectOptions::default()
                }),
                "--password needs --username",
            ),
            (
                unreachable(ConnectOptions {
                    tls_cert: Some("cert.pem".into()),
                    ..ConnectOptions::default()
                }),
                "--tls-cert needs --tls-key",
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
}

//! Binding, serving and shutting down.

use crate::{
    Config, ServeError,
    auth::{BasicAuth, UsersFile},
    tenants::TenantGuard,
};
use eventstore_engine::{
    EventStore, EventStoreService,
    assembly::{self, error_chain},
    transport::{self, TlsAcceptor},
};
use futures::StreamExt;
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::{Routes, interceptor::InterceptedService};

pub use eventstore_engine::assembly::Termination;

/// A server that is accepting requests.
#[derive(Debug)]
pub struct RunningServer {
    /// The address actually bound (the real port when 0 was asked).
    pub local_addr: SocketAddr,
    /// The engine behind it.
    pub store: EventStore,
    /// Resolves when the server has stopped. (Never `Ok(Err(_))` since
    /// the transport serves connections itself; the type is kept for callers.)
    pub task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// Binds `config.listen` and serves until `shutdown` resolves; then stops
/// accepting, ends subscriptions, and lets requests in flight finish for up
/// to `shutdown_grace_secs`.
pub async fn run(
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServeError> {
    let limits = config.limits()?;
    let store = match &config.data_dir {
        Some(dir) => EventStore::durable(dir, limits.clone())?,
        None => EventStore::in_memory_with_limits(limits.clone())?,
    };
    let auth = match (
        &config.admission.users_file,
        &config.username,
        &config.password,
    ) {
        (Some(file), _, _) => BasicAuth::users(&UsersFile::read(file)?),
        (None, Some(user), Some(password)) => BasicAuth::required(user, password),
        _ => BasicAuth::disabled(),
    };
    let auth = match &config.admission.token {
        Some(token) => auth.with_token(token)?,
        None => auth,
    };
    let transport = config.admission.transport.settings()?;
    let tls = tls_acceptor(config).map_err(ServeError::Tls)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(ServeError::LocalAddr)?;

    const SERVICES: &[&str] = &[eventstore_proto::SERVICE_NAME];
    let (health_reporter, health_service) = assembly::health(SERVICES).await;
    let reflection = assembly::reflection(&[eventstore_proto::FILE_DESCRIPTOR_SET])?;

    let engine = store.clone();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, ending subscriptions");
        assembly::not_serving(&health_reporter, SERVICES).await;
        engine.shutdown();
        let _ = stopping_tx.send(());
    };
    let incoming = TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            // Small responses (an append's acknowledgement) go out at once.
            let _ = stream.set_nodelay(true);
        })
    });
    // Health stays open (probes carry no credentials); reflection and the
    // event store require them when --username/--password are set.
    let events = InterceptedService::new(
        TenantGuard::new(EventStoreService::new(store.clone())).into_server(),
        auth.clone(),
    );
    let routes = Routes::new(health_service)
        .add_service(InterceptedService::new(reflection, auth))
        .add_service(events);
    let server = transport::serve(
        incoming,
        transport::limited_routes(routes, &limits),
        transport,
        tls,
        signal,
    );
    let task = tokio::spawn(async move {
        tokio::pin!(server);
        tokio::select! {
            () = &mut server => return Ok(()),
            _ = stopping_rx => {}
        }
        if tokio::time::timeout(grace, server).await.is_err() {
            tracing::warn!(
                ?grace,
                "requests still in flight after the grace period; exiting"
            );
        }
        Ok(())
    });
    Ok(RunningServer {
        local_addr,
        store,
        task,
    })
}

/// Reads a PEM file given by `flag`, which must hold a block whose
/// `BEGIN` line ends with `label` (`CERTIFICATE`, `PRIVATE KEY`): the TLS
/// library's own error would name neither the flag nor the file.
fn read_pem(flag: &str, path: &std::path::Path, label: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&pem);
    let found = text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|kind| kind.ends_with(label))
    });
    if !found {
        return Err(format!(
            "{flag} {}: no PEM {} in the file",
            path.display(),
            label.to_lowercase()
        ));
    }
    Ok(pem)
}

/// The TLS crypto provider: the process's default when the application
/// installed one (`CryptoProvider::install_default`), else *ring*'s, which
/// rustls 0.23.48 deprecates only because *ring* has no post-quantum key
/// exchange. This store's TLS serves tests and local use, whose clients
/// offer classic ECDHE; a user who wants post-quantum key exchange installs
/// the aws-lc-rs provider as the process default and it is used here.
fn crypto_provider() -> Arc<tokio_rustls::rustls::crypto::CryptoProvider> {
    use tokio_rustls::rustls::crypto::CryptoProvider;
    if let Some(installed) = CryptoProvider::get_default() {
        return Arc::clone(installed);
    }
    #[allow(deprecated)]
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

/// The server's TLS acceptor (HTTP/2 by ALPN, client certificates
/// checked against --tls-client-ca when given), or `None` without --tls-cert.
fn tls_acceptor(config: &Config) -> Result<Option<TlsAcceptor>, String> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let invalid = |e: &dyn std::error::Error| {
        let files = |flag: &str, path: &Option<std::path::PathBuf>| {
            path.as_ref()
                .map(|p| format!(" {flag} {}", p.display()))
                .unwrap_or_default()
        };
        format!(
            "invalid TLS configuration ({}{}{}): {}",
            files("--tls-cert", &config.tls_cert).trim_start(),
            files("--tls-key", &config.tls_key),
            files("--tls-client-ca", &config.tls_client_ca),
            error_chain(e)
        )
    };
    let chain = CertificateDer::pem_slice_iter(&read_pem("--tls-cert", cert, "CERTIFICATE")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    let private_key = PrivateKeyDer::from_pem_slice(&read_pem("--tls-key", key, "PRIVATE KEY")?)
        .map_err(|e| invalid(&e))?;
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?;
    let builder = match &config.tls_client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for root in
                CertificateDer::pem_slice_iter(&read_pem("--tls-client-ca", ca, "CERTIFICATE")?)
            {
                roots
                    .add(root.map_err(|e| invalid(&e))?)
                    .map_err(|e| invalid(&e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .map_err(|e| invalid(&e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut tls = builder
        .with_single_cert(chain, private_key)
        .map_err(|e| invalid(&e))?;
    tls.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(tls))))
}

//! Binding, serving and shutting down.

use crate::{Config, ServeError, auth::BasicAuth};
use eventstore_engine::{
    EventStore, EventStoreService,
    assembly::{self, error_chain},
};
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle};
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Certificate, Identity, ServerTlsConfig, server::TcpIncoming},
};

pub use eventstore_engine::assembly::Termination;

/// A server that is accepting requests.
#[derive(Debug)]
pub struct RunningServer {
    /// The address actually bound (the real port when 0 was asked).
    pub local_addr: SocketAddr,
    /// The engine behind it.
    pub store: EventStore,
    /// Resolves when the server has stopped.
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
    let auth = match (&config.username, &config.password) {
        (Some(user), Some(password)) => BasicAuth::required(user, password),
        _ => BasicAuth::disabled(),
    };
    let tls = tls_config(config).map_err(ServeError::Tls)?;
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
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = assembly::server_builder(&limits);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).map_err(|e| {
            let files = |flag: &str, path: &Option<std::path::PathBuf>| {
                path.as_ref()
                    .map(|p| format!(" {flag} {}", p.display()))
                    .unwrap_or_default()
            };
            ServeError::Tls(format!(
                "invalid TLS configuration ({}{}{}): {}",
                files("--tls-cert", &config.tls_cert).trim_start(),
                files("--tls-key", &config.tls_key),
                files("--tls-client-ca", &config.tls_client_ca),
                error_chain(&e)
            ))
        })?;
    }
    let events = InterceptedService::new(EventStoreService::new(store.clone()).into_server(), auth);
    let server = builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(events)
        .serve_with_incoming_shutdown(incoming, signal);
    let task = tokio::spawn(async move {
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => return result,
            _ = stopping_rx => {}
        }
        match tokio::time::timeout(grace, server).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "requests still in flight after the grace period; exiting"
                );
                Ok(())
            }
        }
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

/// The server's TLS settings, or `None` without --tls-cert.
fn tls_config(config: &Config) -> Result<Option<ServerTlsConfig>, String> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let identity = Identity::from_pem(
        read_pem("--tls-cert", cert, "CERTIFICATE")?,
        read_pem("--tls-key", key, "PRIVATE KEY")?,
    );
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &config.tls_client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read_pem(
            "--tls-client-ca",
            ca,
            "CERTIFICATE",
        )?));
    }
    Ok(Some(tls))
}

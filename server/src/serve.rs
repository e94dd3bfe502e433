//! Binding, serving and shutting down.

use crate::Config;
use eventstore_engine::{EventStore, EventStoreService, OversizedRequestLayer};
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle};
use tonic::transport::{Server, server::TcpIncoming};
use tonic_health::ServingStatus;

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
) -> Result<RunningServer, String> {
    let limits = config.limits()?;
    let store = EventStore::in_memory_with_limits(limits.clone())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(eventstore_proto::SERVICE_NAME, ServingStatus::Serving)
        .await;
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(eventstore_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("cannot build the reflection service: {e}"))?;

    let engine = store.clone();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, ending subscriptions");
        health_reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        health_reporter
            .set_service_status(eventstore_proto::SERVICE_NAME, ServingStatus::NotServing)
            .await;
        engine.shutdown();
        let _ = stopping_tx.send(());
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = Server::builder()
        .layer(OversizedRequestLayer::new(limits.max_request_bytes))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(EventStoreService::new(store.clone()).into_server())
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

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! Readiness through the gRPC health service: `Check("eventstore.v1.EventStore")`
//! until SERVING, with retries, speaking TLS (and mTLS) when the store does.

use crate::TlsSettings;
use eventstore_engine::assembly::error_chain;
use std::time::Duration;
use tokio::time::Instant;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The service whose health the harness checks.
pub const HEALTH_SERVICE: &str = "eventstore.v1.EventStore";

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// The tonic endpoint of a store at `addr` (`ip:port`), with the TLS the
/// harness uses for it.
pub(crate) fn endpoint(addr: &str, tls: Option<&TlsSettings>) -> Result<Endpoint, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| format!("invalid endpoint {addr}: {e}"))?
        .connect_timeout(ATTEMPT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT);
    if let Some(tls) = tls {
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(tls.trust_root()))
            .domain_name(tls.domain.clone());
        if let Some((cert, key)) = tls.client_identity() {
            config = config.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| format!("invalid TLS settings: {e}"))?;
    }
    Ok(endpoint)
}

/// One health check: `Ok(())` when SERVING, else why not.
pub(crate) async fn check(addr: &str, tls: Option<&TlsSettings>) -> Result<(), String> {
    let channel = endpoint(addr, tls)?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {addr}: {}", error_chain(&e)))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: HEALTH_SERVICE.to_owned(),
        })
        .await
        .map_err(|s| format!("health check failed: {:?}: {}", s.code(), s.message()))?;
    match response.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("the store reports {other:?}")),
    }
}

/// Checks until SERVING or `deadline`; the error is the last failure.
pub(crate) async fn wait_serving(
    addr: &str,
    tls: Option<&TlsSettings>,
    deadline: Instant,
) -> Result<(), String> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = match tokio::time::timeout(remaining, check(addr, tls)).await {
            Ok(result) => result,
            Err(_) => Err("the health check did not answer in time".to_owned()),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() + RETRY_PAUSE >= deadline => {
                return Err(format!(
                    "grpc.health.v1 Check(\"{HEALTH_SERVICE}\") at {addr} never answered SERVING \
                     ({attempts} attempts); last: {e}"
                ));
            }
            Err(e) => {
                tracing::trace!(attempts, "not serving yet: {e}");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

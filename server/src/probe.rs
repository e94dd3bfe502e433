//! `eventstore-server --probe`: is the server at `--listen` SERVING?
//!
//! The container image's health check runs it inside the container, with
//! the container's configuration (flags and `EVENTSTORE_*` variables), so
//! it knows the port and whether TLS is on.

use crate::Config;
use std::{net::SocketAddr, time::Duration};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long the probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// `Ok(())` when the server answers SERVING; else why not.
pub async fn probe(config: &Config) -> Result<(), String> {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr = SocketAddr::new(
            if addr.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            },
            addr.port(),
        );
    }
    let scheme = if config.tls_enabled() {
        "https"
    } else {
        "http"
    };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(PROBE_TIMEOUT)
        .timeout(PROBE_TIMEOUT);
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let read =
            |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let cert_pem = read(cert)?;
        let root = match &config.tls_client_ca {
            Some(ca) => read(ca)?,
            None => cert_pem.clone(),
        };
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(root))
            .domain_name("localhost");
        if config.tls_client_ca.is_some() {
            tls = tls.identity(Identity::from_pem(cert_pem, read(key)?));
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: eventstore_proto::SERVICE_NAME.to_owned(),
        })
        .await
        .map_err(|e| format!("health check failed: {}", e.message()))?;
    match response.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("the server reports {other:?}")),
    }
}

//! `eventstore-server --probe`: is the server at `--listen` SERVING?
//!
//! The container image's health check runs it inside the container, with
//! the container's configuration (flags and `EVENTSTORE_*` variables), so
//! it knows the port and whether TLS is on. The channel comes from the one
//! connector (`eventstore_client`), as every client's.

use crate::Config;
use eventstore_client::{ConnectOptions, Pem};
use std::{net::SocketAddr, time::Duration};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long the probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How the probe connects to the server `config` describes: the address it
/// listens on (this host's loopback for an unspecified address); with TLS,
/// the server's own certificate as the root (or its client CA under mutual
/// TLS, presenting the server's certificate as the client's); no
/// credentials (health needs none).
fn options(config: &Config) -> ConnectOptions {
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
    let mut options = ConnectOptions {
        endpoint: addr.to_string(),
        tls: config.tls_enabled(),
        connect_timeout: Some(PROBE_TIMEOUT),
        request_timeout: Some(PROBE_TIMEOUT),
        ..ConnectOptions::default()
    };
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let root = config.tls_client_ca.as_ref().unwrap_or(cert);
        options.tls_ca = Some(Pem::File(root.clone()));
        options.tls_domain = Some("localhost".to_owned());
        if config.tls_client_ca.is_some() {
            options.tls_cert = Some(Pem::File(cert.clone()));
            options.tls_key = Some(Pem::File(key.clone()));
        }
    }
    options
}

/// `Ok(())` when the server answers SERVING; else why not.
pub async fn probe(config: &Config) -> Result<(), String> {
    let connection = eventstore_client::connect(&options(config))
        .await
        .map_err(|e| e.to_string())?;
    let response = HealthClient::new(connection.channel.clone())
        .check(connection.request(HealthCheckRequest {
            service: eventstore_proto::SERVICE_NAME.to_owned(),
        }))
        .await
        .map_err(|e| format!("health check failed: {}", e.message()))?;
    match response.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("the server reports {other:?}")),
    }
}

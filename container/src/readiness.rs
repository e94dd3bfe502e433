//! Readiness: the gRPC health service's `Check("eventstore.v1.EventStore")`
//! answers SERVING, then `eventstore.v1` itself answers `GetServerInfo`
//! with our API version; with retries, speaking TLS (and mTLS) when the
//! store does. Health alone says the process is up; `GetServerInfo` says
//! the store behind it is the API the caller's client speaks.

use crate::tls::TlsSettings;
use eventstore_engine::assembly::error_chain;
use eventstore_proto::{
    API_VERSION, GetServerInfoRequest, GetServerInfoResponse, event_store_client::EventStoreClient,
};
use std::time::Duration;
use tokio::time::Instant;
use tonic::{
    Code, Status,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};
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

/// What one readiness check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serving, and the API is ours.
    Ready,
    /// Not yet: try again (the reason is reported if the deadline passes).
    NotYet(String),
    /// Answering, but not an API this harness can use: waiting longer
    /// would not help.
    Wrong(String),
}

/// One readiness check: health SERVING, then `GetServerInfo`.
pub(crate) async fn check(addr: &str, tls: Option<&TlsSettings>) -> Result<(), String> {
    match probe(addr, tls).await {
        Verdict::Ready => Ok(()),
        Verdict::NotYet(why) | Verdict::Wrong(why) => Err(why),
    }
}

async fn probe(addr: &str, tls: Option<&TlsSettings>) -> Verdict {
    let channel = match endpoint(addr, tls) {
        Ok(endpoint) => match endpoint.connect().await {
            Ok(channel) => channel,
            Err(e) => {
                return Verdict::NotYet(format!("cannot connect to {addr}: {}", error_chain(&e)));
            }
        },
        Err(e) => return Verdict::Wrong(e),
    };
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: HEALTH_SERVICE.to_owned(),
        })
        .await;
    match health.map(|r| r.into_inner().status()) {
        Ok(ServingStatus::Serving) => {}
        Ok(other) => return Verdict::NotYet(format!("the store reports {other:?}")),
        Err(s) => {
            return Verdict::NotYet(format!(
                "health check failed: {:?}: {}",
                s.code(),
                s.message()
            ));
        }
    }
    let info = EventStoreClient::new(channel)
        .get_server_info(GetServerInfoRequest {})
        .await
        .map(tonic::Response::into_inner);
    server_info_verdict(info)
}

/// Judges a `GetServerInfo` answer. A store that predates the RPC
/// (`UNIMPLEMENTED`, e.g. an older image passed with `.image()`) or that
/// requires credentials the probe does not send (`UNAUTHENTICATED`: the
/// service answered) is ready on its health alone; another API version is
/// refused at once, naming it.
pub(crate) fn server_info_verdict(answer: Result<GetServerInfoResponse, Status>) -> Verdict {
    match answer {
        Ok(info) if info.api_version == API_VERSION => Verdict::Ready,
        Ok(info) => Verdict::Wrong(format!(
            "the store speaks {:?} (server {} {}), not {API_VERSION:?}",
            info.api_version, info.backend, info.server_version
        )),
        Err(s) if matches!(s.code(), Code::Unimplemented | Code::Unauthenticated) => Verdict::Ready,
        Err(s) => Verdict::NotYet(format!(
            "GetServerInfo failed: {:?}: {}",
            s.code(),
            s.message()
        )),
    }
}

/// Checks until ready or `deadline`; the error is the last failure (at once
/// for a [`Verdict::Wrong`] store).
pub(crate) async fn wait_serving(
    addr: &str,
    tls: Option<&TlsSettings>,
    deadline: Instant,
) -> Result<(), String> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let verdict = match tokio::time::timeout(remaining, probe(addr, tls)).await {
            Ok(verdict) => verdict,
            Err(_) => Verdict::NotYet("the readiness check did not answer in time".to_owned()),
        };
        match verdict {
            Verdict::Ready => return Ok(()),
            Verdict::Wrong(e) => return Err(format!("the store at {addr} is not usable: {e}")),
            Verdict::NotYet(e) if Instant::now() + RETRY_PAUSE >= deadline => {
                return Err(format!(
                    "grpc.health.v1 Check(\"{HEALTH_SERVICE}\") at {addr} never answered SERVING \
                     ({attempts} attempts); last: {e}"
                ));
            }
            Verdict::NotYet(e) => {
                tracing::trace!(attempts, "not serving yet: {e}");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(api_version: &str) -> GetServerInfoResponse {
        GetServerInfoResponse {
            server_version: "0.17.0+eventstore-sdk.0.1.0.durable".to_owned(),
            api_version: api_version.to_owned(),
            backend: "unknown".to_owned(),
            capabilities: Vec::new(),
        }
    }

    #[test]
    fn our_api_version_is_ready() {
        assert_eq!(server_info_verdict(Ok(info(API_VERSION))), Verdict::Ready);
    }

    #[test]
    fn another_api_version_is_refused_at_once_by_name() {
        let Verdict::Wrong(why) = server_info_verdict(Ok(info("eventstore.v2"))) else {
            panic!("expected Wrong");
        };
        assert!(why.contains("\"eventstore.v2\""), "{why}");
    }

    #[test]
    fn a_legacy_or_locked_store_is_ready_on_its_health() {
        for status in [
            Status::unimplemented("no GetServerInfo"),
            Status::unauthenticated("credentials required"),
        ] {
            assert_eq!(server_info_verdict(Err(status)), Verdict::Ready);
        }
    }

    #[test]
    fn a_store_still_starting_is_tried_again() {
        assert!(matches!(
            server_info_verdict(Err(Status::unavailable("starting"))),
            Verdict::NotYet(_)
        ));
    }
}

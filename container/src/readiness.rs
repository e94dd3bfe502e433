//! Readiness: the gRPC health service's `Check("eventstore.v1.EventStore")`
//! answers SERVING, then `eventstore.v1` itself answers `GetServerInfo`
//! with our API version; with retries, speaking TLS (and mTLS) when the
//! store does. Health alone says the process is up; `GetServerInfo` says
//! the store behind it is the API the caller's client speaks. The channel
//! comes from the one connector (`eventstore_client`), as every client's.

use crate::tls::TlsSettings;
use eventstore_client::{ConnectOptions, Pem};
use eventstore_proto::{
    API_VERSION, GetServerInfoRequest, GetServerInfoResponse, event_store_client::EventStoreClient,
};
use std::time::Duration;
use tokio::time::Instant;
use tonic::{Code, Status};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The service whose health the harness checks.
pub const HEALTH_SERVICE: &str = "eventstore.v1.EventStore";

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// How the harness connects to a store at `addr` (`ip:port`): with the TLS
/// it serves, no credentials (health and a refused `GetServerInfo` need
/// none), each connection and call within [`ATTEMPT_TIMEOUT`].
pub(crate) fn options(addr: &str, tls: Option<&TlsSettings>) -> ConnectOptions {
    let mut options = ConnectOptions {
        endpoint: addr.to_owned(),
        connect_timeout: Some(ATTEMPT_TIMEOUT),
        request_timeout: Some(ATTEMPT_TIMEOUT),
        ..ConnectOptions::default()
    };
    if let Some(tls) = tls {
        options.tls = true;
        options.tls_ca = Some(Pem::Bytes(tls.trust_root()));
        if let Some((cert, key)) = tls.client_identity() {
            options.tls_cert = Some(Pem::Bytes(cert));
            options.tls_key = Some(Pem::Bytes(key));
        }
        options.tls_domain = Some(tls.domain.clone());
    }
    options
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
    let dialer = match options(addr, tls).dialer() {
        Ok(dialer) => dialer,
        Err(e) => return Verdict::Wrong(e.to_string()),
    };
    let connection = match dialer.connect().await {
        Ok(connection) => connection,
        Err(e) => return Verdict::NotYet(e.to_string()),
    };
    let health = HealthClient::new(connection.channel.clone())
        .check(connection.request(HealthCheckRequest {
            service: HEALTH_SERVICE.to_owned(),
        }))
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
    let info = EventStoreClient::new(connection.channel.clone())
        .get_server_info(connection.request(GetServerInfoRequest {}))
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

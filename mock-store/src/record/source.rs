//! The store a recording reads: the connection (plain, TLS, mutual TLS,
//! Basic credentials) and its tenant's log, page by page through ReadAll.

use super::{RecordArgs, RecordError};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_engine::assembly::error_chain;
use eventstore_proto::{EventData, ReadAllRequest, event_store_client::EventStoreClient};
use std::time::Duration;
use tonic::{
    metadata::AsciiMetadataValue,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

/// How long to wait for the connection before calling the store unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one page may take.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest page the reader accepts (the store bounds its pages by bytes).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// 2^63 - 1: the reference's Postgres backend stores positions as signed.
const MAX_POSITION: u64 = (1 << 63) - 1;

/// A connected store.
pub(super) struct Source {
    client: EventStoreClient<Channel>,
    auth: Option<AsciiMetadataValue>,
    /// The endpoint as given, for messages.
    pub(super) name: String,
}

fn read_file(flag: &'static str, path: &std::path::Path) -> Result<Vec<u8>, RecordError> {
    std::fs::read(path).map_err(|e| RecordError::File {
        flag,
        path: path.to_owned(),
        message: e.to_string(),
    })
}

impl Source {
    /// Connects to `--from` with the TLS and credential options.
    pub(super) async fn connect(args: &RecordArgs) -> Result<Self, RecordError> {
        let name = args.from.trim().to_owned();
        let tls = args.tls_ca.is_some() || args.tls_cert.is_some() || name.starts_with("https://");
        let url = if name.starts_with("http://") || name.starts_with("https://") {
            name.clone()
        } else if name.contains("://") {
            return Err(RecordError::Endpoint {
                endpoint: name,
                message: "only http:// and https:// are supported".into(),
            });
        } else {
            format!("{}://{name}", if tls { "https" } else { "http" })
        };
        let bad = |message: String| RecordError::Endpoint {
            endpoint: name.clone(),
            message,
        };
        if name.is_empty() {
            return Err(bad("must not be empty (e.g. localhost:50051)".into()));
        }
        let mut endpoint = Endpoint::from_shared(url)
            .map_err(|e| bad(format!("not a HOST:PORT address or URL: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT);
        if tls {
            let mut config = ClientTlsConfig::new().with_webpki_roots();
            if let Some(ca) = &args.tls_ca {
                config = config.ca_certificate(Certificate::from_pem(read_file("--tls-ca", ca)?));
            }
            if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
                config = config.identity(Identity::from_pem(
                    read_file("--tls-cert", cert)?,
                    read_file("--tls-key", key)?,
                ));
            }
            if let Some(domain) = &args.tls_domain {
                config = config.domain_name(domain.clone());
            }
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| bad(format!("TLS: {}", error_chain(&e))))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| RecordError::Unreachable {
                endpoint: name.clone(),
                message: error_chain(&e),
            })?;
        let auth = match (&args.username, &args.password) {
            (Some(user), Some(password)) => {
                let token = STANDARD.encode(format!("{user}:{password}"));
                Some(
                    format!("Basic {token}")
                        .parse()
                        .map_err(|_| RecordError::Credentials)?,
                )
            }
            _ => None,
        };
        Ok(Self {
            client: EventStoreClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES),
            auth,
            name,
        })
    }

    /// Every event of `tenant`, in global order, handed to `each` page by
    /// page (the cursor rules of `semantics.md`: forward from 1 until
    /// `is_end`). Returns the number of ReadAll calls.
    pub(super) async fn read_all(
        &mut self,
        tenant: &str,
        page_size: u32,
        mut each: impl FnMut(Vec<EventData>) -> Result<(), RecordError>,
    ) -> Result<usize, RecordError> {
        let mut from = 1;
        let mut calls = 0;
        loop {
            let mut request = tonic::Request::new(ReadAllRequest {
                tenant_id: tenant.to_owned(),
                from_global_nonce: from,
                max_count: page_size,
                forward: true,
            });
            request.set_timeout(PAGE_TIMEOUT);
            if let Some(auth) = &self.auth {
                request.metadata_mut().insert("authorization", auth.clone());
            }
            let page = self
                .client
                .read_all(request)
                .await
                .map_err(|status| RecordError::Read {
                    endpoint: self.name.clone(),
                    from,
                    code: crate::wire::code_name(status.code()),
                    message: status.message().to_owned(),
                })?
                .into_inner();
            calls += 1;
            let next = page.next_from_global_nonce;
            let empty = page.events.is_empty();
            each(page.events)?;
            if page.is_end {
                return Ok(calls);
            }
            // A store that neither ends nor moves on would loop forever.
            if empty || next <= from || next > MAX_POSITION {
                return Err(RecordError::Stalled {
                    endpoint: self.name.clone(),
                    from,
                    next,
                });
            }
            from = next;
        }
    }
}

//! The store a recording reads: the connection ([`crate::connect`]) and its
//! tenant's log, page by page through ReadAll.

use super::{RecordArgs, RecordError};
use crate::connect::{ConnectOptions, connect};
use eventstore_proto::{EventData, ReadAllRequest, event_store_client::EventStoreClient};
use std::time::Duration;
use tonic::{metadata::AsciiMetadataValue, transport::Channel};

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

impl Source {
    /// Connects to `--from` with the TLS and credential options
    /// ([`crate::connect`], the same rules as the conformance kit's).
    pub(super) async fn connect(args: &RecordArgs) -> Result<Self, RecordError> {
        let connection = connect(&ConnectOptions {
            endpoint: args.from.clone(),
            tls_ca: args.tls_ca.clone(),
            tls_cert: args.tls_cert.clone(),
            tls_key: args.tls_key.clone(),
            tls_domain: args.tls_domain.clone(),
            username: args.username.clone(),
            password: args.password.clone(),
            token: args.token.clone(),
        })
        .await?;
        Ok(Self {
            client: EventStoreClient::new(connection.channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            auth: connection.authorization,
            name: connection.endpoint,
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

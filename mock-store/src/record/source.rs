//! The store a recording reads: the connection (the one connector,
//! [`eventstore_client::connect`]) and its tenant's log, page by page
//! through ReadAll, each page within the request timeout (`--request-timeout`:
//! enforced here, around the whole call, body included; a deadline sent
//! as `grpc-timeout` only bounds the wait for the response headers, so a
//! store that answered them and then trickled, or never sent, the body
//! held the recorder forever).

use super::{RecordArgs, RecordError};
use eventstore_client::{Connection, connect, is_client_deadline, wire::HEAD_POSITION};
use eventstore_proto::{EventData, ReadAllRequest, event_store_client::EventStoreClient};
use tonic::transport::Channel;

/// Largest page the reader accepts (the store bounds its pages by bytes).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A connected store.
pub(super) struct Source {
    client: EventStoreClient<Channel>,
    connection: Connection,
}

impl Source {
    /// Connects to `--from` with the TLS and credential options (the same
    /// rules and messages as the conformance kit's and the SDK's).
    pub(super) async fn connect(args: &RecordArgs) -> Result<Self, RecordError> {
        let connection = connect(&args.connect.options(&args.from)).await?;
        Ok(Self {
            client: EventStoreClient::new(connection.channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            connection,
        })
    }

    /// The endpoint as given, for messages.
    pub(super) fn endpoint(&self) -> &str {
        &self.connection.endpoint
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
            let request = self.connection.request(ReadAllRequest {
                tenant_id: tenant.to_owned(),
                from_global_nonce: from,
                max_count: page_size,
                forward: true,
            });
            let call = self.client.read_all(request);
            let answer =
                match self.connection.request_timeout {
                    Some(timeout) => tokio::time::timeout(timeout, call).await.map_err(|_| {
                        RecordError::Timeout {
                            endpoint: self.connection.endpoint.clone(),
                            from,
                            timeout,
                        }
                    })?,
                    None => call.await,
                };
            let page = answer
                .map_err(|status| match self.connection.request_timeout {
                    // The channel's own deadline (the same one) fired first.
                    Some(timeout) if is_client_deadline(&status) => RecordError::Timeout {
                        endpoint: self.connection.endpoint.clone(),
                        from,
                        timeout,
                    },
                    _ => RecordError::Read {
                        endpoint: self.connection.endpoint.clone(),
                        from,
                        code: eventstore_client::wire::code_name(status.code()),
                        message: status.message().to_owned(),
                    },
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
            if empty || next <= from || next > HEAD_POSITION {
                return Err(RecordError::Stalled {
                    endpoint: self.connection.endpoint.clone(),
                    from,
                    next,
                });
            }
            from = next;
        }
    }
}

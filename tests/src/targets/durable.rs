//! The `eventstore-server` binary with `--data-dir`: the durable backend
//! (redb, group commit), spawned per case on a fresh temporary directory.

use super::{GrpcStore, limit_flags};
use crate::{Store, Target};
use eventstore_engine::Limits;
use eventstore_proto::event_store_client::EventStoreClient;
use std::sync::Arc;

/// Target: the server binary on a fresh data directory, over gRPC on loopback.
#[derive(Debug)]
pub struct DurableServer;

impl Target for DurableServer {
    type Store = GrpcStore;
    const BACKENDS: &'static [&'static str] = &["unknown"];

    async fn start(limits: Limits) -> GrpcStore {
        let dir = tempfile::Builder::new()
            .prefix("eventstore-durable-")
            .tempdir()
            .expect("create a temporary data directory");
        let mut args = limit_flags(&limits);
        args.push("--data-dir".to_owned());
        args.push(dir.path().display().to_string());
        // The spawned store owns the server process; it and the directory
        // live as long as the last clone of the returned store (the process
        // is killed first, then the directory removed).
        let server = GrpcStore::spawn(&args).await;
        let addr = server.addr.clone();
        let client = EventStoreClient::connect(format!("http://{addr}"))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"))
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024);
        let stop = server.clone();
        GrpcStore::with_client(client, &addr, Some(Arc::new((server, dir)))).with_stopper(Arc::new(
            move || {
                stop.stop();
            },
        ))
    }
}

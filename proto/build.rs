//! Compiles `proto/eventstore/v1/eventstore.proto` with protox, a pure-Rust
//! protobuf compiler, so building needs no system `protoc`. The descriptor
//! set is also written to OUT_DIR for gRPC server reflection.

use prost::Message;
use std::{env, error::Error, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let proto = "proto/eventstore/v1/eventstore.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("eventstore_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Deterministic header order: the idempotency fingerprint hashes the
        // encoded events, and users read headers in a stable order.
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}

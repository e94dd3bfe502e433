//! Compiles the `.proto` files under `proto/` with protox, a pure-Rust
//! protobuf compiler, so building needs no system `protoc`. The descriptor
//! set is also written to OUT_DIR for gRPC server reflection.

use prost::Message;
use std::{env, error::Error, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let protos = [
        "proto/eventstore/v1/eventstore.proto",
        "proto/eventstore/testing/v1/control.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // The real server reflects eventstore.v1 only; the mock both packages.
    let mut v1_only = fds.clone();
    v1_only.file.retain(|f| f.package() == "eventstore.v1");
    fs::write(
        out.join("eventstore_descriptor.bin"),
        v1_only.encode_to_vec(),
    )?;
    fs::write(
        out.join("eventstore_testing_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Deterministic header order: the idempotency fingerprint hashes the
        // encoded events, and users read headers in a stable order.
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}

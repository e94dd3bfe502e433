//! Issue 14 item 6: a request that cannot be decoded (a string field that
//! is not UTF-8, a malformed protobuf) is the client's fault:
//! `INVALID_ARGUMENT` naming the field where the decoder says it, not
//! `INTERNAL`. Checked with raw bytes over a real connection, behind the
//! layer every server wraps its router with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore_engine::{EventStore, EventStoreService, Limits, OversizedRequestLayer};
use prost::bytes::{Buf, BufMut};
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

/// Sends a request body as given, bytes for bytes; responses are not read.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

async fn serve() -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits::default();
    let service = EventStoreService::new(EventStore::in_memory()).into_server();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(OversizedRequestLayer::new(limits.max_request_bytes))
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn call(channel: &Channel, method: &str, body: Vec<u8>) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = format!("/eventstore.v1.EventStore/{method}")
        .parse()
        .unwrap();
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        grpc.unary(tonic::Request::new(body), path, RawCodec),
    )
    .await
    .expect("the call hung");
    outcome.expect_err("the request cannot be decoded")
}

/// Length-delimited field `number` holding `value` (field 1 is `tenant_id`
/// in every request).
fn string_field(number: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![(number << 3) | 2, u8::try_from(value.len()).unwrap()];
    out.extend_from_slice(value);
    out
}

#[tokio::test]
async fn invalid_utf8_in_a_string_field_is_invalid_argument_naming_it() {
    let channel = serve().await;
    for (method, message) in [
        ("Append", "AppendRequest"),
        ("ReadStream", "ReadStreamRequest"),
        ("ReadAll", "ReadAllRequest"),
    ] {
        let status = call(&channel, method, string_field(1, b"t\xff\xfe")).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{method}: {status:?}");
        assert!(
            status.message().contains(&format!("{message}.tenant_id")),
            "{method}: {status:?}"
        );
        assert!(status.message().contains("UTF-8"), "{method}: {status:?}");
    }
    // A server-streaming method refuses it the same way.
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = "/eventstore.v1.EventStore/Subscribe".parse().unwrap();
    let status = grpc
        .server_streaming(
            tonic::Request::new(string_field(1, b"\xc3\x28")),
            path,
            RawCodec,
        )
        .await
        .expect_err("undecodable");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("SubscribeRequest.tenant_id"),
        "{status:?}"
    );
}

#[tokio::test]
async fn malformed_protobuf_is_invalid_argument() {
    let channel = serve().await;
    // A length-delimited field whose length runs past the end.
    let truncated = vec![0x0a, 0x10, b'a'];
    // Wire type 7 does not exist.
    let bad_wire_type = vec![0x0f, 0x00];
    for body in [truncated, bad_wire_type] {
        let status = call(&channel, "Append", body.clone()).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{body:?}: {status:?}");
        assert!(status.message().contains("decode"), "{body:?}: {status:?}");
    }
}

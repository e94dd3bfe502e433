//! The status of an oversized request (and of an undecodable one).
//!
//! tonic refuses a request larger than its decoding limit before any
//! handler runs, with `OUT_OF_RANGE` and a message that does not name the
//! limit. `spec/semantics.md` wants `RESOURCE_EXHAUSTED` naming the limit and
//! the value, so this layer rewrites exactly that response. Every server in
//! the project (the real one, the mock) wraps its router with it, so it also
//! carries the other rewrite of a request tonic refuses before any handler:
//! an undecodable one is `INVALID_ARGUMENT`, not `INTERNAL` (see
//! `undecodable.rs`).

use http::{HeaderValue, Request, Response};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use tower::{Layer, Service};

/// What tonic writes in `grpc-message` when a message is over the limit.
const TONIC_TOO_LARGE: &str = "message length too large";

/// Rewrites tonic's "message too large" refusal into `RESOURCE_EXHAUSTED`.
#[derive(Debug, Clone, Copy)]
pub struct OversizedRequestLayer {
    max_request_bytes: usize,
}

impl OversizedRequestLayer {
    /// For a server whose decoding limit is `max_request_bytes`.
    pub fn new(max_request_bytes: usize) -> Self {
        Self { max_request_bytes }
    }
}

impl<S> Layer<S> for OversizedRequestLayer {
    type Service = OversizedRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OversizedRequest {
            inner,
            max_request_bytes: self.max_request_bytes,
        }
    }
}

/// The service [`OversizedRequestLayer`] makes.
#[derive(Debug, Clone)]
pub struct OversizedRequest<S> {
    inner: S,
    max_request_bytes: usize,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for OversizedRequest<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let limit = self.max_request_bytes;
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite(&mut response, limit);
            crate::undecodable::rewrite(response.headers_mut());
            Ok(response)
        })
    }
}

/// The message of a request over `max_request_bytes = limit`, `found`
/// bytes long when known: every server's, and the mock's direct path's.
pub fn too_large_message(found: Option<impl std::fmt::Display>, limit: usize) -> String {
    match found {
        Some(n) => format!("request is {n} bytes, more than the limit max_request_bytes = {limit}"),
        None => format!("request is more than the limit max_request_bytes = {limit} bytes"),
    }
}

fn rewrite<B>(response: &mut Response<B>, limit: usize) {
    let headers = response.headers_mut();
    let out_of_range = headers.get("grpc-status").is_some_and(|v| v == "11");
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.replace("%20", " ").contains(TONIC_TOO_LARGE));
    if !(out_of_range && too_large) {
        return;
    }
    // tonic's message reads "...: found N bytes, the limit is: L bytes".
    let found = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(|m| m.replace("%20", " "))
        .and_then(|m| {
            m.split("found ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .map(str::to_owned)
        });
    let message = too_large_message(found, limit);
    headers.insert("grpc-status", HeaderValue::from_static("8"));
    if let Ok(value) = HeaderValue::from_str(&message.replace(' ', "%20")) {
        headers.insert("grpc-message", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_too_large_refusal() {
        let mut too_large = Response::new(());
        too_large
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static("11"));
        too_large.headers_mut().insert(
            "grpc-message",
            HeaderValue::from_static(
                "Error,%20decoded%20message%20length%20too%20large:%20found%205065%20bytes,%20the%20limit%20is:%204096%20bytes",
            ),
        );
        rewrite(&mut too_large, 4096);
        assert_eq!(too_large.headers()["grpc-status"], "8");
        assert_eq!(
            too_large.headers()["grpc-message"],
            "request%20is%205065%20bytes,%20more%20than%20the%20limit%20max_request_bytes%20=%204096"
        );

        let mut other = Response::new(());
        other
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static("11"));
        other
            .headers_mut()
            .insert("grpc-message", HeaderValue::from_static("out%20of%20range"));
        rewrite(&mut other, 4096);
        assert_eq!(other.headers()["grpc-status"], "11");
    }
}

//! Optional username/password authentication (`authorization: Basic ...`).
//!
//! Missing and wrong credentials get the same `UNAUTHENTICATED` message, so
//! a caller learns nothing about which part was wrong; the comparison takes
//! the same time whatever the credentials sent.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use std::sync::Arc;
use tonic::{Request, Status, service::Interceptor};

/// The message of every refused call.
pub const REFUSED: &str = "missing or invalid credentials";

/// Checks the `authorization` metadata of each call (when configured).
#[derive(Clone, Default)]
pub struct BasicAuth {
    /// `user:password`, or `None` to let every call in.
    expected: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("enabled", &self.expected.is_some())
            .finish()
    }
}

impl BasicAuth {
    /// Requires `username:password`.
    pub fn required(username: &str, password: &str) -> Self {
        Self {
            expected: Some(format!("{username}:{password}").into_bytes().into()),
        }
    }

    /// Lets every call in.
    pub fn disabled() -> Self {
        Self::default()
    }

    fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(expected) = &self.expected else {
            return true;
        };
        let sent = header
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, token)| STANDARD.decode(token.trim()).ok())
            .unwrap_or_default();
        constant_time_eq(&sent, expected)
    }
}

/// Equal contents, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

impl Interceptor for BasicAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        if self.accepts(header) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(REFUSED))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(user_pass)).into_bytes()
    }

    #[test]
    fn accepts_only_the_configured_credentials() {
        let auth = BasicAuth::required("admin", "s3cret");
        assert!(auth.accepts(Some(&header("admin:s3cret"))));
        assert!(auth.accepts(Some(
            format!("basic {}", STANDARD.encode("admin:s3cret")).as_bytes()
        )));
        assert!(!auth.accepts(Some(&header("admin:wrong"))));
        assert!(!auth.accepts(Some(&header("other:s3cret"))));
        assert!(!auth.accepts(Some(&header("admin:s3cret2"))));
        assert!(!auth.accepts(Some(b"Bearer abc")));
        assert!(!auth.accepts(Some(b"Basic !!!")));
        assert!(!auth.accepts(None));
        assert!(BasicAuth::disabled().accepts(None));
    }
}

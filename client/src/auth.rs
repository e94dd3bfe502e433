//! The `authorization` values a client sends: Basic credentials
//! ([`basic_header`]) and bearer tokens ([`bearer_header`], the token
//! checked by [`check_token`]). The stores' side (`eventstore_engine::auth`)
//! checks tokens with the same [`check_token`] and re-exports these, so
//! both sides agree on every byte.

use base64::{Engine as _, engine::general_purpose::STANDARD};

/// The most bytes of `username:password` and of a token: a Basic header
/// is a third larger, and HTTP/2 peers refuse header lists over 16 KiB, so
/// longer credentials could never log in.
pub const MAX_CREDENTIALS_BYTES: usize = 8 * 1024;

/// A bearer token that cannot be sent or configured: the message says which
/// rule it breaks and never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(&'static str);

/// Checks `token` against RFC 6750's `b64token`: letters, digits and
/// `-._~+/`, then optional `=` padding, nothing else (no spaces, no `:`).
pub fn check_token(token: &str) -> Result<(), TokenError> {
    let body = token.trim_end_matches('=');
    if token.len() > MAX_CREDENTIALS_BYTES {
        return Err(TokenError(
            "the token is longer than 8 KiB (8192 bytes): HTTP/2 peers refuse headers that large",
        ));
    }
    if body.is_empty() {
        return Err(TokenError(if token.is_empty() {
            "the token is empty"
        } else {
            "the token is only `=` padding"
        }));
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    {
        return Err(TokenError(
            "the token may hold only letters, digits, `-._~+/` and trailing `=` (RFC 6750 b64token)",
        ));
    }
    Ok(())
}

/// The `authorization` value of Basic credentials: `Basic
/// base64(username:password)`.
pub fn basic_header(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{password}"))
    )
}

/// The `authorization` value of a bearer token: `Bearer <token>`, the token
/// checked first ([`check_token`]).
pub fn bearer_header(token: &str) -> Result<String, TokenError> {
    check_token(token)?;
    Ok(format!("Bearer {token}"))
}

//! gRPC status codes by name, both ways. JSON, reports and Python speak of
//! `"UNAVAILABLE"`, never of Rust's `Unavailable` or a bare number, so a
//! status reads the same in every language that looks at the mock. The
//! names are the wire's (`eventstore_client::wire`, re-exported here); this
//! file reads them from JSON.

pub use eventstore_client::wire::{code_from_name, code_name};
use serde_json::Value;
use tonic::Code;

/// A value that is not a gRPC status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not a gRPC status code (a name like \"UNAVAILABLE\" or a number 0-16)")]
pub struct CodeError {
    /// The value as given (JSON text).
    pub value: String,
}

/// A code from JSON: its name (see [`code_from_name`]) or its number.
pub fn code_from_json(value: &Value) -> Result<Code, CodeError> {
    let code = match value {
        Value::Number(n) => n
            .as_i64()
            .filter(|n| (0..=16).contains(n))
            .and_then(|n| i32::try_from(n).ok())
            .map(Code::from_i32),
        Value::String(s) => code_from_name(s),
        _ => None,
    };
    code.ok_or_else(|| CodeError {
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn json_numbers_and_names() {
        assert_eq!(code_from_json(&Value::from(14)), Ok(Code::Unavailable));
        assert_eq!(code_from_json(&Value::from("ABORTED")), Ok(Code::Aborted));
        let err = code_from_json(&Value::from(17)).unwrap_err();
        assert_eq!(err.value, "17");
        assert!(code_from_json(&Value::Bool(true)).is_err());
    }
}
